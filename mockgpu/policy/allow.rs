// SPDX-License-Identifier: GPL-2.0

//! A target's ioctl policy: forward every ioctl, or only an allowlist.
//!
//! Read on every ioctl without a lock: a few atomic loads when the policy
//! allows all, a scan of at most [`POLICY_MAX`] numbers otherwise. Updates
//! (serialized by the caller) never let an ioctl through that neither the old
//! nor the new policy allows: a list is emptied before it is rewritten.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use super::abi::control::POLICY_MAX;

/// Why a policy update is refused (`EINVAL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPolicy;

/// The ioctls a target forwards.
#[derive(Debug)]
pub struct IoctlPolicy {
    allowlist: AtomicBool,
    count: AtomicU32,
    cmds: [AtomicU32; POLICY_MAX],
}

impl Default for IoctlPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl IoctlPolicy {
    /// Forward everything.
    pub const fn new() -> Self {
        IoctlPolicy {
            allowlist: AtomicBool::new(false),
            count: AtomicU32::new(0),
            cmds: [const { AtomicU32::new(0) }; POLICY_MAX],
        }
    }

    /// Whether `cmd` may be forwarded.
    #[inline]
    pub fn allows(&self, cmd: u32) -> bool {
        !self.allowlist.load(Ordering::Acquire) || self.listed(cmd)
    }

    /// Whether `cmd` is on the allowlist (out of line: the common policy is
    /// to allow everything).
    #[inline(never)]
    fn listed(&self, cmd: u32) -> bool {
        let n = (self.count.load(Ordering::Acquire) as usize).min(POLICY_MAX);
        self.cmds[..n]
            .iter()
            .any(|c| c.load(Ordering::Relaxed) == cmd)
    }

    /// Whether an allowlist is in force, and its length.
    pub fn describe(&self) -> Option<usize> {
        self.allowlist
            .load(Ordering::Acquire)
            .then(|| self.count.load(Ordering::Acquire) as usize)
    }

    /// Allows everything again.
    pub fn allow_all(&self) {
        self.allowlist.store(false, Ordering::Release);
    }

    /// Forwards only `cmds`. Callers serialize updates.
    pub fn set_allowlist(&self, cmds: &[u32]) -> Result<(), BadPolicy> {
        if cmds.len() > POLICY_MAX {
            return Err(BadPolicy);
        }
        // Empty the list first: while it is rewritten nothing extra passes.
        self.count.store(0, Ordering::Release);
        self.allowlist.store(true, Ordering::Release);
        for (slot, &cmd) in self.cmds.iter().zip(cmds) {
            slot.store(cmd, Ordering::Relaxed);
        }
        self.count.store(cmds.len() as u32, Ordering::Release);
        Ok(())
    }
}
