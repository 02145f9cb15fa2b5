//! The plugin's life: scan targets, serve one `DevicePlugin` socket per
//! resource, register each with the kubelet, and start over when the kubelet
//! restarts (its `kubelet.sock` is deleted and created again, and it deletes
//! the plugins' sockets).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::{Channel, Endpoint, Server, Uri};

use crate::api::device_plugin::device_plugin_server::DevicePluginServer;
use crate::api::registration::registration_client::RegistrationClient;
use crate::api::{Device, RegisterRequest, KUBELET_SOCKET, VERSION};
use crate::plugin::{self, Members, Plugin, ShareConfig};
use crate::targets::{Target, Targets};

/// Everything the plugin is told on its command line.
#[derive(Clone, Debug)]
pub struct Config {
    /// The kubelet's device plugin directory: `kubelet.sock` and ours.
    pub socket_dir: PathBuf,
    /// `/sys/class/mockgpu`.
    pub sysfs_root: PathBuf,
    /// `/dev/mockgpu` as this process sees it.
    pub dev_root: PathBuf,
    /// `/dev/mockgpu` on the host: `DeviceSpec.host_path`.
    pub host_dev_root: PathBuf,
    /// The resource names' domain: `mockgpu.io`.
    pub resource_prefix: String,
    /// One resource for all targets with this name, instead of one per target.
    pub pool: Option<String>,
    /// Shares and their limits.
    pub shares: ShareConfig,
    /// How often sysfs and `kubelet.sock` are looked at.
    pub poll: Duration,
    /// How often each proxy node is opened to check it (`None`: never).
    pub open_every: Option<Duration>,
    /// How long to wait before registering again after a failure.
    pub retry: Duration,
}

/// Connects a gRPC channel to a unix socket (the URI is not used).
pub async fn connect_unix(path: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = path.to_path_buf();
    Endpoint::from_static("http://[::]:0")
        .connect_timeout(Duration::from_secs(5))
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { UnixStream::connect(path).await.map(TokioIo::new) }
        }))
        .await
}

/// Identifies one incarnation of a socket file: a recreated one differs.
type SocketId = (u64, u64, i64, i64);

fn socket_id(path: &Path) -> Option<SocketId> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.dev(), m.ino(), m.ctime(), m.ctime_nsec()))
}

/// A running `DevicePlugin` server.
struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// One extended resource: its device list, its server and its registration.
struct Resource {
    name: String,
    members: Members,
    socket: PathBuf,
    devices: watch::Sender<Vec<Device>>,
    server: Option<Running>,
    /// The `kubelet.sock` the resource is registered with.
    registered_with: Option<SocketId>,
    /// Serve on a new socket and register again once the kubelet is back.
    restart: bool,
    next_try: Instant,
}

