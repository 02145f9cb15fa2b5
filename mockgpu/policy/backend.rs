// SPDX-License-Identifier: GPL-2.0

//! Which driver a target proxies, and what of its ioctl ABI mockgpu must
//! understand to forward it faithfully.

use super::abi::{drm, realgpu};

/// The kind of driver behind a target, detected when the target is set up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A driver mockgpu knows nothing about: every ioctl is forwarded as is.
    Generic,
    /// The simulated GPU of `tests/realgpu` (`uapi/realgpu.h`).
    RealGpu,
    /// A DRM device (`/dev/dri/*`).
    Drm,
}

impl Backend {
    /// Detects the backend from the real driver's module name and the real
    /// node's char device major.
    pub fn detect(module_name: &[u8], major: u32) -> Self {
        if module_name == b"realgpu" {
            Backend::RealGpu
        } else if major == drm::MAJOR {
            Backend::Drm
        } else {
            Backend::Generic
        }
    }

    /// A short name for logs and status.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Generic => "generic",
            Backend::RealGpu => "realgpu",
            Backend::Drm => "drm",
        }
    }

    /// Whether every ioctl of the backend that creates a handle is decoded,
    /// so that a handle mockgpu has no charge for cannot be a live buffer
    /// of the file (then a refused allocation may be undone by its handle).
    /// DRM has undecoded ones (PRIME imports, GEM_OPEN, driver-specific
    /// creates).
    pub fn decodes_every_handle(self) -> bool {
        matches!(self, Backend::RealGpu)
    }

    /// If the argument of `cmd` carries an fd that the driver requires to be
    /// a file of its own device (as NVIDIA checks the major of passed fds),
    /// the byte offset of that `i32` in the argument. mockgpu replaces a proxy
    /// fd there by a temporary fd of the real file for the call.
    pub fn device_fd_arg(self, cmd: u32) -> Option<usize> {
        DEVICE_FD_ARGS
            .iter()
            .find(|&&(b, c, _)| b == self && c == cmd)
            .map(|&(_, _, at)| at)
    }

    /// The commands whose argument carries a device fd ([`Backend::device_fd_arg`]).
    pub fn device_fd_cmds(self) -> impl Iterator<Item = u32> {
        DEVICE_FD_ARGS
            .iter()
            .filter(move |&&(b, _, _)| b == self)
            .map(|&(_, c, _)| c)
    }
}

/// The commands whose argument carries a device fd, by backend, with the
/// fd's offset in the argument.
const DEVICE_FD_ARGS: &[(Backend, u32, usize)] = &[(
    Backend::RealGpu,
    realgpu::IOCTL_ATTACH_PEER,
    core::mem::offset_of!(realgpu::AttachPeer, fd),
)];
