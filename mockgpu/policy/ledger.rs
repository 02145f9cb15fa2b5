// SPDX-License-Identifier: GPL-2.0

//! The accounting rules that need no kernel: what a buffer is charged,
//! when a refused allocation may be undone, who pays for a shared buffer,
//! and when a charge ends. `mockgpu/account/` applies them.

/// The size charged for a new buffer: never less than what was reserved
/// before the driver ran (read from the request), than the size the driver
/// answered (when readable), or than the growth of the driver's own count
/// of the context's memory; whatever user memory says afterwards.
pub fn charged_size(reserved: u64, answered: Option<u64>, driver_grew: u64) -> u64 {
    answered.unwrap_or(0).max(reserved).max(driver_grew)
}

/// Whether a buffer whose charge the tenant's limit refused may be freed
/// again through the driver (then the allocation fails with `EDQUOT` as if
/// the driver had never run). Only if the handle answered cannot name
/// another buffer of the file: not one already charged (`tracked`), not
/// while some charge has no known handle (`untracked_charges`: an answer
/// that could not be read, which may be any handle), and only on a backend
/// whose every handle-creating ioctl mockgpu decodes (else a handle
/// mockgpu never saw may be the one answered). Otherwise the buffer stays,
/// charged past the limit.
pub fn may_undo(tracked: bool, untracked_charges: bool, decodes_every_handle: bool) -> bool {
    !tracked && !untracked_charges && decodes_every_handle
}

/// Whether an undo (a free of the new handle, sent through user memory)
/// freed the new buffer, by the driver's own count of the context's memory
/// before the allocation and after the undo: the context must hold no more
/// than before. Without that count (`None`) the undo is taken as done.
pub fn undo_held(before: Option<u64>, after: Option<u64>) -> bool {
    match (before, after) {
        (Some(b), Some(a)) => a <= b,
        _ => true,
    }
}

/// Who pays for a buffer a tenant brings into view.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Payer {
    /// The tenant that brings it in: it creates it, or imports one nobody
    /// is charged for.
    Caller,
    /// Nobody more: the tenant already charged pays until the buffer dies,
    /// whoever holds it later; a tenant never pays twice for one buffer.
    AlreadyCharged,
}

/// The payer of a buffer, by whether any tenant is already charged for it.
pub fn payer(already_charged: bool) -> Payer {
    if already_charged {
        Payer::AlreadyCharged
    } else {
        Payer::Caller
    }
}

/// What happens to a charge when the last handle of its tenant goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Release {
    /// The buffer is dead, or this charge pays for nothing: it ends now.
    Now,
    /// The buffer lives on (a mapping, an export, a job, another tenant's
    /// handle keeps it): the charge stays until it dies.
    WhenDead,
}

/// When a charge ends whose handle is gone, by whether the buffer is alive
/// and whether this charge is the one paying for it. Who pays: the tenant
/// that brought the buffer in (created it, or imported one nobody paid
/// for) pays until it dies, whoever holds it later; a tenant that imports
/// a buffer someone pays for pays nothing. So no live buffer is unpaid,
/// none is paid twice, and freeing a handle never moves the cost to
/// another tenant.
pub fn release(alive: bool, pays: bool) -> Release {
    if alive && pays {
        Release::WhenDead
    } else {
        Release::Now
    }
}

/// Whether an object mockgpu holds a reference on is dead to everyone
/// else: only mockgpu's own reference is left (`refs` is the object's
/// reference count).
pub fn only_ours(refs: u32) -> bool {
    refs == 1
}
