// SPDX-License-Identifier: GPL-2.0

//! The finite VRAM pool that buffers are charged against.

use kernel::{
    prelude::*,
    sync::{
        atomic::{ordering::Relaxed, Atomic},
        Arc,
    },
};

use crate::device::Device;

/// A byte budget shared by every context of the device.
///
/// # Invariants
///
/// `used <= total`, and `used` is the sum of the bytes of all live [`VramCharge`]s.
pub(crate) struct Pool {
    total: u64,
    used: Atomic<u64>,
}

impl Pool {
    /// Creates an empty pool of `total` bytes.
    pub(crate) fn new(total: u64) -> Self {
        // INVARIANT: Nothing is charged yet.
        Self {
            total,
            used: Atomic::new(0),
        }
    }

    /// The size of the pool in bytes.
    pub(crate) fn total(&self) -> u64 {
        self.total
    }

    /// The bytes currently charged, over all contexts.
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Relaxed)
    }

    /// Charges `bytes` against the pool, or fails with `ENOMEM` if they do not fit.
    fn try_charge(&self, bytes: u64) -> Result {
        let mut cur = self.used.load(Relaxed);
        loop {
            let new = cur
                .checked_add(bytes)
                .filter(|&new| new <= self.total)
                .ok_or(ENOMEM)?;
            // INVARIANT: `new <= total`; the caller wraps the charge in a `VramCharge`.
            match self.used.cmpxchg(cur, new, Relaxed) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Returns `bytes` previously charged with [`Pool::try_charge`].
    fn uncharge(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Relaxed);
    }
}

/// The VRAM of one context (the one that allocated the buffers), as its fdinfo reports it.
///
/// # Invariants
///
/// `total` is the sum of the bytes of the live [`VramCharge`]s of this owner, `resident` the
/// sum of their resident bytes.
pub(crate) struct MemStats {
    total: Atomic<u64>,
    resident: Atomic<u64>,
}

impl MemStats {
    /// Creates the statistics of a new context: nothing allocated.
    pub(crate) fn new() -> Result<Arc<Self>> {
        Ok(Arc::new(
            Self {
                total: Atomic::new(0),
                resident: Atomic::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    /// The bytes of all live buffers of the owner, whoever still holds them.
    pub(crate) fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    /// The bytes of those buffers' pages that are allocated.
    pub(crate) fn resident(&self) -> u64 {
        self.resident.load(Relaxed)
    }
}

/// Bytes charged against a device's pool and to the context that allocated them; they are
/// returned when this is dropped.
///
/// # Invariants
///
/// `bytes` is added to `owner.total` and `resident` to `owner.resident` for as long as this
/// lives.
pub(crate) struct VramCharge {
    dev: Arc<Device>,
    owner: Arc<MemStats>,
    bytes: u64,
    resident: Atomic<u64>,
}

impl VramCharge {
    /// Charges `bytes` against the pool of `dev` (`ENOMEM` if the pool is too full) and to
    /// `owner`.
    pub(crate) fn new(dev: &Arc<Device>, owner: &Arc<MemStats>, bytes: u64) -> Result<Self> {
        dev.pool.try_charge(bytes)?;
        // INVARIANT: The owner's total includes `bytes` until `drop`.
        owner.total.fetch_add(bytes, Relaxed);
        Ok(Self {
            dev: dev.clone(),
            owner: owner.clone(),
            bytes,
            resident: Atomic::new(0),
        })
    }

    /// Records that `bytes` more of the charged bytes have pages.
    pub(crate) fn add_resident(&self, bytes: u64) {
        // INVARIANT: Both counters grow together.
        self.resident.fetch_add(bytes, Relaxed);
        self.owner.resident.fetch_add(bytes, Relaxed);
    }
}

impl Drop for VramCharge {
    fn drop(&mut self) {
        self.owner
            .resident
            .fetch_sub(self.resident.load(Relaxed), Relaxed);
        self.owner.total.fetch_sub(self.bytes, Relaxed);
        self.dev.pool.uncharge(self.bytes);
    }
}
