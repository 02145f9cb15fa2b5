// SPDX-License-Identifier: GPL-2.0

//! Decoding tables: what each ioctl of a backend does to a tenant's device
//! memory and compute, keyed by ioctl number (the full command for the
//! simulated GPU, `_IOC_NR` for DRM, as each driver dispatches). An ioctl the table does not know
//! is [`Effect::None`] and follows the target's ioctl policy.
//!
//! The kernel side asks [`Effect`] what a decoded ioctl charges, reads the
//! fields it names from the caller's argument (through [`ArgRead`]: one
//! `get_user` each in the kernel, a byte slice in the host tests), and
//! records the handles the driver returns.

use core::mem::offset_of;

use super::abi::{drm, ioc_size, realgpu};
use super::backend::Backend;

/// The longest argument prefix a decoder reads.
pub const ARG_MAX: usize = 64;
/// Page size used to round estimated sizes.
pub const PAGE_SIZE: u64 = 4096;

/// Where an allocation's size comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SizeSource {
    /// A `u64` at this offset of the argument (rounded up to pages).
    U64At(usize),
    /// A DRM dumb buffer: `width * ceil(bpp / 8) * height`, page-rounded.
    Dumb,
    /// virtio-gpu's `RESOURCE_CREATE`: its guest backing (`size`, one page
    /// if 0) or the host's copy of the resource (width x height x 4 bytes a
    /// pixel, x depth x array size: QEMU's 2D image, counted against its
    /// `max_hostmem`), whichever is larger, page-rounded; saturating.
    VirtgpuResource,
}

impl SizeSource {
    /// Whether the estimate is also the least a creation is charged: the
    /// memory the device holds beyond the object it answers with (the
    /// host's copy of a virtio-gpu resource).
    pub fn is_floor(self) -> bool {
        matches!(self, SizeSource::VirtgpuResource)
    }
}

/// How to release a handle again: the backend's free ioctl and where its
/// argument takes the handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FreeCmd {
    /// The ioctl number.
    pub cmd: u32,
    /// Offset of the `u32` handle in its argument.
    pub handle_at: usize,
    /// Size of its argument.
    pub size: usize,
}

/// What an ioctl does to device memory or compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing mockgpu accounts.
    None,
    /// Allocates: reserve the size before the driver runs; on success the
    /// driver wrote the handle (`u32`), the real size (`u64`) and, if the
    /// backend has them, a device-wide buffer id (`u64`).
    Alloc {
        /// Where the size comes from.
        size: SizeSource,
        /// Output: the handle.
        handle_at: usize,
        /// Output: the driver's size.
        size_out_at: usize,
        /// Output: the buffer id, if any.
        id_at: Option<usize>,
        /// How to undo it.
        free: FreeCmd,
    },
    /// Imports a shared buffer: charged after the driver answers (by its
    /// size), unless the tenant already holds that buffer id.
    Import {
        /// Output: the handle.
        handle_at: usize,
        /// Output: the size.
        size_out_at: usize,
        /// Output: the buffer id.
        id_at: usize,
        /// How to undo it.
        free: FreeCmd,
    },
    /// Frees the handle (`u32`) at this offset.
    Free {
        /// The handle's offset.
        handle_at: usize,
    },
    /// Submits a job whose declared cost in µs is the `u64` at this offset.
    Submit {
        /// The cost's offset.
        cost_at: usize,
    },
}

const REALGPU_FREE: FreeCmd = FreeCmd {
    cmd: realgpu::IOCTL_FREE,
    handle_at: offset_of!(realgpu::Free, handle),
    size: core::mem::size_of::<realgpu::Free>(),
};

