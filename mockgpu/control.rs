// SPDX-License-Identifier: GPL-2.0

//! The control node `/dev/mockgpu-control`: the versioned, size-checked
//! ioctls of `uapi/mockgpu.h`. Only CAP_SYS_ADMIN in the initial user
//! namespace may change anything.

use kernel::{
    bindings,
    fs::File,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    str::CStr,
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    policy::abi::control::{self as abi, HdrError},
    target::Registry,
};

/// The control device.
pub(crate) struct Control;

#[vtable]
impl MiscDevice for Control {
    type Ptr = ();

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr> {
        Ok(())
    }

    fn ioctl(_device: (), _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let arg = UserPtr::from_addr(arg);
        match cmd {
            abi::IOCTL_TARGET_ADD => target_add(arg),
            abi::IOCTL_TARGET_REMOVE => target_remove(arg),
            _ => Err(ENOTTY),
        }
    }
}

/// Refuses callers without CAP_SYS_ADMIN in the initial user namespace.
fn require_admin() -> Result {
    // SAFETY: `capable` only reads the current task's credentials.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// Reads a whole request of `N` bytes after checking its header.
fn read_request<const N: usize>(arg: UserPtr) -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    UserSlice::new(arg, N).reader().read_slice(&mut buf)?;
    let hdr = abi::Hdr {
        version: u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]),
        size: u32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]),
    };
    abi::check_hdr(&hdr, N).map_err(|e| match e {
        HdrError::Version => EPROTO,
        HdrError::Size => EINVAL,
    })?;
    Ok(buf)
}

fn c_str_field(buf: &[u8]) -> Result<&CStr> {
    let s = abi::c_string(buf).ok_or(EINVAL)?;
    // `s` has no NUL and the byte after it is one.
    CStr::from_bytes_with_nul(&buf[..=s.len()]).map_err(|_| EINVAL)
}

fn target_add(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    const N: usize = core::mem::size_of::<abi::TargetAdd>();
    let mut req = read_request::<N>(arg)?;
    let path_at = core::mem::offset_of!(abi::TargetAdd, path);
    let name_at = core::mem::offset_of!(abi::TargetAdd, name);
    let target = Registry::add(c_str_field(&req[path_at..path_at + abi::PATH_MAX])?)?;
    let name = target.name().to_bytes_with_nul();
    let out = &mut req[name_at..name_at + abi::NAME_MAX];
    out.fill(0);
    out[..name.len()].copy_from_slice(name);
    UserSlice::new(arg, N).writer().write_slice(&req)?;
    Ok(0)
}

fn target_remove(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    const N: usize = core::mem::size_of::<abi::TargetRemove>();
    let req = read_request::<N>(arg)?;
    let name_at = core::mem::offset_of!(abi::TargetRemove, name);
    Registry::remove(c_str_field(&req[name_at..name_at + abi::NAME_MAX])?)?;
    Ok(0)
}
