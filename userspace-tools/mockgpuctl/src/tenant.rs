//! Naming tenants: from a process, a namespace inode or a cgroup path.
use std::os::unix::fs::MetadataExt;

use anyhow::{bail, Context, Result};
use mockgpu_policy::abi::control as abi;

use crate::args::{TenantKind, TenantSel};

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

/// The inode of a namespace of a process (`/proc/PID/ns/<ns>`).
pub fn ns_inode(pid: u32, ns: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/ns/{ns}");
    Ok(std::fs::metadata(&path)
        .with_context(|| format!("cannot read {path} (no such process?)"))?
        .ino())
}

/// The cgroup v2 id of a cgroup directory (its inode number).
pub fn cgroup_id(path: &str) -> Result<u64> {
    let md = std::fs::metadata(path).with_context(|| format!("cannot read cgroup {path}"))?;
    if !md.is_dir() {
        bail!("{path} is not a cgroup directory");
    }
    Ok(md.ino())
}

/// The cgroup v2 directory of a process.
fn cgroup_of(pid: u32) -> Result<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .with_context(|| format!("cannot read /proc/{pid}/cgroup"))?;
    let rel = text
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .context("the process has no cgroup v2")?;
    Ok(format!("/sys/fs/cgroup{rel}"))
}

/// The tenants a selection names: one per kind it can be read as (a `--pid`
/// names a tenant of each kind; the target's kind picks one).
pub fn resolve(sel: &TenantSel) -> Result<Vec<abi::Tenant>> {
    let t = |kind: u32, id: u64| abi::Tenant { kind, pad: 0, id };
    Ok(if let Some(pid) = sel.pid {
        let mut v = vec![
            t(abi::TENANT_PIDNS, ns_inode(pid, "pid")?),
            t(abi::TENANT_USERNS, ns_inode(pid, "user")?),
        ];
        if let Ok(cg) = cgroup_of(pid).and_then(|p| cgroup_id(&p)) {
            v.push(t(abi::TENANT_CGROUP, cg));
        }
        v
    } else if let Some(ino) = sel.pidns {
        vec![t(abi::TENANT_PIDNS, ino)]
    } else if let Some(ino) = sel.userns {
        vec![t(abi::TENANT_USERNS, ino)]
    } else if let Some(path) = &sel.cgroup {
        vec![t(abi::TENANT_CGROUP, cgroup_id(path)?)]
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
