// SPDX-License-Identifier: GPL-2.0

//! A proxy file: what one `open` of a proxy node creates. It owns one real
//! file, opened with the caller's flags and credentials, and forwards every
//! operation to it, returning the real driver's results unchanged.

use core::sync::atomic::{AtomicBool, Ordering};

use kernel::{
    bindings,
    ffi::{c_char, c_int, c_ulong, c_void},
    fs::LocalFile,
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, Mutex},
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    ffi, fops,
    gem::{self, GemTable},
    policy::decode::{self, ArgRead, Effect, FreeCmd, GemOp, ARG_MAX},
    real::RealFile,
    target::Target,
    tenant::Tenant,
};

/// Device memory one handle of this file is charged for.
#[derive(Clone, Copy)]
struct Charge {
    /// The device-wide buffer id, for backends that have one.
    id: Option<u64>,
    size: u64,
}

/// A node for one more [`Charge`].
type ChargeNode = RBTreeNodeReservation<u32, Charge>;

/// Everything one proxy file is charged for.
///
/// # Invariants
///
/// Every charge recorded here is also charged to the file's tenant, and is
/// released exactly once: on free of its handle or when the file closes.
/// `unowned` has room for one more charge whenever [`Charges::prepare`] has
/// handed out a node that is not yet recorded or given back.
#[derive(Default)]
struct Charges {
    /// By the driver's handle: a free finds its charge in O(log n), however
    /// many buffers the file holds.
    by_handle: RBTree<u32, Charge>,
    /// Charges no handle leads to any more, returned when the file closes:
    /// answers that could not be read back, and a charge displaced because
    /// an answer named a handle that is already charged (which only a thread
    /// rewriting the answer in user memory can make happen).
    unowned: KVec<Charge>,
    /// The node of the last charge freed, reused by the next allocation: a
    /// program that allocates and frees in turn allocates nothing here.
    spare: Option<ChargeNode>,
}

impl Charges {
    /// Makes room for one more charge before the driver runs: a node (the
    /// spare one or a new one) and a slot in `unowned`, so that recording
    /// the driver's answer cannot fail.
    fn prepare(&mut self) -> Result<ChargeNode> {
        self.unowned.reserve(1, GFP_KERNEL)?;
        match self.spare.take() {
            Some(node) => Ok(node),
            None => ChargeNode::new(GFP_KERNEL),
        }
    }

    /// Gives back a prepared node that no charge needed.
    fn unprepare(&mut self, node: ChargeNode) {
        self.spare = Some(node);
    }

    /// Whether a charge is recorded under `handle`.
    fn tracks(&self, handle: u32) -> bool {
        self.by_handle.get(&handle).is_some()
    }

    /// Records `charge` under `handle`, in a `node` from [`Charges::prepare`].
    /// Without a handle, or if `handle` already has a charge (which is kept,
    /// not released), a charge goes to `unowned`, until the file closes.
    fn record(&mut self, node: ChargeNode, handle: Option<u32>, charge: Charge) {
        let unowned = match handle {
            Some(h) => self
                .by_handle
                .insert(node.into_node(h, charge))
                .map(|old| old.to_key_value().1),
            None => {
                self.spare = Some(node);
                Some(charge)
            }
        };
        if let Some(c) = unowned {
            // `prepare` reserved the slot (type invariants): this cannot fail.
            kernel::warn_on!(self.unowned.push_within_capacity(c).is_err());
        }
    }

    /// Forgets the charge of `handle`, keeping its node as the spare.
    fn remove(&mut self, handle: u32) -> Option<Charge> {
        let entry = self.by_handle.find_mut(&handle)?;
        let charge = *entry.get();
        self.spare = Some(entry.remove_node().into_reservation());
        Some(charge)
    }
}

/// The argument of a decoded ioctl in the caller's memory, read field by
/// field (one `get_user` each, no copy loop) within the ioctl's encoded size.
///
/// # Invariants
///
/// Made and used only inside the ioctl it belongs to, in the caller's
/// process context, where no spinlock is held: reading it may sleep.
struct UserArg {
    addr: usize,
    len: usize,
    /// Whether a read faulted: a field that cannot be decoded is then
    /// `EFAULT` (as the driver would answer), else `EINVAL`.
    faulted: core::cell::Cell<bool>,
}

impl UserArg {
    /// The argument at `addr` of an ioctl of `len` encoded bytes, in that
    /// ioctl's process context (see the type invariants).
    fn new(addr: usize, len: usize) -> Self {
        // INVARIANT: called by `ioctl_accounted`, inside the ioctl.
        UserArg {
            addr,
            len,
            faulted: core::cell::Cell::new(false),
        }
    }

