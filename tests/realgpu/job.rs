// SPDX-License-Identifier: GPL-2.0

//! Jobs: units of simulated GPU work, run by the engine.

use core::sync::atomic::{AtomicI64, Ordering};

use kernel::{
    bindings, impl_has_work, new_work,
    prelude::*,
    sync::Arc,
    time::{delay::fsleep, Delta},
    workqueue::{Work, WorkItem},
};

/// The device clock (monotonic ns): when the job running now ends. Jobs run
/// one at a time (an ordered workqueue), so only that worker touches it.
static DEVICE_CLOCK_NS: AtomicI64 = AtomicI64::new(0);

/// The monotonic clock, ns.
fn now_ns() -> i64 {
    // SAFETY: `ktime_get` reads the monotonic clock; no preconditions.
    unsafe { bindings::ktime_get() }
}

/// Occupies the device for `cost_us` of device time, as a GPU would: the job
/// starts when both it was submitted and the previous job ended. So a busy
/// device delivers one declared µs per µs even if the host's timers fire late
/// (as under TCG), and a job on an idle device takes its whole cost.
fn spend(submitted_ns: i64, cost_us: u64) {
    let now = now_ns();
    let start = DEVICE_CLOCK_NS.load(Ordering::Relaxed).max(submitted_ns);
    // `cost_us` is at most `MAX_COST_US` (checked at submission): no overflow.
    let end = start + cost_us as i64 * 1000;
    DEVICE_CLOCK_NS.store(end, Ordering::Relaxed);
    if end > now {
        fsleep(Delta::from_micros((end - now) / 1000));
    }
}

use crate::{buffer::Buffer, context::Context};

/// What a job does after spending its cost.
pub(crate) enum JobOp {
    /// Nothing.
    Nop,
    /// Sets every byte of `dst` to `value`.
    Fill {
        /// The buffer written.
        dst: Arc<Buffer>,
        /// The byte written.
        value: u8,
    },
    /// Copies `src` into `dst` (same size).
    Copy {
        /// The buffer read.
        src: Arc<Buffer>,
        /// The buffer written.
        dst: Arc<Buffer>,
    },
    /// Sums the bytes of `src`.
    Checksum {
        /// The buffer read.
        src: Arc<Buffer>,
    },
}

/// A submitted job.
///
/// It holds references to its context and buffers, so it stays valid if the file is closed or
/// the handles are freed before it runs.
#[pin_data]
pub(crate) struct Job {
    ctx: Arc<Context>,
    fence: u64,
    cost_us: u64,
    /// When the job was submitted (monotonic ns).
    submitted_ns: i64,
    op: JobOp,
    #[pin]
    work: Work<Job>,
}

impl_has_work! {
    impl HasWork<Self> for Job { self.work }
}

impl Job {
    /// Creates the job of `fence` in `ctx`.
    pub(crate) fn new(ctx: Arc<Context>, fence: u64, cost_us: u64, op: JobOp) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                ctx,
                fence,
                cost_us,
                submitted_ns: now_ns(),
                op,
                work <- new_work!("realgpu::Job::work"),
            }),
            GFP_KERNEL,
        )
    }

    /// Spends the declared cost, then performs the operation; returns the job's result.
    fn execute(&self) -> Result<u64> {
        if self.cost_us > 0 {
            spend(self.submitted_ns, self.cost_us);
        }
        match &self.op {
            JobOp::Nop => Ok(0),
            JobOp::Fill { dst, value } => dst.fill(*value).map(|()| 0),
            JobOp::Copy { src, dst } => dst.copy_from(src).map(|()| 0),
            JobOp::Checksum { src } => src.checksum(),
        }
    }
}

impl WorkItem for Job {
    type Pointer = Arc<Job>;

    fn run(this: Arc<Job>) {
        // A closed context's jobs are cancelled: nobody can observe them any more, and skipping
        // them returns their buffers to the pool sooner.
        let result = if this.ctx.is_closed() {
            0
        } else {
            this.execute().unwrap_or_else(|err| {
                pr_warn!("job {} failed: {:?}\n", this.fence, err);
                0
            })
        };
        // The job's buffer references go before its fence signals: a waiter
        // that then closes its last handle sees the buffer back in the pool
        // (a real GPU retires a job's resources before signaling it).
        let (ctx, fence) = (this.ctx.clone(), this.fence);
        drop(this);
        ctx.complete(fence, result);
    }
}
