// SPDX-License-Identifier: GPL-2.0

//! The ioctl-table family: drivers whose ioctls read user memory themselves
//! (NVIDIA-style; the simulated GPU models them), charged per handle from
//! the backend's decoding table (`policy/decode.rs`).
//!
//! The driver copies its argument from user memory itself, so a proxy can
//! only read the same memory before and after: what is reserved is read
//! before the driver runs and never refunded below, the answer is trusted
//! only where a lie costs its tenant more, and the driver's own count of
//! the context's memory (fdinfo `drm-total-vram`) bounds the charge from
//! below. The window that remains is stated in the README.

use kernel::{
    ffi::{c_int, c_void},
    fs::LocalFile,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::Arc,
    uaccess::{UserPtr, UserSlice},
};

use super::{Book, Family, Ioctl};
use crate::{
    dmem, ffi,
    linger::Lingering,
    policy::{
        backend::Backend,
        decode::{self, ArgRead, Effect, FreeCmd, ARG_MAX},
        ledger,
    },
    target::Target,
    tenant::Tenant,
};

/// The ioctl-table family of one backend.
#[derive(Clone, Copy)]
pub(crate) struct TableFamily(Backend);

impl TableFamily {
    /// The family of `backend`'s decoding table.
    #[inline(always)]
    pub(crate) fn new(backend: Backend) -> Self {
        TableFamily(backend)
    }
}

impl Family for TableFamily {
    #[inline(always)]
    fn decodes(&self, cmd: u32) -> bool {
        decode::intercepts(self.0, cmd)
    }

    fn account(&self, io: &Ioctl<'_>) -> isize {
        self.intercepted(io)
    }

    fn closed(&self, target: &Target, tenant: &Arc<Tenant>, book: &Book) {
        let Charges {
            mut by_handle,
            unowned,
            ..
        } = core::mem::take(&mut *book.charges.lock());
        // Those a mapping, an export or a job keeps stay charged until they
        // die (see `linger.rs`); the others are returned now.
        let release = |c: Charge| target.release_buffer(tenant, c.id, c.size, c.dmem);
        while let Some(cur) = by_handle.cursor_lower_bound_mut(&0) {
            release(cur.remove_current().1.to_key_value().1);
        }
        unowned.into_iter().for_each(release);
    }
}

/// Device memory one handle of this file is charged for.
struct Charge {
    /// The device-wide buffer id, for backends that have one.
    id: Option<u64>,
    size: u64,
    /// The same bytes in the target's dmem region, in the cgroup of the
    /// task that allocated them.
    dmem: Option<dmem::Charge>,
}

impl Charge {
    /// Nothing charged.
    const NONE: Charge = Charge {
        id: None,
        size: 0,
        dmem: None,
    };
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
pub(crate) struct Charges {
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
        let mut entry = self.by_handle.find_mut(&handle)?;
        let charge = core::mem::replace(entry.get_mut(), Charge::NONE);
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
        // INVARIANT: called by `TableFamily::accounted`, inside the ioctl.
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

impl Answer {
    /// The answer to an `ALLOC` (`fresh`) or `IMPORT` that just succeeded,
    /// from the driver's `registry`: the newest handle of the context, which
    /// is the one the call made (the file's decoded ioctls are serialized).
    fn from_driver(registry: Option<&Lingering>, io: &Ioctl<'_>, fresh: bool) -> Option<Self> {
        let n = registry?.newest(io.real)?;
        Some(Answer {
            handle: Some(n.handle),
            size: n.size,
            id: Some(n.id),
            fresh,
        })
    }
}

/// The driver's registry of handles, if the target's driver has one
/// (realgpu): then its answers are believed, not the caller's memory.
fn handle_registry<'a>(io: &Ioctl<'a>) -> Option<&'a Lingering> {
    io.target.lingering().filter(|r| r.knows_handles())
}

impl TableFamily {
    /// An ioctl whose argument mockgpu reads.
    fn intercepted(&self, io: &Ioctl<'_>) -> isize {
        let ret = match self.0.device_fd_arg(io.cmd) {
            Some(offset) => with_device_fd(io, offset),
            None => self.accounted(io, decode::effect(self.0, io.cmd)),
        };
        ret.unwrap_or_else(|e| e.to_errno() as isize)
    }

