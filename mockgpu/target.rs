// SPDX-License-Identifier: GPL-2.0

//! Targets: the real devices mockgpu proxies, each with its proxy node
//! `/dev/mockgpu/<name>`, and the registry of them.
//!
//! A target is set up by path, once (the `targets=` parameter at load, or the
//! control node at run time): the real node is captured then and never looked
//! up by path again. Setup opens the real node once, as the operator, to learn
//! which file operations its driver implements; the proxy node then offers
//! exactly those (see `fops.rs`).
//!
//! Proxy nodes are char devices of mockgpu's own major (`helpers.c`), with
//! the real node's owner, group and mode. The node owns one reference on its
//! target (given in [`Registry::add`], dropped by [`mockgpu_target_put`] when
//! the node's device is released). An open file keeps the node alive
//! (`chrdev_open` holds its cdev), and takes its own target reference.
//!
//! Removal revokes: once a target is removed, every open of its node fails
//! with `ENODEV`, through any inode (an inode that had a file open keeps its
//! `i_cdev`, and `chrdev_open` then takes its fast path straight to our
//! open). Files already open keep working until closed; their target stays
//! listed (as removed) with its tenants and charges until the last one
//! closes, so no charge outlives its target unaccounted.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{
    bindings,
    error::from_err_ptr,
    ffi::c_void,
    new_mutex,
    prelude::*,
    str::{CStr, CString},
    sync::{Arc, ArcBorrow, Mutex},
};

use crate::{
    dmem::{self, Region},
    ffi::{self, MockgpuNode},
    gem::GemTable,
    linger::Lingering,
    mapped::Mapped,
    meter::Carried,
    policy::{abi::control::Limits, allow::IoctlPolicy, backend::Backend, decode, screen::Screen},
    real::{DeviceRef, RealFile, RealNode},
    tenant::{Chain, Key, Tenant},
};

/// `MISC_MAJOR`: the control node is a misc device.
const MISC_MAJOR: u32 = 10;
/// Longest target name (the real node's last path component).
pub(crate) const NAME_MAX: usize = 63;

/// What the file-operations layer (`fops.rs`) gives a target, opaque here:
/// the proxy's `file_operations` for the real driver's, and how to tell a
/// proxy file from any other.
#[derive(Clone, Copy)]
pub(crate) struct ProxyOps {
    /// The proxy table, valid until module exit.
    pub(crate) table: *const bindings::file_operations,
    /// Whether an open file is a proxy file of mockgpu.
    ///
    /// # Safety
    ///
    /// Called on a valid, open file.
    pub(crate) is_proxy: unsafe fn(*const bindings::file) -> bool,
    /// Whether the real driver has operations mockgpu does not forward.
    pub(crate) unforwarded: bool,
}

/// Makes the [`ProxyOps`] for a real driver's table.
pub(crate) type OpsFor = fn(&bindings::file_operations) -> Result<ProxyOps>;

/// A proxied real device.
#[pin_data]
pub(crate) struct Target {
    /// Contexts of closed proxy files that mappings keep. First: dropped
    /// (its reaper stopped) before any field its reaper reads.
    #[pin]
    mapped: Mapped,
    name: CString,
    /// The real node's path as the operator gave it.
    path: CString,
    node: RealNode,
    backend: Backend,
    /// What the file-operations layer made for this target's driver.
    ops: ProxyOps,
    /// What a tenant is on this target (`enum mockgpu_tenant_kind`).
    tenant_kind: u32,
    /// The ioctls this target forwards; read lock-free on every ioctl the
    /// screen selects.
    policy: IoctlPolicy,
    /// The ioctl hot path's first look (`policy/screen.rs`).
    ///
    /// INVARIANT: selects every number the family `account::of` picks for
    /// this target may decode (the same rule: a GEM table means DRM), and
    /// every number while `policy` has an allowlist in force. Updated only
    /// in `set_policy`, under the registry lock.
    screen: Screen,
    /// Set once the target is removed: opens fail with `ENODEV` from then on.
    removed: AtomicBool,
    /// The GEM objects charged on the DRM device behind a DRM target (shared
    /// with the other targets of that device).
    gem: Option<Arc<GemTable>>,
    /// The target's dmem cgroup region, `mockgpu/<name>` (targets whose
    /// allocations mockgpu decodes).
    dmem: Option<Region>,
    /// Charges of the simulated GPU's buffers that outlived their handles.
    linger: Option<Arc<Lingering>>,
    /// The real device's parent (a DRM device's bus device), which the proxy
    /// node's device gets too, for discovery by device number.
    parent: Option<DeviceRef>,
    /// The tenants seen or configured, sorted by key. Taken at open (a
    /// binary search) and by the control node; never on ioctl or mmap.
    #[pin]
    tenants: Mutex<KVec<Arc<Tenant>>>,
}

