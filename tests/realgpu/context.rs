// SPDX-License-Identifier: GPL-2.0

//! Contexts: the state of one open `/dev/realgpu` file.

use kernel::{
    bindings,
    fs::{file, File},
    new_mutex, new_poll_condvar,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    seq_file::{seq_print, SeqFile},
    sync::{
        poll::{PollCondVar, PollTable},
        Arc, ArcBorrow, CondVarTimeoutResult, Mutex,
    },
    time::{Instant, Monotonic},
    uaccess::UserSliceWriter,
};

use crate::{
    buffer::Buffer,
    device::Device,
    events::{EventRing, ResultRing},
    job::{Busy, Job, JobOp},
    pool::MemStats,
    uapi::{self, Event},
};

/// Events copied out per `read(2)` call at most (bounded to keep the stack small).
const READ_BATCH: usize = 16;

/// Handles at or above this are never issued, so mmap offsets stay non-negative as `off_t`.
const HANDLE_LIMIT: u32 = 1 << 31;

/// Unfinished jobs a context may have, as in a GPU's ring buffer: a submitter
/// beyond it waits (interruptibly) for room. Without a bound, busy submitters
/// could queue without end, and unloading the driver would drain for minutes.
const RING_SIZE: u64 = 64;

/// The slot of `fence` in a context's job ring.
fn ring_slot(fence: u64) -> usize {
    // The remainder is below `RING_SIZE`, so it fits a `usize`.
    (fence % RING_SIZE) as usize
}

/// How `WAIT` reached its end without the fence signalling.
enum WaitEnd {
    /// The timeout passed.
    Timeout,
    /// A signal is pending.
    Signal,
}

/// The mutable state of a context.
struct ContextInner {
    /// Set when the file is released; jobs still queued then are skipped.
    closed: bool,
    /// This context's buffer handles.
    handles: RBTree<u32, Arc<Buffer>>,
    /// The next handle to issue.
    next_handle: u32,
    /// The last fence issued (0 before the first submission).
    last_fence: u64,
    /// The last fence completed; fences complete in order.
    done_fence: u64,
    /// Results of recent fences.
    results: ResultRing,
    /// Completion events not read yet.
    events: EventRing,
    /// The unfinished jobs: fence `f` in `done_fence + 1..=last_fence` is in slot
    /// `ring_slot(f)` (there are at most `RING_SIZE` of them); the other slots are empty.
    jobs: KVVec<Option<Arc<Job>>>,
    /// The node that puts this context on the engine's run list: here while the context has no
    /// unfinished job, in the run list while it has.
    run_node: Option<RBTreeNodeReservation<u64, Arc<Context>>>,
}

/// A GPU context: one open file of the device.
#[pin_data]
pub(crate) struct Context {
    dev: Arc<Device>,
    id: u64,
    /// The VRAM of the buffers this context allocated, wherever they are held.
    mem: Arc<MemStats>,
    /// The engine time of this context's jobs.
    #[pin]
    busy: Busy,
    #[pin]
    inner: Mutex<ContextInner>,
    /// Signalled when a fence completes (and so an event is queued).
    #[pin]
    cond: PollCondVar,
}

impl Context {
    /// Creates the context of a newly opened file.
    pub(crate) fn new(dev: &Arc<Device>) -> Result<Arc<Self>> {
        let inner = ContextInner {
            closed: false,
            handles: RBTree::new(),
            next_handle: 1,
            last_fence: 0,
            done_fence: 0,
            results: ResultRing::new()?,
            events: EventRing::new()?,
            jobs: KVVec::from_elem(None, RING_SIZE as usize, GFP_KERNEL)?,
            run_node: Some(RBTreeNodeReservation::new(GFP_KERNEL)?),
        };
        Arc::pin_init(
            try_pin_init!(Self {
                dev: dev.clone(),
                id: dev.alloc_ctx_id(),
                mem: MemStats::new()?,
                busy <- Busy::new(),
                inner <- new_mutex!(inner, "realgpu::Context::inner"),
                cond <- new_poll_condvar!("realgpu::Context::cond"),
            }),
            GFP_KERNEL,
        )
    }

    /// The device this context belongs to.
    pub(crate) fn dev(&self) -> &Arc<Device> {
        &self.dev
    }

    /// The device-wide id of this context.
    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    /// The VRAM statistics buffers allocated by this context are charged to.
    pub(crate) fn mem(&self) -> &Arc<MemStats> {
        &self.mem
    }

    /// The engine time of this context's jobs.
    pub(crate) fn busy(&self) -> &Busy {
        &self.busy
    }

