// SPDX-License-Identifier: GPL-2.0

//! cgroup v2 `dmem`: one region per target, `mockgpu/<name>`, so that a
//! container's `dmem.max` limits the device memory mockgpu charges, and
//! `dmem.current`/`dmem.peak` show it, for drivers that charge no dmem region
//! themselves (vgem, virtio-gpu, the simulated GPU and the NVIDIA-style
//! drivers it models). A buffer is charged to the cgroup of the
//! task that brought it in, for the same life as mockgpu's own charge.

use core::ptr::NonNull;

use kernel::{error::from_err_ptr, ffi::c_void, prelude::*};

use crate::ffi;

/// A registered dmem region.
///
/// # Invariants
///
/// `0` is a region from `dmem_cgroup_register_region`, unregistered on drop.
pub(crate) struct Region(NonNull<c_void>);

// SAFETY: the dmem controller serializes access to its regions itself.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    /// Registers `mockgpu/<name>` with `size` bytes (the machine's memory if
    /// 0). `None` if the kernel has no dmem controller.
    pub(crate) fn register(name: &CStr, size: u64) -> Result<Option<Self>> {
        // SAFETY: `name` is NUL-terminated; the helper copies it.
        let r = from_err_ptr(unsafe { ffi::mockgpu_dmem_register(name.as_char_ptr(), size) })?;
        // INVARIANT: registered just now (or nothing).
        Ok(NonNull::new(r).map(Region))
    }

    /// Charges `size` to the current task's cgroup: `EDQUOT` over its
    /// `dmem.max` (or an ancestor's), as over mockgpu's own limit.
    pub(crate) fn try_charge(&self, size: u64) -> Result<Charge> {
        let mut pool = core::ptr::null_mut();
        // SAFETY: a registered region (type invariants); `pool` is valid.
        let r = unsafe { ffi::mockgpu_dmem_try_charge(self.0.as_ptr(), size, &mut pool) };
        match r {
            0 => Ok(Charge {
                pool: NonNull::new(pool),
                size,
            }),
            r if r == EAGAIN.to_errno() => Err(EDQUOT),
            r => Err(Error::from_errno(r)),
        }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: registered (type invariants), unregistered once; charges
        // still outstanding keep the region's memory alive.
        unsafe { ffi::mockgpu_dmem_unregister(self.0.as_ptr()) };
    }
}

/// One charge in a dmem region.
///
/// # Invariants
///
/// `size` is charged in `pool` (if any) and returned exactly once, on drop.
pub(crate) struct Charge {
    pool: Option<NonNull<c_void>>,
    size: u64,
}

// SAFETY: a pool may be uncharged from any thread.
unsafe impl Send for Charge {}

impl Charge {
    /// The bytes charged.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if let Some(pool) = self.pool {
            // SAFETY: charged in `pool` (type invariants), returned once.
            unsafe { ffi::mockgpu_dmem_uncharge(pool.as_ptr(), self.size) };
        }
    }
}
