// SPDX-License-Identifier: GPL-2.0

//! DRM targets: device memory charged per GEM object, for the object's
//! whole life, from what the kernel knows rather than what user memory says.
//!
//! Every ioctl the GEM table (`policy/decode.rs`, keyed by `_IOC_NR` as
//! `drm_ioctl` dispatches) names is copied into kernel memory once, with
//! `drm_ioctl`'s own size rules; checked and charged from that copy; run on
//! it with `drm_ioctl_kernel`; and answered by mockgpu's copy-out. No thread
//! of the caller can change what is charged against what the driver does.
//!
//! The charge belongs to the object (`struct drm_gem_object`), not to a
//! handle: mockgpu takes its own reference on each object it charges, and
//! the charge ends when that reference is the only one left: no handle in
//! any file, no mmap, no dma-buf, no flink name (a name is dropped with the
//! last handle). That is checked when a handle is closed and by a reaper
//! (a delayed work, every [`REAP_MS`] while anything is held, and when a
//! proxy file has closed its real file).
//!
//! Who pays: the tenant that first brings an object into mockgpu's view
//! (creates it, or imports one nobody is charged for) pays for it until it
//! dies, whoever holds it later. A tenant that opens or imports an object
//! already charged pays nothing more, and never twice for one object held
//! through several handles or files. So no object reachable through
//! mockgpu is unpaid, and none is paid twice.

use core::ptr::NonNull;

use kernel::{
    ffi::c_void,
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, Mutex},
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    dmem, ffi,
    policy::{
        decode::{self, DrmDriver, GemOp},
        ledger::{self, Payer},
    },
    real::RealFile,
    reaper::Reaper,
    tenant::Tenant,
};

/// How often the reaper looks for dead objects while any is held, ms.
const REAP_MS: u32 = 1000;
/// How soon the reaper looks again at an object a close left alive, ms.
const REAP_SOON_MS: u32 = 10;
/// Kernel copies up to this size live on the stack (every decoded
/// argument's canonical size is under 64 bytes).
const STACK_ARG: usize = 128;

/// One reference on a GEM object.
///
/// # Invariants
///
/// `0` is a `struct drm_gem_object` on which this value owns one reference.
struct GemRef(NonNull<c_void>);

// SAFETY: a GEM object reference may be dropped from any thread
// (`drm_gem_object_put` may sleep, and is never called in atomic context here).
unsafe impl Send for GemRef {}

impl GemRef {
    /// The object behind `handle` in `real`, referenced, and its size.
    fn lookup(real: &RealFile, handle: u32) -> Option<(Self, u64)> {
        let mut size = 0u64;
        // SAFETY: `real` is an open DRM file (a `GemTable` exists only for
        // those); `size` is valid for writes.
        let obj = unsafe { ffi::mockgpu_gem_lookup(real.as_ptr(), handle, &mut size) };
        // INVARIANT: `drm_gem_object_lookup` returned a new reference.
        NonNull::new(obj).map(|o| (GemRef(o), size))
    }

    /// The object's address: its identity while referenced.
    fn key(&self) -> usize {
        self.0.as_ptr() as usize
    }

    /// How many references the object has (handles count as one).
    fn refs(&self) -> u32 {
        // SAFETY: the object is referenced (type invariants).
        unsafe { ffi::mockgpu_gem_refs(self.0.as_ptr()) }
    }
}

impl Drop for GemRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference owned (type invariants), once.
        unsafe { ffi::mockgpu_gem_put(self.0.as_ptr()) };
    }
}

/// An object some tenant pays for.
///
/// # Invariants
///
/// `size` is charged to `tenant` while this record exists, and returned
/// exactly once, when it is removed ([`Held::release`]).
struct Held {
    obj: GemRef,
    size: u64,
    tenant: Arc<Tenant>,
    /// The same bytes in the dmem region of the target it came through.
    _dmem: Option<dmem::Charge>,
}

impl Held {
    /// Ends the charge.
    fn release(self) {
        self.tenant.release(None, self.size);
        // `obj` is put when `self` drops: possibly the object's last reference.
    }
}