/// The simulated GPU's decoding table: every command it accounts, whole
/// (its driver dispatches on the full command), and how.
const REALGPU_TABLE: &[(u32, Effect)] = &[
    (
        realgpu::IOCTL_ALLOC,
        Effect::Alloc {
            size: SizeSource::U64At(offset_of!(realgpu::Alloc, size)),
            handle_at: offset_of!(realgpu::Alloc, handle),
            size_out_at: offset_of!(realgpu::Alloc, size),
            id_at: Some(offset_of!(realgpu::Alloc, buf_id)),
            free: REALGPU_FREE,
        },
    ),
    (
        realgpu::IOCTL_IMPORT,
        Effect::Import {
            handle_at: offset_of!(realgpu::Import, handle),
            size_out_at: offset_of!(realgpu::Import, size),
            id_at: offset_of!(realgpu::Import, buf_id),
            free: REALGPU_FREE,
        },
    ),
    (
        realgpu::IOCTL_FREE,
        Effect::Free {
            handle_at: offset_of!(realgpu::Free, handle),
        },
    ),
    (
        realgpu::IOCTL_SUBMIT,
        Effect::Submit {
            cost_at: offset_of!(realgpu::Submit, cost_us),
        },
    ),
];

/// The decoding table of a backend (DRM's GEM ioctls are [`gem_op`]'s).
fn table(backend: Backend) -> &'static [(u32, Effect)] {
    match backend {
        Backend::RealGpu => REALGPU_TABLE,
        Backend::Generic | Backend::Drm => &[],
    }
}

/// What `cmd` does on `backend`, by its decoding table.
#[inline]
pub fn effect(backend: Backend, cmd: u32) -> Effect {
    table(backend)
        .iter()
        .find(|(c, _)| *c == cmd)
        .map_or(Effect::None, |(_, e)| *e)
}

/// The DRM driver behind a target, for its own (driver-specific) ioctls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DrmDriver {
    /// A driver whose own ioctls mockgpu does not decode (vgem's create
    /// nothing and submit nothing).
    Other,
    /// `virtio_gpu`.
    VirtioGpu,
    /// `amdgpu`.
    Amdgpu,
    /// `i915`.
    I915,
    /// `msm`.
    Msm,
    /// `panfrost`.
    Panfrost,
    /// `v3d`.
    V3d,
    /// `etnaviv`.
    Etnaviv,
    /// `lima`.
    Lima,
    /// `nouveau`.
    Nouveau,
}

impl DrmDriver {
    /// The driver of a DRM device by its name (`drm_driver.name`).
    pub fn from_name(name: &[u8]) -> Self {
        match name {
            b"virtio_gpu" => DrmDriver::VirtioGpu,
            b"amdgpu" => DrmDriver::Amdgpu,
            b"i915" => DrmDriver::I915,
            b"msm" => DrmDriver::Msm,
            b"panfrost" => DrmDriver::Panfrost,
            b"v3d" => DrmDriver::V3d,
            b"etnaviv" => DrmDriver::Etnaviv,
            b"lima" => DrmDriver::Lima,
            b"nouveau" => DrmDriver::Nouveau,
            _ => DrmDriver::Other,
        }
    }
}

/// Whether DRM ioctl `cmd` submits work to the device on `driver` (its
/// command-submission ioctls, from the drivers' uapi headers): a
/// submission is admitted against the tenant's compute share, measured
/// from the driver's fdinfo engine time. By number, as `drm_ioctl`
/// dispatches. xe is absent: it reports engine cycles, not time.
#[inline]
pub fn drm_submits(driver: DrmDriver, cmd: u32) -> bool {
    use DrmDriver::*;
    if (cmd >> 8) & 0xff != drm::BASE {
        return false;
    }
    let Some(nr) = (cmd & 0xff).checked_sub(drm::COMMAND_BASE) else {
        return false;
    };
    // The numbers are `DRM_AMDGPU_CS`, `DRM_I915_GEM_EXECBUFFER2` (and
    // `_WR`), `DRM_MSM_GEM_SUBMIT`, `DRM_PANFROST_SUBMIT`,
    // `DRM_V3D_SUBMIT_CL` and `_CSD`, `DRM_ETNAVIV_GEM_SUBMIT`,
    // `DRM_LIMA_GEM_SUBMIT`, `DRM_NOUVEAU_EXEC`, `DRM_VIRTGPU_EXECBUFFER`.
    matches!(
        (driver, nr),
        (Amdgpu, 0x04)
            | (I915, 0x29)
            | (Msm, 0x06)
            | (Panfrost, 0x00)
            | (V3d, 0x00 | 0x07)
            | (Etnaviv, 0x06)
            | (Lima, 0x03)
            | (Nouveau, 0x12)
            | (VirtioGpu, 0x02)
    )
}

