// SPDX-License-Identifier: GPL-2.0

//! Tenants: who a proxy file is charged to, and the quotas of each tenant on
//! each target.
//!
//! A file is charged to the tenant of the process that opened it (its pid
//! namespace by default; per target, its cgroup or user namespace) for its
//! whole life: fork, fd passing and exec do not move the charge.
//!
//! Tenants form a hierarchy, as cgroup v2 limits do: a process is charged to
//! the nearest configured tenant among its namespace and that namespace's
//! ancestors (the initial one excluded), so whatever a tenant creates inside
//! itself stays inside its limits. With none configured it is charged to its
//! top-level namespace (the child of the initial one), which gets the
//! `unconfigured=` defaults; processes of the initial namespace to the
//! initial one. Tenants are keyed by the namespace's unique 64-bit id (or the
//! cgroup id), never reused, and freed once nothing is charged to them and,
//! for a configured tenant, its namespace is gone (see [`Tenant::removable`]).
//!
//! Device memory is accounted behind one narrow interface ([`Tenant::reserve`],
//! [`Tenant::adopt`], [`Tenant::release`]) so that another backend (the dmem
//! cgroup controller) could slot in beside the per-namespace one.

use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use kernel::{
    ffi::c_void,
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, Mutex},
};

use crate::{
    ffi,
    policy::{
        abi::control::{self as abi, Limits},
        quota::{Budget, Counter, QuotaError},
    },
};

/// The compute period, µs.
pub(crate) const PERIOD_US: u64 = 100_000;

/// Who a tenant is: a namespace or cgroup id of a kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    pub(crate) kind: u32,
    pub(crate) id: u64,
}

/// The longest tenant chain: 32 nested pid or user namespaces
/// (`MAX_PID_NS_LEVEL`) and the initial one; deeper cgroups get `ELOOP`.
pub(crate) const CHAIN_MAX: usize = 40;

/// The tenant chain of the current task for a kind: the ids of its
/// namespace (or cgroup) and its ancestors, nearest first, the initial one
/// last.
///
/// # Invariants
///
/// `1 <= len <= CHAIN_MAX`.
pub(crate) struct Chain {
    kind: u32,
    ids: [u64; CHAIN_MAX],
    len: usize,
}

impl Chain {
    /// The chain of the current task (`EINVAL` for an unknown kind).
    pub(crate) fn current(kind: u32) -> Result<Self> {
        let mut ids = [0u64; CHAIN_MAX];
        // SAFETY: `ids` has room for `CHAIN_MAX` ids.
        let n = unsafe { ffi::mockgpu_tenant_chain(kind, ids.as_mut_ptr(), CHAIN_MAX as u32) };
        kernel::error::to_result(n)?;
        let len = usize::try_from(n).map_err(|_| EINVAL)?;
        if len == 0 || len > CHAIN_MAX {
            return Err(EINVAL);
        }
        // INVARIANT: checked just above.
        Ok(Chain { kind, ids, len })
    }

    /// The key `level` steps up the chain (0: the task's own).
    pub(crate) fn key(&self, level: usize) -> Option<Key> {
        self.ids[..self.len].get(level).map(|&id| Key {
            kind: self.kind,
            id,
        })
    }

    /// The levels strictly below the initial namespace, nearest first.
    pub(crate) fn nested_levels(&self) -> core::ops::Range<usize> {
        0..self.len - 1
    }

    /// The level of the tenant an unconfigured process belongs to: its
    /// top-level namespace, or the initial one for a process in it.
    pub(crate) fn top_level(&self) -> usize {
        self.len.saturating_sub(2)
    }

    /// Whether the task is in the initial namespace (or root cgroup).
    pub(crate) fn is_init(&self) -> bool {
        self.len == 1
    }
}

impl Key {
    /// The ABI form.
    pub(crate) fn to_abi(self) -> abi::Tenant {
        abi::Tenant {
            kind: self.kind,
            pad: 0,
            id: self.id,
        }
    }
}

/// A reference on the namespace (or cgroup) of a tenant, from which mockgpu
/// learns when it is gone.
///
/// # Invariants
///
/// `ptr` is null or a reference from `mockgpu_tenant_ref_get` for `kind`,
/// dropped in `Drop`.
struct NsRef {
    kind: u32,
    ptr: AtomicPtr<c_void>,
}

