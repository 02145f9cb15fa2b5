//! The decoding tables: every accounted ioctl has a decision, sizes are
//! estimated exactly and overflow is caught.
use mockgpu_policy::abi::{drm, realgpu};
use mockgpu_policy::backend::Backend;
use mockgpu_policy::decode::{
    arg_len, drm_gem_op, drm_submits, effect, gem_op, intercepts, reserve_size, DrmDriver, Effect,
    GemOp, SizeSource,
};

fn bytes<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: `T` is a plain `repr(C)` struct of integers.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
        .to_vec()
}

#[test]
fn realgpu_table() {
    assert!(matches!(
        effect(Backend::RealGpu, realgpu::IOCTL_ALLOC),
        Effect::Alloc {
            id_at: Some(24),
            ..
        }
    ));
    assert_eq!(
        effect(Backend::RealGpu, realgpu::IOCTL_FREE),
        Effect::Free { handle_at: 0 }
    );
    assert_eq!(
        effect(Backend::RealGpu, realgpu::IOCTL_SUBMIT),
        Effect::Submit { cost_at: 24 }
    );
    assert!(matches!(
        effect(Backend::RealGpu, realgpu::IOCTL_IMPORT),
        Effect::Import { id_at: 24, .. }
    ));
    // Not accounted: forwarded as is.
    assert_eq!(
        effect(Backend::RealGpu, realgpu::IOCTL_ATTACH_PEER),
        Effect::None
    );
    // The same numbers mean nothing to other backends.
    assert_eq!(effect(Backend::Generic, realgpu::IOCTL_ALLOC), Effect::None);
    assert_eq!(effect(Backend::Drm, realgpu::IOCTL_ALLOC), Effect::None);
}

/// The hot path's filter agrees with the tables: every ioctl mockgpu must
/// read is intercepted, and the plain ones (GET_INFO, unknown numbers, other
/// backends' numbers) are forwarded untouched.
#[test]
fn intercepts_exactly_what_the_tables_decode() {
    let backends = [Backend::Generic, Backend::RealGpu, Backend::Drm];
    // REALGPU_IOCTL_GET_INFO: _IOR(0xb7, 0x00, struct realgpu_info), 32 bytes.
    let get_info = 0x8020_b700;
    let cmds = [
        get_info,
        realgpu::IOCTL_ALLOC,
        realgpu::IOCTL_FREE,
        realgpu::IOCTL_SUBMIT,
        realgpu::IOCTL_IMPORT,
        realgpu::IOCTL_ATTACH_PEER,
        drm::IOCTL_MODE_CREATE_DUMB,
        drm::IOCTL_MODE_DESTROY_DUMB,
        drm::IOCTL_GEM_CLOSE,
        0,
        u32::MAX,
    ];
    for b in backends {
        for cmd in cmds {
            let decoded = effect(b, cmd) != Effect::None || b.device_fd_arg(cmd).is_some();
            assert_eq!(intercepts(b, cmd), decoded, "{b:?} {cmd:#x}");
        }
    }
    assert!(!intercepts(Backend::RealGpu, get_info));
    assert!(intercepts(Backend::RealGpu, realgpu::IOCTL_ATTACH_PEER));
    assert!(!intercepts(Backend::Generic, realgpu::IOCTL_ALLOC));
}

/// DRM is decoded by number, as `drm_ioctl` dispatches: every size and
/// direction of CREATE_DUMB's number is a creation; the plain ioctl path
/// (`effect`) decodes nothing on DRM.
#[test]
fn drm_table() {
    let create = GemOp::Create {
        size: SizeSource::Dumb,
        handle_at: 16,
    };
    let d = DrmDriver::Other;
    assert_eq!(drm_gem_op(d, drm::IOCTL_MODE_CREATE_DUMB), Some(create));
    for (dir, size) in [
        (3u32, 64usize),
        (1, 32),
        (2, 32),
        (0, 0),
        (3, 8),
        (3, 0x3fff),
    ] {
        let cmd = abi_ioc(dir, 0xB2, size);
        assert_eq!(drm_gem_op(d, cmd), Some(create), "{cmd:#x}");
    }
    for cmd in [drm::IOCTL_GEM_CLOSE, drm::IOCTL_MODE_DESTROY_DUMB] {
        assert_eq!(drm_gem_op(d, cmd), Some(GemOp::Close { handle_at: 0 }));
    }
    // GEM_OPEN's handle follows the name; PRIME_FD_TO_HANDLE's comes first.
    assert_eq!(
        drm_gem_op(d, abi_ioc(3, 0x0B, 16)),
        Some(GemOp::Import { handle_at: 4 })
    );
    assert_eq!(
        drm_gem_op(d, abi_ioc(3, 0x2E, 12)),
        Some(GemOp::Import { handle_at: 0 })
    );
    // Another ioctl type with the same number is not DRM's.
    assert_eq!(
        drm_gem_op(d, (3 << 30) | (32 << 16) | (0xB7 << 8) | 0xB2),
        None
    );
    // Driver numbers are the driver's: virtio-gpu's creations only there.
    assert_eq!(gem_op(d, 0x44), None);
    assert_eq!(
        gem_op(DrmDriver::VirtioGpu, 0x44),
        Some(GemOp::Create {
            size: SizeSource::VirtgpuResource,
            handle_at: 40
        })
    );
    assert_eq!(
        gem_op(DrmDriver::VirtioGpu, 0x4A),
        Some(GemOp::Create {
            size: SizeSource::U64At(16),
            handle_at: 8
        })
    );
    assert_eq!(DrmDriver::from_name(b"virtio_gpu"), DrmDriver::VirtioGpu);
    assert_eq!(DrmDriver::from_name(b"vgem"), DrmDriver::Other);
    // The plain path leaves DRM to the GEM table.
    for cmd in [drm::IOCTL_MODE_CREATE_DUMB, drm::IOCTL_GEM_CLOSE] {
        assert_eq!(effect(Backend::Drm, cmd), Effect::None);
    }
}

