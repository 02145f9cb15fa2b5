//! The control ioctls of `uapi/mockgpu.h`, one line each, and a typed wrapper
//! of the control node.
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

use mockgpu_policy::abi::control as abi;
use nix::errno::Errno;
use thiserror::Error;

nix::ioctl_readwrite!(target_add, abi::MAGIC, 0x00, abi::TargetAdd);
nix::ioctl_write_ptr!(target_remove, abi::MAGIC, 0x01, abi::TargetRemove);
nix::ioctl_write_ptr!(limit_set, abi::MAGIC, 0x02, abi::Limit);
nix::ioctl_readwrite!(limit_get, abi::MAGIC, 0x03, abi::Limit);
nix::ioctl_write_ptr!(limit_clear, abi::MAGIC, 0x04, abi::Limit);
nix::ioctl_readwrite!(usage_list, abi::MAGIC, 0x05, abi::UsageList);
nix::ioctl_write_ptr!(policy_set, abi::MAGIC, 0x06, abi::Policy);

/// A failed control request, explained.
#[derive(Debug, Error)]
pub enum CtlError {
    /// The control node could not be opened.
    #[error("cannot open {path}: {source} (is mockgpu loaded, and are you root?)")]
    Open {
        /// The node.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// A string does not fit its field.
    #[error("{what} is too long (at most {max} bytes)")]
    TooLong {
        /// Which argument.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// The kernel refused the request.
    #[error("{what}: {}", explain(*.errno))]
    Refused {
        /// The request.
        what: String,
        /// The errno.
        errno: Errno,
    },
}

fn explain(errno: Errno) -> String {
    let why = match errno {
        Errno::EPERM => {
            "permission denied: needs CAP_SYS_ADMIN in the initial user namespace \
             (run it as root on the host, not in a container or user namespace)"
        }
        Errno::ENOENT => "no such file, target or tenant",
        Errno::EINVAL => "invalid request (bad value or tenant kind)",
        Errno::EEXIST => "a target with that name already exists",
        Errno::ENOTTY => "not a char device (or mockgpu does not know this request)",
        Errno::ELOOP => "that is a mockgpu node: proxying a proxy is refused",
        Errno::EPROTO => "mockgpu speaks another control ABI version",
        _ => errno.desc(),
    };
    format!("{why} ({errno})")
}

/// The control node.
pub struct Control {
    file: File,
}

impl Control {
    /// Opens the control node.
    pub fn open(path: &str) -> Result<Self, CtlError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| CtlError::Open {
                path: path.to_string(),
                source,
            })?;
        Ok(Control { file })
    }

    /// Proxies the node at `path`; returns the target's name.
    pub fn target_add(&self, path: &str, tenant_kind: u32) -> Result<String, CtlError> {
        let mut req = abi::TargetAdd {
            hdr: hdr::<abi::TargetAdd>(),
            path: [0; abi::PATH_MAX],
            name: [0; abi::NAME_MAX],
            tenant_kind,
            pad: 0,
        };
        copy_c_string(&mut req.path, path, "path")?;
        // SAFETY: `req` is a valid `TargetAdd` that outlives the call.
        unsafe { target_add(self.file.as_raw_fd(), &mut req) }.map_err(|errno| {
            CtlError::Refused {
                what: format!("cannot proxy {path}"),
                errno,
            }
        })?;
        let name = abi::c_string(&req.name).unwrap_or_default();
        Ok(String::from_utf8_lossy(name).into_owned())
    }

    /// Removes the target `name`.
    pub fn target_remove(&self, name: &str) -> Result<(), CtlError> {
        let mut req = abi::TargetRemove {
            hdr: hdr::<abi::TargetRemove>(),
            name: [0; abi::NAME_MAX],
        };
        copy_c_string(&mut req.name, name, "name")?;
        // SAFETY: `req` is a valid `TargetRemove` that outlives the call.
        unsafe { target_remove(self.file.as_raw_fd(), &req) }.map_err(|errno| {
            CtlError::Refused {
                what: format!("cannot remove {name}"),
                errno,
            }
        })?;
        Ok(())
    }
}

impl Control {
    fn limit_req(
        target: &str,
        tenant: abi::Tenant,
        limits: abi::Limits,
    ) -> Result<abi::Limit, CtlError> {
        let mut req = abi::Limit {
            hdr: hdr::<abi::Limit>(),
            target: [0; abi::NAME_MAX],
            tenant,
            limits,
        };
        copy_c_string(&mut req.target, target, "target name")?;
        Ok(req)
    }

    /// Sets the limits of `tenant` on `target`.
    pub fn limit_set(
        &self,
        target: &str,
        tenant: abi::Tenant,
        limits: abi::Limits,
    ) -> Result<(), CtlError> {
        let req = Self::limit_req(target, tenant, limits)?;
        // SAFETY: `req` is a valid `Limit` that outlives the call.
        unsafe { limit_set(self.file.as_raw_fd(), &req) }.map_err(|errno| CtlError::Refused {
            what: format!("cannot set limits on {target}"),
            errno,
        })?;
        Ok(())
    }

    /// The limits in force for `tenant` on `target`.
    pub fn limit_get(&self, target: &str, tenant: abi::Tenant) -> Result<abi::Limits, CtlError> {
        let mut req = Self::limit_req(target, tenant, abi::Limits::NONE)?;
        // SAFETY: `req` is a valid `Limit` that outlives the call.
        unsafe { limit_get(self.file.as_raw_fd(), &mut req) }.map_err(|errno| {
            CtlError::Refused {
                what: format!("cannot read limits on {target}"),
                errno,
            }
        })?;
        Ok(req.limits)
    }

