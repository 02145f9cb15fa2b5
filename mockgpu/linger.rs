// SPDX-License-Identifier: GPL-2.0

//! The simulated GPU's buffers, charged while they live.
//!
//! A realgpu buffer is kept alive by its handles, and also by mappings of
//! it, export files and queued jobs, which outlive the handle a FREE (or a
//! closed file) drops. When the last handle of a charged buffer goes and
//! realgpu says the buffer is still alive (`realgpu_buffer_alive`, its
//! registry of live buffer ids, as a DRM driver has its objects' reference
//! counts), the charge is kept here until the buffer dies, checked by a
//! reaper while anything is kept.

use core::ptr::NonNull;

use kernel::{ffi::c_void, new_mutex, prelude::*, sync::Arc, sync::Mutex};

use crate::{
    dmem, ffi,
    policy::ledger::{release, Release},
    real::RealFile,
    reaper::Reaper,
    tenant::Tenant,
};

/// How often kept charges are checked, ms.
const REAP_MS: u32 = 200;

/// A handle and its buffer, as the driver has them.
pub(crate) struct Newest {
    pub(crate) handle: u32,
    pub(crate) id: u64,
    pub(crate) size: u64,
}

/// A charge kept for a buffer that outlived its handles.
struct Kept {
    tenant: Arc<Tenant>,
    id: u64,
    size: u64,
    /// The buffer's dmem charge, returned when this goes.
    _dmem: Option<dmem::Charge>,
}

/// The charges of one target's buffers that outlived their handles.
///
/// # Invariants
///
/// `alive` is realgpu's `realgpu_buffer_alive`, with a reference on its
/// module until drop. Every `Kept` still holds its charge on its tenant
/// (released once: by the reaper when the buffer is dead, or on drop).
/// The reaper's work borrows `self`; it is stopped before `self` goes.
#[pin_data(PinnedDrop)]
pub(crate) struct Lingering {
    alive: NonNull<c_void>,
    /// realgpu's `realgpu_newest_handle` and `realgpu_delete_handle`, with
    /// a module reference each until drop; `None` for a realgpu without them.
    handles: Option<(NonNull<c_void>, NonNull<c_void>)>,
    #[pin]
    kept: Mutex<KVec<Kept>>,
    reaper: Reaper,
}

// SAFETY: `alive` is a function that may be called from any thread; `kept`
// is behind a mutex; `reaper` is a thread-safe work.
unsafe impl Send for Lingering {}
// SAFETY: as above.
unsafe impl Sync for Lingering {}