    /// The errno for a field that could not be decoded.
    fn error(&self) -> Error {
        if self.faulted.get() {
            EFAULT
        } else {
            EINVAL
        }
    }

    /// Reads the `T` at byte `at` of the argument with `get`: `None` if the
    /// field is not inside the argument, or if the read faults (then
    /// [`UserArg::error`] is `EFAULT`).
    ///
    /// # Safety
    ///
    /// `get` is a `get_user` of one `T`: it checks the user address it is
    /// given and writes the value read to its first argument.
    unsafe fn read<T: Default>(
        &self,
        at: usize,
        get: unsafe extern "C" fn(*mut T, *const c_void) -> c_int,
    ) -> Option<T> {
        let size = core::mem::size_of::<T>();
        if at.checked_add(size)? > self.len {
            return None;
        }
        // An argument that wraps past the top of the address space cannot be
        // read (the driver's copy of it faults too).
        let Some(addr) = self
            .addr
            .checked_add(at)
            .filter(|a| a.checked_add(size).is_some())
        else {
            self.faulted.set(true);
            return None;
        };
        let mut v = T::default();
        // SAFETY: `v` is valid for writes. `addr` is an untrusted user
        // address, which `get` checks (`EFAULT` for anything but user memory;
        // the safety requirements). The read may fault the page in and
        // sleep, which the type invariants allow.
        let ok = unsafe { get(&mut v, addr as *const c_void) } == 0;
        if !ok {
            self.faulted.set(true);
        }
        ok.then_some(v)
    }
}

impl ArgRead for UserArg {
    fn u32_at(&self, at: usize) -> Option<u32> {
        // SAFETY: `mockgpu_get_user_u32` is `get_user` of a `u32`.
        unsafe { self.read(at, ffi::mockgpu_get_user_u32) }
    }

    fn u64_at(&self, at: usize) -> Option<u64> {
        // SAFETY: `mockgpu_get_user_u64` is `get_user` of a `u64`.
        unsafe { self.read(at, ffi::mockgpu_get_user_u64) }
    }
}

/// What the driver answered to a decoded allocation or import, as read
/// back from the caller's memory.
struct Answer {
    handle: Option<u32>,
    size: u64,
    id: Option<u64>,
    /// A new buffer (an allocation), not one shared with the caller.
    fresh: bool,
}

/// How an intercepted ioctl reached mockgpu, and so how it is forwarded.
#[derive(Clone, Copy)]
enum Entry {
    /// `unlocked_ioctl`.
    Native,
    /// `compat_ioctl`, from a 32-bit task. The decoded arguments have the
    /// same layout for 32-bit callers (fixed-size fields, explicit padding),
    /// and `compat_ptr` is the identity on x86-64 and arm64.
    Compat,
}

/// The state of one open proxy file.
#[pin_data(PinnedDrop)]
pub(crate) struct ProxyFile {
    target: Arc<Target>,
    /// Charged for this file's whole life, whoever uses it later.
    tenant: Arc<Tenant>,
    real: RealFile,
    /// Held across a decoded allocation or free and the driver's answer, so
    /// that the driver's handles and the charges never disagree.
    #[pin]
    charges: Mutex<Charges>,
    /// The device time of this file as the driver reports it, charged to
    /// the tenant as it grows.
    #[pin]
    meter: Mutex<Meter>,
    /// Whether this file's device time is being metered: only while its
    /// tenant has a compute share (reading fdinfo costs a driver call per
    /// submission). The first reading after a pause is a baseline, so a
    /// tenant given a share does not pay for the time it ran before.
    metered: AtomicBool,
    /// Whether this file is on its tenant's list of files whose device
    /// time is growing (changed only under that list's lock).
    active: AtomicBool,
}

/// How much of a file's device time (the driver's own count, from its
/// fdinfo) has been charged.
///
/// # Invariants
///
/// `charged_ns` never exceeds the last engine time read.
#[derive(Default)]
struct Meter {
    /// The fdinfo text, read into this buffer (allocated at the first
    /// submission, kept for the file's life).
    buf: KVec<u8>,
    /// The engine time charged so far, ns.
    charged_ns: u64,
    /// When a reading last found the time grown (or the baseline), µs.
    grew_at_us: u64,
}

/// A file whose device time has not grown for this long is idle: off its
/// tenant's list of files metered at every admission (two compute periods:
/// a context with queued work gets engine slices well within that, the
/// simulated GPU time-slicing between contexts), µs.
const IDLE_US: u64 = 200_000;

