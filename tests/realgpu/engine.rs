// SPDX-License-Identifier: GPL-2.0

//! The engine: one hardware queue that time-slices between contexts.
//!
//! Every context keeps its own queue of jobs (its ring, see `context.rs`). A context with queued
//! jobs is *runnable*. One runner, a work item on an ordered kernel workqueue owned by the
//! device, gives the runnable contexts turns in round-robin order (by context id): in its turn a
//! context runs its jobs in fence order until it has used one slice of engine time (module
//! parameter `slice_us`) or has nothing left to run. A job that does not fit is preempted and
//! resumes in the context's next turn, so a long job holds the engine for at most a slice while
//! another context has work, as on a GPU with time-slicing. A context alone on the engine gets
//! turn after turn without delay.
//!
//! The single runner still runs one job at a time, which serialises all kernel-side accesses to
//! buffer contents; fences of a context complete in order.

use core::ptr::NonNull;
use kernel::{
    bindings, impl_has_work, new_mutex, new_work,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{Arc, Mutex},
    workqueue::{Queue, Work, WorkItem},
};

use crate::{
    context::Context,
    helpers,
    job::{now_ns, DeviceClock, Progress},
};

/// The node that links a runnable context into the engine's run list, keyed by context id.
pub(crate) type RunNode = RBTreeNode<u64, Arc<Context>>;

/// The run list.
struct RunList {
    /// The contexts with queued jobs, by id.
    runnable: RBTree<u64, Arc<Context>>,
    /// The id of the context that had the last turn.
    last_id: u64,
    /// Whether the runner is queued or running; it clears this (under the lock) just before it
    /// returns for lack of work.
    running: bool,
}

/// The work item that runs jobs.
#[pin_data]
struct Runner {
    #[pin]
    list: Mutex<RunList>,
    clock: DeviceClock,
    /// The engine time a context may use per turn, ns (> 0).
    slice_ns: i64,
    #[pin]
    work: Work<Runner>,
}

impl_has_work! {
    impl HasWork<Self> for Runner { self.work }
}

impl Runner {
    /// The runnable context after the last one served, in id order (wrapping around); clears
    /// `running` if there is none.
    fn next(&self) -> Option<Arc<Context>> {
        let mut list = self.list.lock();
        let next = list
            .last_id
            .checked_add(1)
            .and_then(|id| list.runnable.cursor_lower_bound(&id))
            .or_else(|| list.runnable.cursor_front())
            .map(|cursor| {
                let (id, ctx) = cursor.current();
                (*id, ctx.clone())
            });
        match next {
            Some((id, ctx)) => {
                list.last_id = id;
                Some(ctx)
            }
            None => {
                list.running = false;
                None
            }
        }
    }

    /// Gives `ctx` one turn: up to a slice of engine time (or of wall time, for jobs that cost
    /// nothing), running its jobs in order.
    fn turn(&self, ctx: &Context) {
        let start = now_ns();
        let mut budget = self.slice_ns;
        while budget > 0 && now_ns().saturating_sub(start) < self.slice_ns {
            let Some((job, closed)) = ctx.front_job() else {
                break;
            };
            // The jobs of a closed context are cancelled: nobody can observe them any more, and
            // skipping them returns their buffers to the pool sooner.
            let progress = if closed {
                Progress::Done(0)
            } else {
                let (used, progress) = job.run(&self.clock, ctx.busy(), budget);
                budget = budget.saturating_sub(used);
                progress
            };
            match progress {
                Progress::Preempted => break,
                Progress::Done(result) => {
                    let fence = job.fence();
                    drop(job);
                    ctx.retire(fence, result);
                }
            }
        }
    }
}

impl WorkItem for Runner {
    type Pointer = Arc<Runner>;

    fn run(this: Arc<Runner>) {
        while let Some(ctx) = this.next() {
            this.turn(&ctx);
        }
    }
}

/// The device's engine: the run list and an ordered workqueue for its runner.
///
/// # Invariants
///
/// `wq` was returned by `alloc_ordered_workqueue`, is owned by this object and is destroyed
/// only in [`Drop`].
pub(crate) struct Engine {
    wq: NonNull<bindings::workqueue_struct>,
    runner: Arc<Runner>,
}

// SAFETY: The workqueue API may be used from any thread; `Engine` only hands out `&Queue`, whose
// methods are thread-safe, and the runner is `Send + Sync`.
unsafe impl Send for Engine {}

// SAFETY: See the `Send` impl: all methods taking `&self` are safe to call concurrently.
unsafe impl Sync for Engine {}

impl Engine {
    /// Allocates the workqueue; contexts get turns of `slice_ns` (> 0).
    pub(crate) fn new(slice_ns: i64) -> Result<Self> {
        let runner = Arc::pin_init(
            pin_init!(Runner {
                list <- new_mutex!(
                    RunList {
                        runnable: RBTree::new(),
                        last_id: 0,
                        running: false,
                    },
                    "realgpu::Runner::list"
                ),
                clock: DeviceClock::new(),
                slice_ns,
                work <- new_work!("realgpu::Runner::work"),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: FFI call without preconditions.
        let wq = unsafe { helpers::realgpu_alloc_ordered_wq() };
        // INVARIANT: A non-null result is a new workqueue that we own.
        Ok(Self {
            wq: NonNull::new(wq).ok_or(ENOMEM)?,
            runner,
        })
    }

    fn queue(&self) -> &Queue {
        // SAFETY: By the type invariants the workqueue is valid until `self` is dropped, which
        // cannot happen while the returned borrow of `self` is alive.
        unsafe { Queue::from_raw(self.wq.as_ptr()) }
    }

    /// Adds the context of `node` to the run list and starts the runner if it is idle.
    ///
    /// Returns the node the context already had in the list, if any.
    pub(crate) fn add_runnable(&self, node: RunNode) -> Option<RunNode> {
        let mut list = self.runner.list.lock();
        let old = list.runnable.insert(node);
        // While `running` is clear the runner is not pending (it clears it as it returns), so
        // the enqueue succeeds.
        if !list.running && self.queue().enqueue(self.runner.clone()).is_ok() {
            list.running = true;
        }
        old
    }

    /// Removes the context `id` from the run list; returns its node.
    pub(crate) fn remove_runnable(&self, id: u64) -> Option<RunNode> {
        self.runner.list.lock().runnable.remove_node(&id)
    }

    /// Waits until the runner has run every queued job.
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
