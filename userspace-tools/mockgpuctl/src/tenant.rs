//! Naming tenants: from a process, a namespace id or a cgroup path.
//!
//! A pid or user namespace tenant is the namespace's unique 64-bit id, the
//! one `ioctl(NS_GET_ID)` on `/proc/PID/ns/<ns>` returns (never reused while
//! the system runs, unlike the namespace's inode number). A cgroup tenant is
//! the cgroup v2 id, the inode number of the cgroup's directory.
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use anyhow::{bail, Context, Result};
use mockgpu_policy::abi::control as abi;
use nix::errno::Errno;

use crate::args::{TenantKind, TenantSel};

/// `ioctl` type of `linux/nsfs.h`.
const NSIO: u8 = 0xb7;

// NS_GET_ID = _IOR(NSIO, 13, __u64): the namespace's unique id.
nix::ioctl_read!(ns_get_id_ioctl, NSIO, 13, u64);

impl TenantKind {
    /// The ABI value.
    pub fn abi(self) -> u32 {
        match self {
            TenantKind::Pidns => abi::TENANT_PIDNS,
            TenantKind::Cgroup => abi::TENANT_CGROUP,
            TenantKind::Userns => abi::TENANT_USERNS,
        }
    }
}

/// The unique id of the namespace behind an nsfs file (`NS_GET_ID`).
pub fn ns_id_of(file: &File) -> Result<u64, Errno> {
    let mut id = 0u64;
    // SAFETY: `id` is a u64 the kernel writes; the fd is open for the call.
    unsafe { ns_get_id_ioctl(file.as_raw_fd(), &mut id) }?;
    Ok(id)
}

/// The unique id of a namespace of a process (`/proc/PID/ns/<ns>`, e.g.
/// `pid` or `user`).
pub fn ns_id(pid: u32, ns: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/ns/{ns}");
    let file =
        File::open(&path).with_context(|| format!("cannot open {path} (no such process?)"))?;
    ns_id_of(&file).map_err(|e| match e {
        Errno::ENOTTY | Errno::EINVAL => {
            anyhow::anyhow!("{path}: this kernel has no NS_GET_ID (namespace ids need Linux 6.18+)")
        }
        e => anyhow::anyhow!("{path}: NS_GET_ID: {e}"),
    })
}

/// The cgroup v2 id of a cgroup directory (its inode number).
pub fn cgroup_id(path: &str) -> Result<u64> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot read cgroup {path}"))?;
    if !md.is_dir() {
        bail!("{path} is not a cgroup directory");
    }
    Ok(md.ino())
}

/// Where the cgroup v2 hierarchy is mounted (its root, not a subtree), from
/// a mountinfo text.
pub fn cgroup2_mount_in(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        let mut f = pre.split(' ');
        let root = f.nth(3)?;
        let mountpoint = f.next()?;
        (post.split(' ').next()? == "cgroup2" && root == "/").then(|| unescape(mountpoint))
    })
}

/// A mountinfo field with its octal escapes (`\040` for a space) decoded.
pub fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], oct) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup v2 directory of a process (under the host's cgroup2 mount).
pub fn cgroup_of(pid: u32) -> Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .with_context(|| format!("cannot read /proc/{pid}/cgroup"))?;
    let rel = cgroup_path_in(&text).context("the process has no cgroup v2")?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .context("cannot read /proc/self/mountinfo")?;
    let mnt = cgroup2_mount_in(&mountinfo).unwrap_or_else(|| "/sys/fs/cgroup".into());
    Ok(format!(
        "{}{}",
        mnt.trim_end_matches('/'),
        rel.trim_end_matches('/')
    ))
}

/// The cgroup v2 path in a `/proc/PID/cgroup` text.
fn cgroup_path_in(text: &str) -> Option<&str> {
    text.lines().find_map(|l| l.strip_prefix("0::"))
}

/// A process's tenant of each kind (the pid, user namespace and cgroup ids),
/// as far as they can be read.
pub fn of_process(pid: u32) -> Result<Vec<abi::Tenant>> {
    let mut v = vec![
        tenant(abi::TENANT_PIDNS, ns_id(pid, "pid")?),
        tenant(abi::TENANT_USERNS, ns_id(pid, "user")?),
    ];
    if let Ok(cg) = cgroup_of(pid).and_then(|p| cgroup_id(&p)) {
        v.push(tenant(abi::TENANT_CGROUP, cg));
    }
    Ok(v)
}