/// Room for a driver's fdinfo (realgpu's is about 150 bytes; amdgpu's with
/// every engine and region under 2 KiB).
const FDINFO_MAX: usize = 4096;

impl ProxyFile {
    /// Opens the real node for the proxy file `file` of `target`, charging
    /// an open file to the caller's tenant (`EMFILE` over its limit).
    ///
    /// # Safety
    ///
    /// `file` is being opened (inside its `open` file operation).
    pub(crate) unsafe fn open(
        target: Arc<Target>,
        file: *mut bindings::file,
    ) -> Result<Pin<KBox<Self>>> {
        // Removal revokes: whatever inode led here (see `target.rs`).
        if target.removed() {
            return Err(ENODEV);
        }
        let tenant = target.tenant_for_open()?;
        let undo = |tenant: &Arc<Tenant>| {
            tenant.uncharge_file();
            target.forget_if_removable(tenant);
        };
        // SAFETY: `file` is being opened (the safety requirements).
        let real = match unsafe { target.node().open_for(file) } {
            Ok(real) => real,
            Err(e) => {
                undo(&tenant);
                return Err(e);
            }
        };
        // SAFETY: as above; nobody else sees `file` yet.
        unsafe { real.mirror_fmode_to(file) };
        // Once constructed, the file charge is returned by `drop`.
        let charged = tenant.clone();
        let owner = target.clone();
        KBox::pin_init(
            pin_init!(ProxyFile {
                target,
                tenant,
                real,
                charges <- new_mutex!(Charges::default()),
                meter <- new_mutex!(Meter::default()),
                metered: AtomicBool::new(false),
                active: AtomicBool::new(false),
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| {
            charged.uncharge_file();
            owner.forget_if_removable(&charged);
        })
    }

    /// Whether the target's ioctl policy lets `cmd` through; a refusal is
    /// counted for this file's tenant.
    #[inline]
    fn allowed(&self, cmd: u32) -> bool {
        let ok = self.target.policy().allows(cmd);
        if !ok {
            self.tenant.count_refused_ioctl();
        }
        ok
    }
}

/// The forwarded file operations. Each takes the proxy `file` it was called on.
impl ProxyFile {
    /// `unlocked_ioctl`.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    #[inline]
    pub(crate) unsafe fn ioctl(&self, file: *mut bindings::file, cmd: u32, arg: usize) -> isize {
        if !self.allowed(cmd) {
            return EPERM.to_errno() as isize;
        }
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        // SAFETY: as above.
        if let Some(ret) = unsafe { self.intercept(file, Entry::Native, cmd, arg) } {
            return ret;
        }
        self.real.ioctl(cmd, arg)
    }

    /// The ioctls mockgpu looks inside, by the target's tables: on a DRM
    /// target the GEM table and the driver's command submissions, else the
    /// backend's decoding table. `None` for every other ioctl, which the
    /// caller forwards untouched (a few loads and compares on the hot path).
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    #[inline(always)]
    unsafe fn intercept(
        &self,
        file: *mut bindings::file,
        via: Entry,
        cmd: u32,
        arg: usize,
    ) -> Option<isize> {
        if let Some(gem) = self.target.gem() {
            if let Some(op) = decode::drm_gem_op(gem.driver(), cmd) {
                return Some(self.ioctl_gem(gem, op, via, cmd, arg));
            }
            if decode::drm_submits(gem.driver(), cmd) {
                // SAFETY: `file` is valid (the safety requirements).
                return Some(unsafe { self.ioctl_drm_submit(file, via, cmd, arg) });
            }
        } else if decode::intercepts(self.target.backend(), cmd) {
            // SAFETY: `file` is valid (the safety requirements).
            return Some(unsafe { self.ioctl_intercepted(file, via, cmd, arg) });
        }
        None
    }

    /// A DRM driver's command submission: admitted against the tenant's
    /// compute share, then forwarded as is.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    #[inline(never)]
    unsafe fn ioctl_drm_submit(
        &self,
        file: *mut bindings::file,
        via: Entry,
        cmd: u32,
        arg: usize,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        match unsafe { self.admit_submission(file) } {
            Ok(()) => self.forward(via, cmd, arg),
            Err(e) => e.to_errno() as isize,
        }
    }

    /// Admits a submission against the tenant's compute share: no declared
    /// cost is trusted; the tenant pays the device time the driver measured
    /// for its earlier work (a debt over its share), and waits while in
    /// debt (`EAGAIN` if the file is nonblocking).
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    unsafe fn admit_submission(&self, file: *mut bindings::file) -> Result {
        if !self.tenant.compute_limited() {
            self.metered.store(false, Ordering::Relaxed);
            return Ok(());
        }
        self.meter_tenant();
        // SAFETY: `file` is valid (the safety requirements).
        let nonblock = unsafe { ffi::mockgpu_nonblock(file) };
        self.tenant.admit_measured(nonblock)
    }

    /// A DRM ioctl that creates, brings in or closes GEM handles: run on a
    /// kernel copy of its argument and charged per object (`gem.rs`).
    #[inline(never)]
    fn ioctl_gem(&self, gem: &GemTable, op: GemOp, via: Entry, cmd: u32, arg: usize) -> isize {
        let call = gem::Call {
            real: &self.real,
            dmem: self.target.dmem(),
            tenant: &self.tenant,
            cmd,
            arg,
        };
        gem.ioctl(&call, op, || self.forward(via, cmd, arg))
    }

    /// An ioctl whose argument mockgpu reads: kept out of line, so that the
    /// plain path above is a few loads and a tail call into the driver.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    #[inline(never)]
    unsafe fn ioctl_intercepted(
        &self,
        file: *mut bindings::file,
        via: Entry,
        cmd: u32,
        arg: usize,
    ) -> isize {
        let backend = self.target.backend();
        let ret = if let Some(offset) = backend.device_fd_arg(cmd) {
            self.ioctl_with_device_fd(via, cmd, arg, offset)
        } else {
            let effect = decode::effect(backend, cmd);
            // SAFETY: `file` is valid (the safety requirements).
            unsafe { self.ioctl_accounted(file, via, cmd, arg, effect) }
        };
        ret.unwrap_or_else(|e| e.to_errno() as isize)
    }

    /// Forwards an intercepted ioctl the way it came in.
    fn forward(&self, via: Entry, cmd: u32, arg: usize) -> isize {
        match via {
            Entry::Native => self.real.ioctl(cmd, arg),
            Entry::Compat => self.real.compat_ioctl(cmd, arg),
        }
    }

    /// `compat_ioctl`.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    pub(crate) unsafe fn compat_ioctl(
        &self,
        file: *mut bindings::file,
        cmd: u32,
        arg: usize,
    ) -> isize {
        if !self.allowed(cmd) {
            return EPERM.to_errno() as isize;
        }
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        // A 32-bit program is held to the same limits. DRM's compat entry
        // hands the numbers the GEM table decodes to `drm_ioctl` unchanged
        // (their layouts are the same for 32-bit callers).
        // SAFETY: `file` is valid (the safety requirements).
        if let Some(ret) = unsafe { self.intercept(file, Entry::Compat, cmd, arg) } {
            return ret;
        }
        self.real.compat_ioctl(cmd, arg)
    }

    /// `mmap`: the vma is pointed at the real file before the real driver
    /// sets it up, so page faults never enter mockgpu.
    ///
    /// # Safety
    ///
    /// `vma` is a new vma being mapped for this proxy's file, under the mmap lock.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> c_int {
        // SAFETY: `vma` is valid (the safety requirements); the real file is open.
        unsafe { ffi::mockgpu_mmap_real(self.real.as_ptr(), vma) }
    }

