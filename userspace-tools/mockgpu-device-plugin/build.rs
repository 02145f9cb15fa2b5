//! Generates the tonic client and server code of the kubelet's two device
//! plugin services from a description in Rust (`tonic_build::manual`), so the
//! build needs no `protoc`. The messages are hand-written in `src/api.rs`;
//! the package, service and method names here are the wire routes
//! (`/v1beta1.Registration/Register`, ...), part of the contract.

use tonic_build::manual::{Builder, Method, Service};

fn method(
    name: &str,
    route: &str,
    input: &str,
    output: &str,
) -> tonic_build::manual::MethodBuilder {
    Method::builder()
        .name(name)
        .route_name(route)
        .input_type(format!("crate::api::{input}"))
        .output_type(format!("crate::api::{output}"))
        .codec_path("tonic_prost::ProstCodec")
}

fn main() {
    let registration = Service::builder()
        .name("Registration")
        .package("v1beta1")
        .method(method("register", "Register", "RegisterRequest", "Empty").build())
        .build();
    let device_plugin = Service::builder()
        .name("DevicePlugin")
        .package("v1beta1")
        .method(
            method(
                "get_device_plugin_options",
                "GetDevicePluginOptions",
                "Empty",
                "DevicePluginOptions",
            )
            .build(),
        )
        .method(
            method(
                "list_and_watch",
                "ListAndWatch",
                "Empty",
                "ListAndWatchResponse",
            )
            .server_streaming()
            .build(),
        )
        .method(
            method(
                "get_preferred_allocation",
                "GetPreferredAllocation",
                "PreferredAllocationRequest",
                "PreferredAllocationResponse",
            )
            .build(),
        )
        .method(
            method(
                "allocate",
                "Allocate",
                "AllocateRequest",
                "AllocateResponse",
            )
            .build(),
        )
        .method(
            method(
                "pre_start_container",
                "PreStartContainer",
                "PreStartContainerRequest",
                "PreStartContainerResponse",
            )
            .build(),
        )
        .build();
    Builder::new().compile(&[registration, device_plugin]);
    println!("cargo:rerun-if-changed=build.rs");
}
