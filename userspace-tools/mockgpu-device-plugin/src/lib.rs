//! mockgpu's Kubernetes device plugin.
//!
//! Speaks the kubelet's device plugin API `v1beta1` ([`api`]) over unix
//! sockets: one extended resource per mockgpu target (`mockgpu.io/<target>`),
//! each GPU cut into N shares ([`share`]) whose health follows the target
//! ([`targets`]); Allocate maps the proxy node at the real node's path and
//! says what the share's limits are ([`plugin`]); [`supervisor`] registers with
//! the kubelet and does it again when the kubelet restarts.

pub mod api;
pub mod plugin;
pub mod share;
pub mod supervisor;
pub mod targets;

/// Logs a line to stderr, where the kubelet's pod log collects it.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        eprintln!("mockgpu-device-plugin: {}", format_args!($($arg)*))
    };
}