    /// `poll`: the wait queues registered are the real driver's.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file and `wait` the caller's poll table.
    pub(crate) unsafe fn poll(
        &self,
        file: *mut bindings::file,
        wait: *mut bindings::poll_table_struct,
    ) -> bindings::__poll_t {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        match self.real.fops().poll {
            // SAFETY: the real file is open; `wait` is valid for the call.
            Some(f) => unsafe { f(self.real.as_ptr(), wait) },
            None => bindings::POLLERR,
        }
    }

    /// `read`, with the proxy file's position.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file, `buf` a user pointer, `pos` valid.
    pub(crate) unsafe fn read(
        &self,
        file: *mut bindings::file,
        buf: *mut c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        match self.real.fops().read {
            // SAFETY: the real file is open; `buf` and `pos` are the VFS's.
            Some(f) => unsafe { f(self.real.as_ptr(), buf, count, pos) },
            None => EINVAL.to_errno() as isize,
        }
    }

    /// `write`, with the proxy file's position.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file, `buf` a user pointer, `pos` valid.
    pub(crate) unsafe fn write(
        &self,
        file: *mut bindings::file,
        buf: *const c_char,
        count: usize,
        pos: *mut bindings::loff_t,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        match self.real.fops().write {
            // SAFETY: the real file is open; `buf` and `pos` are the VFS's.
            Some(f) => unsafe { f(self.real.as_ptr(), buf, count, pos) },
            None => EINVAL.to_errno() as isize,
        }
    }