impl NsRef {
    fn alive(&self) -> Option<bool> {
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null `p` is a live reference (type invariants).
        (!p.is_null()).then(|| unsafe { ffi::mockgpu_tenant_ref_alive(self.kind, p) })
    }
}

impl Drop for NsRef {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: the reference is ours (type invariants), dropped once.
            unsafe { ffi::mockgpu_tenant_ref_put(self.kind, p) };
        }
    }
}

/// A buffer the tenant holds through one or more handles, charged once.
///
/// # Invariants
///
/// `refs >= 1` while the record is in [`HeldBuffers::by_id`].
struct Held {
    size: u64,
    refs: u64,
}

/// A tenant on one target.
///
/// # Invariants
///
/// `memory.used()` is the sum of the sizes of `held` plus the sizes charged
/// for buffers without an id plus reservations in flight.
///
/// `held` is keyed by the device-wide buffer id, so that a tenant with many
/// buffers pays O(log n) per allocation and free.
#[pin_data]
pub(crate) struct Tenant {
    key: Key,
    files: Counter,
    memory: Counter,
    compute: Budget,
    refused_compute: AtomicU64,
    refused_ioctls: AtomicU64,
    configured: AtomicBool,
    /// The namespace this tenant is, once a process of it (or of a
    /// namespace inside it) opened a proxy.
    ns: NsRef,
    #[pin]
    held: Mutex<HeldBuffers>,
    /// The files of this tenant whose device time is still growing (see
    /// `FileMeter::meter_tenant`), by address: each removes itself before
    /// it is freed, under this lock.
    #[pin]
    active: Mutex<KVec<usize>>,
}

/// The buffers a tenant holds, by device-wide id.
#[derive(Default)]
struct HeldBuffers {
    by_id: RBTree<u64, Held>,
    /// The node of the last buffer released, reused by the next one.
    spare: Option<RBTreeNodeReservation<u64, Held>>,
}

/// Maps a refused charge to the errno a user expects.
fn quota_errno(e: QuotaError) -> Error {
    match e {
        QuotaError::Overflow => EINVAL,
        QuotaError::Exceeded => EDQUOT,
    }
}

impl Tenant {
    /// A tenant with `limits`.
    pub(crate) fn new(key: Key, limits: &Limits, configured: bool) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Tenant {
                key,
                files: Counter::new(limits.files),
                memory: Counter::new(limits.memory),
                compute: Budget::new(u64::from(limits.compute_pct), PERIOD_US),
                refused_compute: AtomicU64::new(0),
                refused_ioctls: AtomicU64::new(0),
                configured: AtomicBool::new(configured),
                // INVARIANT: null until `adopt_ns`.
                ns: NsRef {
                    kind: key.kind,
                    ptr: AtomicPtr::new(core::ptr::null_mut()),
                },
                held <- new_mutex!(HeldBuffers::default()),
                active <- new_mutex!(KVec::new()),
            }),
            GFP_KERNEL,
        )
    }

    /// Who this is.
    pub(crate) fn key(&self) -> Key {
        self.key
    }

    /// Applies new limits; they hold for the next charge of every open file.
    pub(crate) fn set_limits(&self, limits: &Limits, configured: bool) {
        self.memory.set_limit(limits.memory);
        self.files.set_limit(limits.files);
        self.compute.set_share(u64::from(limits.compute_pct));
        self.configured.store(configured, Ordering::Relaxed);
    }

    /// Whether an operator set limits for this tenant.
    pub(crate) fn configured(&self) -> bool {
        self.configured.load(Ordering::Relaxed)
    }

    /// The limits in force.
    pub(crate) fn limits(&self) -> Limits {
        Limits {
            memory: self.memory.limit(),
            files: self.files.limit(),
            compute_pct: self.compute.share() as u32,
            pad: 0,
        }
    }

    /// Whether nothing is charged (no open file, no memory).
    pub(crate) fn idle(&self) -> bool {
        self.files.used() == 0 && self.memory.used() == 0
    }

    /// Takes a reference on this tenant's namespace, `level` steps up the
    /// current task's chain, unless the tenant has one already.
    pub(crate) fn adopt_ns(&self, level: usize) {
        if !self.ns.ptr.load(Ordering::Acquire).is_null() {
            return;
        }
        let Ok(level) = u32::try_from(level) else {
            return;
        };
        // SAFETY: any kind and level are accepted; NULL if there is none.
        let p = unsafe { ffi::mockgpu_tenant_ref_get(self.key.kind, level) };
        if p.is_null() {
            return;
        }
        // INVARIANT: `p` is a reference for our kind; if another task stored
        // one first, ours is dropped here instead.
        if self
            .ns
            .ptr
            .compare_exchange(
                core::ptr::null_mut(),
                p,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            // SAFETY: `p` is our own reference, dropped once.
            unsafe { ffi::mockgpu_tenant_ref_put(self.key.kind, p) };
        }
    }

    /// Whether the tenant may be forgotten: nothing is charged to it and
    /// either no operator configured it or its namespace is gone (a
    /// configured tenant never used keeps its limits until cleared). Only
    /// meaningful under the target's tenant lock, which every new file
    /// charge takes.
    pub(crate) fn removable(&self) -> bool {
        self.idle() && (!self.configured() || self.ns.alive() == Some(false))
    }

    /// The usage record of the control ABI (without the target name).
    pub(crate) fn usage(&self) -> abi::Usage {
        abi::Usage {
            target: [0; abi::NAME_MAX],
            tenant: self.key.to_abi(),
            limits: self.limits(),
            memory_used: self.memory.used(),
            files_used: self.files.used(),
            compute_used_us: self.compute.used_total(),
            refused_memory: self.memory.refused(),
            refused_files: self.files.refused(),
            refused_compute: self.refused_compute.load(Ordering::Relaxed),
            refused_ioctls: self.refused_ioctls.load(Ordering::Relaxed),
            configured: u32::from(self.configured()),
            pad: 0,
        }
    }
}

