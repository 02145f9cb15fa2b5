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

/// Bytes charged against a device's pool; they are returned when this is dropped.
pub(crate) struct VramCharge {
    dev: Arc<Device>,
    bytes: u64,
}

impl VramCharge {
    /// Charges `bytes` against the pool of `dev` (`ENOMEM` if the pool is too full).
    pub(crate) fn new(dev: &Arc<Device>, bytes: u64) -> Result<Self> {
        dev.pool.try_charge(bytes)?;
        Ok(Self {
            dev: dev.clone(),
            bytes,
        })
    }
}

impl Drop for VramCharge {
    fn drop(&mut self) {
        self.dev.pool.uncharge(self.bytes);
    }
}