/// The objects charged on one DRM device, shared by every target of that
/// device (its card and render nodes): an object is the same whichever
/// node it is reached through.
///
/// # Invariants
///
/// `dev` is a `struct drm_device` referenced (with its driver's module)
/// until drop. The reaper's work borrows `self`; it is stopped before the
/// objects are let go.
#[pin_data(PinnedDrop)]
pub(crate) struct GemTable {
    dev: NonNull<c_void>,
    driver: DrmDriver,
    /// By object address.
    #[pin]
    held: Mutex<RBTree<usize, Held>>,
    reaper: Reaper,
}

// SAFETY: `dev` is only passed back to DRM (thread-safe refcounting); `held`
// is behind a mutex; `reaper` is a thread-safe work.
unsafe impl Send for GemTable {}
// SAFETY: as above.
unsafe impl Sync for GemTable {}

impl GemTable {
    /// The table of the device behind `real`: `existing` if one of the
    /// targets already has one for it, else a new one. `None` if `real` is
    /// not a DRM file.
    pub(crate) fn for_file(
        real: &RealFile,
        existing: impl FnOnce(*const c_void) -> Option<Arc<GemTable>>,
    ) -> Result<Option<Arc<GemTable>>> {
        // SAFETY: `real` is an open file.
        if !unsafe { ffi::mockgpu_drm_file(real.as_ptr()) } {
            return Ok(None);
        }
        // SAFETY: `real` is an open DRM file.
        let dev = unsafe { ffi::mockgpu_drm_dev_of(real.as_ptr()) };
        if let Some(t) = existing(dev) {
            return Ok(Some(t));
        }
        // SAFETY: as above; the name is the driver's static string.
        let name = unsafe { CStr::from_char_ptr(ffi::mockgpu_drm_driver_name(real.as_ptr())) };
        let driver = DrmDriver::from_name(name.to_bytes());
        // SAFETY: as above.
        let dev = NonNull::new(unsafe { ffi::mockgpu_drm_dev_get(real.as_ptr()) }).ok_or(ENODEV)?;
        // INVARIANT: `dev` was just referenced; no reaper yet.
        let table = Arc::pin_init(
            pin_init!(GemTable {
                dev,
                driver,
                held <- new_mutex!(RBTree::new()),
                reaper: Reaper::new(),
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| {
            // SAFETY: referenced just above, not stored.
            unsafe { ffi::mockgpu_drm_dev_put(dev.as_ptr()) };
        })?;
        let this = Arc::as_ptr(&table).cast::<c_void>();
        // SAFETY: `reap_work` takes a `GemTable` pointer; the reaper is
        // stopped in `drop` before the table goes (type invariants).
        unsafe { table.reaper.start(reap_work, this) }?;
        Ok(Some(table))
    }

    /// Whether `real` is a file of this table's device.
    pub(crate) fn serves(&self, real: &RealFile) -> bool {
        // SAFETY: `real` is an open file; its device is read only if it is
        // a DRM file.
        unsafe {
            ffi::mockgpu_drm_file(real.as_ptr())
                && ffi::mockgpu_drm_dev_of(real.as_ptr()) == self.dev.as_ptr().cast_const()
        }
    }

    /// The device's identity (shared by its nodes).
    pub(crate) fn dev(&self) -> *const c_void {
        self.dev.as_ptr()
    }

    /// The device's driver.
    #[inline]
    pub(crate) fn driver(&self) -> DrmDriver {
        self.driver
    }

    /// How many objects are held and their bytes, for the status file.
    pub(crate) fn stats(&self) -> (usize, u64) {
        let held = self.held.lock();
        held.values()
            .fold((0, 0), |(n, b), h| (n + 1, b.saturating_add(h.size)))
    }

    /// Runs the reaper in `ms`.
    fn kick(&self, ms: u32) {
        self.reaper.kick(ms);
    }

    /// Called when a proxy file of this device closed its real file: the
    /// objects only it held are dead now, and their charges end at once.
    pub(crate) fn file_closed(&self) {
        if self.reap() {
            self.kick(REAP_MS);
        }
    }

    /// Ends the charge of every object only mockgpu still holds. Returns
    /// whether anything is still held.
    fn reap(&self) -> bool {
        /// Dead objects taken out of the table before their release.
        const BATCH: usize = 16;
        let mut next = Some(0usize);
        loop {
            let mut dead: [Option<Held>; BATCH] = [const { None }; BATCH];
            let mut n = 0;
            let mut held = self.held.lock();
            while let Some(cur) = next.and_then(|k| held.cursor_lower_bound_mut(&k)) {
                let (&key, h) = cur.current();
                next = key.checked_add(1);
                if ledger::only_ours(h.obj.refs()) {
                    let (_, node) = cur.remove_current();
                    dead[n] = Some(node.to_key_value().1);
                    n += 1;
                    if n == BATCH {
                        break;
                    }
                }
            }
            let more = !held.is_empty();
            drop(held);
            // Out of the table's lock: dropping the last reference frees
            // the object, a driver call that may sleep and that other
            // tenants' GEM ioctls on the device need not wait for.
            dead.into_iter().flatten().for_each(Held::release);
            if n < BATCH {
                return more;
            }
        }
    }

    /// Ends the charge of the object at `key` if only mockgpu holds it;
    /// else the reaper watches it.
    fn reap_one(&self, key: usize) {
        let mut held = self.held.lock();
        let Some(h) = held.get(&key) else {
            return;
        };
        if ledger::only_ours(h.obj.refs()) {
            if let Some(h) = held.remove(&key) {
                drop(held);
                h.release();
            }
        } else {
            // Kept by a mapping, a dma-buf or another file's handle; or by a
            // dma-buf the handle's close just let go, whose release is a
            // deferred `fput` that runs as the ioctl returns: look again soon.
            drop(held);
            self.kick(REAP_SOON_MS);
        }
    }
}

/// The reaper's work.
///
/// # Safety
///
/// `table` is a live `GemTable` (its reaper is cancelled before it is freed).
unsafe extern "C" fn reap_work(table: *const c_void) {
    // SAFETY: by the safety requirements.
    let table = unsafe { &*table.cast::<GemTable>() };
    if table.reap() {
        table.kick(REAP_MS);
    }
}

#[pinned_drop]
impl PinnedDrop for GemTable {
    fn drop(self: Pin<&mut Self>) {
        self.reaper.stop();
        let mut held = self.held.lock();
        while let Some(cur) = held.cursor_front_mut() {
            let (_, node) = cur.remove_current();
            node.to_key_value().1.release();
        }
        drop(held);
        // SAFETY: referenced since construction (type invariants), and
        // every object reference was dropped just above.
        unsafe { ffi::mockgpu_drm_dev_put(self.dev.as_ptr()) };
    }
}

/// A kernel copy of an ioctl argument, sized as `drm_ioctl` sizes it.
enum KernelArg {
    Stack([u8; STACK_ARG], usize),
    Heap(KVec<u8>),
}

impl KernelArg {
    fn new(len: usize) -> Result<Self> {
        if len <= STACK_ARG {
            return Ok(KernelArg::Stack([0; STACK_ARG], len));
        }
        let mut v = KVec::with_capacity(len, GFP_KERNEL)?;
        v.resize(len, 0, GFP_KERNEL)?;
        Ok(KernelArg::Heap(v))
    }

    fn bytes(&self) -> &[u8] {
        match self {
            KernelArg::Stack(b, n) => b.get(..*n).unwrap_or(&[]),
            KernelArg::Heap(v) => v,
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            KernelArg::Stack(b, n) => b.get_mut(..*n).unwrap_or(&mut []),
            KernelArg::Heap(v) => v,
        }
    }
}

/// What a creation or an import set aside before the driver ran.
struct Prepared {
    /// Reserved against the tenant's limit (the creation's estimate).
    reserved: u64,
    /// The least the creation is charged (`SizeSource::is_floor`), else 0.
    floor: u64,
    /// The estimate charged in the cgroup's dmem region.
    dmem: Option<dmem::Charge>,
    /// Room for the object's record.
    node: RBTreeNodeReservation<usize, Held>,
}

/// Where a decoded DRM ioctl came from.
pub(crate) struct Call<'a> {
    pub(crate) real: &'a RealFile,
    pub(crate) dmem: Option<&'a dmem::Region>,
    pub(crate) tenant: &'a Arc<Tenant>,
    pub(crate) cmd: u32,
    pub(crate) arg: usize,
}

impl GemTable {
    /// Runs a DRM ioctl the GEM table decodes (`op`) on a kernel copy of its
    /// argument, charging the objects it creates or brings in and ending the
    /// charge of those it lets die. `forward` runs it the plain way, for
    /// numbers `drm_ioctl` would refuse anyway (same errno).
    pub(crate) fn ioctl(&self, c: &Call<'_>, op: GemOp, forward: impl FnOnce() -> isize) -> isize {
        match self.ioctl_copied(c, op) {
            Ok(Some(ret)) => ret,
            Ok(None) => forward(),
            Err(e) => e.to_errno() as isize,
        }
    }

