//! `mockgpuctl run` and `attach`: put a process tree behind the proxy.
//!
//! `run` starts CMD in new pid and mount namespaces. In the mount namespace
//! each proxy node is bind-mounted over its real node's path, a fresh /proc
//! shows only the tenant's processes, and CAP_MKNOD and CAP_SYS_ADMIN are
//! dropped from the bounding set before exec, so the tenant can neither
//! create a node of the real device nor unmount the proxy to uncover it.
//! The limits are set for the new pid namespace before CMD starts, and
//! cleared when it ends.
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execvp, fork, pipe, ForkResult};

use crate::args::{RunArgs, TenantSel};
use crate::sys::Control;

// Capability numbers of linux/capability.h.
const CAP_SYS_MODULE: u32 = 16;
const CAP_SYS_RAWIO: u32 = 17;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_MKNOD: u32 = 27;

/// Where a target's real node is (from /sys/class/mockgpu/<name>/real_path).
pub fn real_path(name: &str) -> Result<String> {
    let p = format!("/sys/class/mockgpu/{name}/real_path");
    Ok(std::fs::read_to_string(&p)
        .with_context(|| format!("no target {name} ({p})"))?
        .trim()
        .to_string())
}

/// The real path if known, else where such a node usually lives.
pub fn real_path_guess(name: &str) -> String {
    real_path(name).unwrap_or_else(|_| {
        if name.starts_with("renderD") || name.starts_with("card") {
            format!("/dev/dri/{name}")
        } else {
            format!("/dev/{name}")
        }
    })
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("'{s}' contains a NUL byte"))
}

/// Runs `args.cmd` as a new tenant; returns its exit status.
pub fn run(control: &str, args: RunArgs) -> Result<ExitCode> {
    let ctl = Control::open(control)?;
    let targets = if args.target.is_empty() {
        crate::targets()?
    } else {
        args.target.clone()
    };
    if targets.is_empty() {
        bail!("no target to expose: add one with 'mockgpuctl target add PATH'");
    }
    let binds: Vec<(String, String)> = targets
        .iter()
        .map(|t| Ok((format!("/dev/mockgpu/{t}"), real_path(t)?)))
        .collect::<Result<_>>()?;
    let argv: Vec<CString> = args.cmd.iter().map(|a| cstr(a)).collect::<Result<_>>()?;

    let (pid_r, pid_w) = pipe()?;
    let (go_r, go_w) = pipe()?;
    // SAFETY: single-threaded here; the child only calls async-signal-safe
    // functions and exec or exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(pid_r);
            drop(go_w);
            let code = match tenant_leader(&binds, &argv, pid_w, go_r) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("mockgpuctl run: {e:#}");
                    127
                }
            };
            std::process::exit(code);
        }
        ForkResult::Parent { child } => {
            drop(pid_w);
            drop(go_r);
            let mut buf = [0u8; 4];
            let mut f = File::from(pid_r);
            f.read_exact(&mut buf).context("the tenant did not start")?;
            let tenant_pid = u32::from_ne_bytes(buf);
            let sel = TenantSel {
                pid: Some(tenant_pid),
                pidns: None,
                cgroup: None,
                userns: None,
            };
            let mut set = Vec::new();
            let mut result = Ok(());
            for t in &targets {
                match crate::set_limits_quiet(&ctl, t, &sel, &args.limits) {
                    Ok(key) => set.push((t.clone(), key)),
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            let mut go = File::from(go_w);
            if result.is_ok() {
                go.write_all(b"g")
                    .context("the tenant died before it could start")?;
            }
            drop(go);
            let status = waitpid(child, None)?;
            for (t, key) in set {
                let _ = ctl.limit_clear(&t, key);
            }
            result?;
            Ok(match status {
                WaitStatus::Exited(_, code) => ExitCode::from(code as u8),
                _ => ExitCode::FAILURE,
            })
        }
    }
}