/// DRM command submissions, by driver and number (any encoding), from the
/// drivers' uapi headers; nothing for drivers without one in the table.
#[test]
fn drm_submission_table() {
    let cases = [
        (b"amdgpu".as_slice(), 0x44), // DRM_AMDGPU_CS
        (b"i915", 0x69),              // DRM_I915_GEM_EXECBUFFER2
        (b"msm", 0x46),               // DRM_MSM_GEM_SUBMIT
        (b"panfrost", 0x40),          // DRM_PANFROST_SUBMIT
        (b"v3d", 0x40),               // DRM_V3D_SUBMIT_CL
        (b"v3d", 0x47),               // DRM_V3D_SUBMIT_CSD
        (b"etnaviv", 0x46),           // DRM_ETNAVIV_GEM_SUBMIT
        (b"lima", 0x43),              // DRM_LIMA_GEM_SUBMIT
        (b"nouveau", 0x52),           // DRM_NOUVEAU_EXEC
        (b"virtio_gpu", 0x42),        // DRM_VIRTGPU_EXECBUFFER
    ];
    for (name, nr) in cases {
        let d = DrmDriver::from_name(name);
        for (dir, size) in [(3u32, 64usize), (1, 8), (0, 0)] {
            assert!(drm_submits(d, abi_ioc(dir, nr, size)), "{name:?} {nr:#x}");
        }
        // Another driver's number, a core number, another type: not a submission.
        assert!(!drm_submits(DrmDriver::Other, abi_ioc(3, nr, 64)));
        assert!(!drm_submits(d, abi_ioc(3, 0x09, 8)));
        assert!(!drm_submits(d, (3 << 30) | (64 << 16) | (0xB7 << 8) | nr));
    }
    // xe reports engine cycles, not time: no shares, no submission table.
    assert!(!drm_submits(
        DrmDriver::from_name(b"xe"),
        abi_ioc(3, 0x49, 56)
    ));
}

/// The decoded DRM layouts have the kernel's sizes (`drm.h`, `virtgpu_drm.h`).
#[test]
fn drm_layouts() {
    use std::mem::size_of;
    assert_eq!(size_of::<drm::GemOpen>(), 16);
    assert_eq!(size_of::<drm::PrimeHandle>(), 12);
    assert_eq!(size_of::<drm::VirtgpuResourceCreate>(), 56);
    assert_eq!(size_of::<drm::VirtgpuResourceCreateBlob>(), 56);
    assert_eq!(
        std::mem::offset_of!(drm::VirtgpuResourceCreateBlob, size),
        16
    );
}

/// `_IOC(dir, 'd', nr, size)`.
fn abi_ioc(dir: u32, nr: u32, size: usize) -> u32 {
    (dir << 30) | ((size as u32) << 16) | (u32::from(b'd') << 8) | nr
}

/// Sizes at the edges: 0, 1, a page - 1, 2^63, 2^64 - 1, and dumb
/// products that overflow 32 and 64 bits.
#[test]
fn sizes_cannot_wrap() {
    let u64_at = SizeSource::U64At(0);
    for (v, want) in [
        (0u64, Some(0)),
        (1, Some(4096)),
        (4095, Some(4096)),
        (1 << 63, Some(1 << 63)),
        ((1 << 63) + 1, Some((1 << 63) + 4096)),
        (u64::MAX - 4095, Some(u64::MAX - 4095)),
        (u64::MAX - 4094, None),
        (u64::MAX, None),
    ] {
        assert_eq!(reserve_size(u64_at, &v.to_ne_bytes()[..]), want, "{v:#x}");
    }
    let dumb = |w: u32, h: u32, bpp: u32| drm::CreateDumb {
        width: w,
        height: h,
        bpp,
        ..Default::default()
    };
    // width * cpp * height past 2^32 is still exact in 64 bits.
    let d = dumb(65536, 65536, 32);
    assert_eq!(
        reserve_size(SizeSource::Dumb, &bytes(&d)[..]),
        Some(1 << 34)
    );
    // bpp of u32::MAX rounds up to 2^29 bytes a pixel without wrapping.
    let d = dumb(u32::MAX, 1, u32::MAX);
    let want = (u64::from(u32::MAX) * u64::from(u32::MAX).div_ceil(8)).next_multiple_of(4096);
    assert_eq!(reserve_size(SizeSource::Dumb, &bytes(&d)[..]), Some(want));
    let d = dumb(u32::MAX, u32::MAX, u32::MAX);
    assert_eq!(reserve_size(SizeSource::Dumb, &bytes(&d)[..]), None);
    let d = dumb(0, 0, 0);
    assert_eq!(reserve_size(SizeSource::Dumb, &bytes(&d)[..]), Some(0));
}