    /// Returns `tenant` to the defaults on `target`.
    pub fn limit_clear(&self, target: &str, tenant: abi::Tenant) -> Result<(), CtlError> {
        let req = Self::limit_req(target, tenant, abi::Limits::NONE)?;
        // SAFETY: `req` is a valid `Limit` that outlives the call.
        unsafe { limit_clear(self.file.as_raw_fd(), &req) }.map_err(|errno| CtlError::Refused {
            what: format!("cannot clear limits on {target}"),
            errno,
        })?;
        Ok(())
    }

    /// The tenant kind `target` counts by (`enum mockgpu_tenant_kind`): the
    /// one whose LIMIT_GET is not refused with EINVAL (a tenant of another
    /// kind is EINVAL, an unknown tenant of the target's kind ENOENT).
    pub fn tenant_kind(&self, target: &str) -> Result<u32, CtlError> {
        for kind in [abi::TENANT_PIDNS, abi::TENANT_CGROUP, abi::TENANT_USERNS] {
            let probe = abi::Tenant {
                kind,
                pad: 0,
                id: 0,
            };
            match self.limit_get(target, probe) {
                Err(CtlError::Refused {
                    errno: Errno::EINVAL,
                    ..
                }) => continue,
                Ok(_)
                | Err(CtlError::Refused {
                    errno: Errno::ENOENT,
                    ..
                }) => return Ok(kind),
                Err(e) => return Err(e),
            }
        }
        Err(CtlError::Refused {
            what: format!("cannot tell which tenants {target} counts"),
            errno: Errno::EINVAL,
        })
    }

    /// Sets a target's ioctl policy: `None` forwards all, else only `cmds`.
    pub fn policy_set(&self, target: &str, cmds: Option<&[u32]>) -> Result<(), CtlError> {
        let mut req = abi::Policy {
            hdr: hdr::<abi::Policy>(),
            target: [0; abi::NAME_MAX],
            mode: abi::POLICY_ALLOW_ALL,
            count: 0,
            cmds: [0; abi::POLICY_MAX],
        };
        copy_c_string(&mut req.target, target, "target name")?;
        if let Some(cmds) = cmds {
            if cmds.len() > abi::POLICY_MAX {
                return Err(CtlError::TooLong {
                    what: "the allowlist",
                    max: abi::POLICY_MAX,
                });
            }
            req.mode = abi::POLICY_ALLOWLIST;
            req.count = cmds.len() as u32;
            req.cmds[..cmds.len()].copy_from_slice(cmds);
        }
        // SAFETY: `req` is a valid `Policy` that outlives the call.
        unsafe { policy_set(self.file.as_raw_fd(), &req) }.map_err(|errno| CtlError::Refused {
            what: format!("cannot set the ioctl policy of {target}"),
            errno,
        })?;
        Ok(())
    }

    /// Every tenant's usage on every target.
    pub fn usage(&self) -> Result<Vec<abi::Usage>, CtlError> {
        let mut cap = 64usize;
        loop {
            let mut entries: Vec<abi::Usage> = Vec::with_capacity(cap);
            let mut req = abi::UsageList {
                hdr: hdr::<abi::UsageList>(),
                capacity: cap as u32,
                count: 0,
                entries: entries.as_mut_ptr() as u64,
            };
            // SAFETY: `entries` has room for `cap` records, which the kernel
            // writes at most; `req` outlives the call.
            unsafe { usage_list(self.file.as_raw_fd(), &mut req) }.map_err(|errno| {
                CtlError::Refused {
                    what: "cannot list the tenants' usage".into(),
                    errno,
                }
            })?;
            let count = req.count as usize;
            if count <= cap {
                // SAFETY: the kernel initialized the first `count` records.
                unsafe { entries.set_len(count) };
                return Ok(entries);
            }
            cap = count + 16;
        }
    }
}

fn hdr<T>() -> abi::Hdr {
    abi::Hdr {
        version: abi::ABI_VERSION,
        size: std::mem::size_of::<T>() as u32,
    }
}

/// Copies `s` into `dst` NUL-terminated.
fn copy_c_string(dst: &mut [u8], s: &str, what: &'static str) -> Result<(), CtlError> {
    let max = dst.len() - 1;
    if s.len() > max || s.as_bytes().contains(&0) {
        return Err(CtlError::TooLong { what, max });
    }
    dst[..s.len()].copy_from_slice(s.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_the_module() {
        // nix computes the numbers from the struct sizes, as the header does.
        assert_eq!(
            nix::request_code_readwrite!(abi::MAGIC, 0x00, std::mem::size_of::<abi::TargetAdd>())
                as u32,
            abi::IOCTL_TARGET_ADD
        );
        assert_eq!(
            nix::request_code_write!(abi::MAGIC, 0x01, std::mem::size_of::<abi::TargetRemove>())
                as u32,
            abi::IOCTL_TARGET_REMOVE
        );
    }

    #[test]
    fn c_string_fields() {
        let mut buf = [0xffu8; 4];
        copy_c_string(&mut buf, "abc", "x").unwrap();
        assert_eq!(&buf[..3], b"abc");
        assert!(copy_c_string(&mut buf, "abcd", "x").is_err());
        assert!(copy_c_string(&mut buf, "a\0", "x").is_err());
    }

    #[test]
    fn errors_are_explained() {
        let e = CtlError::Refused {
            what: "cannot proxy /dev/x".into(),
            errno: Errno::EPERM,
        };
        let msg = e.to_string();
        assert!(msg.contains("CAP_SYS_ADMIN"), "{msg}");
        assert!(msg.contains("EPERM"), "{msg}");
        assert!(msg.contains("not in a container"), "{msg}");
    }
}
