//! mockgpu's logic that needs no kernel.
//!
//! The sources live in `mockgpu/policy/` and are compiled, unchanged, into the
//! kernel module and into this crate, so `cargo test` here covers the code the
//! module runs. The layouts mirrored in [`abi`] are checked against the C
//! headers in `uapi/` by `tests/layout.rs`.
#![no_std]
#![deny(missing_docs)]

#[path = "../../../mockgpu/policy/abi.rs"]
pub mod abi;
#[path = "../../../mockgpu/policy/allow.rs"]
pub mod allow;
#[path = "../../../mockgpu/policy/backend.rs"]
pub mod backend;
#[path = "../../../mockgpu/policy/decode.rs"]
pub mod decode;
#[path = "../../../mockgpu/policy/fdinfo.rs"]
pub mod fdinfo;
#[path = "../../../mockgpu/policy/ledger.rs"]
pub mod ledger;
#[path = "../../../mockgpu/policy/quota.rs"]
pub mod quota;
#[path = "../../../mockgpu/policy/screen.rs"]
pub mod screen;

#[cfg(test)]
mod tests {
    use super::abi::{control, realgpu};
    use super::backend::Backend;

    #[test]
    fn detects_backends() {
        assert_eq!(Backend::detect(b"realgpu", 10), Backend::RealGpu);
        assert_eq!(Backend::detect(b"vgem", 226), Backend::Drm);
        assert_eq!(Backend::detect(b"", 1), Backend::Generic);
        assert_eq!(Backend::detect(b"realgpu2", 10), Backend::Generic);
    }

    #[test]
    fn only_attach_peer_carries_a_device_fd() {
        assert_eq!(
            Backend::RealGpu.device_fd_arg(realgpu::IOCTL_ATTACH_PEER),
            Some(0)
        );
        for cmd in [
            realgpu::IOCTL_ALLOC,
            realgpu::IOCTL_FREE,
            realgpu::IOCTL_SUBMIT,
        ] {
            assert_eq!(Backend::RealGpu.device_fd_arg(cmd), None);
        }
        // The same number means nothing to another backend.
        assert_eq!(Backend::Drm.device_fd_arg(realgpu::IOCTL_ATTACH_PEER), None);
        assert_eq!(
            Backend::Generic.device_fd_arg(realgpu::IOCTL_ATTACH_PEER),
            None
        );
    }

    #[test]
    fn control_header_checks() {
        let size = core::mem::size_of::<control::TargetAdd>();
        let ok = control::Hdr {
            version: control::ABI_VERSION,
            size: size as u32,
        };
        assert_eq!(control::check_hdr(&ok, size), Ok(()));
        let old = control::Hdr { version: 0, ..ok };
        assert_eq!(
            control::check_hdr(&old, size),
            Err(control::HdrError::Version)
        );
        let short = control::Hdr {
            size: size as u32 - 1,
            ..ok
        };
        assert_eq!(
            control::check_hdr(&short, size),
            Err(control::HdrError::Size)
        );
    }

    #[test]
    fn ioctl_policy() {
        use super::allow::{BadPolicy, IoctlPolicy};
        let p = IoctlPolicy::new();
        assert!(p.allows(1) && p.allows(u32::MAX));
        assert_eq!(p.describe(), None);
        p.set_allowlist(&[realgpu::IOCTL_ALLOC, 7]).unwrap();
        assert!(p.allows(realgpu::IOCTL_ALLOC) && p.allows(7));
        assert!(!p.allows(realgpu::IOCTL_FREE));
        assert_eq!(p.describe(), Some(2));
        p.set_allowlist(&[]).unwrap();
        assert!(!p.allows(7));
        assert_eq!(p.set_allowlist(&[0; 65]), Err(BadPolicy));
        p.allow_all();
        assert!(p.allows(realgpu::IOCTL_FREE));
    }

    #[test]
    fn c_strings() {
        assert_eq!(control::c_string(b"abc\0def"), Some(&b"abc"[..]));
        assert_eq!(control::c_string(b"\0abc"), None);
        assert_eq!(control::c_string(b"no nul"), None);
    }
}
