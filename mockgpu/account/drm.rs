// SPDX-License-Identifier: GPL-2.0

//! The DRM family: GEM objects charged for their whole life (`gem.rs`),
//! command submissions admitted against the compute share.

use kernel::sync::Arc;

use super::{Book, Family, Ioctl};
use crate::{gem, gem::GemTable, policy::decode, target::Target, tenant::Tenant};

impl Family for GemTable {
    #[inline(always)]
    fn account(&self, io: &Ioctl<'_>) -> Option<isize> {
        if let Some(op) = decode::drm_gem_op(self.driver(), io.cmd) {
            return Some(gem_ioctl(self, io, op));
        }
        if decode::drm_submits(self.driver(), io.cmd) {
            return Some(submit(io));
        }
        None
    }

    fn closed(&self, _target: &Target, _tenant: &Arc<Tenant>, _book: &Book) {
        // The objects of the closed context are dead unless a mapping or an
        // export keeps them.
        self.file_closed();
    }
}

/// A DRM ioctl that creates, brings in or closes GEM handles: run on a
/// kernel copy of its argument and charged per object.
#[inline(never)]
fn gem_ioctl(gem: &GemTable, io: &Ioctl<'_>, op: decode::GemOp) -> isize {
    let call = gem::Call {
        real: io.real,
        dmem: io.target.dmem(),
        tenant: io.tenant,
        cmd: io.cmd,
        arg: io.arg,
    };
    gem.ioctl(&call, op, || io.forward())
}

/// A DRM driver's command submission: admitted, then forwarded as is.
#[inline(never)]
fn submit(io: &Ioctl<'_>) -> isize {
    io.submit()
}
