//! The `DevicePlugin` service of one extended resource.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::api::device_plugin::device_plugin_server::DevicePlugin;
use crate::api::{
    AllocateRequest, AllocateResponse, CdiDevice, ContainerAllocateResponse,
    ContainerPreferredAllocationResponse, Device, DevicePluginOptions, DeviceSpec, Empty,
    ListAndWatchResponse, PreStartContainerRequest, PreStartContainerResponse,
    PreferredAllocationRequest, PreferredAllocationResponse, HEALTHY, UNHEALTHY,
};
use crate::share::{self, Limits};
use crate::targets::Target;

/// The annotation key prefix of a target's limits: `mockgpu.io/limits.<target>`.
pub const LIMITS_ANNOTATION: &str = "mockgpu.io/limits.";

/// How targets are cut into shares and what a share is worth.
#[derive(Clone, Debug, Default)]
pub struct ShareConfig {
    /// Shares per GPU (N).
    pub shares: u32,
    /// Device memory of a share, if given: overrides `device_memory / N`.
    pub memory_per_share: Option<u64>,
    /// Device memory of each GPU by target name.
    pub device_memory: HashMap<String, u64>,
    /// Device memory of a GPU not in `device_memory`.
    pub default_device_memory: Option<u64>,
    /// The CDI kind of mockgpu's spec (`mockgpuctl cdi --kind`), if CDI device
    /// names are to be returned.
    pub cdi_kind: Option<String>,
}

impl ShareConfig {
    /// The device memory of one share of `target`, if known.
    pub fn memory_per_share(&self, target: &str) -> Option<u64> {
        self.memory_per_share.or_else(|| {
            self.device_memory
                .get(target)
                .copied()
                .or(self.default_device_memory)
                .map(|m| m / u64::from(self.shares.max(1)))
        })
    }
}

/// Which targets an extended resource covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Members {
    /// One target: `mockgpu.io/<target>`.
    One(String),
    /// Every target (`--pool NAME`: `mockgpu.io/<NAME>`).
    All,
}

impl Members {
    /// Whether target `name` belongs to the resource.
    pub fn covers(&self, name: &str) -> bool {
        match self {
            Members::One(t) => t == name,
            Members::All => true,
        }
    }
}

/// The shares of the resource's targets, as the kubelet is to see them.
pub fn device_list(
    members: &Members,
    targets: &BTreeMap<String, Target>,
    shares: u32,
) -> Vec<Device> {
    let mut devices = Vec::new();
    for t in targets.values().filter(|t| members.covers(&t.name)) {
        let health = if t.healthy() { HEALTHY } else { UNHEALTHY };
        for i in 0..shares {
            devices.push(Device {
                id: share::device_id(&t.name, i),
                health: health.to_string(),
                topology: None,
            });
        }
    }
    devices
}

/// The `DevicePlugin` service of one resource.
#[derive(Clone, Debug)]
pub struct Plugin {
    /// The extended resource name, for messages.
    pub resource: String,
    /// Which targets it covers.
    pub members: Members,
    /// Shares and limits.
    pub config: Arc<ShareConfig>,
    /// The targets as last scanned.
    pub targets: Arc<RwLock<BTreeMap<String, Target>>>,
    /// Where the proxy nodes are on the host (`/dev/mockgpu`).
    pub host_dev_root: PathBuf,
    /// The device list; every change is sent to each ListAndWatch stream.
    pub devices: watch::Receiver<Vec<Device>>,
    /// Becomes `true` when this server is stopped: streams end.
    pub stop: watch::Receiver<bool>,
}

