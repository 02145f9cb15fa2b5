// SPDX-License-Identifier: GPL-2.0

//! The parts of the backends' ioctl ABIs that mockgpu decodes, mirrored from
//! `uapi/realgpu.h` (the simulated GPU) and the kernel's `drm.h`/`drm_mode.h`.
//! The host crate checks these layouts against the C headers.

/// `_IOC_WRITE`: user space writes the argument (x86 encoding).
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: user space reads the argument back.
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, ty, nr, size)`, as `include/uapi/asm-generic/ioctl.h` encodes it.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (ty << 8) | nr
}

/// The argument size an ioctl number encodes.
pub const fn ioc_size(cmd: u32) -> usize {
    ((cmd >> 16) & 0x3fff) as usize
}

/// The simulated GPU, `uapi/realgpu.h`.
pub mod realgpu {
    use super::{ioc, IOC_READ, IOC_WRITE};

    /// `REALGPU_IOC_MAGIC`.
    pub const MAGIC: u32 = 0xB7;

    /// `struct realgpu_alloc`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Alloc {
        /// In: bytes; out: rounded up to pages.
        pub size: u64,
        /// Out: per-context handle.
        pub handle: u32,
        /// Zero.
        pub pad: u32,
        /// Out: the mmap offset.
        pub mmap_offset: u64,
        /// Out: device-wide buffer id.
        pub buf_id: u64,
    }

    /// `struct realgpu_free`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Free {
        /// The handle to drop.
        pub handle: u32,
        /// Zero.
        pub pad: u32,
    }

    /// `struct realgpu_submit`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Submit {
        /// `enum realgpu_op`.
        pub op: u32,
        /// Source handle or 0.
        pub src: u32,
        /// Destination handle or 0.
        pub dst: u32,
        /// Zero.
        pub flags: u32,
        /// FILL byte.
        pub value: u64,
        /// Declared cost in microseconds.
        pub cost_us: u64,
        /// Out: the fence.
        pub fence: u64,
    }

    /// `struct realgpu_import`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Import {
        /// In: an fd from EXPORT.
        pub fd: i32,
        /// Out: the new handle.
        pub handle: u32,
        /// Out: the buffer's size.
        pub size: u64,
        /// Out: the mmap offset.
        pub mmap_offset: u64,
        /// Out: the device-wide buffer id.
        pub buf_id: u64,
    }

    /// `struct realgpu_attach_peer`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct AttachPeer {
        /// An fd of `/dev/realgpu` itself.
        pub fd: i32,
        /// Zero.
        pub pad: u32,
        /// Out: the peer context's id.
        pub peer_ctx_id: u64,
    }

    /// `REALGPU_IOCTL_ALLOC`.
    pub const IOCTL_ALLOC: u32 = ioc(
        IOC_READ | IOC_WRITE,
        MAGIC,
        0x01,
        core::mem::size_of::<Alloc>(),
    );
    /// `REALGPU_IOCTL_FREE`.
    pub const IOCTL_FREE: u32 = ioc(IOC_WRITE, MAGIC, 0x02, core::mem::size_of::<Free>());
    /// `REALGPU_IOCTL_SUBMIT`.
    pub const IOCTL_SUBMIT: u32 = ioc(
        IOC_READ | IOC_WRITE,
        MAGIC,
        0x03,
        core::mem::size_of::<Submit>(),
    );
    /// `REALGPU_IOCTL_IMPORT`.
    pub const IOCTL_IMPORT: u32 = ioc(
        IOC_READ | IOC_WRITE,
        MAGIC,
        0x06,
        core::mem::size_of::<Import>(),
    );
    /// `REALGPU_IOCTL_ATTACH_PEER`.
    pub const IOCTL_ATTACH_PEER: u32 = ioc(
        IOC_READ | IOC_WRITE,
        MAGIC,
        0x07,
        core::mem::size_of::<AttachPeer>(),
    );
}

/// DRM, `include/uapi/drm/drm.h` and `drm_mode.h`.
pub mod drm {
    use super::{ioc, IOC_READ, IOC_WRITE};

    /// DRM's char device major.
    pub const MAJOR: u32 = 226;
    /// `DRM_IOCTL_BASE`.
    pub const BASE: u32 = b'd' as u32;

    /// `struct drm_mode_create_dumb`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct CreateDumb {
        /// In.
        pub height: u32,
        /// In.
        pub width: u32,
        /// In: bits per pixel.
        pub bpp: u32,
        /// In: zero.
        pub flags: u32,
        /// Out.
        pub handle: u32,
        /// Out.
        pub pitch: u32,
        /// Out: bytes.
        pub size: u64,
    }

    /// `struct drm_mode_destroy_dumb`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct DestroyDumb {
        /// The handle.
        pub handle: u32,
    }

    /// `struct drm_gem_close`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct GemClose {
        /// The handle.
        pub handle: u32,
        /// Zero.
        pub pad: u32,
    }

    /// `struct drm_gem_open`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct GemOpen {
        /// In: the flink name.
        pub name: u32,
        /// Out.
        pub handle: u32,
        /// Out: bytes.
        pub size: u64,
    }

    /// `struct drm_prime_handle`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct PrimeHandle {
        /// Out of FD_TO_HANDLE.
        pub handle: u32,
        /// Flags of HANDLE_TO_FD.
        pub flags: u32,
        /// In of FD_TO_HANDLE: a dma-buf fd.
        pub fd: i32,
    }

    /// `struct drm_virtgpu_resource_create` (`virtgpu_drm.h`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct VirtgpuResourceCreate {
        /// In.
        pub target: u32,
        /// In.
        pub format: u32,
        /// In.
        pub bind: u32,
        /// In.
        pub width: u32,
        /// In.
        pub height: u32,
        /// In.
        pub depth: u32,
        /// In.
        pub array_size: u32,
        /// In.
        pub last_level: u32,
        /// In.
        pub nr_samples: u32,
        /// In.
        pub flags: u32,
        /// Out: the GEM handle.
        pub bo_handle: u32,
        /// Out: the host resource.
        pub res_handle: u32,
        /// In: bytes of backing (a page if 0).
        pub size: u32,
        /// In.
        pub stride: u32,
    }

    /// `struct drm_virtgpu_resource_create_blob`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct VirtgpuResourceCreateBlob {
        /// In.
        pub blob_mem: u32,
        /// In.
        pub blob_flags: u32,
        /// Out: the GEM handle.
        pub bo_handle: u32,
        /// Out.
        pub res_handle: u32,
        /// In: bytes.
        pub size: u64,
        /// Zero.
        pub pad: u32,
        /// In.
        pub cmd_size: u32,
        /// In: a user pointer.
        pub cmd: u64,
        /// In.
        pub blob_id: u64,
        /// In.
        pub blob_hints: u32,
        /// Zero.
        pub pad2: u32,
    }

    /// `DRM_COMMAND_BASE`: the first driver-specific ioctl number.
    pub const COMMAND_BASE: u32 = 0x40;
    /// `_IOC_NR(DRM_IOCTL_GEM_CLOSE)`.
    pub const NR_GEM_CLOSE: u32 = 0x09;
    /// `_IOC_NR(DRM_IOCTL_MODE_CREATE_DUMB)`.
    pub const NR_MODE_CREATE_DUMB: u32 = 0xB2;
    /// `_IOC_NR(DRM_IOCTL_MODE_DESTROY_DUMB)`.
    pub const NR_MODE_DESTROY_DUMB: u32 = 0xB4;
    /// `_IOC_NR(DRM_IOCTL_GEM_OPEN)`.
    pub const NR_GEM_OPEN: u32 = 0x0B;
    /// `_IOC_NR(DRM_IOCTL_PRIME_FD_TO_HANDLE)`.
    pub const NR_PRIME_FD_TO_HANDLE: u32 = 0x2E;
    /// `DRM_COMMAND_BASE + DRM_VIRTGPU_RESOURCE_CREATE`.
    pub const NR_VIRTGPU_RESOURCE_CREATE: u32 = COMMAND_BASE + 0x04;
    /// `DRM_COMMAND_BASE + DRM_VIRTGPU_RESOURCE_CREATE_BLOB`.
    pub const NR_VIRTGPU_RESOURCE_CREATE_BLOB: u32 = COMMAND_BASE + 0x0A;

    /// `DRM_IOCTL_GEM_CLOSE`.
    pub const IOCTL_GEM_CLOSE: u32 = ioc(IOC_WRITE, BASE, 0x09, core::mem::size_of::<GemClose>());
    /// `DRM_IOCTL_MODE_CREATE_DUMB`.
    pub const IOCTL_MODE_CREATE_DUMB: u32 = ioc(
        IOC_READ | IOC_WRITE,
        BASE,
        0xB2,
        core::mem::size_of::<CreateDumb>(),
    );
    /// `DRM_IOCTL_MODE_DESTROY_DUMB`.
    pub const IOCTL_MODE_DESTROY_DUMB: u32 = ioc(
        IOC_READ | IOC_WRITE,
        BASE,
        0xB4,
        core::mem::size_of::<DestroyDumb>(),
    );
}

/// mockgpu's own control ABI, `uapi/mockgpu.h`.
pub mod control {
    use super::{ioc, IOC_READ, IOC_WRITE};

    /// `MOCKGPU_ABI_VERSION`.
    pub const ABI_VERSION: u32 = 1;
    /// `MOCKGPU_IOC_MAGIC`.
    pub const MAGIC: u32 = 0xB8;
    /// `MOCKGPU_PATH_MAX`.
    pub const PATH_MAX: usize = 256;
    /// `MOCKGPU_NAME_MAX`.
    pub const NAME_MAX: usize = 64;

    /// `struct mockgpu_hdr`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Hdr {
        /// The caller's ABI version.
        pub version: u32,
        /// The size of the whole request.
        pub size: u32,
    }

    /// `MOCKGPU_UNLIMITED`.
    pub const UNLIMITED: u64 = u64::MAX;
    /// `MOCKGPU_TENANT_PIDNS`.
    pub const TENANT_PIDNS: u32 = 0;
    /// `MOCKGPU_TENANT_CGROUP`.
    pub const TENANT_CGROUP: u32 = 1;
    /// `MOCKGPU_TENANT_USERNS`.
    pub const TENANT_USERNS: u32 = 2;

    /// `struct mockgpu_target_add`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct TargetAdd {
        /// Version and size.
        pub hdr: Hdr,
        /// In: the real node's path, NUL-terminated.
        pub path: [u8; PATH_MAX],
        /// Out: the target's name.
        pub name: [u8; NAME_MAX],
        /// In: `enum mockgpu_tenant_kind`.
        pub tenant_kind: u32,
        /// Zero.
        pub pad: u32,
    }

    /// `struct mockgpu_tenant`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct Tenant {
        /// `enum mockgpu_tenant_kind`.
        pub kind: u32,
        /// Zero.
        pub pad: u32,
        /// Namespace inode or cgroup id.
        pub id: u64,
    }

    /// `struct mockgpu_limits`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Limits {
        /// Bytes, or [`UNLIMITED`].
        pub memory: u64,
        /// Open files, or [`UNLIMITED`].
        pub files: u64,
        /// Percent of each period, 1..=100.
        pub compute_pct: u32,
        /// Zero.
        pub pad: u32,
    }

    impl Limits {
        /// No limits.
        pub const NONE: Limits = Limits {
            memory: UNLIMITED,
            files: UNLIMITED,
            compute_pct: 100,
            pad: 0,
        };

        /// Whether the values make sense (`EINVAL` otherwise).
        pub fn is_valid(&self) -> bool {
            (1..=100).contains(&self.compute_pct) && self.pad == 0
        }
    }

    /// `struct mockgpu_limit`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct Limit {
        /// Version and size.
        pub hdr: Hdr,
        /// In: the target's name.
        pub target: [u8; NAME_MAX],
        /// In: the tenant.
        pub tenant: Tenant,
        /// In (SET) or out (GET).
        pub limits: Limits,
    }

    /// `struct mockgpu_usage`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct Usage {
        /// The target's name.
        pub target: [u8; NAME_MAX],
        /// The tenant.
        pub tenant: Tenant,
        /// The limits in force.
        pub limits: Limits,
        /// Bytes of device memory charged.
        pub memory_used: u64,
        /// Open proxy files.
        pub files_used: u64,
        /// Declared compute admitted so far, µs.
        pub compute_used_us: u64,
        /// Memory charges refused.
        pub refused_memory: u64,
        /// Opens refused.
        pub refused_files: u64,
        /// Jobs that had to wait or were refused.
        pub refused_compute: u64,
        /// Ioctls the target's policy refused.
        pub refused_ioctls: u64,
        /// 1 if limits were set for this tenant.
        pub configured: u32,
        /// Zero.
        pub pad: u32,
    }

    /// `struct mockgpu_usage_list`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct UsageList {
        /// Version and size.
        pub hdr: Hdr,
        /// In: room in `entries`.
        pub capacity: u32,
        /// Out: number of tenants.
        pub count: u32,
        /// In: user pointer to `Usage[capacity]`.
        pub entries: u64,
    }

    /// `struct mockgpu_target_remove`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct TargetRemove {
        /// Version and size.
        pub hdr: Hdr,
        /// In: the target's name, NUL-terminated.
        pub name: [u8; NAME_MAX],
    }

    /// `MOCKGPU_IOCTL_TARGET_ADD`.
    pub const IOCTL_TARGET_ADD: u32 = ioc(
        IOC_READ | IOC_WRITE,
        MAGIC,
        0x00,
        core::mem::size_of::<TargetAdd>(),
    );
    /// `MOCKGPU_IOCTL_TARGET_REMOVE`.
    pub const IOCTL_TARGET_REMOVE: u32 =
        ioc(IOC_WRITE, MAGIC, 0x01, core::mem::size_of::<TargetRemove>());

    /// `MOCKGPU_POLICY_ALLOW_ALL`.
    pub const POLICY_ALLOW_ALL: u32 = 0;
    /// `MOCKGPU_POLICY_ALLOWLIST`.
    pub const POLICY_ALLOWLIST: u32 = 1;
    /// `MOCKGPU_POLICY_MAX`.
    pub const POLICY_MAX: usize = 64;

    /// `struct mockgpu_policy`.
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct Policy {
        /// Version and size.
        pub hdr: Hdr,
        /// In: the target's name.
        pub target: [u8; NAME_MAX],
        /// `MOCKGPU_POLICY_*`.
        pub mode: u32,
        /// Entries used in `cmds`.
        pub count: u32,
        /// Ioctl numbers.
        pub cmds: [u32; POLICY_MAX],
    }

    /// `MOCKGPU_IOCTL_POLICY_SET`.
    pub const IOCTL_POLICY_SET: u32 = ioc(IOC_WRITE, MAGIC, 0x06, core::mem::size_of::<Policy>());

    /// `MOCKGPU_IOCTL_LIMIT_SET`.
    pub const IOCTL_LIMIT_SET: u32 = ioc(IOC_WRITE, MAGIC, 0x02, core::mem::size_of::<Limit>());
    /// `MOCKGPU_IOCTL_LIMIT_GET`.
    pub const IOCTL_LIMIT_GET: u32 = ioc(
        IOC_READ | IOC_WRITE,
        MAGIC,
        0x03,
        core::mem::size_of::<Limit>(),
    );
    /// `MOCKGPU_IOCTL_LIMIT_CLEAR`.
    pub const IOCTL_LIMIT_CLEAR: u32 = ioc(IOC_WRITE, MAGIC, 0x04, core::mem::size_of::<Limit>());
    /// `MOCKGPU_IOCTL_USAGE_LIST`.
    pub const IOCTL_USAGE_LIST: u32 = ioc(
        IOC_READ | IOC_WRITE,
        MAGIC,
        0x05,
        core::mem::size_of::<UsageList>(),
    );

    /// A tenant kind's name.
    pub fn kind_name(kind: u32) -> &'static str {
        match kind {
            TENANT_PIDNS => "pidns",
            TENANT_CGROUP => "cgroup",
            TENANT_USERNS => "userns",
            _ => "?",
        }
    }

    /// Why a request is refused before anything is done.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum HdrError {
        /// Another ABI version (`EPROTO`).
        Version,
        /// The size is not the request's (`EINVAL`).
        Size,
    }

    /// Checks a request header against the request type's size.
    pub fn check_hdr(hdr: &Hdr, expected_size: usize) -> Result<(), HdrError> {
        if hdr.version != ABI_VERSION {
            Err(HdrError::Version)
        } else if hdr.size as usize != expected_size {
            Err(HdrError::Size)
        } else {
            Ok(())
        }
    }

    /// The NUL-terminated string at the start of `buf` (without the NUL), or
    /// `None` if `buf` has no NUL or the string is empty.
    pub fn c_string(buf: &[u8]) -> Option<&[u8]> {
        let end = buf.iter().position(|&b| b == 0)?;
        (end > 0).then(|| &buf[..end])
    }
}
