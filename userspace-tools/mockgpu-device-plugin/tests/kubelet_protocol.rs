//! Plays the kubelet against the real `mockgpu-device-plugin` binary, over
//! unix sockets in a temporary directory: a fake `Registration` server takes
//! the plugin's `Register`, then the test dials the plugin's endpoint as the
//! kubelet's device manager does. mockgpu's sysfs and /dev are faked with
//! files (`--sysfs-root`, `--dev-root`).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mockgpu_device_plugin::api::device_plugin::device_plugin_client::DevicePluginClient;
use mockgpu_device_plugin::api::registration::registration_server::{
    Registration, RegistrationServer,
};
use mockgpu_device_plugin::api::{
    AllocateRequest, ContainerAllocateRequest, ContainerAllocateResponse,
    ContainerPreferredAllocationRequest, Empty, ListAndWatchResponse, PreferredAllocationRequest,
    RegisterRequest, HEALTHY, UNHEALTHY,
};
use mockgpu_device_plugin::supervisor::connect_unix;
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status, Streaming};

/// How long anything the plugin should do may take (it polls every 100 ms).
const WAIT: Duration = Duration::from_secs(10);

/// The kubelet's `Registration` service: records each request; refuses the
/// first `refuse` of them as a kubelet refuses a taken resource name.
#[derive(Clone)]
struct FakeKubelet {
    seen: mpsc::UnboundedSender<RegisterRequest>,
    refuse: Arc<AtomicUsize>,
}

#[tonic::async_trait]
impl Registration for FakeKubelet {
    async fn register(&self, r: Request<RegisterRequest>) -> Result<Response<Empty>, Status> {
        let r = r.into_inner();
        let refused = self
            .refuse
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let _ = self.seen.send(r.clone());
        if refused {
            return Err(Status::invalid_argument(format!(
                "resource {} is already registered",
                r.resource_name
            )));
        }
        Ok(Response::new(Empty {}))
    }
}

