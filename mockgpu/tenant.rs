// SPDX-License-Identifier: GPL-2.0

//! Tenants: who a proxy file is charged to, and the quotas of each tenant on
//! each target.
//!
//! A file is charged to the tenant of the process that opened it (its pid
//! namespace by default; per target, its cgroup or user namespace) for its
//! whole life: fork, fd passing and exec do not move the charge.
//!
//! Device memory is accounted behind one narrow interface ([`Tenant::reserve`],
//! [`Tenant::adopt`], [`Tenant::release`]) so that another backend (the dmem
//! cgroup controller) could slot in beside the per-namespace one.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kernel::{
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

impl Key {
    /// The tenant of the current task for `kind`, and whether it is the
    /// initial namespace.
    pub(crate) fn current(kind: u32) -> Result<(Key, bool)> {
        let (mut id, mut is_init) = (0u64, false);
        // SAFETY: both outputs are valid for writes.
        kernel::error::to_result(unsafe {
            ffi::mockgpu_current_tenant(kind, &mut id, &mut is_init)
        })?;
        Ok((Key { kind, id }, is_init))
    }

    /// The ABI form.
    pub(crate) fn to_abi(self) -> abi::Tenant {
        abi::Tenant {
            kind: self.kind,
            pad: 0,
            id: self.id,
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
    #[pin]
    held: Mutex<HeldBuffers>,
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
                held <- new_mutex!(HeldBuffers::default()),
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
    /// Returns the cost of a job the driver refused after admission.
    pub(crate) fn refund_job(&self, cost: u64) {
        self.compute.refund(cost);
    }

    /// Admits a job of `cost` µs: waits (interruptibly) for the next period
    /// while over budget, or fails with `EAGAIN` if `nonblock`.
    pub(crate) fn admit_job(&self, cost: u64, nonblock: bool) -> Result {
        let mut counted = false;
        loop {
            // SAFETY: reads the monotonic clock.
            let now = unsafe { ffi::mockgpu_now_us() };
            match self.compute.try_take(now, cost) {
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
