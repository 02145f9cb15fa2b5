// SPDX-License-Identifier: GPL-2.0

//! mockgpu: kernel-level GPU sharing for containers, by device-file
//! interception.
//!
//! For each real GPU node ("target") mockgpu registers a proxy node
//! `/dev/mockgpu/<name>`, meant to be bind-mounted into containers at the
//! real node's path. Every file operation on a proxy file is forwarded to a
//! real file of the driver, opened for it; mmap hands the vma to the real
//! file, so the data path never passes through mockgpu.
//!
//! Layout, top down (no module imports one above it): `fops.rs` (the
//! `file_operations` adapters and tables), `control.rs` (the control node),
//! `proxy.rs` (the forwarding core), `account/` (what ioctls are charged, by
//! driver family), `meter.rs` (device time), `target.rs` (targets,
//! registry), `gem.rs`, `linger.rs`, `dmem.rs` (buffer lifetimes and the
//! dmem cgroup), `tenant.rs`, `real.rs` (the real node and files), `policy/`
//! (pure logic, also built and tested on the host), `helpers.c` and
//! `drm_helpers.c` (wrappers of static inlines, DRM calls).

use kernel::{
    miscdevice::{MiscDeviceOptions, MiscDeviceRegistration},
    prelude::*,
    str::CStr,
};

mod account;
mod control;
mod defaults;
mod dmem;
mod ffi;
mod fops;
mod gem;
mod linger;
mod mapped;
mod meter;
#[allow(
    dead_code,
    unreachable_pub,
    reason = "shared verbatim with the host crate, which tests all of it; the module uses a subset"
)]
mod policy;
mod proxy;
mod real;
mod reaper;
mod target;
mod tenant;

use target::Registry;

module! {
    type: MockGpu,
    name: "mockgpu",
    authors: ["mockgpu developers"],
    description: "GPU sharing for containers by device-file interception",
    license: "GPL",
    params: {
        unconfigured: u32 {
            default: 0,
            description: "What a tenant no one configured gets: 0 no limits, 1 no access (EPERM at open), 2 the default_* limits",
        },
        default_memory_mb: u64 {
            default: 256,
            description: "Device memory of an unconfigured tenant with unconfigured=2, MiB",
        },
        default_files: u64 {
            default: 64,
            description: "Open proxy files of an unconfigured tenant with unconfigured=2",
        },
        default_compute_pct: u32 {
            default: 100,
            description: "Compute share of an unconfigured tenant with unconfigured=2, percent",
        },
    },
}

/// The loaded module.
struct MockGpu {
    _control: Pin<KBox<MiscDeviceRegistration<control::Control>>>,
}

/// The misc minor of the control node, once registered.
static CONTROL_MINOR: kernel::sync::atomic::Atomic<i32> = kernel::sync::atomic::Atomic::new(-1);

/// The control node's minor, if registered.
pub(crate) fn control_minor() -> Option<u32> {
    u32::try_from(CONTROL_MINOR.load(kernel::sync::atomic::Relaxed)).ok()
}

impl kernel::Module for MockGpu {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: module init runs once, before anything else of this module.
        unsafe {
            fops::init_tables();
            Registry::init()?;
        }
        let control = KBox::pin_init(
            MiscDeviceRegistration::register(MiscDeviceOptions {
                name: c"mockgpu-control",
            }),
            GFP_KERNEL,
        )
        .inspect_err(|_| {
            // SAFETY: `init` succeeded above and nothing was added.
            unsafe { Registry::exit() };
        })?;
        // SAFETY: the registration is live; `minor` was set by `misc_register`.
        let minor = unsafe { (*control.as_raw()).minor };
        CONTROL_MINOR.store(minor, kernel::sync::atomic::Relaxed);

        // SAFETY: the helper returns the NUL-terminated parameter buffer,
        // written only while the module loads.
        let param = unsafe { CStr::from_char_ptr(ffi::mockgpu_targets_param()) };
        if let Err(e) = add_targets(param) {
            // SAFETY: `init` succeeded; no proxy file can be open while the
            // module is still loading, so the tables are unused once the
            // targets are gone.
            unsafe {
                Registry::exit();
                fops::free_tables();
            }
            return Err(e);
        }
        // SAFETY: called once, after the registry exists; undone in `drop`.
        unsafe { ffi::mockgpu_debugfs_init() };
        pr_info!("loaded\n");
        Ok(MockGpu { _control: control })
    }
}

/// Sets up the targets of the `targets=` parameter (comma-separated paths).
fn add_targets(param: &CStr) -> Result {
    for path in param
        .to_bytes()
        .split(|&b| b == b',')
        .filter(|p| !p.is_empty())
    {
        let mut buf = [0u8; 256];
        let Some(dst) = buf.get_mut(..path.len()) else {
            pr_warn!("targets=: path too long\n");
            return Err(ENAMETOOLONG);
        };
        dst.copy_from_slice(path);
        // The byte after the path is a NUL: `buf` is longer than `path`.
        let path = CStr::from_bytes_with_nul(&buf[..=path.len()]).map_err(|_| EINVAL)?;
        Registry::add(path, policy::abi::control::TENANT_PIDNS, fops::ops_for)?;
    }
    Ok(())
}

/// Writes /sys/kernel/debug/mockgpu/status.
///
/// # Safety
///
/// Called by the seq_file core (helpers.c) with the seq_file being shown.
#[no_mangle]
unsafe extern "C" fn mockgpu_status_rs(m: *mut kernel::bindings::seq_file) {
    // SAFETY: `m` is valid for the call (the safety requirements).
    let m = unsafe { kernel::seq_file::SeqFile::from_raw(m) };
    let _ = Registry::for_each(|target| {
        target.show(m);
        Ok(())
    });
}

impl Drop for MockGpu {
    fn drop(&mut self) {
        // SAFETY: created in `init`; removal waits for readers in progress.
        unsafe { ffi::mockgpu_debugfs_exit() };
        // SAFETY: module exit, after a successful init. No proxy file is open
        // (each would hold a reference on this module), so once the targets
        // are gone no table is in use.
        unsafe {
            Registry::exit();
            fops::free_tables();
        }
        pr_info!("unloaded\n");
    }
}
