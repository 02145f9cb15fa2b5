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
    transmute::{AsBytes, FromBytes},
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

/// A request of the control ABI: a `repr(C)` struct that starts with a
/// [`abi::Hdr`].
trait Request: FromBytes + AsBytes {
    fn hdr(&self) -> &abi::Hdr;
}

/// The ABI structs are plain data: `repr(C)`, integers and arrays of them,
/// with no padding (each size below is the sum of its fields'; the host
/// layout test checks every offset against `uapi/mockgpu.h`).
macro_rules! plain {
    ($($t:ident = $size:expr;)*) => {$(
        const _: () = assert!(core::mem::size_of::<abi::$t>() == $size);
        // SAFETY: `repr(C)` integers and integer arrays without padding
        // (asserted above): every bit pattern is a valid value.
        unsafe impl FromBytes for abi::$t {}
        // SAFETY: as above: every byte of a value is initialized.
        unsafe impl AsBytes for abi::$t {}
    )*};
}

plain! {
    Hdr = 8;
    Tenant = 16;
    Limits = 24;
    TargetAdd = 8 + abi::PATH_MAX + abi::NAME_MAX + 8;
    TargetRemove = 8 + abi::NAME_MAX;
    Limit = 8 + abi::NAME_MAX + 16 + 24;
    Usage = abi::NAME_MAX + 16 + 24 + 7 * 8 + 8;
    UsageList = 8 + 8 + 8;
    Policy = 8 + abi::NAME_MAX + 8 + 4 * abi::POLICY_MAX;
}

macro_rules! request {
    ($($t:ident),*) => {$(
        impl Request for abi::$t {
            fn hdr(&self) -> &abi::Hdr {
                &self.hdr
            }
        }
    )*};
}

request!(TargetAdd, TargetRemove, Limit, UsageList, Policy);

/// Refuses callers without CAP_SYS_ADMIN in the initial user namespace.
fn require_admin() -> Result {
    // SAFETY: `capable` only reads the current task's credentials.
    if unsafe { bindings::capable(bindings::CAP_SYS_ADMIN as i32) } {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// Reads a whole request (one copy) and checks its header.
fn read_request<T: Request>(arg: UserPtr) -> Result<T> {
    let req: T = UserSlice::new(arg, core::mem::size_of::<T>())
        .reader()
        .read()?;
    abi::check_hdr(req.hdr(), core::mem::size_of::<T>()).map_err(|e| match e {
        HdrError::Version => EPROTO,
        HdrError::Size => EINVAL,
    })?;
    Ok(req)
}

/// Writes a whole answer back.
fn write_answer<T: AsBytes>(arg: UserPtr, answer: &T) -> Result {
    UserSlice::new(arg, core::mem::size_of::<T>())
        .writer()
        .write(answer)
}

/// The NUL-terminated, non-empty string at the start of `buf`.
fn c_str_field(buf: &[u8]) -> Result<&CStr> {
    let s = abi::c_string(buf).ok_or(EINVAL)?;
    // `s` has no NUL and the byte after it is one.
    CStr::from_bytes_with_nul(&buf[..=s.len()]).map_err(|_| EINVAL)
}

fn target_add(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    let mut req: abi::TargetAdd = read_request(arg)?;
    if req.pad != 0 {
        return Err(EINVAL);
    }
    let target = Registry::add(
        c_str_field(&req.path)?,
        req.tenant_kind,
        crate::fops::ops_for,
    )?;
    let name = target.name().to_bytes_with_nul();
    req.name.fill(0);
    req.name
        .get_mut(..name.len())
        .ok_or(EINVAL)?
        .copy_from_slice(name);
    write_answer(arg, &req)?;
    Ok(0)
}

fn target_remove(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    let req: abi::TargetRemove = read_request(arg)?;
    Registry::remove(c_str_field(&req.name)?)?;
    Ok(0)
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
    let mut req: abi::Limit = read_request(arg)?;
    let key = Key {
        kind: req.tenant.kind,
        id: req.tenant.id,
    };
    if req.tenant.pad != 0 || key.kind > abi::TENANT_USERNS {
        return Err(EINVAL);
    }
    let target = Registry::find(c_str_field(&req.target)?)?;
    if key.kind != target.tenant_kind() {
        return Err(EINVAL);
    }
    match op {
        LimitOp::Set => {
            if !req.limits.is_valid() {
                return Err(EINVAL);
            }
            target.set_limits(key, Some(&req.limits))?;
        }
        LimitOp::Clear => target.set_limits(key, None)?,
        LimitOp::Get => {
            req.limits = abi::Limits {
                pad: 0,
                ..target.limits_of(key)?
            };
            write_answer(arg, &req)?;
        }
    }
    Ok(0)
}

/// USAGE_LIST: every tenant of every target. Other tenants' usage is not
/// for tenants to read: it needs the privilege that changing limits needs.
fn usage_list(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    const U: usize = core::mem::size_of::<abi::Usage>();
    let mut req: abi::UsageList = read_request(arg)?;
    let capacity = req.capacity as usize;
    let entries = UserPtr::from_addr(usize::try_from(req.entries).map_err(|_| EFAULT)?);
    let mut count = 0usize;
    Registry::for_each(|target| {
        target.for_each_usage(|usage| {
            if count < capacity {
                let at = entries.wrapping_byte_add(count * U);
                write_answer(at, usage)?;
            }
            count += 1;
            Ok(())
        })
    })?;
    req.count = u32::try_from(count).unwrap_or(u32::MAX);
    write_answer(arg, &req)?;
    Ok(0)
}

/// POLICY_SET: a target's ioctl allowlist.
fn policy_set(arg: UserPtr) -> Result<isize> {
    require_admin()?;
    let req: abi::Policy = read_request(arg)?;
    let name = c_str_field(&req.target)?;
    let count = req.count as usize;
    match req.mode {
        abi::POLICY_ALLOW_ALL => Registry::set_policy(name, None)?,
        abi::POLICY_ALLOWLIST => {
            let cmds = req.cmds.get(..count).ok_or(EINVAL)?;
            Registry::set_policy(name, Some(cmds))?;
        }
        _ => return Err(EINVAL),
    }
    Ok(0)
}
