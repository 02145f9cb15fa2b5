//! The kubelet's device plugin API, version `v1beta1`.
//!
//! Written from the kubelet's published definition,
//! `k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1/api.proto` (package
//! `v1beta1`), and its `constants.go`. The field numbers (`tag`) and the
//! package, service and method names (in `build.rs`) are the wire contract;
//! the Rust field names are free. Every message of the file is here, including
//! those this plugin only receives, so that a fake kubelet (the protocol test)
//! speaks the same protocol.

use std::collections::HashMap;

/// The API version sent in `RegisterRequest.version`.
pub const VERSION: &str = "v1beta1";
/// `Device.health` of a usable device.
pub const HEALTHY: &str = "Healthy";
/// `Device.health` of a device the kubelet must not hand out.
pub const UNHEALTHY: &str = "Unhealthy";
/// Where the kubelet looks for device plugin sockets (on the host).
pub const DEVICE_PLUGIN_PATH: &str = "/var/lib/kubelet/device-plugins";
/// The kubelet's registration socket, in [`DEVICE_PLUGIN_PATH`].
pub const KUBELET_SOCKET: &str = "kubelet.sock";

/// `message DevicePluginOptions`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DevicePluginOptions {
    /// `pre_start_required = 1`: PreStartContainer before each container start.
    #[prost(bool, tag = "1")]
    pub pre_start_required: bool,
    /// `get_preferred_allocation_available = 2`.
    #[prost(bool, tag = "2")]
    pub get_preferred_allocation_available: bool,
}

/// `message RegisterRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterRequest {
    /// `version = 1`: the API version, [`VERSION`].
    #[prost(string, tag = "1")]
    pub version: String,
    /// `endpoint = 2`: the plugin's socket, relative to the kubelet's directory.
    #[prost(string, tag = "2")]
    pub endpoint: String,
    /// `resource_name = 3`: the extended resource, e.g. `mockgpu.io/realgpu`.
    #[prost(string, tag = "3")]
    pub resource_name: String,
    /// `options = 4`.
    #[prost(message, optional, tag = "4")]
    pub options: Option<DevicePluginOptions>,
}

/// `message Empty`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Empty {}

/// `message ListAndWatchResponse`: the whole device list, sent on every change.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListAndWatchResponse {
    /// `repeated Device devices = 1`.
    #[prost(message, repeated, tag = "1")]
    pub devices: Vec<Device>,
}

/// `message TopologyInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TopologyInfo {
    /// `repeated NUMANode nodes = 1`.
    #[prost(message, repeated, tag = "1")]
    pub nodes: Vec<NumaNode>,
}

/// `message NUMANode`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct NumaNode {
    /// `int64 ID = 1`.
    #[prost(int64, tag = "1")]
    pub id: i64,
}

/// `message Device`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Device {
    /// `string ID = 1`: at most 63 characters.
    #[prost(string, tag = "1")]
    pub id: String,
    /// `string health = 2`: [`HEALTHY`] or [`UNHEALTHY`].
    #[prost(string, tag = "2")]
    pub health: String,
    /// `TopologyInfo topology = 3`.
    #[prost(message, optional, tag = "3")]
    pub topology: Option<TopologyInfo>,
}

/// `message PreStartContainerRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreStartContainerRequest {
    /// `repeated string devices_ids = 1`.
    #[prost(string, repeated, tag = "1")]
    pub devices_ids: Vec<String>,
}

/// `message PreStartContainerResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreStartContainerResponse {}

/// `message PreferredAllocationRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreferredAllocationRequest {
    /// `repeated ContainerPreferredAllocationRequest container_requests = 1`.
    #[prost(message, repeated, tag = "1")]
    pub container_requests: Vec<ContainerPreferredAllocationRequest>,
}

/// `message ContainerPreferredAllocationRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerPreferredAllocationRequest {
    /// `repeated string available_deviceIDs = 1`.
    #[prost(string, repeated, tag = "1")]
    pub available_device_ids: Vec<String>,
    /// `repeated string must_include_deviceIDs = 2`.
    #[prost(string, repeated, tag = "2")]
    pub must_include_device_ids: Vec<String>,
    /// `int32 allocation_size = 3`.
    #[prost(int32, tag = "3")]
    pub allocation_size: i32,
}

/// `message PreferredAllocationResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PreferredAllocationResponse {
    /// `repeated ContainerPreferredAllocationResponse container_responses = 1`.
    #[prost(message, repeated, tag = "1")]
    pub container_responses: Vec<ContainerPreferredAllocationResponse>,
}

/// `message ContainerPreferredAllocationResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerPreferredAllocationResponse {
    /// `repeated string deviceIDs = 1`.
    #[prost(string, repeated, tag = "1")]
    pub device_ids: Vec<String>,
}

/// `message AllocateRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateRequest {
    /// `repeated ContainerAllocateRequest container_requests = 1`.
    #[prost(message, repeated, tag = "1")]
    pub container_requests: Vec<ContainerAllocateRequest>,
}

/// `message ContainerAllocateRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerAllocateRequest {
    /// `repeated string devices_ids = 1`.
    #[prost(string, repeated, tag = "1")]
    pub devices_ids: Vec<String>,
}

