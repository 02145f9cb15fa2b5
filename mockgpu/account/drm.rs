// SPDX-License-Identifier: GPL-2.0

//! The DRM family: GEM objects charged for their whole life (`gem.rs`),
//! command submissions admitted against the compute share.

use kernel::sync::Arc;

use super::{Book, Family, Ioctl};
use crate::{gem, gem::GemTable, policy::decode, target::Target, tenant::Tenant};

impl Family for GemTable {
    #[inline(always)]
    fn decodes(&self, cmd: u32) -> bool {
        decode::drm_gem_op(self.driver(), cmd).is_some() || decode::drm_submits(self.driver(), cmd)
    }

    fn account(&self, io: &Ioctl<'_>) -> isize {
        match decode::drm_gem_op(self.driver(), io.cmd) {
            Some(op) => gem_ioctl(self, io, op),
            None => io.submit(),
        }
    }

    fn closed(&self, _target: &Target, _tenant: &Arc<Tenant>, _book: &Book) {
        // The objects of the closed context are dead unless a mapping or an
        // export keeps them.
        self.file_closed();
    }
}

/// A DRM ioctl that creates, brings in or closes GEM handles: run on a
/// kernel copy of its argument and charged per object. Else a command
/// submission: admitted, then forwarded as is.
fn gem_ioctl(gem: &GemTable, io: &Ioctl<'_>, op: decode::GemOp) -> isize {
    // One at a time per file, from before the driver runs until the object
    // is charged: else another thread could close a new handle (guessed:
    // handles are the lowest free numbers) after exporting or mapping it,
    // before mockgpu looks the object up, and leave it alive and unpaid.
    // Every ioctl that deletes a handle is decoded, so none slips between.
    let _one_at_a_time = io.book.charges.lock();
    let call = gem::Call {
        real: io.real,
        dmem: io.target.dmem(),
        tenant: io.tenant,
        cmd: io.cmd,
        arg: io.arg,
    };
    gem.ioctl(&call, op, || io.forward())
}
