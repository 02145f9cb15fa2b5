// SPDX-License-Identifier: GPL-2.0

//! Jobs: units of simulated GPU work, run by the engine a slice at a time.
//!
//! A job first spends its declared cost on the device clock (see [`DeviceClock`]), then performs
//! its operation, a few pages at a time. Both phases can be interrupted at the end of a time
//! slice and resumed later: the engine time a job takes is always what it really occupied the
//! engine for, whatever it declared.

use core::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};

use kernel::{
    bindings, new_spinlock,
    prelude::*,
    sync::{Arc, SpinLock},
    time::{delay::fsleep, Delta},
};

use crate::buffer::Buffer;

/// Pages an operation processes between two looks at the clock.
const OP_CHUNK_PAGES: usize = 16;

/// The monotonic clock, ns.
pub(crate) fn now_ns() -> i64 {
    // SAFETY: `ktime_get` reads the monotonic clock; no preconditions.
    unsafe { bindings::ktime_get() }
}

/// The device clock (monotonic ns): when the engine's work so far ends.
///
/// A job's declared cost starts when both it was submitted and the engine's previous work ended,
/// and the engine then sleeps until the clock catches up. So a busy device delivers one declared
/// µs per µs even if the host's timers fire late (as under TCG), and a job on an idle device
/// takes its whole cost. Only the engine's runner (one work item of an ordered workqueue)
/// touches it.
pub(crate) struct DeviceClock(AtomicI64);

impl DeviceClock {
    /// A clock at 0: the first job starts at its submission.
    pub(crate) const fn new() -> Self {
        Self(AtomicI64::new(0))
    }

    fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    fn set(&self, ns: i64) {
        self.0.store(ns, Ordering::Relaxed);
    }
}

/// The engine time of one context: completed slices plus the slice running now.
struct BusyInner {
    /// Engine time of finished slices, ns.
    total_ns: u64,
    /// Start of the running slice (monotonic ns); meaningful while `running`.
    since_ns: i64,
    /// The longest the running slice may count for, ns.
    limit_ns: i64,
    /// Whether one of the context's jobs is on the engine.
    running: bool,
}

/// The engine time of one context, as its fdinfo reports it: monotonic, and including the time
/// so far of a job that is running now.
#[pin_data]
pub(crate) struct Busy {
    #[pin]
    inner: SpinLock<BusyInner>,
}

impl Busy {
    /// No engine time used yet.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_spinlock!(
                BusyInner {
                    total_ns: 0,
                    since_ns: 0,
                    limit_ns: 0,
                    running: false,
                },
                "realgpu::Busy::inner"
            ),
        })
    }

    /// The engine time used so far, ns.
    pub(crate) fn ns(&self) -> u64 {
        let now = now_ns();
        let inner = self.inner.lock();
        let running = if inner.running {
            now.saturating_sub(inner.since_ns).clamp(0, inner.limit_ns)
        } else {
            0
        };
        // `running` is clamped to `0..=limit_ns`, so it is not negative.
        inner.total_ns.saturating_add(running as u64)
    }

    /// A slice starts at `since_ns` that will count for at most `limit_ns`.
    fn begin(&self, since_ns: i64, limit_ns: i64) {
        let mut inner = self.inner.lock();
        inner.since_ns = since_ns;
        inner.limit_ns = limit_ns.max(0);
        inner.running = true;
    }

    /// The running slice ended having used `used_ns`, which is at least what [`Busy::ns`]
    /// showed of it, so that the engine time never goes down.
    fn end(&self, used_ns: i64) {
        let mut inner = self.inner.lock();
        inner.running = false;
        inner.total_ns = inner.total_ns.saturating_add(used_ns.max(0) as u64);
    }
}

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

impl JobOp {
    /// The pages the operation goes through.
    fn npages(&self) -> usize {
        match self {
            Self::Nop => 0,
            Self::Fill { dst, .. } | Self::Copy { dst, .. } => dst.npages(),
            Self::Checksum { src } => src.npages(),
        }
    }
}

/// How far a slice of a job got.
pub(crate) enum Progress {
    /// The slice ended before the job did.
    Preempted,
    /// The job is done, with this result.
    Done(u64),
}

/// A submitted job.
///
/// It holds references to its buffers, so it stays valid if the handles are freed before it
/// runs. Its progress fields are only touched by the engine's runner.
pub(crate) struct Job {
    fence: u64,
    /// When the job was submitted (monotonic ns).
    submitted_ns: i64,
    /// Declared cost not spent yet, ns.
    cost_left_ns: AtomicI64,
    /// Pages of the operation done.
    pages_done: AtomicUsize,
    /// The checksum of the pages done (CHECKSUM only).
    sum: AtomicU64,
    op: JobOp,
}