/// What a DRM ioctl does to GEM objects. `drm_ioctl` dispatches on the
/// number alone (`_IOC_NR`), whatever size and direction the command
/// encodes, so this table is keyed by number too: every encoding that
/// reaches a handler is decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemOp {
    /// Creates an object of about `size` (checked against the limit before
    /// the driver runs; the object's own size is charged after) and writes
    /// its handle at `handle_at`.
    Create {
        /// Where the requested size comes from.
        size: SizeSource,
        /// Output: the new handle.
        handle_at: usize,
    },
    /// Gives the file a handle (at `handle_at`) of an object that exists
    /// already: a PRIME import or a flink name opened.
    Import {
        /// Output: the handle.
        handle_at: usize,
    },
    /// Deletes the handle at `handle_at`.
    Close {
        /// Input: the handle.
        handle_at: usize,
    },
}

/// The GEM table: what ioctl number `nr` does on a device of `driver`.
#[inline]
pub fn gem_op(driver: DrmDriver, nr: u32) -> Option<GemOp> {
    use drm::*;
    let op = match nr {
        NR_GEM_CLOSE => GemOp::Close {
            handle_at: offset_of!(GemClose, handle),
        },
        NR_GEM_OPEN => GemOp::Import {
            handle_at: offset_of!(GemOpen, handle),
        },
        NR_PRIME_FD_TO_HANDLE => GemOp::Import {
            handle_at: offset_of!(PrimeHandle, handle),
        },
        NR_MODE_CREATE_DUMB => GemOp::Create {
            size: SizeSource::Dumb,
            handle_at: offset_of!(CreateDumb, handle),
        },
        NR_MODE_DESTROY_DUMB => GemOp::Close {
            handle_at: offset_of!(DestroyDumb, handle),
        },
        NR_VIRTGPU_RESOURCE_CREATE if driver == DrmDriver::VirtioGpu => GemOp::Create {
            size: SizeSource::VirtgpuResource,
            handle_at: offset_of!(VirtgpuResourceCreate, bo_handle),
        },
        NR_VIRTGPU_RESOURCE_CREATE_BLOB if driver == DrmDriver::VirtioGpu => GemOp::Create {
            size: SizeSource::U64At(offset_of!(VirtgpuResourceCreateBlob, size)),
            handle_at: offset_of!(VirtgpuResourceCreateBlob, bo_handle),
        },
        _ => return None,
    };
    Some(op)
}

/// What DRM ioctl `cmd` does to GEM objects on a device of `driver`: any
/// command of type 'd' whose number the GEM table decodes.
#[inline]
pub fn drm_gem_op(driver: DrmDriver, cmd: u32) -> Option<GemOp> {
    if (cmd >> 8) & 0xff != drm::BASE {
        return None;
    }
    gem_op(driver, cmd & 0xff)
}

/// Whether mockgpu must look inside `cmd`'s argument on `backend` (an
/// accounted ioctl, or a device fd to translate). Everything else is
/// forwarded untouched, on the hot path.
#[inline]
pub fn intercepts(backend: Backend, cmd: u32) -> bool {
    backend.device_fd_arg(cmd).is_some() || !matches!(effect(backend, cmd), Effect::None)
}

/// Whether [`intercepts`] may select a command of `backend` numbered `nr`:
/// a superset by number, for the hot path's screen (`screen.rs`), read
/// from the same tables as [`effect`] and [`Backend::device_fd_arg`].
pub fn table_may_decode_nr(backend: Backend, nr: u8) -> bool {
    let nr = u32::from(nr);
    table(backend).iter().any(|(cmd, _)| cmd & 0xff == nr)
        || backend.device_fd_cmds().any(|cmd| cmd & 0xff == nr)
}

/// Whether a command numbered `nr` may be a GEM ioctl ([`drm_gem_op`]) or
/// a submission ([`drm_submits`]) on a device of `driver`: both decode DRM
/// commands by number, so this is exact for type 'd'.
pub fn drm_may_decode_nr(driver: DrmDriver, nr: u8) -> bool {
    let cmd = (drm::BASE << 8) | u32::from(nr);
    drm_gem_op(driver, cmd).is_some() || drm_submits(driver, cmd)
}

