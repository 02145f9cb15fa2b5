// SPDX-License-Identifier: GPL-2.0

//! Fixed-size rings for completion events and job results.
//!
//! Both are allocated when a context is opened, so completing a job never allocates.

use kernel::prelude::*;

use crate::uapi::Event;

/// Number of completion events a context queues before the oldest is dropped.
pub(crate) const EVENT_SLOTS: usize = 4096;

/// Number of most recent fences whose result `WAIT` can still report.
pub(crate) const RESULT_SLOTS: usize = 4096;

/// A FIFO of completion events that overwrites its oldest entry when full.
///
/// # Invariants
///
/// `slots.len() == EVENT_SLOTS`, `head < EVENT_SLOTS` and `len <= EVENT_SLOTS`; the queued
/// events are `slots[(head + i) % EVENT_SLOTS]` for `i` in `0..len`, oldest first.
pub(crate) struct EventRing {
    slots: KVVec<Event>,
    head: usize,
    len: usize,
}

impl EventRing {
    /// Allocates an empty ring.
    pub(crate) fn new() -> Result<Self> {
        // INVARIANT: `EVENT_SLOTS` slots, none queued.
        Ok(Self {
            slots: KVVec::from_elem(Event::default(), EVENT_SLOTS, GFP_KERNEL)?,
            head: 0,
            len: 0,
        })
    }

    /// Whether no event is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues `event` last, dropping the oldest event if the ring is full.
    pub(crate) fn push_back(&mut self, event: Event) {
        if self.len == EVENT_SLOTS {
            // INVARIANT: Drop the oldest to make room.
            self.head = (self.head + 1) % EVENT_SLOTS;
            self.len -= 1;
        }
        if let Some(slot) = self.slots.get_mut((self.head + self.len) % EVENT_SLOTS) {
            *slot = event;
            // INVARIANT: `len < EVENT_SLOTS` before the increment.
            self.len += 1;
        }
    }

    /// Puts `event` back in front (used to return events a reader failed to copy out).
    ///
    /// Does nothing if the ring is full.
    pub(crate) fn push_front(&mut self, event: Event) {
        if self.len == EVENT_SLOTS {
            return;
        }
        let head = (self.head + EVENT_SLOTS - 1) % EVENT_SLOTS;
        if let Some(slot) = self.slots.get_mut(head) {
            *slot = event;
            // INVARIANT: `head < EVENT_SLOTS` and `len < EVENT_SLOTS` before the increment.
            self.head = head;
            self.len += 1;
        }
    }

    /// Dequeues the oldest event.
    pub(crate) fn pop_front(&mut self) -> Option<Event> {
        if self.len == 0 {
            return None;
        }
        let event = *self.slots.get(self.head)?;
        // INVARIANT: One event fewer, starting at the next slot.
        self.head = (self.head + 1) % EVENT_SLOTS;
        self.len -= 1;
        Some(event)
    }
}

/// The result of one fence.
#[derive(Clone, Copy, Default)]
struct FenceResult {
    fence: u64,
    result: u64,
}

/// Results of the last [`RESULT_SLOTS`] completed fences, indexed by fence number.
///
/// # Invariants
///
/// `slots.len() == RESULT_SLOTS`; the result of fence `f` is only ever stored in slot
/// `f % RESULT_SLOTS`.
pub(crate) struct ResultRing {
    slots: KVVec<FenceResult>,
}

impl ResultRing {
    /// Allocates an empty ring.
    pub(crate) fn new() -> Result<Self> {
        // INVARIANT: `RESULT_SLOTS` slots; fence 0 is never issued, so none holds a result.
        Ok(Self {
            slots: KVVec::from_elem(FenceResult::default(), RESULT_SLOTS, GFP_KERNEL)?,
        })
    }

    fn index(fence: u64) -> usize {
        // The remainder is below `RESULT_SLOTS`, so it fits a `usize`.
        (fence % RESULT_SLOTS as u64) as usize
    }

    /// Records the result of `fence`, replacing that of `fence - RESULT_SLOTS`.
    pub(crate) fn record(&mut self, fence: u64, result: u64) {
        if let Some(slot) = self.slots.get_mut(Self::index(fence)) {
            *slot = FenceResult { fence, result };
        }
    }

    /// The result of `fence`, or 0 if it is older than the last [`RESULT_SLOTS`] fences.
    pub(crate) fn get(&self, fence: u64) -> u64 {
        match self.slots.get(Self::index(fence)) {
            Some(slot) if slot.fence == fence => slot.result,
            _ => 0,
        }
    }
}