// SAFETY: `ops` points to an immutable table valid until module exit; the
// other fields are `Send`: immutable after construction, atomics, or behind
// their locks.
unsafe impl Send for Target {}
// SAFETY: as above; shared access reads the immutable fields and changes
// the others only through atomics (`policy`, `screen`, `removed`) or locks.
unsafe impl Sync for Target {}

impl Target {
    /// Captures the real node at `path` and prepares its proxy.
    fn new(path: &CStr, tenant_kind: u32, ops_for: OpsFor) -> Result<Arc<Self>> {
        Chain::current(tenant_kind)?; // refuses an unknown kind (EINVAL)
        let node = RealNode::capture(path).inspect_err(|e| {
            pr_warn!("target {}: cannot use it: {:?}\n", path, e);
        })?;
        if is_own_node(node.rdev()) {
            pr_warn!("target {}: is a mockgpu node\n", path);
            return Err(ELOOP);
        }
        let name = last_component(path.to_bytes());
        if name.is_empty() || name.len() > NAME_MAX {
            pr_warn!("target {}: bad node name\n", path);
            return Err(EINVAL);
        }
        let mut buf = [0u8; NAME_MAX + 1];
        buf[..name.len()].copy_from_slice(name);
        // `buf` holds `name` and at least one NUL after it.
        let name = CStr::from_bytes_until_nul(&buf)
            .map_err(|_| EINVAL)?
            .to_cstring()?;
        let (backend, ops, parent, gem) = probe(path, &node, ops_for)?;
        let real_path = path.to_cstring()?;
        // Every target whose allocations mockgpu decodes gets a region.
        let dmem = match backend {
            Backend::Generic => None,
            Backend::Drm if gem.is_none() => None,
            _ => Region::register(&name, 0)?,
        };
        let linger = match backend {
            Backend::RealGpu => Lingering::new()?,
            _ => None,
        };
        // INVARIANT: the family `account::of` picks: DRM's GEM table if the
        // target has one, else the backend's table (host-tested: every
        // command either decodes is selected).
        let drm = gem.as_ref().map(|g| g.driver());
        let screen = Screen::new(|nr| decode::may_decode_nr(backend, drm, nr));
        let target = Arc::pin_init(
            pin_init!(Target {
                mapped <- Mapped::new(),
                name,
                path: real_path,
                node,
                backend,
                ops,
                tenant_kind,
                policy: IoctlPolicy::new(),
                screen,
                removed: AtomicBool::new(false),
                gem,
                dmem,
                linger,
                parent,
                tenants <- new_mutex!(KVec::new()),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `mapped` is the target's first field; the target outlives it.
        unsafe {
            target
                .mapped
                .start(reap_mapped, Arc::as_ptr(&target).cast::<c_void>())
        }?;
        Ok(target)
    }

    /// Keeps the context of a proxy file of `tenant` that closed while a
    /// mapping holds its real file: its file charge lasts while the context
    /// does (`mapped.rs`). `false` if the charge ended now (no mapping, or
    /// no memory to keep it).
    pub(crate) fn keep_mapped(
        &self,
        real: &RealFile,
        tenant: &Arc<Tenant>,
        meter: Option<Carried>,
    ) -> bool {
        if real.only_ref() {
            return false;
        }
        let Ok(file) = real.share() else {
            return false;
        };
        self.mapped.keep(file, tenant.clone(), meter).is_ok()
    }

    /// The target's name: the real node's last path component.
    pub(crate) fn name(&self) -> &CStr {
        &self.name
    }

    /// The captured real node.
    pub(crate) fn node(&self) -> &RealNode {
        &self.node
    }

    /// What a tenant is on this target.
    pub(crate) fn tenant_kind(&self) -> u32 {
        self.tenant_kind
    }

    /// The ioctls this target forwards.
    #[inline]
    pub(crate) fn policy(&self) -> &IoctlPolicy {
        &self.policy
    }

    /// The ioctl hot path's screen: whether `cmd` goes to the driver
    /// untouched (neither decoded nor under an allowlist).
    #[inline(always)]
    pub(crate) fn screen_passes(&self, cmd: u32) -> bool {
        self.screen.passes(cmd)
    }

    /// The detected backend.
    #[inline]
    pub(crate) fn backend(&self) -> Backend {
        self.backend
    }

    /// The proxy's file operations and identity.
    #[inline]
    pub(crate) fn ops(&self) -> &ProxyOps {
        &self.ops
    }

    /// The GEM table of a DRM target.
    #[inline]
    pub(crate) fn gem(&self) -> Option<&Arc<GemTable>> {
        self.gem.as_ref()
    }

    /// Ends the charge of a buffer whose handle `tenant` dropped (a free,
    /// or its file's close), unless the buffer lives on (then when it dies).
    /// The buffer's dmem charge (`dmem`) ends with mockgpu's.
    pub(crate) fn release_buffer(
        &self,
        tenant: &Arc<Tenant>,
        id: Option<u64>,
        size: u64,
        dmem: Option<dmem::Charge>,
    ) {
        match &self.linger {
            Some(l) => l.release(tenant, id, size, dmem),
            None => tenant.release(id, size),
        }
    }

    /// The simulated GPU's registry of live buffers and handles, if the
    /// target's driver has one.
    pub(crate) fn lingering(&self) -> Option<&Lingering> {
        self.linger.as_deref()
    }

    /// Whether a tenant other than `tenant` is charged for the buffer `id`
    /// (it pays while the buffer lives: an import by `tenant` is free).
    pub(crate) fn paid_by_other(&self, tenant: &Arc<Tenant>, id: u64) -> bool {
        let tenants = self.tenants.lock();
        tenants
            .iter()
            .any(|t| !core::ptr::eq::<Tenant>(&**t, &**tenant) && t.holds(id))
    }

    /// The target's dmem cgroup region.
    #[inline]
    pub(crate) fn dmem(&self) -> Option<&Region> {
        self.dmem.as_ref()
    }

    /// Whether the target was removed (opens get `ENODEV`).
    pub(crate) fn removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    /// The tenant a new file of the current task is charged to (see the
    /// hierarchy in `tenant.rs`), with the file already charged (`EMFILE`
    /// over its limit). Charging under the tenant lock is what lets
    /// [`Target::forget_if_removable`] free an idle tenant safely.
    pub(crate) fn tenant_for_open(&self) -> Result<Arc<Tenant>> {
        let chain = Chain::current(self.tenant_kind)?;
        let mut tenants = self.tenants.lock();
        let find =
            |tenants: &KVec<Arc<Tenant>>, key: Key| tenants.binary_search_by(|t| t.key().cmp(&key));
        for level in chain.nested_levels() {
            let Some(key) = chain.key(level) else { break };
            if let Ok(i) = find(&tenants, key) {
                let t = tenants.get(i).ok_or(EINVAL)?;
                if t.configured() {
                    t.charge_file()?;
                    t.adopt_ns(level);
                    return Ok(t.clone());
                }
            }
        }
        let level = chain.top_level();
        let key = chain.key(level).ok_or(EINVAL)?;
        let tenant = match find(&tenants, key) {
            Ok(i) => tenants.get(i).ok_or(EINVAL)?.clone(),
            Err(_) => {
                let limits = if chain.is_init() {
                    Limits::NONE
                } else {
                    crate::defaults::unconfigured_limits().ok_or(EPERM)?
                };
                Self::sweep(&mut tenants);
                let tenant = Tenant::new(key, &limits, false)?;
                let i = find(&tenants, key).err().ok_or(EEXIST)?;
                tenants.reserve(1, GFP_KERNEL)?;
                tenants
                    .insert_within_capacity(i, tenant.clone())
                    .map_err(|_| ENOMEM)?;
                tenant
            }
        };
        if let Err(e) = tenant.charge_file() {
            Self::forget(&mut tenants, &tenant);
            return Err(e);
        }
        if !chain.is_init() {
            tenant.adopt_ns(level);
        }
        Ok(tenant)
    }

    /// Frees `tenant` if nothing is charged to it any more and nobody needs
    /// its limits (called when a file of it closes).
    pub(crate) fn forget_if_removable(&self, tenant: &Arc<Tenant>) {
        if tenant.removable() {
            Self::forget(&mut self.tenants.lock(), tenant);
        }
    }

    /// Removes `tenant` from the table if it is removable (checked again
    /// under the lock: a new file charge could have come in).
    fn forget(tenants: &mut KVec<Arc<Tenant>>, tenant: &Arc<Tenant>) {
        let key = tenant.key();
        if let Ok(i) = tenants.binary_search_by(|t| t.key().cmp(&key)) {
            let same = tenants
                .get(i)
                .is_some_and(|t| core::ptr::eq::<Tenant>(&**t, &**tenant));
            if same && tenant.removable() {
                let _ = tenants.remove(i);
            }
        }
    }

    /// Frees every removable tenant (configured ones whose namespace is gone).
    fn sweep(tenants: &mut KVec<Arc<Tenant>>) {
        tenants.retain(|t| !t.removable());
    }

    /// Frees the removable tenants; true if nothing is charged to any
    /// tenant left.
    pub(crate) fn sweep_tenants(&self) -> bool {
        let mut tenants = self.tenants.lock();
        Self::sweep(&mut tenants);
        tenants.iter().all(|t| t.idle())
    }

    /// Sets (or, with `None`, clears) the limits of a tenant.
    pub(crate) fn set_limits(&self, key: Key, limits: Option<&Limits>) -> Result {
        let mut tenants = self.tenants.lock();
        let found = tenants.binary_search_by(|t| t.key().cmp(&key));
        match (found, limits) {
            (Ok(i), Some(limits)) => {
                tenants.get(i).ok_or(EINVAL)?.set_limits(limits, true);
            }
            (Err(i), Some(limits)) => {
                let tenant = Tenant::new(key, limits, true)?;
                tenants.reserve(1, GFP_KERNEL)?;
                tenants
                    .insert_within_capacity(i, tenant)
                    .map_err(|_| ENOMEM)?;
            }
            (Ok(i), None) => {
                let tenant = tenants.get(i).ok_or(EINVAL)?;
                if tenant.idle() {
                    tenants.remove(i)?;
                } else {
                    let defaults = crate::defaults::unconfigured_limits().unwrap_or(Limits::NONE);
                    tenant.set_limits(&defaults, false);
                }
            }
            (Err(_), None) => return Err(ENOENT),
        }
        Ok(())
    }

    /// The limits in force for a tenant this target knows.
    pub(crate) fn limits_of(&self, key: Key) -> Result<Limits> {
        let tenants = self.tenants.lock();
        let i = tenants
            .binary_search_by(|t| t.key().cmp(&key))
            .map_err(|_| ENOENT)?;
        Ok(tenants.get(i).ok_or(ENOENT)?.limits())
    }

    /// One paragraph of the status file.
    pub(crate) fn show(&self, m: &kernel::seq_file::SeqFile) {
        let kind = crate::policy::abi::control::kind_name(self.tenant_kind);
        kernel::seq_print!(
            m,
            "{}{}: /dev/mockgpu/{} -> {}, {} backend, tenants by {}, ioctls: ",
            &*self.name,
            if self.removed() { " (removed)" } else { "" },
            &*self.name,
            &*self.path,
            self.backend.name(),
            kind
        );
        match self.policy.describe() {
            None => kernel::seq_print!(m, "all\n"),
            Some(n) => kernel::seq_print!(m, "allowlist of {}\n", n),
        }
        let kept = self.mapped.count();
        if kept > 0 {
            kernel::seq_print!(m, "  contexts kept by mappings: {}\n", kept);
        }
        if let Some(gem) = &self.gem {
            let (n, bytes) = gem.stats();
            kernel::seq_print!(
                m,
                "  GEM objects charged on the device: {}, {} B\n",
                n,
                bytes
            );
        }
        let _ = self.for_each_usage(|u| {
            let configured = if u.configured != 0 {
                " (configured)"
            } else {
                ""
            };
            kernel::seq_print!(
                m,
                "  {} {}{}: memory {}/",
                kind,
                u.tenant.id,
                configured,
                u.memory_used
            );
            show_limit(m, u.limits.memory);
            kernel::seq_print!(m, " B, files {}/", u.files_used);
            show_limit(m, u.limits.files);
            kernel::seq_print!(
                m,
                ", compute {}%, used {} us; refused: memory {}, files {}, compute {}, ioctls {}\n",
                u.limits.compute_pct,
                u.compute_used_us,
                u.refused_memory,
                u.refused_files,
                u.refused_compute,
                u.refused_ioctls
            );
            Ok(())
        });
    }

    /// Calls `f` with each tenant's usage record, the target name filled in.
    pub(crate) fn for_each_usage(
        &self,
        mut f: impl FnMut(&crate::policy::abi::control::Usage) -> Result,
    ) -> Result {
        let mut tenants = self.tenants.lock();
        Self::sweep(&mut tenants);
        let name = self.name.to_bytes();
        for t in tenants.iter() {
            let mut u = t.usage();
            let n = name.len().min(u.target.len() - 1);
            u.target[..n].copy_from_slice(&name[..n]);
            f(&u)?;
        }
        Ok(())
    }

    /// The target of the proxy node `inode` is being opened through.
    ///
    /// # Safety
    ///
    /// `inode` is an inode of mockgpu's major inside `chrdev_open`, which
    /// holds the node (and so its target reference) for `'a`.
    pub(crate) unsafe fn from_inode<'a>(inode: *const bindings::inode) -> ArcBorrow<'a, Target> {
        // SAFETY: `inode->i_cdev` is a node's cdev (the safety requirements).
        let target = unsafe { ffi::mockgpu_node_target(inode) }.cast::<Target>();
        // SAFETY: the node owns a reference from `Arc::into_raw` (module
        // documentation), alive for `'a`.
        unsafe { ArcBorrow::from_raw(target) }
    }
}

/// The reaper of the contexts mappings keep.
///
/// # Safety
///
/// `target` is a live `Target` (its reaper is stopped before it goes).
unsafe extern "C" fn reap_mapped(target: *const c_void) {
    // SAFETY: by the safety requirements.
    let target = unsafe { &*target.cast::<Target>() };
    let released = target
        .mapped
        .reap(|tenant| target.forget_if_removable(tenant));
    if released {
        if let Some(gem) = &target.gem {
            // The objects of the released contexts are dead unless another
            // mapping or an export keeps them.
            gem.file_closed();
        }
    }
}

/// Drops a node's reference on its target; called when the node's device is
/// released.
///
/// # Safety
///
/// `target` is the reference given to `mockgpu_node_add`, dropped once.
#[no_mangle]
unsafe extern "C" fn mockgpu_target_put(target: *const c_void) {
    // SAFETY: the reference came from `Arc::into_raw` (the safety requirements).
    drop(unsafe { Arc::from_raw(target.cast::<Target>()) });
}

/// Opens the real node once, as the operator, to learn its driver and file
/// operations, and returns the backend, the proxy table for it and the real
/// device's parent.
fn probe(
    path: &CStr,
    node: &RealNode,
    ops_for: OpsFor,
) -> Result<(Backend, ProxyOps, Option<DeviceRef>, Option<Arc<GemTable>>)> {
    let real = node.open_probe().inspect_err(|e| {
        pr_warn!("target {}: cannot open it: {:?}\n", path, e);
    })?;
    let fops = real.fops();
    // SAFETY: `fops` is the driver's table of an open file (so its module is
    // pinned); the helper returns its owner's NUL-terminated name or "".
    let module = unsafe { CStr::from_char_ptr(ffi::mockgpu_fops_module_name(fops)) };
    let backend = Backend::detect(module.to_bytes(), major(node.rdev()));
    let ops = ops_for(fops)?;
    if ops.unforwarded {
        pr_info!(
            "target {}: driver {} has operations mockgpu does not forward (io_uring, splice, fsync, locks)\n",
            path,
            module
        );
    }
    let (parent, gem) = if backend == Backend::Drm {
        // SAFETY: the node is of the DRM major (how the backend was detected).
        let parent = unsafe { real.drm_parent() };
        (parent, GemTable::for_file(&real, Registry::gem_of)?)
    } else {
        (None, None)
    };
    Ok((backend, ops, parent, gem))
}

/// A registered target and its node.
struct Entry {
    target: Arc<Target>,
    node: *mut MockgpuNode,
    major: u32,
    minor: u32,
}

// SAFETY: `node` is only used under the registry lock, to delete the node once.
unsafe impl Send for Entry {}

/// The registry state.
struct Targets {
    entries: KVec<Entry>,
    /// Removed targets that still have open files (and so charges), listed
    /// until the last one closes.
    draining: KVec<Arc<Target>>,
    /// mockgpu's char majors: a node gets its real node's minor in the
    /// first of them where that minor is free (a new one if none).
    majors: KVec<u32>,
}

impl Targets {
    /// Forgets removed targets that nothing is charged to any more.
    fn prune(&mut self) {
        self.draining.retain(|t| !t.sweep_tenants());
    }
}

/// The registry of targets. Only setup and removal take its lock; the data
/// path, open included, never does.
pub(crate) struct Registry;

kernel::sync::global_lock! {
    // SAFETY: `Registry::init` initializes it in module init, before any use.
    // Serializes target additions (the control path only): two nodes of one
    // DRM device added at once must find each other's GEM table.
    unsafe(uninit) static ADDING: Mutex<()> = ();
}

kernel::sync::global_lock! {
    // SAFETY: `Registry::init` initializes it in module init, before any use.
    unsafe(uninit) static TARGETS: Mutex<Targets> = Targets {
        entries: KVec::new(),
        draining: KVec::new(),
        majors: KVec::new(),
    };
}

impl Registry {
    /// Initializes the registry and mockgpu's char major.
    ///
    /// # Safety
    ///
    /// Called once, from module init, before any other method.
    pub(crate) unsafe fn init() -> Result {
        // SAFETY: by the safety requirements, called exactly once, first.
        unsafe {
            ADDING.init();
            TARGETS.init();
        }
        // SAFETY: called once; undone by `exit`.
        kernel::error::to_result(unsafe { ffi::mockgpu_nodes_init() })
    }

    /// Removes every target and releases the char major (module exit).
    ///
    /// # Safety
    ///
    /// Called once, after a successful `init`.
    pub(crate) unsafe fn exit() {
        Self::clear();
        let majors = core::mem::take(&mut TARGETS.lock().majors);
        for m in majors.iter() {
            // SAFETY: registered by `mockgpu_major_alloc`; no node is left.
            unsafe { ffi::mockgpu_major_free(*m) };
        }
        // SAFETY: every node is deleted; `init` succeeded (safety requirements).
        unsafe { ffi::mockgpu_nodes_exit() };
    }

    /// Sets up a target for the real node at `path` and creates its proxy
    /// node, with the file operations `ops_for` makes.
    pub(crate) fn add(path: &CStr, tenant_kind: u32, ops_for: OpsFor) -> Result<Arc<Target>> {
        let _adding = ADDING.lock();
        let target = Target::new(path, tenant_kind, ops_for)?;
        let mut targets = TARGETS.lock();
        if targets
            .entries
            .iter()
            .any(|e| e.target.name() == target.name())
        {
            pr_warn!("target {}: name {} is taken\n", path, target.name());
            return Err(EEXIST);
        }
        targets.entries.reserve(1, GFP_KERNEL)?;
        let minor = minor(target.node().rdev());
        let free = |targets: &Targets, m: u32| {
            targets
                .entries
                .iter()
                .all(|e| e.major != m || e.minor != minor)
        };
        let major = match targets.majors.iter().copied().find(|&m| free(&targets, m)) {
            Some(m) => m,
            None => {
                targets.majors.reserve(1, GFP_KERNEL)?;
                let mut m = 0;
                // SAFETY: `m` is valid for writes.
                kernel::error::to_result(unsafe { ffi::mockgpu_major_alloc(&mut m) })?;
                // Reserved just above.
                let _ = targets.majors.push_within_capacity(m);
                m
            }
        };
        // A container has the proxy at the real node's path: report that
        // name in the node's uevent (DEVNAME), as the real node does.
        let devname = path
            .to_bytes_with_nul()
            .strip_prefix(b"/dev/")
            .and_then(|rest| CStr::from_bytes_with_nul(rest).ok())
            .map_or(core::ptr::null(), |n| n.as_char_ptr());
        let parent = target
            .parent
            .as_ref()
            .map_or(core::ptr::null_mut(), |p| p.as_ptr());
        let node_ref = Arc::into_raw(target.clone());
        // SAFETY: the strings are NUL-terminated and copied; the table is
        // valid until module exit; `parent` is a referenced device or NULL
        // (the node takes its own reference); `node_ref` is a reference the
        // node owns on success.
        let node = from_err_ptr(unsafe {
            ffi::mockgpu_node_add(
                major,
                minor,
                target.name().as_char_ptr(),
                target.node().permissions(),
                target.node().owner().0,
                target.node().owner().1,
                target.ops.table,
                node_ref.cast(),
                path.as_char_ptr(),
                parent,
                devname,
            )
        });
        let node = match node {
            Ok(node) => node,
            Err(e) => {
                // SAFETY: on failure the node did not take the reference.
                drop(unsafe { Arc::from_raw(node_ref) });
                return Err(e);
            }
        };
        targets.entries.push(
            Entry {
                target: target.clone(),
                node,
                major,
                minor,
            },
            GFP_KERNEL,
        )?;
        pr_info!(
            "target {}: proxied at /dev/mockgpu/{} ({} backend)\n",
            path,
            target.name(),
            target.backend().name()
        );
        Ok(target)
    }

    /// Removes the target named `name`: no open succeeds on it any more;
    /// open proxy files keep working until closed.
    pub(crate) fn remove(name: &CStr) -> Result {
        let mut targets = TARGETS.lock();
        targets.prune();
        let i = targets
            .entries
            .iter()
            .position(|e| e.target.name() == name)
            .ok_or(ENOENT)?;
        targets.draining.reserve(1, GFP_KERNEL)?;
        let entry = targets.entries.remove(i)?;
        entry.target.removed.store(true, Ordering::Release);
        // SAFETY: the node was added by `add` and is deleted once, here.
        unsafe { ffi::mockgpu_node_del(entry.node) };
        if !entry.target.sweep_tenants() {
            // Reserved above.
            let _ = targets.draining.push_within_capacity(entry.target.clone());
        }
        pr_info!("target {}: removed\n", entry.target.name());
        Ok(())
    }

    /// The registered target named `name`.
    pub(crate) fn find(name: &CStr) -> Result<Arc<Target>> {
        let targets = TARGETS.lock();
        targets
            .entries
            .iter()
            .find(|e| e.target.name() == name)
            .map(|e| e.target.clone())
            .ok_or(ENOENT)
    }

    /// Sets a target's ioctl policy (serialized by the registry lock).
    pub(crate) fn set_policy(name: &CStr, allowlist: Option<&[u32]>) -> Result {
        let targets = TARGETS.lock();
        let entry = targets
            .entries
            .iter()
            .find(|e| e.target.name() == name)
            .ok_or(ENOENT)?;
        let target = &entry.target;
        // INVARIANT: every number is selected before a list is in force,
        // and deselected only once none is (serialized by `TARGETS`).
        match allowlist {
            None => {
                target.policy.allow_all();
                target.screen.set_listed(false);
            }
            Some(cmds) => {
                target.screen.set_listed(true);
                if target.policy.set_allowlist(cmds).is_err() {
                    // Refused, the policy unchanged: so is the screen.
                    target.screen.set_listed(target.policy.describe().is_some());
                    return Err(EINVAL);
                }
            }
        }
        Ok(())
    }

    /// Calls `f` with every registered target, then with every removed one
    /// that still has charges.
    pub(crate) fn for_each(mut f: impl FnMut(&Target) -> Result) -> Result {
        let mut targets = TARGETS.lock();
        targets.prune();
        for e in targets.entries.iter() {
            f(&e.target)?;
        }
        for t in targets.draining.iter() {
            f(t)?;
        }
        Ok(())
    }

    /// The GEM table of the DRM device `dev`, if a target (registered or
    /// draining) has one: every node of a device shares it.
    fn gem_of(dev: *const c_void) -> Option<Arc<GemTable>> {
        let targets = TARGETS.lock();
        let registered = targets.entries.iter().map(|e| &e.target);
        Iterator::chain(registered, targets.draining.iter())
            .filter_map(|t| t.gem.as_ref())
            .find(|g| g.dev() == dev)
            .cloned()
    }

    /// Removes every target.
    pub(crate) fn clear() {
        let mut targets = TARGETS.lock();
        while let Some(entry) = targets.entries.pop() {
            entry.target.removed.store(true, Ordering::Release);
            // SAFETY: the node was added by `add` and is deleted once, here.
            unsafe { ffi::mockgpu_node_del(entry.node) };
        }
        // Free the vectors' buffers too: the registry is static.
        targets.entries = KVec::new();
        targets.draining = KVec::new();
    }
}

/// Whether `dev` is one of mockgpu's own nodes (a proxy or the control node).
fn is_own_node(dev: bindings::dev_t) -> bool {
    TARGETS.lock().majors.iter().any(|&m| m == major(dev))
        || (major(dev) == MISC_MAJOR && crate::control_minor() == Some(minor(dev)))
}

/// A limit in the status file: `-` for none.
fn show_limit(m: &kernel::seq_file::SeqFile, v: u64) {
    if v == crate::policy::abi::control::UNLIMITED {
        kernel::seq_print!(m, "-");
    } else {
        kernel::seq_print!(m, "{}", v);
    }
}

fn major(dev: bindings::dev_t) -> u32 {
    dev >> 20
}

fn minor(dev: bindings::dev_t) -> u32 {
    dev & ((1 << 20) - 1)
}

fn last_component(path: &[u8]) -> &[u8] {
    let trimmed = path.strip_suffix(b"/").unwrap_or(path);
    trimmed.rsplit(|&b| b == b'/').next().unwrap_or(trimmed)
}