/// Whether mockgpu may decode a command numbered `nr` on a target of
/// `backend`, with `drm` the driver of its DRM device when it has a GEM
/// table (then the DRM family decodes, else the backend's table): the
/// hot path's screen is built from it.
pub fn may_decode_nr(backend: Backend, drm: Option<DrmDriver>, nr: u8) -> bool {
    match drm {
        Some(driver) => drm_may_decode_nr(driver, nr),
        None => table_may_decode_nr(backend, nr),
    }
}

/// The bytes of the argument a decoder needs: the ioctl's encoded size,
/// at most [`ARG_MAX`].
pub fn arg_len(cmd: u32) -> usize {
    ioc_size(cmd).min(ARG_MAX)
}

/// Reads a `u32` at `at` of `arg` (native endian), if in bounds.
pub fn read_u32(arg: &[u8], at: usize) -> Option<u32> {
    let b = arg.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a `u64` at `at` of `arg` (native endian), if in bounds.
pub fn read_u64(arg: &[u8], at: usize) -> Option<u64> {
    let b = arg.get(at..at.checked_add(8)?)?;
    let mut v = [0u8; 8];
    v.copy_from_slice(b);
    Some(u64::from_ne_bytes(v))
}

/// Rounds up to whole pages; `None` on overflow.
pub fn page_align(size: u64) -> Option<u64> {
    size.checked_add(PAGE_SIZE - 1)
        .map(|s| s & !(PAGE_SIZE - 1))
}

/// An ioctl argument the decoders read fields of: a byte copy (as in the
/// host tests) or, in the kernel, the caller's memory read field by field.
pub trait ArgRead {
    /// The `u32` at byte `at` (native endian), if readable.
    fn u32_at(&self, at: usize) -> Option<u32>;
    /// The `u64` at byte `at` (native endian), if readable.
    fn u64_at(&self, at: usize) -> Option<u64>;
}

impl ArgRead for [u8] {
    fn u32_at(&self, at: usize) -> Option<u32> {
        read_u32(self, at)
    }

    fn u64_at(&self, at: usize) -> Option<u64> {
        read_u64(self, at)
    }
}

/// The size to reserve for an allocation before the driver runs, from the
/// fields of `arg` that `source` names: `None` if a field cannot be read or
/// the size overflows (the caller answers `EFAULT` or `EINVAL`). A zero size
/// reserves nothing (the driver refuses it itself).
pub fn reserve_size<A: ArgRead + ?Sized>(source: SizeSource, arg: &A) -> Option<u64> {
    match source {
        SizeSource::U64At(at) => page_align(arg.u64_at(at)?),
        SizeSource::VirtgpuResource => {
            let field = |at: usize| arg.u32_at(at).map(u64::from);
            let backing = match field(offset_of!(drm::VirtgpuResourceCreate, size))? {
                0 => PAGE_SIZE,
                n => page_align(n)?,
            };
            let host = field(offset_of!(drm::VirtgpuResourceCreate, width))?
                .saturating_mul(field(offset_of!(drm::VirtgpuResourceCreate, height))?)
                .saturating_mul(4)
                .saturating_mul(field(offset_of!(drm::VirtgpuResourceCreate, depth))?.max(1))
                .saturating_mul(field(offset_of!(drm::VirtgpuResourceCreate, array_size))?.max(1));
            Some(backing.max(page_align(host).unwrap_or(u64::MAX)))
        }
        SizeSource::Dumb => {
            let at_h = offset_of!(drm::CreateDumb, height);
            let at_w = offset_of!(drm::CreateDumb, width);
            let at_bpp = offset_of!(drm::CreateDumb, bpp);
            let cpp = u64::from(arg.u32_at(at_bpp)?).div_ceil(8);
            let pitch = u64::from(arg.u32_at(at_w)?).checked_mul(cpp)?;
            page_align(pitch.checked_mul(u64::from(arg.u32_at(at_h)?))?)
        }
    }
}