    /// `read_iter`.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file; `iocb` and `to` are the VFS's for it.
    pub(crate) unsafe fn read_iter(
        &self,
        file: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        to: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        if self.real.fops().read_iter.is_none() {
            return EINVAL.to_errno() as isize;
        }
        // SAFETY: the real file is open and has `read_iter`; `iocb`/`to` are valid.
        unsafe { ffi::mockgpu_read_iter_real(self.real.as_ptr(), iocb, to) }
    }

    /// `write_iter`.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file; `iocb` and `from` are the VFS's for it.
    pub(crate) unsafe fn write_iter(
        &self,
        file: *mut bindings::file,
        iocb: *mut bindings::kiocb,
        from: *mut bindings::iov_iter,
    ) -> isize {
        // SAFETY: `file` is valid (the safety requirements).
        unsafe { self.real.sync_flags_from(file) };
        if self.real.fops().write_iter.is_none() {
            return EINVAL.to_errno() as isize;
        }
        // SAFETY: the real file is open and has `write_iter`; `iocb`/`from` are valid.
        unsafe { ffi::mockgpu_write_iter_real(self.real.as_ptr(), iocb, from) }
    }

    /// `llseek`: the real file seeks from the proxy file's position, and the
    /// proxy file takes the result.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file; the caller serializes its position.
    pub(crate) unsafe fn llseek(
        &self,
        file: *mut bindings::file,
        offset: bindings::loff_t,
        whence: c_int,
    ) -> bindings::loff_t {
        let Some(f) = self.real.fops().llseek else {
            return ESPIPE.to_errno().into();
        };
        let real = self.real.as_ptr();
        // SAFETY: both files are open. The real file's position is used by
        // no one but this proxy file. The VFS serializes positions only under
        // FMODE_ATOMIC_POS, which char devices lack: concurrent seeks race
        // here as they race in the real driver's own llseek on the real node.
        unsafe { (*real).f_pos = (*file).f_pos };
        // SAFETY: the real file is open.
        let ret = unsafe { f(real, offset, whence) };
        if ret >= 0 {
            // SAFETY: as above.
            unsafe { (*file).f_pos = (*real).f_pos };
        }
        ret
    }

    /// `flush`, called on every close of an fd of the proxy file.
    ///
    /// # Safety
    ///
    /// `id` is the VFS's owner id for this close.
    pub(crate) unsafe fn flush(&self, id: bindings::fl_owner_t) -> c_int {
        match self.real.fops().flush {
            // SAFETY: the real file is open.
            Some(f) => unsafe { f(self.real.as_ptr(), id) },
            None => 0,
        }
    }

    /// `fasync`: the real driver signals the proxy file's owner.
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    pub(crate) unsafe fn fasync(&self, fd: c_int, file: *mut bindings::file, on: c_int) -> c_int {
        if self.real.fops().fasync.is_none() {
            return 0;
        }
        // SAFETY: both files are open and the real one implements `fasync`.
        unsafe { ffi::mockgpu_fasync_real(fd, file, self.real.as_ptr(), on) }
    }

    /// `get_unmapped_area`: the real driver picks the address (e.g. DRM's
    /// huge-page alignment).
    ///
    /// # Safety
    ///
    /// Called under the VFS contract of `get_unmapped_area`.
    pub(crate) unsafe fn get_unmapped_area(
        &self,
        addr: c_ulong,
        len: c_ulong,
        pgoff: c_ulong,
        flags: c_ulong,
    ) -> c_ulong {
        match self.real.fops().get_unmapped_area {
            // SAFETY: the real file is open.
            Some(f) => unsafe { f(self.real.as_ptr(), addr, len, pgoff, flags) },
            None => ENODEV.to_errno() as c_ulong,
        }
    }

    /// `show_fdinfo`: the real driver's fdinfo (e.g. DRM's client id).
    ///
    /// # Safety
    ///
    /// `m` is the seq_file being written for this proxy's file.
    pub(crate) unsafe fn show_fdinfo(&self, m: *mut bindings::seq_file) {
        if let Some(f) = self.real.fops().show_fdinfo {
            // SAFETY: the real file is open and `m` valid for the call.
            unsafe { f(m, self.real.as_ptr()) }
        }
    }
}

