// SPDX-License-Identifier: GPL-2.0

//! Real contexts that mappings keep alive after their proxy file closed.
//!
//! mmap hands a proxy file's vma to its real file, and each vma holds a
//! reference on it. A program may close the proxy file and keep a mapping:
//! the driver's context (and every buffer it holds) then lives on, so its
//! open-file charge must too. When a proxy file closes while its real file
//! has other references, mockgpu keeps one of its own here, with the
//! tenant's file charge; a reaper checks every [`REAP_MS`] whether only that
//! reference is left (the last vma is gone), then drops it (the driver
//! releases the context) and ends the charge.
//!
//! The cost, measured by `proxy_realgpu` ("a mapping outlives its proxy
//! file"): such a context is released up to [`REAP_MS`] after its last
//! munmap rather than at it. A process that exits unmaps before it closes
//! its files, so the usual close releases the context at once, as before.

use kernel::{ffi::c_void, new_mutex, prelude::*, sync::Arc, sync::Mutex};

use crate::{meter::Carried, real::RealFile, reaper::Reaper, tenant::Tenant};

/// How often kept contexts are checked, ms.
const REAP_MS: u32 = 100;

/// A real file a mapping keeps, with the tenant whose file charge it holds
/// and, for a tenant with a compute share, the count of its device time.
struct Kept {
    file: RealFile,
    tenant: Arc<Tenant>,
    meter: Option<Carried>,
}

/// The contexts of one target kept by mappings.
///
/// # Invariants
///
/// Every `Kept` holds one file charge on its tenant, ended exactly once
/// (when its file is released here). The reaper's work borrows the owner
/// given to [`Mapped::start`]; it is stopped before the owner's other
/// fields are dropped (the owner declares this field first).
#[pin_data(PinnedDrop)]
pub(crate) struct Mapped {
    #[pin]
    kept: Mutex<KVec<Kept>>,
    reaper: Reaper,
}

impl Mapped {
    /// No kept context, no reaper yet.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Mapped {
            kept <- new_mutex!(KVec::new()),
            reaper: Reaper::new(),
        })
    }

    /// Starts the reaper: `work(owner)` runs whenever kept contexts are due
    /// a check, and calls [`Mapped::reap`].
    ///
    /// # Safety
    ///
    /// `owner` contains `self` as its first field, and stays valid until
    /// `self` is dropped.
    pub(crate) unsafe fn start(
        &self,
        work: unsafe extern "C" fn(*const c_void),
        owner: *const c_void,
    ) -> Result {
        // SAFETY: `owner` outlives the reaper, stopped in `drop` before the
        // owner's other fields go (safety requirements).
        unsafe { self.reaper.start(work, owner) }
    }

    /// Keeps the context of a proxy file that closed while a mapping holds
    /// its real file (`file`, a reference of mockgpu's own), with the
    /// file charge of `tenant`. Gives both back if there is no room.
    pub(crate) fn keep(
        &self,
        file: RealFile,
        tenant: Arc<Tenant>,
        meter: Option<Carried>,
    ) -> Result<(), RealFile> {
        let mut kept = self.kept.lock();
        if kept.reserve(1, GFP_KERNEL).is_err() {
            return Err(file);
        }
        // INVARIANT: the file charge moves here; room was reserved above.
        if let Err(e) = kept.push_within_capacity(Kept {
            file,
            tenant,
            meter,
        }) {
            return Err(e.0.file);
        }
        drop(kept);
        self.kick();
        Ok(())
    }

    /// How many contexts are kept, for the status file.
    pub(crate) fn count(&self) -> usize {
        self.kept.lock().len()
    }

    fn kick(&self) {
        self.reaper.kick(REAP_MS);
    }

    /// Charges the device time each kept context used since the last pass
    /// (the jobs it queued before its file closed still run), then releases
    /// every kept context no mapping holds any more, ending its tenant's
    /// file charge and then calling `released` with the tenant. Kicks the
    /// reaper again while anything is kept; returns whether anything was
    /// released.
    pub(crate) fn reap(&self, mut released: impl FnMut(&Arc<Tenant>)) -> bool {
        let mut any = false;
        let mut kept = self.kept.lock();
        kept.retain(|k| {
            if let Some(m) = k.meter.as_mut() {
                m.charge(&k.file, &k.tenant);
            }
            if !k.file.only_ref() {
                return true;
            }
            // SAFETY: our reference, dropped once (the entry goes with it);
            // the reaper runs in process context without spinlocks.
            unsafe { k.file.close_now() };
            k.tenant.uncharge_file();
            released(&k.tenant);
            any = true;
            false
        });
        let more = !kept.is_empty();
        drop(kept);
        if more {
            self.kick();
        }
        any
    }
}

#[pinned_drop]
impl PinnedDrop for Mapped {
    fn drop(self: Pin<&mut Self>) {
        self.reaper.stop();
        // The owner is going (its target removed and its last file closed,
        // or the module unloading): the mappings keep the real files, no
        // longer charged to anyone.
        for k in self.kept.lock().drain_all() {
            k.tenant.uncharge_file();
        }
    }
}
