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
    tenant::Key,
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
            abi::IOCTL_LIMIT_SET => limit(arg, LimitOp::Set),
            abi::IOCTL_LIMIT_GET => limit(arg, LimitOp::Get),
            abi::IOCTL_LIMIT_CLEAR => limit(arg, LimitOp::Clear),
            abi::IOCTL_USAGE_LIST => usage_list(arg),
            abi::IOCTL_POLICY_SET => policy_set(arg),
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
    let kind_at = core::mem::offset_of!(abi::TargetAdd, tenant_kind);
    let pad_at = core::mem::offset_of!(abi::TargetAdd, pad);
    if read_u32(&req, pad_at)? != 0 {
        return Err(EINVAL);
    }
    let kind = read_u32(&req, kind_at)?;
    let target = Registry::add(c_str_field(&req[path_at..path_at + abi::PATH_MAX])?, kind)?;
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

fn read_u32(buf: &[u8], at: usize) -> Result<u32> {
    crate::policy::decode::read_u32(buf, at).ok_or(EINVAL)
}

fn read_u64(buf: &[u8], at: usize) -> Result<u64> {
    crate::policy::decode::read_u64(buf, at).ok_or(EINVAL)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LimitOp {
    Set,
    Get,
    Clear,
}

/// LIMIT_SET, LIMIT_GET, LIMIT_CLEAR.
fn limit(arg: UserPtr, op: LimitOp) -> Result<isize> {
    if op != LimitOp::Get {
        require_admin()?;
    }
    const N: usize = core::mem::size_of::<abi::Limit>();
    let mut req = read_request::<N>(arg)?;
    let target_at = core::mem::offset_of!(abi::Limit, target);
    let tenant_at = core::mem::offset_of!(abi::Limit, tenant);
    let limits_at = core::mem::offset_of!(abi::Limit, limits);
    let key = Key {
        kind: read_u32(&req, tenant_at)?,
        id: read_u64(&req, tenant_at + 8)?,
    };
    if read_u32(&req, tenant_at + 4)? != 0 || key.kind > abi::TENANT_USERNS {
        return Err(EINVAL);
    }
    let target = Registry::find(c_str_field(&req[target_at..target_at + abi::NAME_MAX])?)?;
    if key.kind != target.tenant_kind() {
        return Err(EINVAL);
    }
    match op {
        LimitOp::Set => {
            let limits = abi::Limits {
                memory: read_u64(&req, limits_at)?,
                files: read_u64(&req, limits_at + 8)?,
                compute_pct: read_u32(&req, limits_at + 16)?,
                pad: read_u32(&req, limits_at + 20)?,
            };
            if !limits.is_valid() {
                return Err(EINVAL);
            }
            target.set_limits(key, Some(&limits))?;
        }
        LimitOp::Clear => target.set_limits(key, None)?,
        LimitOp::Get => {
            let l = target.limits_of(key)?;
            let out = &mut req[limits_at..limits_at + core::mem::size_of::<abi::Limits>()];
            out[0..8].copy_from_slice(&l.memory.to_ne_bytes());
            out[8..16].copy_from_slice(&l.files.to_ne_bytes());
            out[16..20].copy_from_slice(&l.compute_pct.to_ne_bytes());
            out[20..24].fill(0);
            UserSlice::new(arg, N).writer().write_slice(&req)?;
        }
    }
    Ok(0)
}

/// USAGE_LIST: every tenant of every target. Other tenants' usage is not
/// for tenants to read: it needs the privilege that changing limits needs.
fn usage_list(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    const N: usize = core::mem::size_of::<abi::UsageList>();
    const U: usize = core::mem::size_of::<abi::Usage>();
    let mut req = read_request::<N>(arg)?;
    let cap_at = core::mem::offset_of!(abi::UsageList, capacity);
    let count_at = core::mem::offset_of!(abi::UsageList, count);
    let entries_at = core::mem::offset_of!(abi::UsageList, entries);
    let capacity = read_u32(&req, cap_at)? as usize;
    let entries = read_u64(&req, entries_at)? as usize;
    let mut count = 0usize;
    Registry::for_each(|target| {
        target.for_each_usage(|usage| {
            if count < capacity {
                let at = UserPtr::from_addr(entries).wrapping_byte_add(count * U);
                // SAFETY: `Usage` is a `repr(C)` struct of integers and
                // arrays without padding (checked by the host layout test), so
                // all its bytes are initialized.
                let bytes = unsafe {
                    core::slice::from_raw_parts(core::ptr::from_ref(usage).cast::<u8>(), U)
                };
                UserSlice::new(at, U).writer().write_slice(bytes)?;
            }
            count += 1;
            Ok(())
        })
    })?;
    req[count_at..count_at + 4].copy_from_slice(&(count as u32).to_ne_bytes());
    UserSlice::new(arg, N).writer().write_slice(&req)?;
    Ok(0)
}

/// POLICY_SET: a target's ioctl allowlist.
fn policy_set(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    const N: usize = core::mem::size_of::<abi::Policy>();
    let req = read_request::<N>(arg)?;
    let target_at = core::mem::offset_of!(abi::Policy, target);
    let mode = read_u32(&req, core::mem::offset_of!(abi::Policy, mode))?;
    let count = read_u32(&req, core::mem::offset_of!(abi::Policy, count))? as usize;
    let name = c_str_field(&req[target_at..target_at + abi::NAME_MAX])?;
    match mode {
        abi::POLICY_ALLOW_ALL => Registry::set_policy(name, None)?,
        abi::POLICY_ALLOWLIST if count <= abi::POLICY_MAX => {
            let at = core::mem::offset_of!(abi::Policy, cmds);
            let mut cmds = [0u32; abi::POLICY_MAX];
            for (i, cmd) in cmds.iter_mut().enumerate().take(count) {
                *cmd = read_u32(&req, at + 4 * i)?;
            }
            Registry::set_policy(name, Some(&cmds[..count]))?;
        }
        _ => return Err(EINVAL),
    }
    Ok(0)
}
