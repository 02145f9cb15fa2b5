//! The decoding tables: every accounted ioctl has a decision, sizes are
//! estimated exactly and overflow is caught.
use mockgpu_policy::abi::{drm, realgpu};
use mockgpu_policy::backend::Backend;
use mockgpu_policy::decode::{arg_len, effect, intercepts, reserve_size, Effect, SizeSource};

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

#[test]
fn drm_table() {
    assert!(matches!(
        effect(Backend::Drm, drm::IOCTL_MODE_CREATE_DUMB),
        Effect::Alloc {
            size: SizeSource::Dumb,
            handle_at: 16,
            size_out_at: 24,
            id_at: None,
            ..
        }
    ));
    assert_eq!(
        effect(Backend::Drm, drm::IOCTL_MODE_DESTROY_DUMB),
        Effect::Free { handle_at: 0 }
    );
    assert_eq!(
        effect(Backend::Drm, drm::IOCTL_GEM_CLOSE),
        Effect::Free { handle_at: 0 }
    );
}

#[test]
fn every_decoded_field_fits_the_copied_argument() {
    for (backend, cmd) in [
        (Backend::RealGpu, realgpu::IOCTL_ALLOC),
        (Backend::RealGpu, realgpu::IOCTL_IMPORT),
        (Backend::RealGpu, realgpu::IOCTL_FREE),
        (Backend::RealGpu, realgpu::IOCTL_SUBMIT),
        (Backend::Drm, drm::IOCTL_MODE_CREATE_DUMB),
        (Backend::Drm, drm::IOCTL_MODE_DESTROY_DUMB),
        (Backend::Drm, drm::IOCTL_GEM_CLOSE),
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