    fn ioctl_copied(&self, c: &Call<'_>, op: GemOp) -> Result<Option<isize>> {
        let (mut inb, mut outb, mut ksize) = (0u32, 0u32, 0u32);
        // SAFETY: `real` is an open DRM file; the outputs are valid.
        let r = unsafe {
            ffi::mockgpu_drm_sizes(c.real.as_ptr(), c.cmd, &mut inb, &mut outb, &mut ksize)
        };
        if r != 0 {
            return Ok(None);
        }
        let (inb, outb) = (inb as usize, outb as usize);
        let mut k = KernelArg::new(ksize as usize)?;
        let user = UserPtr::from_addr(c.arg);
        {
            let dst = k.bytes_mut().get_mut(..inb).ok_or(EINVAL)?;
            UserSlice::new(user, inb).reader().read_slice(dst)?;
        }
        // Before the driver runs: a creation's estimate against the limit
        // and the cgroup's `dmem.max`, and room to record what the driver
        // gives; then the object a close names.
        let prep = match op {
            GemOp::Create { size, .. } => {
                let est = decode::reserve_size(size, k.bytes()).unwrap_or(0);
                let mut prep = self.prepare(c, est)?;
                prep.floor = if size.is_floor() { est } else { 0 };
                Some(prep)
            }
            GemOp::Import { .. } => Some(self.prepare(c, 0)?),
            GemOp::Close { .. } => None,
        };
        let closing = match op {
            GemOp::Close { handle_at } => decode::read_u32(k.bytes(), handle_at)
                .and_then(|h| GemRef::lookup(c.real, h))
                .map(|(o, _)| o),
            _ => None,
        };
        // SAFETY: `real` is an open DRM file; `k` has the `ksize` bytes
        // `mockgpu_drm_sizes` asked for.
        let ret = unsafe {
            ffi::mockgpu_drm_call(c.real.as_ptr(), c.cmd, k.bytes_mut().as_mut_ptr().cast())
        };
        let mut made = None;
        match (op, prep) {
            (GemOp::Create { handle_at, .. } | GemOp::Import { handle_at }, Some(prep)) => {
                if ret == 0 {
                    let handle = decode::read_u32(k.bytes(), handle_at).unwrap_or(0);
                    let fresh = matches!(op, GemOp::Create { .. });
                    self.adopt(c, handle, prep, fresh)?;
                    // Only a created handle is new for sure: an import may
                    // answer one the file had (the same dma-buf again).
                    made = fresh.then_some(handle);
                } else {
                    c.tenant.unreserve(prep.reserved);
                }
            }
            _ => {}
        }
        if let Some(obj) = closing {
            let key = obj.key();
            drop(obj);
            if ret == 0 {
                self.reap_one(key);
            }
        }
        // Answered like `drm_ioctl`: copied out whatever the result.
        let out = k.bytes().get(..outb).ok_or(EINVAL)?;
        if UserSlice::new(user, outb)
            .writer()
            .write_slice(out)
            .is_err()
        {
            // The program never learns the handle: undo it in the kernel.
            if let Some(h) = made {
                self.undo(c.real, h);
            }
            return Err(EFAULT);
        }
        Ok(Some(ret as isize))
    }

