//! The Rust mirrors of `uapi/*.h` have the layouts and ioctl numbers that C
//! compilers give the headers (compiled by build.rs from layout.c).
use core::mem::{offset_of, size_of};

use mockgpu_policy::abi::{control, drm, realgpu};

extern "C" {
    static mockgpu_layout_realgpu: [u64; 19];
    static mockgpu_layout_control: [u64; 34];
    static mockgpu_layout_drm: [u64; 7];
}

#[test]
fn drm_layout_matches_c() {
    let rust = [
        size_of::<drm::CreateDumb>(),
        offset_of!(drm::CreateDumb, handle),
        offset_of!(drm::CreateDumb, size),
        size_of::<drm::GemClose>(),
        drm::IOCTL_MODE_CREATE_DUMB as usize,
        drm::IOCTL_MODE_DESTROY_DUMB as usize,
        drm::IOCTL_GEM_CLOSE as usize,
    ];
    // SAFETY: a constant array defined in layout.c with this length.
    let c = unsafe { mockgpu_layout_drm };
    assert_eq!(rust.map(|v| v as u64), c);
}

#[test]
fn realgpu_layout_matches_c() {
    let rust = [
        size_of::<realgpu::Alloc>(),
        offset_of!(realgpu::Alloc, size),
        offset_of!(realgpu::Alloc, handle),
        offset_of!(realgpu::Alloc, mmap_offset),
        offset_of!(realgpu::Alloc, buf_id),
        size_of::<realgpu::Free>(),
        offset_of!(realgpu::Free, handle),
        size_of::<realgpu::Submit>(),
        offset_of!(realgpu::Submit, op),
        offset_of!(realgpu::Submit, value),
        offset_of!(realgpu::Submit, cost_us),
        offset_of!(realgpu::Submit, fence),
        size_of::<realgpu::AttachPeer>(),
        offset_of!(realgpu::AttachPeer, fd),
        offset_of!(realgpu::AttachPeer, peer_ctx_id),
        realgpu::IOCTL_ALLOC as usize,
        realgpu::IOCTL_FREE as usize,
        realgpu::IOCTL_SUBMIT as usize,
        realgpu::IOCTL_ATTACH_PEER as usize,
    ];
    // SAFETY: a constant array defined in layout.c with this length.
    let c = unsafe { mockgpu_layout_realgpu };
    assert_eq!(rust.map(|v| v as u64), c);
}

#[test]
fn control_layout_matches_c() {
    let rust = [
        size_of::<control::Hdr>(),
        size_of::<control::TargetAdd>(),
        offset_of!(control::TargetAdd, path),
        offset_of!(control::TargetAdd, name),
        size_of::<control::TargetRemove>(),
        offset_of!(control::TargetRemove, name),
        control::IOCTL_TARGET_ADD as usize,
        control::IOCTL_TARGET_REMOVE as usize,
        control::ABI_VERSION as usize,
        control::PATH_MAX,
        control::NAME_MAX,
        offset_of!(control::TargetAdd, tenant_kind),
        size_of::<control::Tenant>(),
        size_of::<control::Limits>(),
        offset_of!(control::Limits, compute_pct),
        size_of::<control::Limit>(),
        offset_of!(control::Limit, tenant),
        offset_of!(control::Limit, limits),
        size_of::<control::Usage>(),
        offset_of!(control::Usage, limits),
        offset_of!(control::Usage, memory_used),
        offset_of!(control::Usage, configured),
        size_of::<control::UsageList>(),
        offset_of!(control::UsageList, entries),
        control::IOCTL_LIMIT_SET as usize,
        control::IOCTL_LIMIT_GET as usize,
        control::IOCTL_LIMIT_CLEAR as usize,
        control::IOCTL_USAGE_LIST as usize,
        offset_of!(control::Usage, refused_ioctls),
        size_of::<control::Policy>(),
        offset_of!(control::Policy, mode),
        offset_of!(control::Policy, cmds),
        control::POLICY_MAX,
        control::IOCTL_POLICY_SET as usize,
    ];
    // SAFETY: a constant array defined in layout.c with this length.
    let c = unsafe { mockgpu_layout_control };
    assert_eq!(rust.map(|v| v as u64), c);
}