/// The plugin: runs until `shutdown` completes, then removes its sockets.
pub async fn run(cfg: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let kubelet = cfg.socket_dir.join(KUBELET_SOCKET);
    crate::log!(
        "{} shares per GPU; targets from {}, proxies in {}, kubelet at {}",
        cfg.shares.shares,
        cfg.sysfs_root.display(),
        cfg.dev_root.display(),
        kubelet.display()
    );
    let shares = Arc::new(cfg.shares.clone());
    let state: Arc<RwLock<BTreeMap<String, Target>>> = Arc::default();
    let mut targets = Targets::new(cfg.sysfs_root.clone(), cfg.dev_root.clone(), cfg.open_every);
    let mut resources: BTreeMap<String, Resource> = BTreeMap::new();
    let mut kubelet_seen = true;
    let mut empty_logged = false;
    let mut tick = tokio::time::interval(cfg.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        if targets.refresh(now) {
            *state.write().unwrap_or_else(|e| e.into_inner()) = targets.known().clone();
        }
        if targets.known().is_empty() && !empty_logged {
            crate::log!(
                "no mockgpu targets yet (none in {}); add one with `mockgpuctl target add \
                 /dev/<gpu node>` or load mockgpu with targets=/dev/<gpu node>",
                cfg.sysfs_root.display()
            );
            empty_logged = true;
        }

        // The resources the targets call for; a removed target's stays (Unhealthy).
        let wanted: Vec<(String, Members)> = match &cfg.pool {
            Some(pool) if !targets.known().is_empty() => vec![(pool.clone(), Members::All)],
            Some(_) => Vec::new(),
            None => targets
                .known()
                .keys()
                .map(|t| (t.clone(), Members::One(t.clone())))
                .collect(),
        };
        for (short, members) in wanted {
            let name = format!("{}/{short}", cfg.resource_prefix);
            resources.entry(name.clone()).or_insert_with(|| Resource {
                socket: cfg.socket_dir.join(format!("mockgpu-{short}.sock")),
                name,
                members,
                devices: watch::channel(Vec::new()).0,
                server: None,
                registered_with: None,
                restart: false,
                next_try: now,
            });
        }
        for r in resources.values() {
            let list = plugin::device_list(&r.members, targets.known(), shares.shares);
            r.devices.send_if_modified(|cur| {
                if *cur == list {
                    return false;
                }
                let healthy = list
                    .iter()
                    .filter(|d| d.health == crate::api::HEALTHY)
                    .count();
                crate::log!(
                    "{}: {} devices, {healthy} Healthy (sent to the kubelet)",
                    r.name,
                    list.len()
                );
                *cur = list;
                true
            });
        }

        let kid = socket_id(&kubelet);
        match (kid.is_some(), kubelet_seen) {
            (false, true) => {
                crate::log!(
                    "{} is not there: waiting for the kubelet (is it running, and is its \
                     device-plugins directory mounted into this pod?)",
                    kubelet.display()
                );
                kubelet_seen = false;
            }
            (true, false) => kubelet_seen = true,
            _ => {}
        }
        for r in resources.values_mut() {
            if r.registered_with.is_some() && r.registered_with != kid {
                // The kubelet went away or restarted: it drops its plugins.
                r.registered_with = None;
                r.restart = true;
                r.next_try = now;
            }
            let due = now >= r.next_try;
            let own_gone = due && r.server.is_some() && !r.socket.exists();
            let restart = due && r.restart && kid.is_some();
            if restart {
                crate::log!(
                    "{}: the kubelet restarted ({} was recreated): serving and registering again",
                    r.name,
                    kubelet.display()
                );
            } else if own_gone {
                crate::log!(
                    "{}: {} was deleted: serving and registering again",
                    r.name,
                    r.socket.display()
                );
            }
            if (r.server.is_none() && due) || own_gone || restart {
                stop_server(r).await;
                r.registered_with = None;
                r.restart = false;
                let p = Plugin {
                    resource: r.name.clone(),
                    members: r.members.clone(),
                    config: shares.clone(),
                    targets: state.clone(),
                    host_dev_root: cfg.host_dev_root.clone(),
                    devices: r.devices.subscribe(),
                    stop: watch::channel(false).1,
                };
                match start_server(p, &r.socket) {
                    Ok(running) => r.server = Some(running),
                    Err(e) => {
                        crate::log!(
                            "{}: cannot listen on {}: {e}; is {} the host's kubelet \
                             device-plugins directory, mounted read-write? retrying in {} s",
                            r.name,
                            r.socket.display(),
                            cfg.socket_dir.display(),
                            cfg.retry.as_secs()
                        );
                        r.next_try = now + cfg.retry;
                        continue;
                    }
                }
            }
            let Some(id) = kid else { continue };
            if r.registered_with.is_none() && now >= r.next_try {
                match register(&kubelet, r).await {
                    Ok(()) => {
                        crate::log!(
                            "{}: registered with the kubelet at {} (endpoint {})",
                            r.name,
                            kubelet.display(),
                            r.socket.display()
                        );
                        r.registered_with = Some(id);
                    }
                    Err(e) => {
                        crate::log!(
                            "{}: cannot register with the kubelet at {}: {e}; retrying in {} s",
                            r.name,
                            kubelet.display(),
                            cfg.retry.as_secs()
                        );
                        r.next_try = now + cfg.retry;
                    }
                }
            }
        }
    }

    crate::log!("stopping: removing the plugin sockets");
    for r in resources.values_mut() {
        stop_server(r).await;
        let _ = std::fs::remove_file(&r.socket);
    }
    Ok(())
}

/// Serves `plugin` on a fresh socket at `path`.
fn start_server(mut plugin: Plugin, path: &Path) -> io::Result<Running> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(path)?;
    let (stop, stop_rx) = watch::channel(false);
    plugin.stop = stop_rx.clone();
    let mut stopped = stop_rx;
    let name = plugin.resource.clone();
    let task = tokio::spawn(async move {
        let served = Server::builder()
            .add_service(DevicePluginServer::new(plugin))
            .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async move {
                let _ = stopped.changed().await;
            })
            .await;
        if let Err(e) = served {
            crate::log!("{name}: the plugin's gRPC server failed: {e}");
        }
    });
    Ok(Running { stop, task })
}

/// Stops a resource's server, if it runs: streams end, then the server.
async fn stop_server(r: &mut Resource) {
    if let Some(mut running) = r.server.take() {
        let _ = running.stop.send(true);
        if tokio::time::timeout(Duration::from_secs(2), &mut running.task)
            .await
            .is_err()
        {
            running.task.abort();
        }
    }
}

/// Registers the resource with the kubelet at `kubelet`.
async fn register(kubelet: &Path, r: &Resource) -> Result<(), String> {
    let channel = connect_unix(kubelet).await.map_err(|e| {
        format!(
            "cannot connect: {}; is the kubelet running?",
            error_chain(&e)
        )
    })?;
    let endpoint = r
        .socket
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let request = RegisterRequest {
        version: VERSION.to_string(),
        endpoint,
        resource_name: r.name.clone(),
        options: Some(plugin::options()),
    };
    let mut client = RegistrationClient::new(channel);
    tokio::time::timeout(Duration::from_secs(10), client.register(request))
        .await
        .map_err(|_| "no answer in 10 s; is the kubelet hung?".to_string())?
        .map_err(|s| {
            format!(
                "the kubelet refused it ({:?}: {}); is another device plugin serving this \
                 resource, or does this kubelet not accept API {VERSION}?",
                s.code(),
                s.message()
            )
        })?;
    Ok(())
}

/// An error and its sources, `a: b: c`.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
