// SPDX-License-Identifier: GPL-2.0

//! Accounting: what a proxy file's ioctls are charged, by driver family.
//!
//! A proxy file (`proxy.rs`) forwards; for the few ioctls a family decodes
//! it hands the call here, and the family charges and runs it:
//!
//! - DRM ([`drm`]): the GEM table's ioctls run on a kernel copy of their
//!   argument and are charged per GEM object for the object's whole life
//!   (`gem.rs`); command submissions are admitted against the compute share.
//! - Ioctl tables ([`table`]): drivers whose ioctls read user memory
//!   themselves (NVIDIA-style, modelled by the simulated GPU), charged per
//!   handle from the backend's decoding table (`policy/decode.rs`).
//!
//! Each family is a [`Family`]; [`of`] picks a target's. The rules that need
//! no kernel (sizes charged, when an allocation may be undone, who pays,
//! when a charge ends) are in `policy/ledger.rs`, tested on the host.

mod drm;
mod table;

use kernel::{bindings, new_mutex, prelude::*, sync::Arc, sync::Mutex};

use crate::{
    ffi,
    gem::GemTable,
    meter::{Carried, FileMeter},
    real::{RealFile, Via},
    target::Target,
    tenant::Tenant,
};

use table::{Charges, TableFamily};

/// The accounting of one driver family.
pub(crate) trait Family {
    /// Whether this family looks inside the ioctl `cmd`: a few loads and
    /// compares, on the hot path; every other ioctl is forwarded untouched.
    fn decodes(&self, cmd: u32) -> bool;

    /// Charges and runs `io`, an ioctl this family [decodes](Family::decodes).
    fn account(&self, io: &Ioctl<'_>) -> isize;

    /// The proxy file whose accounting state is `book` has closed its real
    /// file: the charges only it held end (or pass to whatever keeps their
    /// buffers alive).
    fn closed(&self, target: &Target, tenant: &Arc<Tenant>, book: &Book);
}

/// The family of a target, dispatched statically (no indirect call on
/// the ioctl path).
pub(crate) enum Accounting<'a> {
    /// A DRM device's GEM table.
    Drm(&'a GemTable),
    /// A backend's decoding table (the simulated GPU; nothing for `generic`).
    Table(TableFamily),
}

/// The accounting family of `target`.
#[inline(always)]
pub(crate) fn of(target: &Target) -> Accounting<'_> {
    match target.gem() {
        Some(gem) => Accounting::Drm(gem),
        None => Accounting::Table(TableFamily::new(target.backend())),
    }
}

impl Family for Accounting<'_> {
    #[inline(always)]
    fn decodes(&self, cmd: u32) -> bool {
        match self {
            Accounting::Drm(gem) => gem.decodes(cmd),
            Accounting::Table(t) => t.decodes(cmd),
        }
    }

    fn account(&self, io: &Ioctl<'_>) -> isize {
        match self {
            Accounting::Drm(gem) => gem.account(io),
            Accounting::Table(t) => t.account(io),
        }
    }

    fn closed(&self, target: &Target, tenant: &Arc<Tenant>, book: &Book) {
        match self {
            Accounting::Drm(gem) => gem.closed(target, tenant, book),
            Accounting::Table(t) => t.closed(target, tenant, book),
        }
    }
}

/// The accounting state of one proxy file.
#[pin_data]
pub(crate) struct Book {
    /// The device time of the file, charged to its tenant as it grows.
    #[pin]
    meter: FileMeter,
    /// The charges of the file's handles (ioctl-table family; a DRM
    /// file's charges belong to its device's GEM table). Held across a
    /// decoded allocation or free and the driver's answer, so that the
    /// driver's handles and the charges never disagree; on DRM, across a
    /// decoded GEM ioctl until its object is charged.
    #[pin]
    charges: Mutex<Charges>,
}

impl Book {
    /// The book of a proxy file whose real file is `real`.
    ///
    /// # Safety
    ///
    /// `real` stays open while the book is used: the owner calls
    /// [`Book::detach`] before it closes `real`, and [`Family::closed`] after.
    pub(crate) unsafe fn new(real: &RealFile) -> impl PinInit<Self> {
        // SAFETY: by the safety requirements.
        let meter = unsafe { FileMeter::new(real) };
        pin_init!(Book {
            meter <- meter,
            charges <- new_mutex!(Charges::default()),
        })
    }

    /// The last reading of the file's device time, before its real file
    /// closes.
    pub(crate) fn detach(&self, tenant: &Tenant) -> Option<Carried> {
        self.meter.detach(tenant)
    }
}

/// One intercepted ioctl, as a family sees it.
///
/// # Invariants
///
/// Made and used only inside the ioctl it describes, in the caller's
/// process context: `file` is the proxy's open file for its whole life.
pub(crate) struct Ioctl<'a> {
    pub(crate) real: &'a RealFile,
    pub(crate) target: &'a Target,
    pub(crate) tenant: &'a Arc<Tenant>,
    pub(crate) book: &'a Book,
    file: *mut bindings::file,
    pub(crate) via: Via,
    pub(crate) cmd: u32,
    pub(crate) arg: usize,
}

impl<'a> Ioctl<'a> {
    /// The ioctl `cmd` with `arg` that came in `via` on the proxy `file`.
    ///
    /// # Safety
    ///
    /// Called inside that ioctl, on the proxy's open `file`; the result does
    /// not outlive the call.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) unsafe fn new(
        real: &'a RealFile,
        target: &'a Target,
        tenant: &'a Arc<Tenant>,
        book: &'a Book,
        file: *mut bindings::file,
        via: Via,
        cmd: u32,
        arg: usize,
    ) -> Self {
        // INVARIANT: by the safety requirements.
        Ioctl {
            real,
            target,
            tenant,
            book,
            file,
            via,
            cmd,
            arg,
        }
    }

    /// Runs the ioctl in the real driver as it came in.
    #[inline]
    pub(crate) fn forward(&self) -> isize {
        self.real.forward(self.via, self.cmd, self.arg)
    }

    /// Admits a command submission against the tenant's compute share (the
    /// device time the driver measured), waiting while the tenant is in
    /// debt, or `EAGAIN` if the proxy file is nonblocking.
    pub(crate) fn admit_submission(&self) -> Result {
        // SAFETY: `file` is the proxy's open file (type invariants).
        let nonblock = unsafe { ffi::mockgpu_nonblock(self.file) };
        self.book.meter.admit(self.tenant, nonblock)
    }

    /// Admits a submission, then forwards it.
    pub(crate) fn submit(&self) -> isize {
        match self.admit_submission() {
            Ok(()) => self.forward(),
            Err(e) => e.to_errno() as isize,
        }
    }
}