#[pinned_drop]
impl PinnedDrop for ProxyFile {
    fn drop(self: Pin<&mut Self>) {
        // Off the tenant's list before this file is freed (a scan holds the
        // list's lock while it reads the files on it).
        if self.active.load(Ordering::Relaxed) {
            let mut list = self.tenant.active_files();
            let me = &*self as *const ProxyFile as usize;
            list.retain(|f| *f != me);
            self.active.store(false, Ordering::Relaxed);
        }
        // The time of work that ran since the last submission.
        if self.metered.load(Ordering::Relaxed) {
            self.charge_device_time();
        }
        let all = core::mem::take(&mut *self.charges.lock());
        // The driver releases the context now (unless a mapping holds the
        // real file): every buffer nothing else keeps dies here, however
        // the proxy was closed (close, exit, SIGKILL).
        // SAFETY: the proxy file is being released: nothing uses `real` any
        // more; `drop` runs in `__fput`'s process context, without locks.
        unsafe { self.real.close_now() };
        // Those a mapping, an export or a job keeps stay charged until they
        // die (see `linger.rs`); the others are returned now.
        for c in Iterator::chain(all.by_handle.values(), all.unowned.iter()) {
            self.target.release_buffer(&self.tenant, c.id, c.size);
        }
        self.tenant.uncharge_file();
        if let Some(gem) = self.target.gem() {
            // The objects of the closed context are dead unless a mapping
            // or an export keeps them.
            gem.file_closed();
        }
        self.target.forget_if_removable(&self.tenant);
    }
}

/// Compute: device time measured by the driver.
impl ProxyFile {
    /// Charges the tenant the engine time the driver reports for this file
    /// (all engines, its fdinfo in the DRM usage-stats format) beyond what
    /// was charged already. Read in the kernel: no thread of the caller can
    /// change it. A driver without such a report charges nothing (and
    /// `mockgpuctl` says that compute shares are unavailable for it).
    ///
    /// Returns whether the file may still have work running: its time grew
    /// (or was first read) less than [`IDLE_US`] ago.
    fn charge_device_time(&self) -> bool {
        let mut meter = self.meter.lock();
        let Meter {
            buf,
            charged_ns,
            grew_at_us,
        } = &mut *meter;
        if self.read_fdinfo(buf).is_err() {
            return false;
        }
        let Ok(total) = crate::policy::fdinfo::engine_ns_total(buf) else {
            return false;
        };
        // SAFETY: reads the monotonic clock.
        let now = unsafe { ffi::mockgpu_now_us() };
        if !self.metered.swap(true, Ordering::Relaxed) {
            // A baseline: the time before metering began is not charged.
            *charged_ns = total;
            *grew_at_us = now;
            return true;
        }
        // Charge whole µs; the remainder waits for the next reading.
        let new_us = total.saturating_sub(*charged_ns) / 1000;
        if new_us > 0 {
            // INVARIANT: `charged_ns + new_us * 1000 <= total`.
            *charged_ns = charged_ns.saturating_add(new_us * 1000);
            *grew_at_us = now;
            self.tenant.charge_device_time(now, new_us);
        }
        now.saturating_sub(*grew_at_us) < IDLE_US
    }

    /// Charges the device time of every file of the tenant that may still
    /// have work running (its time grew at its last reading), this one
    /// first, and puts this one on that list: a tenant that submits once
    /// on each of many files pays for all of it at its next admission,
    /// not when those files submit again or close. A file leaves the list
    /// at a reading that finds it idle for [`IDLE_US`].
    fn meter_tenant(&self) {
        let me = self as *const ProxyFile as usize;
        let mut list = self.tenant.active_files();
        list.retain(|f| {
            let f = *f;
            if f == me {
                return true;
            }
            // SAFETY: a file on the list is alive: it removes itself in
            // `drop`, under this lock, before it is freed.
            let file = unsafe { &*(f as *const ProxyFile) };
            let busy = file.charge_device_time();
            if !busy {
                file.active.store(false, Ordering::Relaxed);
            }
            busy
        });
        self.charge_device_time();
        // This file is about to submit: on the list until a reading finds
        // it idle. Without memory it is metered at its own submissions only.
        if !self.active.load(Ordering::Relaxed) && list.push(me, GFP_KERNEL).is_ok() {
            self.active.store(true, Ordering::Relaxed);
        }
    }
}

/// Reading the driver's own report of this file.
impl ProxyFile {
    /// Reads the real driver's fdinfo of this file into `buf` (allocated
    /// once, [`FDINFO_MAX`] bytes). In the kernel: no thread of the caller
    /// can change it.
    fn read_fdinfo(&self, buf: &mut KVec<u8>) -> Result {
        if buf.capacity() < FDINFO_MAX {
            *buf = KVec::new();
            buf.reserve(FDINFO_MAX, GFP_KERNEL)?;
        }
        buf.clear();
        let cap = buf.capacity();
        // SAFETY: the buffer has room for `cap` bytes; the real file is open.
        let n = unsafe { ffi::mockgpu_real_fdinfo(self.real.as_ptr(), buf.as_mut_ptr(), cap) };
        let len = usize::try_from(n).map_err(|_| EIO)?;
        // SAFETY: the driver wrote `len` bytes, at most `cap` (the
        // `seq_file` never passes its size), to an empty vector; `u8` has
        // no invalid values.
        unsafe { buf.inc_len(len.min(cap)) };
        Ok(())
    }