    /// Called when the file is released: drops every handle and cancels queued jobs.
    pub(crate) fn release(&self) {
        let handles = {
            let mut inner = self.inner.lock();
            inner.closed = true;
            core::mem::replace(&mut inner.handles, RBTree::new())
        };
        // Buffers still referenced elsewhere (exports, mappings, jobs) live on.
        drop(handles);
    }

    /// Adds a handle for `buf` and returns it.
    pub(crate) fn add_handle(&self, buf: Arc<Buffer>) -> Result<u32> {
        let reservation = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut inner = self.inner.lock();
        let handle = inner.next_handle;
        if handle >= HANDLE_LIMIT {
            return Err(ENOSPC);
        }
        inner.next_handle = handle + 1;
        // Handles are never reused, so the key is free.
        inner.handles.insert(reservation.into_node(handle, buf));
        Ok(handle)
    }

    /// The buffer of `handle` (`EINVAL` if there is none).
    pub(crate) fn lookup(&self, handle: u32) -> Result<Arc<Buffer>> {
        self.inner
            .lock()
            .handles
            .get(&handle)
            .cloned()
            .ok_or(EINVAL)
    }

    /// The newest handle of this context and its buffer, if that handle is
    /// still open (handles are issued in order and never reused).
    pub(crate) fn newest(&self) -> Option<(u32, Arc<Buffer>)> {
        let inner = self.inner.lock();
        let handle = inner.next_handle.checked_sub(1)?;
        inner.handles.get(&handle).map(|b| (handle, b.clone()))
    }

    /// Removes `handle` and returns its buffer (`EINVAL` if there is none).
    pub(crate) fn remove_handle(&self, handle: u32) -> Result<Arc<Buffer>> {
        self.inner.lock().handles.remove(&handle).ok_or(EINVAL)
    }

    /// Queues a job and returns its fence.
    pub(crate) fn submit(this: ArcBorrow<'_, Self>, op: JobOp, cost_us: u64) -> Result<u64> {
        let mut inner = this.inner.lock();
        // `retire` notifies `cond` for every job, cancelled ones included.
        while inner.last_fence.saturating_sub(inner.done_fence) >= RING_SIZE {
            if this.cond.wait_interruptible(&mut inner) {
                return Err(ERESTARTSYS);
            }
        }
        let fence = inner.last_fence.checked_add(1).ok_or(EOVERFLOW)?;
        let job = Job::new(fence, cost_us, op)?;
        let idle = inner.done_fence == inner.last_fence;
        // Fences `done_fence + 1..fence` are fewer than `RING_SIZE`: the slot is free.
        *inner.jobs.get_mut(ring_slot(fence)).ok_or(EINVAL)? = Some(job);
        inner.last_fence = fence;
        if idle {
            // The context had no unfinished job, so its node is here: put it on the run list.
            if let Some(reservation) = inner.run_node.take() {
                let node = reservation.into_node(this.id, this.into());
                if let Some(old) = this.dev.engine.add_runnable(node) {
                    // Not reached: the context was not on the list. The value dropped is a
                    // reference to `this`, which the caller still holds.
                    inner.run_node = Some(old.into_reservation());
                }
            }
        }
        Ok(fence)
    }

    /// The job the engine runs next for this context, and whether the context is closed (its
    /// jobs are then cancelled).
    pub(crate) fn front_job(&self) -> Option<(Arc<Job>, bool)> {
        let inner = self.inner.lock();
        if inner.done_fence >= inner.last_fence {
            return None;
        }
        let fence = inner.done_fence.checked_add(1)?;
        let job = inner.jobs.get(ring_slot(fence))?.clone()?;
        Some((job, inner.closed))
    }

    /// Called by the engine when the job of `fence`, the oldest unfinished one, has finished.
    ///
    /// The caller holds a reference to the context (the engine's run list may drop its own).
    pub(crate) fn retire(&self, fence: u64, result: u64) {
        {
            let mut inner = self.inner.lock();
            // The job's buffer references go before its fence signals: a waiter that then
            // closes its last handle sees the buffer back in the pool (a real GPU retires a
            // job's resources before signaling it).
            if let Some(slot) = inner.jobs.get_mut(ring_slot(fence)) {
                drop(slot.take());
            }
            inner.done_fence = inner.done_fence.max(fence);
            inner.results.record(fence, result);
            inner.events.push_back(Event {
                ty: uapi::EVENT_JOB_DONE,
                pad: 0,
                fence,
                result,
            });
            if inner.done_fence >= inner.last_fence {
                // Nothing left to run: off the run list. The reference to `self` the node
                // held is dropped here, under our lock, which is fine as the caller holds
                // another one.
                if let Some(node) = self.dev.engine.remove_runnable(self.id) {
                    inner.run_node = Some(node.into_reservation());
                }
            }
        }
        self.cond.notify_all();
    }

