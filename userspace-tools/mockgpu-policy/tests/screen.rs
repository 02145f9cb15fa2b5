//! The hot path's screen: every command a family decodes is screened in
//! (checked in full), by any encoding; the commands of a plain program are
//! screened out; an allowlist screens everything in while it is in force.
use mockgpu_policy::abi::realgpu;
use mockgpu_policy::backend::Backend;
use mockgpu_policy::decode::{drm_gem_op, drm_submits, intercepts, may_decode_nr, DrmDriver};
use mockgpu_policy::screen::Screen;

const DRIVERS: [DrmDriver; 10] = [
    DrmDriver::Other,
    DrmDriver::VirtioGpu,
    DrmDriver::Amdgpu,
    DrmDriver::I915,
    DrmDriver::Msm,
    DrmDriver::Panfrost,
    DrmDriver::V3d,
    DrmDriver::Etnaviv,
    DrmDriver::Lima,
    DrmDriver::Nouveau,
];

/// Every type, number and direction, with the sizes of every decoded
/// layout and the edges (the decoders match whole commands, or numbers).
fn encodings() -> impl Iterator<Item = u32> {
    let sizes = [0u32, 1, 4, 8, 16, 24, 32, 40, 48, 56, 64, 0x3fff];
    (0..4u32).flat_map(move |dir| {
        sizes.into_iter().flat_map(move |size| {
            (0..=0xffffu32).map(move |type_nr| (dir << 30) | (size << 16) | type_nr)
        })
    })
}

#[test]
fn every_decoded_command_is_screened_in() {
    let tables = [Backend::Generic, Backend::RealGpu, Backend::Drm];
    let table_screens: Vec<Screen> = tables
        .iter()
        .map(|&b| Screen::new(|nr| may_decode_nr(b, None, nr)))
        .collect();
    let drm_screens: Vec<Screen> = DRIVERS
        .iter()
        .map(|&d| Screen::new(|nr| may_decode_nr(Backend::Drm, Some(d), nr)))
        .collect();
    let mut decoded = 0u64;
    for cmd in encodings() {
        for (b, s) in tables.iter().zip(&table_screens) {
            if intercepts(*b, cmd) {
                decoded += 1;
                assert!(!s.passes(cmd), "{b:?} {cmd:#x} decoded but screened out");
            }
        }
        for (d, s) in DRIVERS.iter().zip(&drm_screens) {
            if drm_gem_op(*d, cmd).is_some() || drm_submits(*d, cmd) {
                decoded += 1;
                assert!(!s.passes(cmd), "{d:?} {cmd:#x} decoded but screened out");
            }
        }
    }
    // The realgpu table's 5 commands, and every DRM encoding of the GEM
    // and submission numbers: the loop above did look at them.
    assert!(decoded > 5 + 4 * 12 * 5 * 10, "{decoded}");
    for cmd in [
        realgpu::IOCTL_ALLOC,
        realgpu::IOCTL_IMPORT,
        realgpu::IOCTL_FREE,
        realgpu::IOCTL_SUBMIT,
        realgpu::IOCTL_ATTACH_PEER,
    ] {
        assert!(!table_screens[1].passes(cmd), "{cmd:#x}");
        assert!(
            table_screens[0].passes(cmd),
            "generic decodes nothing: {cmd:#x}"
        );
    }
}

#[test]
fn plain_commands_pass() {
    // REALGPU_IOCTL_GET_INFO, and DRM's GET_CAP / VERSION on vgem.
    let realgpu = Screen::new(|nr| may_decode_nr(Backend::RealGpu, None, nr));
    assert!(realgpu.passes(0x8020_b700));
    let vgem = Screen::new(|nr| may_decode_nr(Backend::Drm, Some(DrmDriver::Other), nr));
    assert!(vgem.passes(0xc010_640c)); // DRM_IOCTL_GET_CAP
    assert!(vgem.passes(0xc040_6400)); // DRM_IOCTL_VERSION
    assert!(!vgem.passes(0xc020_64b2)); // DRM_IOCTL_MODE_CREATE_DUMB
                                        // The number alone selects: any type with a decoded number is checked.
    assert!(!vgem.passes(0x0000_00b2));
}

#[test]
fn an_allowlist_screens_everything_in_while_in_force() {
    let s = Screen::new(|nr| may_decode_nr(Backend::RealGpu, None, nr));
    s.set_listed(true);
    assert!((0..=0xffu32).all(|nr| !s.passes(0xb700 | nr)));
    s.set_listed(true); // idempotent
    s.set_listed(false);
    assert!(s.passes(0x8020_b700));
    assert!(!s.passes(realgpu::IOCTL_ALLOC));
    let decoded = (0..=0xffu32).filter(|&nr| !s.passes(nr)).count();
    assert_eq!(decoded, 5);
}
