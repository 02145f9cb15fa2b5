//! `mockgpu-device-plugin`: offers shares of mockgpu's targets to the kubelet
//! as extended resources. See `--help` and the README's "Kubernetes".

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Parser;
use mockgpu_device_plugin::api::DEVICE_PLUGIN_PATH;
use mockgpu_device_plugin::plugin::ShareConfig;
use mockgpu_device_plugin::share::parse_size;
use mockgpu_device_plugin::supervisor::{self, Config};

/// Kubernetes device plugin for mockgpu: each target (/dev/mockgpu/<name>) is
/// the extended resource <prefix>/<name> with N shares; a container that gets
/// k shares gets the proxy at the real node's path and k/N of the GPU's
/// memory and compute as its limits (MOCKGPU_LIMITS_<NAME> and the
/// mockgpu.io/limits.<name> annotation).
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Shares per GPU (N): device ids <target>-0 .. <target>-<N-1>.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    shares: u32,
    /// Device memory of each GPU, SIZE for all or NAME=SIZE for one (repeat):
    /// a share gets SIZE / N. E.g. --device-memory 16G --device-memory realgpu=256M.
    #[arg(long, value_name = "[NAME=]SIZE")]
    device_memory: Vec<String>,
    /// Device memory of one share (overrides --device-memory / N).
    #[arg(long, value_name = "SIZE")]
    memory_per_share: Option<String>,
    /// Domain of the resource names.
    #[arg(long, default_value = "mockgpu.io")]
    resource_prefix: String,
    /// Offer all targets as one resource <prefix>/<POOL> instead of one each.
    #[arg(long)]
    pool: Option<String>,
    /// CDI kind of mockgpu's CDI spec (`mockgpuctl cdi --kind`): Allocate
    /// returns the CDI device <kind>=<target>.
    #[arg(long, default_value = "mockgpu.dev/gpu")]
    cdi_kind: String,
    /// Return no CDI device names (DeviceSpecs only).
    #[arg(long)]
    no_cdi: bool,
    /// The kubelet's device plugin directory (kubelet.sock and the plugin's sockets).
    #[arg(long, default_value = DEVICE_PLUGIN_PATH)]
    socket_dir: PathBuf,
    /// mockgpu's sysfs class directory: one <name>/real_path per target.
    #[arg(long, default_value = "/sys/class/mockgpu")]
    sysfs_root: PathBuf,
    /// Where the proxy nodes are, as this process sees them (opened to check
    /// them).
    #[arg(long, default_value = "/dev/mockgpu")]
    dev_root: PathBuf,
    /// Where the proxy nodes are on the host, for Allocate's DeviceSpec
    /// host_path (default: --dev-root). In a pod that mounts the host's /dev at
    /// /host/dev: --dev-root /host/dev/mockgpu --host-dev-root /dev/mockgpu.
    #[arg(long)]
    host_dev_root: Option<PathBuf>,
    /// How often targets and kubelet.sock are looked at, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// How often each proxy node is opened to check it, in seconds (0: never;
    /// health then follows sysfs only).
    #[arg(long, default_value_t = 10)]
    open_check_secs: u64,
    /// Seconds to wait before registering again after a failure.
    #[arg(long, default_value_t = 5)]
    retry_secs: u64,
}

fn share_config(a: &Args) -> Result<ShareConfig> {
    let mut device_memory = HashMap::new();
    let mut default_device_memory = None;
    for spec in &a.device_memory {
        match spec.split_once('=') {
            Some((name, size)) => {
                let bytes = parse_size(size).map_err(anyhow::Error::msg)?;
                device_memory.insert(name.to_string(), bytes);
            }
            None => default_device_memory = Some(parse_size(spec).map_err(anyhow::Error::msg)?),
        }
    }
    let memory_per_share = a
        .memory_per_share
        .as_deref()
        .map(parse_size)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("--memory-per-share")?;
    if memory_per_share.is_none() && device_memory.is_empty() && default_device_memory.is_none() {
        mockgpu_device_plugin::log!(
            "no --device-memory or --memory-per-share: shares carry a compute limit only"
        );
    }
    Ok(ShareConfig {
        shares: a.shares,
        memory_per_share,
        device_memory,
        default_device_memory,
        cdi_kind: (!a.no_cdi).then(|| a.cdi_kind.clone()),
    })
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.poll_ms == 0 {
        bail!("--poll-ms must be at least 1");
    }
    let cfg = Config {
        shares: share_config(&a)?,
        socket_dir: a.socket_dir,
        sysfs_root: a.sysfs_root,
        host_dev_root: a.host_dev_root.unwrap_or_else(|| a.dev_root.clone()),
        dev_root: a.dev_root,
        resource_prefix: a.resource_prefix,
        pool: a.pool,
        poll: Duration::from_millis(a.poll_ms),
        open_every: (a.open_check_secs > 0).then(|| Duration::from_secs(a.open_check_secs)),
        retry: Duration::from_secs(a.retry_secs),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .context("cannot catch SIGTERM")?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        supervisor::run(cfg, shutdown).await
    })
}