impl Plugin {
    /// The response for one container's shares.
    fn allocate_one(&self, ids: &[String]) -> Result<ContainerAllocateResponse, Status> {
        let targets = self.targets.read().unwrap_or_else(|e| e.into_inner());
        let mut per_target: BTreeMap<&str, u32> = BTreeMap::new();
        for id in ids {
            let known = share::parse_device_id(id).filter(|(t, i)| {
                *i < self.config.shares && self.members.covers(t) && targets.contains_key(*t)
            });
            let Some((target, _)) = known else {
                return Err(Status::invalid_argument(format!(
                    "{}: unknown device id '{id}' (this plugin's ids are <target>-0..<target>-{})",
                    self.resource,
                    self.config.shares.saturating_sub(1)
                )));
            };
            *per_target.entry(target).or_default() += 1;
        }
        let mut resp = ContainerAllocateResponse::default();
        for (&name, &count) in &per_target {
            let t = &targets[name];
            if !t.present {
                return Err(Status::failed_precondition(format!(
                    "{}: target {name} was removed; add it again with `mockgpuctl target add {}`",
                    self.resource, t.real_path
                )));
            }
            resp.devices.push(DeviceSpec {
                container_path: t.real_path.clone(),
                host_path: self.host_dev_root.join(name).to_string_lossy().into_owned(),
                permissions: "rw".to_string(),
            });
            if let Some(kind) = &self.config.cdi_kind {
                resp.cdi_devices.push(CdiDevice {
                    name: format!("{kind}={name}"),
                });
            }
            let limits = Limits::new(
                count,
                self.config.shares,
                self.config.memory_per_share(name),
            );
            let value = limits.encode(name);
            resp.envs
                .insert(share::limits_env_name(name), value.clone());
            resp.annotations
                .insert(format!("{LIMITS_ANNOTATION}{name}"), value);
        }
        Ok(resp)
    }
}

#[tonic::async_trait]
impl DevicePlugin for Plugin {
    async fn get_device_plugin_options(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<DevicePluginOptions>, Status> {
        Ok(Response::new(options()))
    }

    type ListAndWatchStream = ReceiverStream<Result<ListAndWatchResponse, Status>>;

    async fn list_and_watch(
        &self,
        _request: Request<Empty>,
    ) -> Result<Response<Self::ListAndWatchStream>, Status> {
        let (tx, rx) = mpsc::channel(4);
        let mut devices = self.devices.clone();
        let mut stop = self.stop.clone();
        tokio::spawn(async move {
            if *stop.borrow_and_update() {
                return;
            }
            loop {
                let list = devices.borrow_and_update().clone();
                if tx
                    .send(Ok(ListAndWatchResponse { devices: list }))
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::select! {
                    r = devices.changed() => if r.is_err() { break },
                    _ = stop.changed() => break,
                    _ = tx.closed() => break,
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn get_preferred_allocation(
        &self,
        request: Request<PreferredAllocationRequest>,
    ) -> Result<Response<PreferredAllocationResponse>, Status> {
        let container_responses = request
            .into_inner()
            .container_requests
            .iter()
            .map(|r| ContainerPreferredAllocationResponse {
                device_ids: share::pack(
                    &r.available_device_ids,
                    &r.must_include_device_ids,
                    usize::try_from(r.allocation_size).unwrap_or(0),
                ),
            })
            .collect();
        Ok(Response::new(PreferredAllocationResponse {
            container_responses,
        }))
    }

    async fn allocate(
        &self,
        request: Request<AllocateRequest>,
    ) -> Result<Response<AllocateResponse>, Status> {
        let mut container_responses = Vec::new();
        for r in &request.get_ref().container_requests {
            match self.allocate_one(&r.devices_ids) {
                Ok(resp) => container_responses.push(resp),
                Err(e) => {
                    crate::log!("Allocate {:?} refused: {}", r.devices_ids, e.message());
                    return Err(e);
                }
            }
        }
        Ok(Response::new(AllocateResponse {
            container_responses,
        }))
    }

    async fn pre_start_container(
        &self,
        _request: Request<PreStartContainerRequest>,
    ) -> Result<Response<PreStartContainerResponse>, Status> {
        Ok(Response::new(PreStartContainerResponse {}))
    }
}

/// The options this plugin registers with.
pub fn options() -> DevicePluginOptions {
    DevicePluginOptions {
        pre_start_required: false,
        get_preferred_allocation_available: true,
    }
}
