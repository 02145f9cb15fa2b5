// SPDX-License-Identifier: GPL-2.0

//! The ioctl hot path's one look: a byte per ioctl number (`_IOC_NR`).
//!
//! Most ioctls a program makes are neither decoded nor refused: they must
//! reach the driver with nothing but a few loads in the way (the bar is 5%
//! of a direct ioctl, about 17 instructions of the simulated GPU's 350). A
//! [`Screen`] answers "forward untouched?" with one byte load: the byte of
//! `cmd`'s number is zero unless some command with that number may be
//! decoded by the target's driver family, or an allowlist is in force (then
//! every byte is nonzero). A nonzero byte only sends the call to the full
//! checks, which decide by the whole command: the screen may over-select,
//! never under-select (tested on the host against the decoders).

use core::sync::atomic::{AtomicU8, Ordering};

/// The byte's bit: a command with this number may be decoded.
const DECODED: u8 = 1 << 0;
/// The byte's bit: an allowlist is in force; every command is checked.
const LISTED: u8 = 1 << 1;

/// One byte per ioctl number.
///
/// # Invariants
///
/// The byte of `nr` has [`DECODED`] set iff the `may_decode` the screen was
/// made with is true of `nr`; [`LISTED`] is set or cleared in every byte by
/// [`Screen::set_listed`] alone. (What a target's screen must select, the
/// numbers its family decodes and every number under an allowlist, is the
/// target's invariant: `target.rs`.)
#[derive(Debug)]
pub struct Screen {
    by_nr: [AtomicU8; 256],
}

impl Screen {
    /// The screen of a family that may decode commands numbered `nr` when
    /// `may_decode(nr)`, with no allowlist in force.
    pub fn new(may_decode: impl Fn(u8) -> bool) -> Self {
        // INVARIANT: DECODED exactly where `may_decode` says; LISTED nowhere.
        Screen {
            by_nr: core::array::from_fn(|nr| {
                AtomicU8::new(if may_decode(nr as u8) { DECODED } else { 0 })
            }),
        }
    }

    /// Whether `cmd` goes to the driver untouched: neither decoded nor
    /// subject to an allowlist.
    #[inline(always)]
    pub fn passes(&self, cmd: u32) -> bool {
        // Relaxed: the byte only selects which checks run; the checks read
        // the policy with their own ordering.
        self.by_nr[(cmd & 0xff) as usize].load(Ordering::Relaxed) == 0
    }

    /// Every command is checked against the allowlist (`on`), or only the
    /// decoded ones again. Callers serialize updates, and order them with
    /// the policy's: set before an allowlist is put in force, cleared after
    /// it is lifted. Relaxed: the policy's own release store, which comes
    /// after the setting, publishes it to any call that saw the new policy.
    pub fn set_listed(&self, on: bool) {
        for b in &self.by_nr {
            if on {
                b.fetch_or(LISTED, Ordering::Relaxed);
            } else {
                b.fetch_and(!LISTED, Ordering::Relaxed);
            }
        }
    }
}