#[test]
fn every_decoded_field_fits_the_copied_argument() {
    for (backend, cmd) in [
        (Backend::RealGpu, realgpu::IOCTL_ALLOC),
        (Backend::RealGpu, realgpu::IOCTL_IMPORT),
        (Backend::RealGpu, realgpu::IOCTL_FREE),
        (Backend::RealGpu, realgpu::IOCTL_SUBMIT),
    ] {
        let len = arg_len(cmd);
        let ends: Vec<usize> = match effect(backend, cmd) {
            Effect::Alloc {
                handle_at,
                size_out_at,
                id_at,
                free,
                ..
            } => {
                assert!(free.handle_at + 4 <= free.size && free.size <= len);
                vec![handle_at + 4, size_out_at + 8, id_at.map_or(0, |a| a + 8)]
            }
            Effect::Import {
                handle_at,
                size_out_at,
                id_at,
                free,
            } => {
                assert!(free.size <= len);
                vec![handle_at + 4, size_out_at + 8, id_at + 8]
            }
            Effect::Free { handle_at } => vec![handle_at + 4],
            Effect::Submit { cost_at } => vec![cost_at + 8],
            Effect::None => panic!("{cmd:#x} is not decoded"),
        };
        assert!(ends.iter().all(|&e| e <= len), "{cmd:#x}: {ends:?} > {len}");
    }
}

#[test]
fn realgpu_sizes_round_to_pages_and_catch_overflow() {
    let mut a = realgpu::Alloc {
        size: 5000,
        ..Default::default()
    };
    let src = SizeSource::U64At(0);
    assert_eq!(reserve_size(src, &bytes(&a)[..]), Some(8192));
    a.size = 4096;
    assert_eq!(reserve_size(src, &bytes(&a)[..]), Some(4096));
    a.size = 0;
    assert_eq!(reserve_size(src, &bytes(&a)[..]), Some(0));
    a.size = u64::MAX;
    assert_eq!(reserve_size(src, &bytes(&a)[..]), None);
    assert_eq!(reserve_size(src, &[0u8; 4][..]), None); // short argument
}

#[test]
fn dumb_sizes_match_the_kernel_formula() {
    let d = drm::CreateDumb {
        width: 640,
        height: 480,
        bpp: 32,
        ..Default::default()
    };
    assert_eq!(
        reserve_size(SizeSource::Dumb, &bytes(&d)[..]),
        Some(640 * 4 * 480)
    );
    let d = drm::CreateDumb {
        width: 33,
        height: 3,
        bpp: 12,
        ..Default::default()
    };
    assert_eq!(reserve_size(SizeSource::Dumb, &bytes(&d)[..]), Some(4096));
    let d = drm::CreateDumb {
        width: u32::MAX,
        height: u32::MAX,
        bpp: u32::MAX,
        ..Default::default()
    };
    assert_eq!(reserve_size(SizeSource::Dumb, &bytes(&d)[..]), None);
}

/// virtio-gpu's RESOURCE_CREATE is charged its guest backing or the host's
/// copy (w x h x 4 x depth x array size), whichever is larger, and that is
/// also the least it is charged; the product saturates.
#[test]
fn virtio_resources_charge_the_host_copy() {
    use mockgpu_policy::abi::drm::VirtgpuResourceCreate;
    let rc = |w: u32, h: u32, depth: u32, array_size: u32, size: u32| VirtgpuResourceCreate {
        width: w,
        height: h,
        depth,
        array_size,
        size,
        ..Default::default()
    };
    let est = |r: &VirtgpuResourceCreate| reserve_size(SizeSource::VirtgpuResource, &bytes(r)[..]);
    assert_eq!(est(&rc(64, 64, 1, 1, 64 * 64 * 4)), Some(16384));
    assert_eq!(est(&rc(64, 64, 1, 1, 0)), Some(16384)); // host copy, not one page
    assert_eq!(est(&rc(0, 0, 1, 1, 0)), Some(4096)); // one page of backing
    assert_eq!(est(&rc(1, 1, 1, 1, 8192)), Some(8192)); // backing larger
    assert_eq!(est(&rc(1024, 1024, 0, 0, 0)), Some(4 << 20)); // depth 0 counts as 1
    assert_eq!(est(&rc(16, 16, 2, 3, 0)), Some(page(16 * 16 * 4 * 6)));
    assert_eq!(
        est(&rc(u32::MAX, u32::MAX, u32::MAX, u32::MAX, 0)),
        Some(u64::MAX)
    );
    assert!(SizeSource::VirtgpuResource.is_floor());
    assert!(!SizeSource::Dumb.is_floor());
}

fn page(n: u64) -> u64 {
    n.div_ceil(4096) * 4096
}