    /// Writes the DRM usage statistics of this context (`drm-usage-stats.rst`) for its fdinfo.
    pub(crate) fn show_fdinfo(&self, m: &SeqFile) {
        seq_print!(m, "drm-driver:\trealgpu\n");
        seq_print!(m, "drm-client-id:\t{}\n", self.id);
        seq_print!(m, "drm-engine-gfx:\t{} ns\n", self.busy.ns());
        seq_print!(m, "drm-engine-capacity-gfx:\t1\n");
        seq_print!(m, "drm-total-vram:\t{} KiB\n", self.mem.total() >> 10);
        seq_print!(m, "drm-resident-vram:\t{} KiB\n", self.mem.resident() >> 10);
    }

    /// Waits for `fence`; see `struct realgpu_wait`. Returns the fence's result.
    pub(crate) fn wait(&self, fence: u64, timeout_ns: i64) -> Result<u64> {
        let start = Instant::<Monotonic>::now();
        let mut inner = self.inner.lock();
        if fence == 0 || fence > inner.last_fence {
            return Err(EINVAL);
        }
        loop {
            if fence <= inner.done_fence {
                return Ok(inner.results.get(fence));
            }
            let end = if timeout_ns == 0 {
                return Err(EAGAIN);
            } else if timeout_ns < 0 {
                if self.cond.wait_interruptible(&mut inner) {
                    Some(WaitEnd::Signal)
                } else {
                    None
                }
            } else {
                let remaining = timeout_ns.saturating_sub(start.elapsed().as_nanos());
                if remaining <= 0 {
                    Some(WaitEnd::Timeout)
                } else {
                    // Round up so that we never wake before the deadline and spin; the elapsed
                    // time is checked again after each wakeup.
                    // SAFETY: FFI call without preconditions.
                    let jiffies = unsafe { bindings::nsecs_to_jiffies(remaining as u64) };
                    match self
                        .cond
                        .wait_interruptible_timeout(&mut inner, jiffies.saturating_add(1))
                    {
                        CondVarTimeoutResult::Signal { .. } => Some(WaitEnd::Signal),
                        CondVarTimeoutResult::Timeout | CondVarTimeoutResult::Woken { .. } => None,
                    }
                }
            };
            match end {
                // The fence may have signalled just as the wait ended: report it if so.
                Some(_) if fence <= inner.done_fence => return Ok(inner.results.get(fence)),
                Some(WaitEnd::Timeout) => return Err(ETIME),
                Some(WaitEnd::Signal) => return Err(ERESTARTSYS),
                None => {}
            }
        }
    }

    /// Implements `read(2)`: copies out whole queued events.
    pub(crate) fn read(&self, file: &File, mut writer: UserSliceWriter) -> Result<usize> {
        let want = (writer.len() / size_of::<Event>()).min(READ_BATCH);
        if want == 0 {
            return Err(EINVAL);
        }

        let mut batch = [Event::default(); READ_BATCH];
        let mut taken = 0;
        {
            let mut inner = self.inner.lock();
            while inner.events.is_empty() {
                if file.flags() & file::flags::O_NONBLOCK != 0 {
                    return Err(EAGAIN);
                }
                if self.cond.wait_interruptible(&mut inner) {
                    return Err(ERESTARTSYS);
                }
            }
            for slot in batch.iter_mut().take(want) {
                match inner.events.pop_front() {
                    Some(event) => *slot = event,
                    None => break,
                }
                taken += 1;
            }
        }

        // Copy out without holding the lock: a fault on the user buffer takes `mmap_lock`,
        // which `mmap` holds while taking our lock.
        let mut copied = 0;
        for event in batch.iter().take(taken) {
            if writer.write(event).is_err() {
                break;
            }
            copied += 1;
        }
        if copied < taken {
            // Give back what could not be delivered, keeping the order.
            let mut inner = self.inner.lock();
            for event in batch.iter().take(taken).skip(copied).rev() {
                inner.events.push_front(*event);
            }
            if copied == 0 {
                return Err(EFAULT);
            }
        }
        Ok(copied * size_of::<Event>())
    }

    /// Implements `poll(2)`: readable while an event is queued.
    pub(crate) fn poll(&self, file: &File, table: PollTable<'_>) -> u32 {
        table.register_wait(file, &self.cond);
        if self.inner.lock().events.is_empty() {
            0
        } else {
            bindings::POLLIN | bindings::POLLRDNORM
        }
    }
}
