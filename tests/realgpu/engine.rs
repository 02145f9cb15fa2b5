// SPDX-License-Identifier: GPL-2.0

//! The job engine: an ordered kernel workqueue owned by the device.
//!
//! Being ordered, it runs one job at a time in submission order, like a single hardware queue.
//! That is what makes fences of a context complete in order, and what serialises all kernel-side
//! accesses to buffer contents.

use core::ptr::NonNull;
use kernel::{bindings, prelude::*, sync::Arc, workqueue::Queue};

use crate::{helpers, job::Job};

/// An ordered workqueue owned by the driver.
///
/// # Invariants
///
/// `wq` was returned by `alloc_ordered_workqueue`, is owned by this object and is destroyed
/// only in [`Drop`].
pub(crate) struct Engine {
    wq: NonNull<bindings::workqueue_struct>,
}

// SAFETY: The workqueue API may be used from any thread; `Engine` only hands out `&Queue`, whose
// methods are thread-safe.
unsafe impl Send for Engine {}

// SAFETY: See the `Send` impl: all methods taking `&self` are safe to call concurrently.
unsafe impl Sync for Engine {}

impl Engine {
    /// Allocates the workqueue.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: FFI call without preconditions.
        let wq = unsafe { helpers::realgpu_alloc_ordered_wq() };
        // INVARIANT: A non-null result is a new workqueue that we own.
        Ok(Self {
            wq: NonNull::new(wq).ok_or(ENOMEM)?,
        })
    }

    fn queue(&self) -> &Queue {
        // SAFETY: By the type invariants the workqueue is valid until `self` is dropped, which
        // cannot happen while the returned borrow of `self` is alive.
        unsafe { Queue::from_raw(self.wq.as_ptr()) }
    }

    /// Queues `job` to run after every job queued before it.
    pub(crate) fn enqueue(&self, job: Arc<Job>) -> Result {
        // A freshly created job is never queued yet, so this cannot fail in practice.
        self.queue().enqueue(job).map_err(|_| EBUSY)
    }

    /// Waits until every queued job, and every job those queue, has finished.
    pub(crate) fn drain(&self) {
        // SAFETY: By the type invariants the workqueue is valid.
        unsafe { bindings::drain_workqueue(self.wq.as_ptr()) };
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // SAFETY: By the type invariants we own the workqueue and this is its only destruction.
        // `destroy_workqueue` waits for pending jobs; it is never reached from a job (see
        // `RealGpuMisc`'s drop, which drains the queue while it still holds the device).
        unsafe { bindings::destroy_workqueue(self.wq.as_ptr()) };
    }
}