impl Lingering {
    /// The lingering charges of a realgpu target; `None` if realgpu offers
    /// no registry (then charges end with their handles, as before).
    pub(crate) fn new() -> Result<Option<Arc<Self>>> {
        // SAFETY: plain call; a non-null result carries a module reference.
        let Some(alive) = NonNull::new(unsafe { ffi::mockgpu_realgpu_alive_get() }) else {
            return Ok(None);
        };
        let (mut newest, mut del) = (core::ptr::null_mut(), core::ptr::null_mut());
        // SAFETY: the outputs are valid for writes; on `true` both carry a
        // module reference, on `false` neither.
        let handles = unsafe { ffi::mockgpu_realgpu_handles_get(&mut newest, &mut del) }
            .then(|| NonNull::new(newest).zip(NonNull::new(del)))
            .flatten();
        // INVARIANT: `alive` and `handles` are referenced; no reaper yet.
        let this = Arc::pin_init(
            pin_init!(Lingering {
                alive,
                handles,
                kept <- new_mutex!(KVec::new()),
                reaper: Reaper::new(),
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| {
            // SAFETY: referenced just above, not stored.
            unsafe {
                ffi::mockgpu_realgpu_alive_put();
                if handles.is_some() {
                    ffi::mockgpu_realgpu_handles_put();
                }
            }
        })?;
        // SAFETY: `reap_work` takes a `Lingering` pointer; the reaper is
        // stopped in `drop`, before `this` goes (type invariants).
        unsafe {
            this.reaper
                .start(reap_work, Arc::as_ptr(&this).cast::<c_void>())
        }?;
        Ok(Some(this))
    }

    /// Whether buffer `id` is alive.
    pub(crate) fn alive(&self, id: u64) -> bool {
        // SAFETY: `alive` is realgpu's function, its module referenced.
        unsafe { ffi::mockgpu_realgpu_alive(self.alive.as_ptr(), id) }
    }

    /// Whether the driver answers [`Lingering::newest`] and
    /// [`Lingering::delete`].
    pub(crate) fn knows_handles(&self) -> bool {
        self.handles.is_some()
    }

    /// The newest handle of the context of `real` and its buffer, from the
    /// driver: right after an `ALLOC` or `IMPORT` on a file whose other
    /// handle-changing ioctls are held off, the handle it made.
    pub(crate) fn newest(&self, real: &RealFile) -> Option<Newest> {
        let (newest, _) = self.handles?;
        let mut n = Newest {
            handle: 0,
            id: 0,
            size: 0,
        };
        // SAFETY: realgpu's function, its module referenced (type
        // invariants); `real` is an open file; the outputs are valid.
        let r = unsafe {
            ffi::mockgpu_realgpu_newest(
                newest.as_ptr(),
                real.as_ptr(),
                &mut n.handle,
                &mut n.id,
                &mut n.size,
            )
        };
        (r == 0).then_some(n)
    }

    /// Closes `handle` of `real` in the kernel, as `FREE` would; whether it
    /// was there.
    pub(crate) fn delete(&self, real: &RealFile, handle: u32) -> bool {
        let Some((_, del)) = self.handles else {
            return false;
        };
        // SAFETY: realgpu's function, its module referenced (type
        // invariants); `real` is an open file.
        unsafe { ffi::mockgpu_realgpu_delete(del.as_ptr(), real.as_ptr(), handle) == 0 }
    }

    /// Ends the charge of a buffer whose handle is gone, or keeps it while
    /// the buffer lives on: whoever paid for it pays until it dies, however
    /// many others hold it (a tenant that imported it paid nothing).
    pub(crate) fn release(
        &self,
        tenant: &Arc<Tenant>,
        id: Option<u64>,
        size: u64,
        dmem: Option<dmem::Charge>,
    ) {
        let Some(id) = id.filter(|&id| release(self.alive(id), size > 0) == Release::WhenDead)
        else {
            tenant.release(id, size);
            return;
        };
        let mut kept = self.kept.lock();
        if kept.reserve(1, GFP_KERNEL).is_err() {
            // No memory to keep it: the charge ends early (never leaks).
            drop(kept);
            tenant.release(Some(id), size);
            return;
        }
        let k = Kept {
            tenant: tenant.clone(),
            id,
            size,
            _dmem: dmem,
        };
        // INVARIANT: the charge moves here; room was reserved just above.
        if let Err(e) = kept.push_within_capacity(k) {
            let k = e.0;
            k.tenant.release(Some(k.id), k.size);
        }
        drop(kept);
        self.kick();
    }

    fn kick(&self) {
        self.reaper.kick(REAP_MS);
    }

    /// Ends the charges of dead buffers; whether any is still kept.
    fn reap(&self) -> bool {
        let mut kept = self.kept.lock();
        kept.retain(|k| {
            let live = self.alive(k.id);
            if !live {
                k.tenant.release(Some(k.id), k.size);
            }
            live
        });
        !kept.is_empty()
    }
}

/// The reaper's work.
///
/// # Safety
///
/// `this` is a live `Lingering` (its reaper is freed before it is).
unsafe extern "C" fn reap_work(this: *const c_void) {
    // SAFETY: by the safety requirements.
    let this = unsafe { &*this.cast::<Lingering>() };
    if this.reap() {
        this.kick();
    }
}

#[pinned_drop]
impl PinnedDrop for Lingering {
    fn drop(self: Pin<&mut Self>) {
        self.reaper.stop();
        for k in self.kept.lock().drain_all() {
            k.tenant.release(Some(k.id), k.size);
        }
        // SAFETY: referenced since construction (type invariants), dropped once.
        unsafe {
            ffi::mockgpu_realgpu_alive_put();
            if self.handles.is_some() {
                ffi::mockgpu_realgpu_handles_put();
            }
        }
    }
}