    /// Forwards an accounted ioctl: charges before the driver runs and
    /// settles after, refusing over the limit with `EDQUOT` and leaving the
    /// driver untouched.
    ///
    /// The driver's answer is read back from user memory, which another
    /// thread of the caller may rewrite: an answer is trusted only where a
    /// lie can cost its tenant more, never less (see [`TableFamily::settle`]).
    fn accounted(&self, io: &Ioctl<'_>, effect: Effect) -> Result<isize> {
        let input = UserArg::new(io.arg, decode::arg_len(io.cmd));
        let meter = &io.book.meter;
        match effect {
            Effect::None => Ok(io.forward()),
            Effect::Submit { .. } => {
                io.admit_submission()?;
                Ok(io.forward())
            }
            Effect::Free { handle_at } => {
                let handle = input.u32_at(handle_at).ok_or_else(|| input.error())?;
                let mut charges = io.book.charges.lock();
                let ret = io.forward();
                if ret == 0 {
                    if let Some(c) = charges.remove(handle) {
                        io.target.release_buffer(io.tenant, c.id, c.size, c.dmem);
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
                let mut charges = io.book.charges.lock();
                let node = charges.prepare()?;
                if let Err(e) = io.tenant.reserve(reserve) {
                    charges.unprepare(node);
                    return Err(e);
                }
                // A driver that says what the new handle is (realgpu's
                // registry, as DRM's object lookup) is believed, not the
                // answer in user memory; else the context's growth by the
                // driver's own count bounds what a rewritten answer hides.
                let registry = handle_registry(io);
                let before = match registry {
                    Some(_) => None,
                    None => meter.driver_vram(io.tenant),
                };
                let ret = io.forward();
                if ret < 0 {
                    io.tenant.unreserve(reserve);
                    charges.unprepare(node);
                    return Ok(ret);
                }
                if let Some(answer) = Answer::from_driver(registry, io, true) {
                    self.settle(io, &mut charges, node, answer, reserve, &free, None)?;
                    return Ok(ret);
                }
                let Some(handle) = input.u32_at(handle_at) else {
                    // The answer is unreadable: keep the reservation until close.
                    let charge = Charge {
                        id: None,
                        size: reserve,
                        dmem: None,
                    };
                    charges.record(node, None, charge);
                    return Ok(ret);
                };
                // What the driver allocated, by its own count: the size it
                // copied may not be the one mockgpu read (another thread can
                // rewrite the request in between).
                let grew = before
                    .zip(meter.driver_vram(io.tenant))
                    .map_or(0, |(b, a)| a.saturating_sub(b));
                let answer = Answer {
                    handle: Some(handle),
                    size: ledger::charged_size(reserve, input.u64_at(size_out_at), grew),
                    id: id_at.and_then(|at| input.u64_at(at)),
                    fresh: true,
                };
                self.settle(io, &mut charges, node, answer, reserve, &free, before)?;
                Ok(ret)
            }
            Effect::Import {
                handle_at,
                size_out_at,
                id_at,
                free,
            } => {
                let mut charges = io.book.charges.lock();
                let node = charges.prepare()?;
                let ret = io.forward();
                if ret < 0 {
                    charges.unprepare(node);
                    return Ok(ret);
                }
                let answer = match Answer::from_driver(handle_registry(io), io, false) {
                    Some(answer) => answer,
                    None => {
                        let handle = input.u32_at(handle_at);
                        Answer {
                            handle,
                            size: handle.and_then(|_| input.u64_at(size_out_at)).unwrap_or(0),
                            id: handle.and_then(|_| input.u64_at(id_at)),
                            fresh: false,
                        }
                    }
                };
                self.settle(io, &mut charges, node, answer, 0, &free, None)?;
                Ok(ret)
            }
        }
    }

    /// Records the charge of a buffer the driver just created or imported.
    ///
    /// If the tenant's limit refuses it, the new handle is freed again
    /// through the driver and `EDQUOT` returned, as if the driver had never
    /// been called; but only if that handle cannot be another buffer of the
    /// file's (`ledger::may_undo`), since the answer may have been
    /// rewritten. Otherwise the buffer stays, charged past the limit, and
    /// `EDQUOT` is returned: the next allocation is refused before the
    /// driver runs, so the overshoot is at most this one buffer's.
    ///
    /// The undo is a request in a scratch page of the caller, which another
    /// thread may rewrite before the driver reads it (to free another of
    /// its buffers instead): where the driver counts the context's memory
    /// (`before`, read before the allocation), an undo after which the
    /// context still holds more than before did not free this buffer, and
    /// the buffer stays charged.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        io: &Ioctl<'_>,
        charges: &mut Charges,
        node: ChargeNode,
        answer: Answer,
        reserved: u64,
        free: &FreeCmd,
        before: Option<u64>,
    ) -> Result {
        // An import of a buffer another tenant pays for (while it lives:
        // `ledger::release`) costs nothing more.
        let size = match answer.id {
            Some(id) if !answer.fresh && io.target.paid_by_other(io.tenant, id) => 0,
            _ => answer.size,
        };
        // New bytes for this tenant (not an import of a buffer it holds)
        // are charged to the allocating task's cgroup too.
        let new_bytes = answer.fresh || !matches!(answer.id, Some(id) if io.tenant.holds(id));
        let adopted = io
            .tenant
            .adopt(answer.id, size, reserved, answer.fresh)
            .and_then(
                |id| match io.target.dmem().filter(|_| new_bytes && size > 0) {
                    None => Ok((id, None)),
                    Some(region) => match region.try_charge(size) {
                        Ok(d) => Ok((id, Some(d))),
                        Err(e) => {
                            io.tenant.release(id, size);
                            Err(e)
                        }
                    },
                },
            );
        match adopted {
            Ok((id, dmem)) => {
                charges.record(node, answer.handle, Charge { id, size, dmem });
                Ok(())
            }
            Err(e) => {
                let registry = handle_registry(io);
                // The driver's own answer names the new handle for sure.
                let undo = answer.handle.filter(|&h| {
                    registry.is_some()
                        || ledger::may_undo(
                            charges.tracks(h),
                            !charges.unowned.is_empty(),
                            self.0.decodes_every_handle(),
                        )
                });
                let undone = match registry {
                    // In the kernel: the handle the driver made, and no
                    // other; undone unless something (an export, a mapping
                    // made in between by another thread) keeps the buffer.
                    Some(r) => {
                        let deleted = undo.is_some_and(|h| r.delete(io.real, h));
                        // (An imported buffer lives on by its exporter.)
                        if deleted && answer.fresh && answer.id.is_some_and(|id| r.alive(id)) {
                            // Charged while it lives, past the limit.
                            let id = answer.id.and_then(|id| io.tenant.force_adopt(id, size));
                            charges.record(
                                node,
                                None,
                                Charge {
                                    id,
                                    size,
                                    dmem: None,
                                },
                            );
                            return Err(e);
                        }
                        deleted
                    }
                    None => {
                        undo.is_some_and(|h| free_handle(io, free, h).is_ok())
                            && ledger::undo_held(before, io.book.meter.driver_vram(io.tenant))
                    }
                };
                if undone {
                    charges.unprepare(node);
                    return Err(e);
                }
                // The driver keeps the buffer: so does the charge.
                io.tenant.force_charge(size);
                let charge = Charge {
                    id: None,
                    size,
                    dmem: None,
                };
                charges.record(node, answer.handle, charge);
                Err(e)
            }
        }
    }
}

/// Frees `handle` in the real driver, with a request built in a scratch
/// page of the caller (the driver copies arguments from user memory).
fn free_handle(io: &Ioctl<'_>, free: &FreeCmd, handle: u32) -> Result {
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
        Ok(()) => io.real.ioctl(free.cmd, page as usize),
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

/// Forwards an ioctl whose argument carries, at `offset`, an fd the real
/// driver requires to be its own (as NVIDIA checks passed fds). Any fd but
/// a proxy is left for the driver to judge (and refuse) as it would
/// directly. A proxy fd is refused with `EOPNOTSUPP`: the driver looks the
/// fd up in the caller's fd table itself, and any way of showing it the
/// real file there (a temporary fd, even in a private table) lets another
/// thread or `/proc/PID/fd` reach the real device outside every limit
/// (README, known limits).
fn with_device_fd(io: &Ioctl<'_>, offset: usize) -> Result<isize> {
    let field = UserPtr::from_addr(io.arg).wrapping_byte_add(offset);
    let user_fd: i32 = UserSlice::new(field, core::mem::size_of::<i32>())
        .reader()
        .read()?;
    if is_proxy_fd(io, user_fd) {
        return Err(EOPNOTSUPP);
    }
    Ok(io.forward())
}

/// Whether `fd` of the current task is a proxy file (the file-operations
/// layer tells, through the target: `fops.rs`).
fn is_proxy_fd(io: &Ioctl<'_>, fd: i32) -> bool {
    let Ok(fd) = u32::try_from(fd) else {
        return false;
    };
    let Ok(file) = LocalFile::fget(fd) else {
        return false;
    };
    // SAFETY: `fget` returned an open file we hold a reference on.
    unsafe { (io.target.ops().is_proxy)(file.as_ptr()) }
}