/// A running fake kubelet.
struct Kubelet {
    registrations: mpsc::UnboundedReceiver<RegisterRequest>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Kubelet {
    fn start(socket: &Path, refuse: usize) -> Kubelet {
        let _ = fs::remove_file(socket);
        let listener = UnixListener::bind(socket).expect("bind kubelet.sock");
        let (tx, registrations) = mpsc::unbounded_channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let svc = FakeKubelet {
            seen: tx,
            refuse: Arc::new(AtomicUsize::new(refuse)),
        };
        let task = tokio::spawn(async move {
            Server::builder()
                .add_service(RegistrationServer::new(svc))
                .serve_with_incoming_shutdown(UnixListenerStream::new(listener), async {
                    let _ = stopped.await;
                })
                .await
                .expect("fake kubelet");
        });
        Kubelet {
            registrations,
            stop,
            task,
        }
    }

    /// The next registration request.
    async fn next(&mut self) -> RegisterRequest {
        tokio::time::timeout(WAIT, self.registrations.recv())
            .await
            .expect("no Register from the plugin in time")
            .expect("fake kubelet gone")
    }

    /// The next registration of each of `resources`, in any order.
    async fn expect_registrations(&mut self, resources: &[&str]) -> Vec<RegisterRequest> {
        let mut got: Vec<RegisterRequest> = Vec::new();
        while resources
            .iter()
            .any(|r| !got.iter().any(|g| g.resource_name == *r))
        {
            got.push(self.next().await);
        }
        got
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("fake kubelet task");
    }
}

/// The temporary directory, the plugin process and its log.
struct Rig {
    dir: PathBuf,
    sys: PathBuf,
    dev: PathBuf,
    sockets: PathBuf,
    log: PathBuf,
    plugin: Option<Child>,
}

impl Rig {
    fn new(name: &str) -> Rig {
        let dir = std::env::temp_dir().join(format!("mockgpu-dp-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let rig = Rig {
            sys: dir.join("sys"),
            dev: dir.join("dev"),
            sockets: dir.join("device-plugins"),
            log: dir.join("plugin.log"),
            dir,
            plugin: None,
        };
        for d in [&rig.sys, &rig.dev, &rig.sockets] {
            fs::create_dir_all(d).unwrap();
        }
        rig
    }

    /// Makes target `name` (real node `real`) appear as mockgpu shows it.
    fn add_target(&self, name: &str, real: &str) {
        fs::create_dir_all(self.sys.join(name)).unwrap();
        fs::write(self.sys.join(name).join("real_path"), format!("{real}\n")).unwrap();
        fs::write(self.dev.join(name), "").unwrap();
    }

    fn kubelet_socket(&self) -> PathBuf {
        self.sockets.join("kubelet.sock")
    }

    fn spawn(&mut self, extra: &[&str]) {
        let log = fs::File::create(&self.log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_mockgpu-device-plugin"))
            .arg("--socket-dir")
            .arg(&self.sockets)
            .arg("--sysfs-root")
            .arg(&self.sys)
            .arg("--dev-root")
            .arg(&self.dev)
            .args([
                "--poll-ms",
                "100",
                "--open-check-secs",
                "1",
                "--retry-secs",
                "1",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start mockgpu-device-plugin");
        self.plugin = Some(child);
    }

    fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the plugin's log contains `what`.
    async fn wait_log(&self, what: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while !self.log_text().contains(what) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the plugin never logged {what:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn dial(&self, endpoint: &str) -> DevicePluginClient<Channel> {
        let channel = connect_unix(&self.sockets.join(endpoint))
            .await
            .unwrap_or_else(|e| panic!("cannot dial the plugin at {endpoint}: {e:?}"));
        DevicePluginClient::new(channel)
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        if let Some(mut child) = self.plugin.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // The plugin's own account, for a failing run.
        eprintln!(
            "--- plugin log ---\n{}--- end of plugin log ---",
            self.log_text()
        );
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Reads the stream until a list satisfies `want`.
async fn until(
    stream: &mut Streaming<ListAndWatchResponse>,
    what: &str,
    want: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    let read = async {
        loop {
            let msg = stream
                .message()
                .await
                .expect("ListAndWatch failed")
                .expect("ListAndWatch ended");
            let list: HashMap<String, String> =
                msg.devices.into_iter().map(|d| (d.id, d.health)).collect();
            if want(&list) {
                return list;
            }
        }
    };
    tokio::time::timeout(WAIT, read)
        .await
        .unwrap_or_else(|_| panic!("ListAndWatch never sent a list with {what}"))
}

fn all(list: &HashMap<String, String>, target: &str, health: &str) -> bool {
    let mine: Vec<_> = list
        .iter()
        .filter(|(id, _)| id.starts_with(&format!("{target}-")))
        .collect();
    mine.len() == 4 && mine.iter().all(|(_, h)| *h == health)
}

async fn allocate(
    client: &mut DevicePluginClient<Channel>,
    containers: &[&[&str]],
) -> Result<Vec<ContainerAllocateResponse>, Status> {
    let request = AllocateRequest {
        container_requests: containers
            .iter()
            .map(|ids| ContainerAllocateRequest {
                devices_ids: ids.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
    };
    Ok(client
        .allocate(request)
        .await?
        .into_inner()
        .container_responses)
}

#[tokio::test]
async fn kubelet_protocol() {
    let mut rig = Rig::new("protocol");
    rig.add_target("realgpu", "/dev/realgpu");
    rig.add_target("other", "/dev/dri/renderD128");
    rig.spawn(&["--shares", "4", "--device-memory", "realgpu=256M"]);

    // No kubelet yet: the plugin says so and what to check.
    rig.wait_log("kubelet.sock is not there: waiting for the kubelet")
        .await;

    // Registration: version, endpoint, resource name, options.
    let mut kubelet = Kubelet::start(&rig.kubelet_socket(), 0);
    let regs = kubelet
        .expect_registrations(&["mockgpu.io/realgpu", "mockgpu.io/other"])
        .await;
    for r in &regs {
        assert_eq!(r.version, "v1beta1");
        let target = r.resource_name.strip_prefix("mockgpu.io/").unwrap();
        assert_eq!(r.endpoint, format!("mockgpu-{target}.sock"));
        assert!(
            rig.sockets.join(&r.endpoint).exists(),
            "endpoint not in the socket dir"
        );
        let o = r.options.clone().expect("options");
        assert!(o.get_preferred_allocation_available && !o.pre_start_required);
    }

    let mut client = rig.dial("mockgpu-realgpu.sock").await;
    let options = client
        .get_device_plugin_options(Empty {})
        .await
        .expect("GetDevicePluginOptions")
        .into_inner();
    assert!(options.get_preferred_allocation_available);

    // ListAndWatch: the initial list, then the target's health as it changes.
    let mut stream = client
        .list_and_watch(Empty {})
        .await
        .expect("ListAndWatch")
        .into_inner();
    let first = stream.message().await.unwrap().expect("an initial list");
    let mut ids: Vec<_> = first.devices.iter().map(|d| d.id.as_str()).collect();
    ids.sort();
    assert_eq!(ids, ["realgpu-0", "realgpu-1", "realgpu-2", "realgpu-3"]);
    assert!(first.devices.iter().all(|d| d.health == HEALTHY));

    fs::remove_dir_all(rig.sys.join("realgpu")).unwrap();
    until(&mut stream, "realgpu removed: Unhealthy", |l| {
        all(l, "realgpu", UNHEALTHY)
    })
    .await;
    rig.add_target("realgpu", "/dev/realgpu");
    until(&mut stream, "realgpu back: Healthy", |l| {
        all(l, "realgpu", HEALTHY)
    })
    .await;
    // The proxy cannot be opened: Unhealthy, with the reason in the log.
    fs::remove_file(rig.dev.join("realgpu")).unwrap();
    until(&mut stream, "proxy open failing: Unhealthy", |l| {
        all(l, "realgpu", UNHEALTHY)
    })
    .await;
    assert!(rig.log_text().contains("cannot open"));
    fs::write(rig.dev.join("realgpu"), "").unwrap();
    until(&mut stream, "proxy opens again: Healthy", |l| {
        all(l, "realgpu", HEALTHY)
    })
    .await;

    // Allocate one share, and three for a second container of the same pod.
    let resp = allocate(
        &mut client,
        &[&["realgpu-0"], &["realgpu-1", "realgpu-2", "realgpu-3"]],
    )
    .await
    .expect("Allocate");
    assert_eq!(resp.len(), 2);
    for (r, shares, memory, compute) in [(&resp[0], 1, 64 << 20, 25), (&resp[1], 3, 192 << 20, 75)]
    {
        assert_eq!(r.devices.len(), 1);
        let d = &r.devices[0];
        assert_eq!(d.container_path, "/dev/realgpu");
        assert_eq!(Path::new(&d.host_path), rig.dev.join("realgpu"));
        assert_eq!(d.permissions, "rw");
        let cdi: Vec<_> = r.cdi_devices.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(cdi, ["mockgpu.dev/gpu=realgpu"]);
        let limits = format!("target=realgpu,shares={shares},memory={memory},compute={compute}");
        assert_eq!(
            r.envs.get("MOCKGPU_LIMITS_REALGPU"),
            Some(&limits),
            "envs {:?}",
            r.envs
        );
        assert_eq!(
            r.annotations.get("mockgpu.io/limits.realgpu"),
            Some(&limits)
        );
    }
    // A GPU whose memory is not known: the compute share only.
    let mut other = rig.dial("mockgpu-other.sock").await;
    let resp = allocate(&mut other, &[&["other-0", "other-3"]])
        .await
        .expect("Allocate other");
    assert_eq!(resp[0].devices[0].container_path, "/dev/dri/renderD128");
    assert_eq!(
        resp[0].envs.get("MOCKGPU_LIMITS_OTHER").map(String::as_str),
        Some("target=other,shares=2,compute=50")
    );
    // Ids this resource does not have are refused.
    for bad in ["realgpu-4", "other-0", "bogus"] {
        let err = allocate(&mut client, &[&[bad]])
            .await
            .expect_err("unknown id accepted");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{bad}: {err:?}");
    }

    // GetPreferredAllocation packs: lowest shares, the required ones first.
    let prefer = |avail: &[&str], must: &[&str], size: i32| PreferredAllocationRequest {
        container_requests: vec![ContainerPreferredAllocationRequest {
            available_device_ids: avail.iter().map(|s| s.to_string()).collect(),
            must_include_device_ids: must.iter().map(|s| s.to_string()).collect(),
            allocation_size: size,
        }],
    };
    let avail = ["realgpu-3", "realgpu-1", "realgpu-0", "realgpu-2"];
    let got = client
        .get_preferred_allocation(prefer(&avail, &[], 2))
        .await
        .expect("GetPreferredAllocation")
        .into_inner();
    assert_eq!(
        got.container_responses[0].device_ids,
        ["realgpu-0", "realgpu-1"]
    );
    let got = client
        .get_preferred_allocation(prefer(&avail, &["realgpu-3"], 2))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        got.container_responses[0].device_ids,
        ["realgpu-3", "realgpu-0"]
    );

    // Kubelet restart: kubelet.sock is deleted and created again. The plugin
    // serves on a new socket of its own and registers again.
    let incarnation = |p: &Path| {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(p).unwrap();
        (m.ino(), m.ctime(), m.ctime_nsec())
    };
    let old_socket = incarnation(&rig.sockets.join("mockgpu-realgpu.sock"));
    kubelet.stop().await;
    fs::remove_file(rig.kubelet_socket()).unwrap();
    let mut kubelet = Kubelet::start(&rig.kubelet_socket(), 0);
    kubelet
        .expect_registrations(&["mockgpu.io/realgpu", "mockgpu.io/other"])
        .await;
    rig.wait_log("the kubelet restarted").await;
    assert_ne!(
        incarnation(&rig.sockets.join("mockgpu-realgpu.sock")),
        old_socket,
        "the plugin did not recreate its socket"
    );
    let ended = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_)) = stream.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "the old ListAndWatch stream did not end");
    let mut client = rig.dial("mockgpu-realgpu.sock").await;
    let mut stream = client.list_and_watch(Empty {}).await.unwrap().into_inner();
    until(&mut stream, "the list after the restart", |l| {
        all(l, "realgpu", HEALTHY)
    })
    .await;

    // Again as a real kubelet does it: it goes away, deletes the plugins'
    // sockets, comes back on a new kubelet.sock and (here) refuses the first
    // registration once.
    kubelet.stop().await;
    fs::remove_file(rig.kubelet_socket()).unwrap();
    for s in ["mockgpu-realgpu.sock", "mockgpu-other.sock"] {
        fs::remove_file(rig.sockets.join(s)).unwrap();
    }
    // The plugin stops serving its old socket: the old stream ends.
    let ended = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_)) = stream.message().await {}
    })
    .await;
    assert!(ended.is_ok(), "the old ListAndWatch stream did not end");
    let mut kubelet = Kubelet::start(&rig.kubelet_socket(), 1);
    let regs = kubelet
        .expect_registrations(&["mockgpu.io/realgpu", "mockgpu.io/other"])
        .await;
    assert!(regs.iter().all(|r| r.version == "v1beta1"));
    // The refused one came back after --retry-secs.
    let refused = regs[0].resource_name.clone();
    assert!(
        regs[1..].iter().any(|r| r.resource_name == refused)
            || kubelet.next().await.resource_name == refused,
        "the refused registration was not retried"
    );
    rig.wait_log("cannot register with the kubelet").await;
    rig.wait_log("is already registered").await;
    // Its socket is back and serves.
    let mut client = rig.dial("mockgpu-realgpu.sock").await;
    let mut stream = client.list_and_watch(Empty {}).await.unwrap().into_inner();
    until(&mut stream, "the list after the restart", |l| {
        all(l, "realgpu", HEALTHY)
    })
    .await;
    kubelet.stop().await;
}

#[tokio::test]
async fn pool_packs_shares_onto_fewest_gpus() {
    let mut rig = Rig::new("pool");
    rig.add_target("gpu0", "/dev/dri/renderD128");
    rig.add_target("gpu1", "/dev/dri/renderD129");
    let mut kubelet = Kubelet::start(&rig.kubelet_socket(), 0);
    rig.spawn(&[
        "--shares",
        "4",
        "--pool",
        "shared",
        "--memory-per-share",
        "1G",
    ]);
    let r = kubelet.next().await;
    assert_eq!(r.resource_name, "mockgpu.io/shared");
    assert_eq!(r.endpoint, "mockgpu-shared.sock");

    let mut client = rig.dial("mockgpu-shared.sock").await;
    let mut stream = client.list_and_watch(Empty {}).await.unwrap().into_inner();
    until(&mut stream, "8 healthy shares of 2 GPUs", |l| {
        all(l, "gpu0", HEALTHY) && all(l, "gpu1", HEALTHY)
    })
    .await;

    // gpu0 has 1 share free, gpu1 all 4: 3 shares fit gpu1 alone, 1 fits gpu0.
    let avail = ["gpu0-3", "gpu1-0", "gpu1-1", "gpu1-2", "gpu1-3"];
    for (size, want) in [
        (3, &["gpu1-0", "gpu1-1", "gpu1-2"][..]),
        (1, &["gpu0-3"][..]),
        (5, &["gpu1-0", "gpu1-1", "gpu1-2", "gpu1-3", "gpu0-3"][..]),
    ] {
        let got = client
            .get_preferred_allocation(PreferredAllocationRequest {
                container_requests: vec![ContainerPreferredAllocationRequest {
                    available_device_ids: avail.iter().map(|s| s.to_string()).collect(),
                    must_include_device_ids: vec![],
                    allocation_size: size,
                }],
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(got.container_responses[0].device_ids, want, "size {size}");
    }

    // Shares of two GPUs: both proxies, both CDI devices, limits per GPU.
    let resp = allocate(&mut client, &[&["gpu0-3", "gpu1-0", "gpu1-1"]])
        .await
        .unwrap();
    let r = &resp[0];
    let mut paths: Vec<_> = r
        .devices
        .iter()
        .map(|d| d.container_path.as_str())
        .collect();
    paths.sort();
    assert_eq!(paths, ["/dev/dri/renderD128", "/dev/dri/renderD129"]);
    assert_eq!(r.cdi_devices.len(), 2);
    assert_eq!(
        r.envs.get("MOCKGPU_LIMITS_GPU0").map(String::as_str),
        Some("target=gpu0,shares=1,memory=1073741824,compute=25")
    );
    assert_eq!(
        r.envs.get("MOCKGPU_LIMITS_GPU1").map(String::as_str),
        Some("target=gpu1,shares=2,memory=2147483648,compute=50")
    );
    kubelet.stop().await;
}