/// `message CDIDevice`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct CdiDevice {
    /// `string name = 1`: fully qualified, `vendor.com/class=device`.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `message AllocateResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateResponse {
    /// `repeated ContainerAllocateResponse container_responses = 1`.
    #[prost(message, repeated, tag = "1")]
    pub container_responses: Vec<ContainerAllocateResponse>,
}

/// `message ContainerAllocateResponse`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerAllocateResponse {
    /// `map<string, string> envs = 1`.
    #[prost(map = "string, string", tag = "1")]
    pub envs: HashMap<String, String>,
    /// `repeated Mount mounts = 2`.
    #[prost(message, repeated, tag = "2")]
    pub mounts: Vec<Mount>,
    /// `repeated DeviceSpec devices = 3`.
    #[prost(message, repeated, tag = "3")]
    pub devices: Vec<DeviceSpec>,
    /// `map<string, string> annotations = 4`: passed to the container runtime.
    #[prost(map = "string, string", tag = "4")]
    pub annotations: HashMap<String, String>,
    /// `repeated CDIDevice cdi_devices = 5`.
    #[prost(message, repeated, tag = "5")]
    pub cdi_devices: Vec<CdiDevice>,
}

/// `message Mount`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mount {
    /// `string container_path = 1`.
    #[prost(string, tag = "1")]
    pub container_path: String,
    /// `string host_path = 2`.
    #[prost(string, tag = "2")]
    pub host_path: String,
    /// `bool read_only = 3`.
    #[prost(bool, tag = "3")]
    pub read_only: bool,
}

/// `message DeviceSpec`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct DeviceSpec {
    /// `string container_path = 1`.
    #[prost(string, tag = "1")]
    pub container_path: String,
    /// `string host_path = 2`.
    #[prost(string, tag = "2")]
    pub host_path: String,
    /// `string permissions = 3`: some of `r`, `w`, `m`.
    #[prost(string, tag = "3")]
    pub permissions: String,
}

/// `service Registration`, served by the kubelet.
pub mod registration {
    include!(concat!(env!("OUT_DIR"), "/v1beta1.Registration.rs"));
}

/// `service DevicePlugin`, served by this plugin.
pub mod device_plugin {
    include!(concat!(env!("OUT_DIR"), "/v1beta1.DevicePlugin.rs"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// Field numbers on the wire: a `RegisterRequest` encodes as the
    /// protobuf the kubelet expects (tags 1, 2, 3, 4; options' tag 2).
    #[test]
    fn register_request_wire_format() {
        let r = RegisterRequest {
            version: "v".into(),
            endpoint: "e".into(),
            resource_name: "r".into(),
            options: Some(DevicePluginOptions {
                pre_start_required: false,
                get_preferred_allocation_available: true,
            }),
        };
        let bytes = r.encode_to_vec();
        assert_eq!(
            bytes,
            [0x0a, 1, b'v', 0x12, 1, b'e', 0x1a, 1, b'r', 0x22, 2, 0x10, 1]
        );
    }

    /// `ContainerAllocateResponse.cdi_devices` is field 5, `DeviceSpec` 3.
    #[test]
    fn allocate_response_wire_format() {
        let r = ContainerAllocateResponse {
            devices: vec![DeviceSpec {
                container_path: "c".into(),
                host_path: "h".into(),
                permissions: "rw".into(),
            }],
            cdi_devices: vec![CdiDevice { name: "k".into() }],
            ..Default::default()
        };
        let bytes = r.encode_to_vec();
        assert_eq!(
            bytes,
            [0x1a, 10, 0x0a, 1, b'c', 0x12, 1, b'h', 0x1a, 2, b'r', b'w', 0x2a, 3, 0x0a, 1, b'k']
        );
    }

    /// `ListAndWatchResponse.devices` is 1; `Device` has ID 1, health 2,
    /// topology 3 (NUMANode ID 1).
    #[test]
    fn device_list_wire_format() {
        let r = ListAndWatchResponse {
            devices: vec![Device {
                id: "g-0".into(),
                health: HEALTHY.into(),
                topology: Some(TopologyInfo {
                    nodes: vec![NumaNode { id: 1 }],
                }),
            }],
        };
        let mut want = vec![0x0a, 20, 0x0a, 3, b'g', b'-', b'0', 0x12, 7];
        want.extend_from_slice(b"Healthy");
        want.extend_from_slice(&[0x1a, 4, 0x0a, 2, 0x08, 1]);
        assert_eq!(r.encode_to_vec(), want);
    }

    /// `ContainerPreferredAllocationRequest`: available 1, must-include 2,
    /// size 3; the request's containers 1; `ContainerAllocateRequest` ids 1.
    #[test]
    fn preferred_allocation_wire_format() {
        let r = PreferredAllocationRequest {
            container_requests: vec![ContainerPreferredAllocationRequest {
                available_device_ids: vec!["a".into()],
                must_include_device_ids: vec!["b".into()],
                allocation_size: 2,
            }],
        };
        assert_eq!(
            r.encode_to_vec(),
            [0x0a, 8, 0x0a, 1, b'a', 0x12, 1, b'b', 0x18, 2]
        );
        let r = AllocateRequest {
            container_requests: vec![ContainerAllocateRequest {
                devices_ids: vec!["a".into()],
            }],
        };
        assert_eq!(r.encode_to_vec(), [0x0a, 3, 0x0a, 1, b'a']);
    }
}