/// In the first child: new namespaces, the proxy over the real nodes; forks
/// the tenant's init (pid 1 of the new pid namespace) and waits for it.
fn tenant_leader(
    binds: &[(String, String)],
    argv: &[CString],
    pid_w: OwnedFd,
    go_r: OwnedFd,
) -> Result<i32> {
    unshare(CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS)
        .context("unshare (are you root?)")?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .context("making / private")?;
    for (proxy, real) in binds {
        mount(
            Some(proxy.as_str()),
            real.as_str(),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .with_context(|| format!("binding {proxy} over {real}"))?;
    }
    // SAFETY: single-threaded; the child execs or exits.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let err = tenant_init(argv, go_r);
            eprintln!("mockgpuctl run: {err:#}");
            std::process::exit(127);
        }
        ForkResult::Parent { child } => {
            drop(go_r);
            let mut w = File::from(pid_w);
            w.write_all(&(child.as_raw() as u32).to_ne_bytes())?;
            drop(w);
            Ok(match waitpid(child, None)? {
                WaitStatus::Exited(_, code) => code,
                WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
                _ => 1,
            })
        }
    }
}

/// Pid 1 of the tenant: a /proc of its own, fewer capabilities, then CMD.
fn tenant_init(argv: &[CString], go_r: OwnedFd) -> anyhow::Error {
    let mut go = [0u8; 1];
    if File::from(go_r).read_exact(&mut go).is_err() {
        return anyhow::anyhow!("limits were not set; not starting");
    }
    if let Err(e) = mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    ) {
        return anyhow::anyhow!("mounting /proc: {e}");
    }
    for cap in [CAP_MKNOD, CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_RAWIO] {
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            return anyhow::anyhow!(
                "dropping capability {cap}: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    match execvp(&argv[0], argv) {
        Err(e) => anyhow::anyhow!("cannot run {:?}: {e}", argv[0]),
        Ok(never) => match never {},
    }
}

/// Binds the proxy of each target over its real node inside the mount
/// namespace of `pid`. The proxy is cloned as a detached mount first
/// (`open_tree`), since the container may not see /dev/mockgpu.
pub fn attach(pid: u32, targets: &[String]) -> Result<()> {
    let mut trees = Vec::new();
    for t in targets {
        let proxy = cstr(&format!("/dev/mockgpu/{t}"))?;
        // SAFETY: a path and flags; returns an fd or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_open_tree,
                libc::AT_FDCWD,
                proxy.as_ptr(),
                (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint,
            )
        };
        if fd < 0 {
            bail!(
                "cannot clone {}: {}",
                proxy.to_string_lossy(),
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: `fd` is a new fd we own.
        trees.push((unsafe { OwnedFd::from_raw_fd(fd as i32) }, real_path(t)?));
    }
    let ns =
        File::open(format!("/proc/{pid}/ns/mnt")).with_context(|| format!("no process {pid}"))?;
    setns(&ns, CloneFlags::CLONE_NEWNS).context("entering the mount namespace (are you root?)")?;
    for (tree, real) in &trees {
        if std::fs::metadata(real).is_err() {
            File::create(real).with_context(|| format!("creating {real} in the container"))?;
        }
        let dst = cstr(real)?;
        let empty = cstr("")?;
        // SAFETY: valid fds and NUL-terminated paths.
        let r = unsafe {
            libc::syscall(
                libc::SYS_move_mount,
                tree.as_raw_fd(),
                empty.as_ptr(),
                libc::AT_FDCWD,
                dst.as_ptr(),
                libc::MOVE_MOUNT_F_EMPTY_PATH as libc::c_uint,
            )
        };
        if r != 0 {
            bail!(
                "cannot mount the proxy over {real}: {}",
                std::io::Error::last_os_error()
            );
        }
        println!("pid {pid}: {real} is now the mockgpu proxy");
    }
    Ok(())
}