    /// The device memory the driver says this file's context allocated
    /// (`drm-total-vram` of its fdinfo), when the tenant has a memory limit
    /// and the driver reports it; read around a decoded allocation, its
    /// growth is what the driver allocated, whatever user memory says.
    fn driver_vram(&self) -> Option<u64> {
        if !self.tenant.memory_limited() {
            return None;
        }
        let mut meter = self.meter.lock();
        self.read_fdinfo(&mut meter.buf).ok()?;
        crate::policy::fdinfo::total_memory_bytes(&meter.buf, b"vram")
    }
}

/// Quotas: ioctls the backend's decoding table accounts.
impl ProxyFile {
    /// Forwards an accounted ioctl: charges before the driver runs and
    /// settles after, refusing over the limit with `EDQUOT` and leaving the
    /// driver untouched.
    ///
    /// The driver's answer is read back from user memory, which another
    /// thread of the caller may rewrite: an answer is trusted only where a
    /// lie can cost its tenant more, never less (see [`ProxyFile::settle`]).
    ///
    /// # Safety
    ///
    /// `file` is this proxy's open file.
    unsafe fn ioctl_accounted(
        &self,
        file: *mut bindings::file,
        via: Entry,
        cmd: u32,
        arg: usize,
        effect: Effect,
    ) -> Result<isize> {
        let input = UserArg::new(arg, decode::arg_len(cmd));
        match effect {
            Effect::None => Ok(self.forward(via, cmd, arg)),
            Effect::Submit { .. } => {
                // SAFETY: `file` is valid (the safety requirements).
                unsafe { self.admit_submission(file) }?;
                Ok(self.forward(via, cmd, arg))
            }
            Effect::Free { handle_at } => {
                let handle = input.u32_at(handle_at).ok_or_else(|| input.error())?;
                let mut charges = self.charges.lock();
                let ret = self.forward(via, cmd, arg);
                if ret == 0 {
                    if let Some(c) = charges.remove(handle) {
                        self.target.release_buffer(&self.tenant, c.id, c.size);
                    }
                }
                Ok(ret)
            }
            Effect::Alloc {
                size,
                handle_at,
                size_out_at,
                id_at,
                free,
            } => {
                let reserve = decode::reserve_size(size, &input).ok_or_else(|| input.error())?;
                let mut charges = self.charges.lock();
                let node = charges.prepare()?;
                if let Err(e) = self.tenant.reserve(reserve) {
                    charges.unprepare(node);
                    return Err(e);
                }
                let before = self.driver_vram();
                let ret = self.forward(via, cmd, arg);
                if ret < 0 {
                    self.tenant.unreserve(reserve);
                    charges.unprepare(node);
                    return Ok(ret);
                }
                let Some(handle) = input.u32_at(handle_at) else {
                    // The answer is unreadable: keep the reservation until close.
                    let charge = Charge {
                        id: None,
                        size: reserve,
                    };
                    charges.record(node, None, charge);
                    return Ok(ret);
                };
                // What the driver allocated, by its own count: the size it
                // copied may not be the one mockgpu read (another thread can
                // rewrite the request in between).
                let grew = before
                    .zip(self.driver_vram())
                    .map_or(0, |(b, a)| a.saturating_sub(b));
                let answer = Answer {
                    handle: Some(handle),
                    // Never less than reserved or than the driver's growth,
                    // whatever the answer says.
                    size: input
                        .u64_at(size_out_at)
                        .map_or(reserve, |s| s.max(reserve))
                        .max(grew),
                    id: id_at.and_then(|at| input.u64_at(at)),
                    fresh: true,
                };
                self.settle(&mut charges, node, answer, reserve, &free)?;
                Ok(ret)
            }
            Effect::Import {
                handle_at,
                size_out_at,
                id_at,
                free,
            } => {
                let mut charges = self.charges.lock();
                let node = charges.prepare()?;
                let ret = self.forward(via, cmd, arg);
                if ret < 0 {
                    charges.unprepare(node);
                    return Ok(ret);
                }
                let handle = input.u32_at(handle_at);
                let answer = Answer {
                    handle,
                    size: handle.and_then(|_| input.u64_at(size_out_at)).unwrap_or(0),
                    id: handle.and_then(|_| input.u64_at(id_at)),
                    fresh: false,
                };
                self.settle(&mut charges, node, answer, 0, &free)?;
                Ok(ret)
            }
        }
    }