/// Open files and ioctls.
impl Tenant {
    /// Counts an ioctl the target's policy refused.
    pub(crate) fn count_refused_ioctl(&self) {
        self.refused_ioctls.fetch_add(1, Ordering::Relaxed);
    }

    /// Charges one open file (`EMFILE` over the limit).
    pub(crate) fn charge_file(&self) -> Result {
        self.files.try_charge(1).map_err(|_| EMFILE)
    }

    /// Returns an open file's charge.
    pub(crate) fn uncharge_file(&self) {
        self.files.uncharge(1);
    }
}

/// Device memory: the narrow interface.
impl Tenant {
    /// Reserves `size` bytes before the driver allocates them.
    pub(crate) fn reserve(&self, size: u64) -> Result {
        self.memory.try_charge(size).map_err(quota_errno)
    }

    /// Returns a reservation the driver did not use.
    pub(crate) fn unreserve(&self, size: u64) {
        self.memory.uncharge(size);
    }

    /// Turns a reservation of `reserved` bytes into the charge of a buffer of
    /// `size` bytes the driver created (`fresh`) or imported (`reserved` 0).
    /// An imported buffer with an `id` the tenant already holds is charged
    /// once: the reservation is returned and the hold counted. A fresh
    /// buffer cannot already be held: if its id says so (an answer rewritten
    /// in user memory), it is charged by its size, apart. Returns the id the
    /// charge is recorded under, for [`Tenant::release`]. On error nothing is
    /// charged and the caller must undo the driver's allocation.
    pub(crate) fn adopt(
        &self,
        id: Option<u64>,
        size: u64,
        reserved: u64,
        fresh: bool,
    ) -> Result<Option<u64>> {
        let Some(id) = id else {
            return self.settle(size, reserved).map(|()| None);
        };
        let mut held = self.held.lock();
        if let Some(h) = held.by_id.get_mut(&id) {
            if fresh {
                drop(held);
                return self.settle(size, reserved).map(|()| None);
            }
            h.refs = h.refs.saturating_add(1);
            self.unreserve(reserved);
            return Ok(Some(id));
        }
        let node = match held.spare.take() {
            Some(node) => node,
            None => {
                RBTreeNodeReservation::new(GFP_KERNEL).inspect_err(|_| self.unreserve(reserved))?
            }
        };
        if let Err(e) = self.settle(size, reserved) {
            held.spare = Some(node);
            return Err(e);
        }
        // INVARIANT: the buffer's size is charged and now recorded, with one
        // reference; `id` was not in the tree, so nothing is replaced.
        let replaced = held
            .by_id
            .insert(node.into_node(id, Held { size, refs: 1 }));
        kernel::warn_on!(replaced.is_some());
        Ok(Some(id))
    }