/// A tenant key.
pub fn tenant(kind: u32, id: u64) -> abi::Tenant {
    abi::Tenant { kind, pad: 0, id }
}

/// The tenants a selection names: one per kind it can be read as (a `--pid`
/// names a tenant of each kind; the target's kind picks one).
pub fn resolve(sel: &TenantSel) -> Result<Vec<abi::Tenant>> {
    Ok(if let Some(pid) = sel.pid {
        of_process(pid)?
    } else if let Some(id) = sel.pidns {
        vec![tenant(abi::TENANT_PIDNS, id)]
    } else if let Some(id) = sel.userns {
        vec![tenant(abi::TENANT_USERNS, id)]
    } else if let Some(path) = &sel.cgroup {
        vec![tenant(abi::TENANT_CGROUP, cgroup_id(path)?)]
    } else {
        bail!("name a tenant with --pid, --pidns, --userns or --cgroup")
    })
}

/// A short name for a tenant kind.
pub fn kind_name(kind: u32) -> &'static str {
    match kind {
        abi::TENANT_PIDNS => "pidns",
        abi::TENANT_CGROUP => "cgroup",
        abi::TENANT_USERNS => "userns",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sel() -> TenantSel {
        TenantSel {
            pid: None,
            pidns: None,
            cgroup: None,
            userns: None,
        }
    }

    #[test]
    fn ns_get_id_is_the_nsfs_number() {
        // _IOR(0xb7, 13, __u64) in linux/nsfs.h.
        assert_eq!(nix::request_code_read!(NSIO, 13, 8) as u32, 0x8008_b70d);
    }

    #[test]
    fn a_pid_names_its_namespaces_by_id_not_inode() {
        let me = std::process::id();
        let pidns = File::open("/proc/self/ns/pid").unwrap();
        let id = match ns_id_of(&pidns) {
            Ok(id) => id,
            // An older host kernel: nothing to compare.
            Err(Errno::ENOTTY) | Err(Errno::EINVAL) => return,
            Err(e) => panic!("NS_GET_ID: {e}"),
        };
        let keys = resolve(&TenantSel {
            pid: Some(me),
            ..sel()
        })
        .unwrap();
        assert_eq!(keys[0].kind, abi::TENANT_PIDNS);
        assert_eq!(keys[0].id, id);
        assert_ne!(keys[0].id, pidns.metadata().unwrap().ino());
        let userns = File::open("/proc/self/ns/user").unwrap();
        assert_eq!(keys[1].kind, abi::TENANT_USERNS);
        assert_eq!(keys[1].id, ns_id_of(&userns).unwrap());
    }

    #[test]
    fn ids_pass_through() {
        let k = resolve(&TenantSel {
            pidns: Some(42),
            ..sel()
        })
        .unwrap();
        assert_eq!((k[0].kind, k[0].id), (abi::TENANT_PIDNS, 42));
        let k = resolve(&TenantSel {
            userns: Some(7),
            ..sel()
        })
        .unwrap();
        assert_eq!((k[0].kind, k[0].id), (abi::TENANT_USERNS, 7));
        assert!(resolve(&sel()).is_err());
    }

    #[test]
    fn mountinfo_and_cgroup_parsing() {
        let mi = "22 1 0:21 / /sys rw - sysfs sysfs rw\n\
                  30 22 0:26 /sub /mnt/part rw - cgroup2 cgroup2 rw\n\
                  31 22 0:26 / /sys/fs/my\\040cg rw,nosuid - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount_in(mi).as_deref(), Some("/sys/fs/my cg"));
        assert_eq!(
            cgroup2_mount_in("22 1 0:21 / /sys rw - sysfs sysfs rw\n"),
            None
        );
        assert_eq!(unescape("a\\011b\\\\c\\0"), "a\tb\\\\c\\0");
        assert_eq!(
            cgroup_path_in("1:name=x:/a\n0::/user.slice/x\n"),
            Some("/user.slice/x")
        );
        assert_eq!(cgroup_path_in("1:name=x:/a\n"), None);
    }

    #[test]
    fn kinds_have_names() {
        for k in [TenantKind::Pidns, TenantKind::Cgroup, TenantKind::Userns] {
            assert_ne!(kind_name(k.abi()), "?");
        }
        assert_eq!(kind_name(99), "?");
    }
}
