// SPDX-License-Identifier: GPL-2.0

//! A reaper: a delayed work item that checks for dead objects (GEM objects,
//! buffers, contexts) while anything is held, over `mockgpu_reaper_*` of
//! `drm_helpers.c`. Its owner starts it once, kicks it when something may
//! die later, and stops it before anything its work reads goes.

use core::sync::atomic::{AtomicPtr, Ordering};

use kernel::{ffi::c_void, prelude::*};

use crate::ffi;

/// A reaper, or none yet.
///
/// # Invariants
///
/// The pointer is null or a live reaper from `mockgpu_reaper_new`, freed
/// once, by [`Reaper::stop`] (or on drop).
pub(crate) struct Reaper(AtomicPtr<ffi::MockgpuReaper>);

impl Reaper {
    /// No reaper yet: kicks do nothing until [`Reaper::start`].
    pub(crate) const fn new() -> Self {
        // INVARIANT: null.
        Reaper(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// Starts the reaper: `work(data)` runs at each kick's delay.
    ///
    /// # Safety
    ///
    /// `data` stays valid for `work` until [`Reaper::stop`] returns (or the
    /// reaper is dropped); the owner calls `stop` before anything `work`
    /// reads goes.
    pub(crate) unsafe fn start(
        &self,
        work: unsafe extern "C" fn(*const c_void),
        data: *const c_void,
    ) -> Result {
        // SAFETY: by the safety requirements, `data` outlives the reaper.
        let r = unsafe { ffi::mockgpu_reaper_new(work, data) };
        if r.is_null() {
            return Err(ENOMEM);
        }
        // INVARIANT: a live reaper; one replaced (a second start) is freed.
        let old = self.0.swap(r, Ordering::AcqRel);
        if !old.is_null() {
            // SAFETY: a live reaper, no longer reachable.
            unsafe { ffi::mockgpu_reaper_free(old) };
        }
        Ok(())
    }

    /// Runs the work in `ms` (sooner if it was due later).
    pub(crate) fn kick(&self, ms: u32) {
        let r = self.0.load(Ordering::Acquire);
        if !r.is_null() {
            // SAFETY: a live reaper (type invariants).
            unsafe { ffi::mockgpu_reaper_kick(r, ms) };
        }
    }

    /// Cancels the work (waiting for a run in progress) and frees the
    /// reaper: afterwards its work neither runs nor is queued. Kicks do
    /// nothing any more.
    pub(crate) fn stop(&self) {
        let r = self.0.swap(core::ptr::null_mut(), Ordering::AcqRel);
        if !r.is_null() {
            // SAFETY: a live reaper (type invariants), freed once (swapped out).
            unsafe { ffi::mockgpu_reaper_free(r) };
        }
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.stop();
    }
}