    /// Charges a buffer the driver holds and mockgpu could not undo, past
    /// the limit if need be (see [`Counter::force_charge`]).
    pub(crate) fn force_charge(&self, size: u64) {
        self.memory.force_charge(size);
    }

    /// Charges the buffer `id` of `size` bytes past the limit if need be,
    /// recorded under its id as [`Tenant::adopt`] records one (so that
    /// [`Tenant::release`] of `id` ends it): a buffer the driver keeps that
    /// mockgpu could not undo. `None` (charged, without an id) if there is
    /// no memory to record it, or the tenant already holds `id`.
    pub(crate) fn force_adopt(&self, id: u64, size: u64) -> Option<u64> {
        let mut held = self.held.lock();
        let node = match held.spare.take() {
            Some(node) => Some(node),
            None => RBTreeNodeReservation::new(GFP_KERNEL).ok(),
        };
        self.memory.force_charge(size);
        let node = node.filter(|_| held.by_id.get(&id).is_none())?;
        // INVARIANT: charged just above and recorded with one reference;
        // `id` was not in the tree.
        held.by_id
            .insert(node.into_node(id, Held { size, refs: 1 }));
        Some(id)
    }

    /// Whether the tenant's device memory is limited.
    #[inline]
    pub(crate) fn memory_limited(&self) -> bool {
        self.memory.limit() != crate::policy::quota::UNLIMITED
    }

    /// Whether the tenant is charged for the buffer `id`.
    pub(crate) fn holds(&self, id: u64) -> bool {
        self.held.lock().by_id.get(&id).is_some()
    }

    /// Releases one handle of a buffer adopted with `id` and `size`.
    pub(crate) fn release(&self, id: Option<u64>, size: u64) {
        let Some(id) = id else {
            self.memory.uncharge(size);
            return;
        };
        let mut held = self.held.lock();
        let Some(mut entry) = held.by_id.find_mut(&id) else {
            return;
        };
        let h = entry.get_mut();
        // `refs >= 1` in the tree (invariant of `Held`).
        h.refs = h.refs.saturating_sub(1);
        if h.refs == 0 {
            let size = h.size;
            // INVARIANT: the record and its charge go together.
            held.spare = Some(entry.remove_node().into_reservation());
            self.memory.uncharge(size);
        }
    }

    /// Adjusts a reservation to the driver's real size.
    fn settle(&self, size: u64, reserved: u64) -> Result {
        if size > reserved {
            self.memory.try_charge(size - reserved).map_err(|e| {
                self.unreserve(reserved);
                quota_errno(e)
            })
        } else {
            if size < reserved {
                self.memory.uncharge(reserved - size);
            }
            Ok(())
        }
    }
}

/// Compute.
impl Tenant {
    /// Whether the tenant has a compute share below 100%, which its device
    /// time is then metered against.
    #[inline]
    pub(crate) fn compute_limited(&self) -> bool {
        self.compute.share() < 100
    }

    /// The files of this tenant with device time still growing.
    pub(crate) fn active_files(&self) -> kernel::sync::MutexGuard<'_, KVec<usize>> {
        self.active.lock()
    }

    /// Charges `used_us` of device time the driver measured.
    pub(crate) fn charge_device_time(&self, now: u64, used_us: u64) {
        self.compute.charge_used(now, used_us);
    }

    /// Admits a submission: waits (interruptibly) while the tenant's
    /// measured time is over its share (a debt repaid period by period),
    /// or fails with `EAGAIN` if `nonblock`.
    pub(crate) fn admit_measured(&self, nonblock: bool) -> Result {
        let mut counted = false;
        loop {
            // SAFETY: reads the monotonic clock.
            let now = unsafe { ffi::mockgpu_now_us() };
            match self.compute.admit_measured(now) {
                crate::policy::quota::Admit::Now => return Ok(()),
                crate::policy::quota::Admit::RetryAt(at) => {
                    if !counted {
                        self.refused_compute.fetch_add(1, Ordering::Relaxed);
                        counted = true;
                    }
                    if nonblock {
                        return Err(EAGAIN);
                    }
                    // SAFETY: sleeps the current task; no lock is held.
                    kernel::error::to_result(unsafe { ffi::mockgpu_sleep_until_us(at) })?;
                }
            }
        }
    }
}