    /// Records the charge of a buffer the driver just created or imported.
    ///
    /// If the tenant's limit refuses it, the new handle is freed again
    /// through the driver and `EDQUOT` returned, as if the driver had never
    /// been called; but only if that handle cannot be another buffer of the
    /// file's (one already charged, or one mockgpu never saw), since the
    /// answer may have been rewritten. Otherwise the buffer stays, charged
    /// past the limit, and `EDQUOT` is returned: the next allocation is
    /// refused before the driver runs, so the overshoot is at most this one
    /// buffer's.
    fn settle(
        &self,
        charges: &mut Charges,
        node: ChargeNode,
        answer: Answer,
        reserved: u64,
        free: &FreeCmd,
    ) -> Result {
        let size = answer.size;
        match self.tenant.adopt(answer.id, size, reserved, answer.fresh) {
            Ok(id) => {
                charges.record(node, answer.handle, Charge { id, size });
                Ok(())
            }
            Err(e) => {
                let undo = answer.handle.filter(|&h| {
                    !charges.tracks(h)
                        && charges.unowned.is_empty()
                        && self.target.backend().decodes_every_handle()
                });
                if undo.is_some_and(|h| self.free_handle(free, h).is_ok()) {
                    charges.unprepare(node);
                    return Err(e);
                }
                // The driver keeps the buffer: so does the charge.
                self.tenant.force_charge(size);
                charges.record(node, answer.handle, Charge { id: None, size });
                Err(e)
            }
        }
    }

    /// Frees `handle` in the real driver, with a request built in a scratch
    /// page of the caller (the driver copies arguments from user memory).
    fn free_handle(&self, free: &FreeCmd, handle: u32) -> Result {
        let mut req = [0u8; ARG_MAX];
        let at = free.handle_at;
        req.get_mut(at..at + 4)
            .ok_or(EINVAL)?
            .copy_from_slice(&handle.to_ne_bytes());
        // SAFETY: maps a page in the current task's address space.
        let page = unsafe { ffi::mockgpu_scratch_map() };
        if page > usize::MAX - 4096 {
            return Err(ENOMEM);
        }
        let user = UserPtr::from_addr(page as usize);
        let ret = match UserSlice::new(user, free.size)
            .writer()
            .write_slice(&req[..free.size])
        {
            Ok(()) => self.real.ioctl(free.cmd, page as usize),
            Err(_) => EFAULT.to_errno() as isize,
        };
        // SAFETY: `page` was mapped above and is unmapped once.
        unsafe { ffi::mockgpu_scratch_unmap(page) };
        if ret == 0 {
            Ok(())
        } else {
            Err(EIO)
        }
    }
}

/// Translation of fds inside ioctl arguments.
impl ProxyFile {
    /// Forwards an ioctl whose argument carries, at `offset`, an fd the real
    /// driver requires to be its own (as NVIDIA checks passed fds). Any fd
    /// but a proxy is left for the driver to judge (and refuse) as it would
    /// directly. A proxy fd is refused with `EOPNOTSUPP`: the driver looks
    /// the fd up in the caller's fd table itself, and any way of showing it
    /// the real file there (a temporary fd, even in a private table) lets
    /// another thread or `/proc/PID/fd` reach the real device outside every
    /// limit (README, known limits).
    fn ioctl_with_device_fd(
        &self,
        via: Entry,
        cmd: u32,
        arg: usize,
        offset: usize,
    ) -> Result<isize> {
        let field = UserPtr::from_addr(arg).wrapping_byte_add(offset);
        let user_fd: i32 = UserSlice::new(field, core::mem::size_of::<i32>())
            .reader()
            .read()?;
        if proxy_file_of_fd(user_fd).is_some() {
            return Err(EOPNOTSUPP);
        }
        Ok(self.forward(via, cmd, arg))
    }
}

/// The proxy file open at `fd` of the current task, if it is one.
fn proxy_file_of_fd(fd: i32) -> Option<ARefLocal> {
    let fd = u32::try_from(fd).ok()?;
    let file = LocalFile::fget(fd).ok()?;
    // SAFETY: `fget` returned an open file we hold a reference on.
    unsafe { fops::is_proxy(file.as_ptr()) }.then_some(file)
}

type ARefLocal = kernel::sync::aref::ARef<LocalFile>;