impl Job {
    /// Creates the job of `fence`.
    pub(crate) fn new(fence: u64, cost_us: u64, op: JobOp) -> Result<Arc<Self>> {
        // `cost_us` is at most `MAX_COST_US` (checked at submission): no overflow.
        let cost_ns = i64::try_from(cost_us)
            .ok()
            .and_then(|us| us.checked_mul(1000))
            .ok_or(EINVAL)?;
        Ok(Arc::new(
            Self {
                fence,
                submitted_ns: now_ns(),
                cost_left_ns: AtomicI64::new(cost_ns),
                pages_done: AtomicUsize::new(0),
                sum: AtomicU64::new(0),
                op,
            },
            GFP_KERNEL,
        )?)
    }

    /// The fence the job signals.
    pub(crate) fn fence(&self) -> u64 {
        self.fence
    }

    /// Runs the job for at most `budget_ns` of engine time (at least one step of it), charging
    /// the time to `busy`. Returns the engine time used and how far the job got.
    pub(crate) fn run(&self, clock: &DeviceClock, busy: &Busy, budget_ns: i64) -> (i64, Progress) {
        let used = self.spend_cost(clock, busy, budget_ns);
        if self.cost_left_ns.load(Ordering::Relaxed) > 0 {
            return (used, Progress::Preempted);
        }
        if used > 0 && used >= budget_ns && self.op.npages() > 0 {
            // The operation starts with the next slice.
            return (used, Progress::Preempted);
        }
        let (op_used, progress) = self.run_op(clock, busy, budget_ns.saturating_sub(used));
        (used.saturating_add(op_used), progress)
    }

    /// Spends up to `budget_ns` of the declared cost on the device clock.
    fn spend_cost(&self, clock: &DeviceClock, busy: &Busy, budget_ns: i64) -> i64 {
        let left = self.cost_left_ns.load(Ordering::Relaxed);
        let len = left.min(budget_ns);
        if len <= 0 {
            return 0;
        }
        let start = clock.get().max(self.submitted_ns);
        // Both are far below `i64::MAX`: monotonic ns plus at most one second.
        let end = start.saturating_add(len);
        busy.begin(start, len);
        clock.set(end);
        let now = now_ns();
        if end > now {
            fsleep(Delta::from_nanos(end - now));
        }
        busy.end(len);
        self.cost_left_ns.store(left - len, Ordering::Relaxed);
        len
    }

    /// Performs the operation for at most `budget_ns` (at least one chunk of pages), measuring
    /// the time it really takes.
    fn run_op(&self, clock: &DeviceClock, busy: &Busy, budget_ns: i64) -> (i64, Progress) {
        let npages = self.op.npages();
        let mut done = self.pages_done.load(Ordering::Relaxed);
        if done >= npages {
            return (0, Progress::Done(0));
        }
        let start = now_ns();
        let dev_start = clock.get().max(self.submitted_ns);
        // Counts in full while it runs: the operation is real work on the engine.
        busy.begin(start, i64::MAX);
        let mut result = Ok(());
        while done < npages {
            let pages = done..npages.min(done.saturating_add(OP_CHUNK_PAGES));
            let next = pages.end;
            result = match &self.op {
                JobOp::Nop => Ok(()),
                JobOp::Fill { dst, value } => dst.fill(*value, pages),
                JobOp::Copy { src, dst } => dst.copy_from(src, pages),
                JobOp::Checksum { src } => src.checksum(pages).map(|sum| {
                    let total = self.sum.load(Ordering::Relaxed).wrapping_add(sum);
                    self.sum.store(total, Ordering::Relaxed);
                }),
            };
            done = next;
            if result.is_err() || now_ns().saturating_sub(start) >= budget_ns {
                break;
            }
        }
        self.pages_done.store(done, Ordering::Relaxed);
        let used = now_ns().saturating_sub(start).max(0);
        clock.set(dev_start.saturating_add(used));
        busy.end(used);
        match result {
            Err(err) => {
                pr_warn!("job {} failed: {:?}\n", self.fence, err);
                (used, Progress::Done(0))
            }
            Ok(()) if done < npages => (used, Progress::Preempted),
            Ok(()) => (used, Progress::Done(self.sum.load(Ordering::Relaxed))),
        }
    }
}