    /// Reserves `size` for a creation, reaping dead objects first if the
    /// limit refuses.
    fn reserve(&self, tenant: &Tenant, size: u64) -> Result {
        tenant.reserve(size).or_else(|_| {
            self.reap();
            tenant.reserve(size)
        })
    }

    /// Makes room for a creation (`est` bytes estimated) or an import before
    /// the driver runs: the estimate reserved against the tenant's limit
    /// and charged in the cgroup's dmem region, and a node to record the
    /// object in. Over either limit, `EDQUOT` and the driver never runs.
    fn prepare(&self, c: &Call<'_>, est: u64) -> Result<Prepared> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        self.reserve(c.tenant, est)?;
        let dmem = match c.dmem.filter(|_| est > 0) {
            None => None,
            Some(region) => Some(
                region
                    .try_charge(est)
                    .inspect_err(|_| c.tenant.unreserve(est))?,
            ),
        };
        Ok(Prepared {
            reserved: est,
            floor: 0,
            dmem,
            node,
        })
    }

    /// Charges the object the driver just gave `handle` in `c.real`,
    /// created (`fresh`) or brought in, with what [`GemTable::prepare`]
    /// set aside. Over the limit, the handle is deleted again and `EDQUOT`
    /// returned. Runs with the file's decoded GEM ioctls serialized
    /// (`account/drm.rs`): no other thread can close the new handle first.
    fn adopt(&self, c: &Call<'_>, handle: u32, prep: Prepared, fresh: bool) -> Result {
        let Prepared {
            reserved,
            floor,
            dmem,
            node,
        } = prep;
        let Some((obj, size)) = GemRef::lookup(c.real, handle) else {
            // No object behind the handle: nothing is alive to charge.
            c.tenant.unreserve(reserved);
            return Ok(());
        };
        // At least what the device holds beyond the object (a virtio-gpu
        // resource's host copy).
        let size = size.max(floor);
        let key = obj.key();
        // Held until the object is recorded or its handle deleted: no other
        // file can record it meanwhile.
        let mut held = self.held.lock();
        if ledger::payer(held.get(&key).is_some()) == Payer::AlreadyCharged {
            // Already paid for (by this tenant or the one that brought it in).
            drop(held);
            c.tenant.unreserve(reserved);
            return Ok(());
        }
        // mockgpu's limit, then the cgroup's `dmem.max`: the estimate's
        // charge if the object has that size, else one of its own size.
        let mut dmem = dmem;
        let charged = c.tenant.adopt(None, size, reserved, true).and_then(|_| {
            let Some(region) = c.dmem else {
                return Ok(None);
            };
            match dmem.take() {
                Some(d) if d.size() == size => Ok(Some(d)),
                other => {
                    drop(other);
                    region.try_charge(size).map(Some).inspect_err(|_| {
                        c.tenant.release(None, size);
                    })
                }
            }
        });
        match charged {
            Ok(dmem) => {
                let h = Held {
                    obj,
                    size,
                    tenant: c.tenant.clone(),
                    _dmem: dmem,
                };
                // INVARIANT: `size` is charged to the tenant (and the
                // cgroup) now.
                held.insert(node.into_node(key, h));
                drop(held);
                self.kick(REAP_MS);
                Ok(())
            }
            Err(e) => {
                // Undone through the kernel, with the table locked: the
                // handle never reached user memory. If another thread
                // guessed it and kept the object (mmap, export) before the
                // delete, a created object stays charged, past the limit,
                // until it dies (in dmem too, by the estimate charged
                // before the driver ran, if that charge is still held).
                self.delete(c.real, handle);
                if fresh && obj.refs() > 1 {
                    c.tenant.force_charge(size);
                    let h = Held {
                        obj,
                        size,
                        tenant: c.tenant.clone(),
                        _dmem: dmem,
                    };
                    // INVARIANT: force-charged just above; the key is not
                    // in the tree (checked under this same lock).
                    held.insert(node.into_node(key, h));
                }
                Err(e)
            }
        }
    }

    /// Deletes `handle` of `real`.
    fn delete(&self, real: &RealFile, handle: u32) {
        // SAFETY: `real` is an open DRM file.
        unsafe { ffi::mockgpu_gem_handle_delete(real.as_ptr(), handle) };
    }

    /// Undoes a handle the program cannot learn (its answer did not reach it).
    fn undo(&self, real: &RealFile, handle: u32) {
        let key = GemRef::lookup(real, handle).map(|(o, _)| o.key());
        self.delete(real, handle);
        if let Some(key) = key {
            self.reap_one(key);
        }
    }
}
