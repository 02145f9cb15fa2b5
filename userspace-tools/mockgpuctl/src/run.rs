//! `mockgpuctl run` and `attach`: put a process tree behind the proxy.
//!
//! `run` makes CMD a container of its own and a new tenant:
//!
//! - new mount, pid, cgroup, IPC and UTS namespaces; a new user namespace if
//!   a target counts tenants by user namespace, and a child cgroup
//!   (`<caller's cgroup>/mockgpu-run-<pid>`) if one counts them by cgroup;
//! - a `/dev` of its own (a tmpfs) holding the proxies bind-mounted at their
//!   real nodes' paths and the harmless nodes of an OCI container (null,
//!   zero, full, random, urandom, tty, a new `/dev/pts`, `/dev/shm`, the
//!   `fd` links), bound from the host's `/dev`; nothing else, so neither the
//!   control node nor any real node is there;
//! - every other mount `nodev`, so a node the command makes with `CAP_MKNOD`
//!   cannot be opened; a fresh read-only sysfs (no debugfs) with the
//!   cgroup2 hierarchy read-only at the container's own cgroup; a fresh
//!   `/proc` with the OCI masked and read-only paths;
//! - the capabilities of a default OCI container (runc/crun) in every set,
//!   no ambient ones, `no_new_privs`, and no fd of ours beyond stdio.
//!
//! The limits are set on the container's tenant of each target's kind (its
//! pid namespace, user namespace or cgroup) before CMD starts and cleared
//! when it ends; the child cgroup is then removed.
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use mockgpu_policy::abi::control as abi;
use nix::errno::Errno;
use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{signal, SigHandler, Signal};
use nix::sys::statvfs::{statvfs, FsFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{execvp, fork, pipe, ForkResult, Pid};

use crate::args::RunArgs;
use crate::sys::Control;
use crate::tenant;

/// The capabilities of a default OCI container (runc's and crun's default
/// `process.capabilities`), by number (linux/capability.h): CHOWN,
/// DAC_OVERRIDE, FOWNER, FSETID, KILL, SETGID, SETUID, SETPCAP,
/// NET_BIND_SERVICE, NET_RAW, SYS_CHROOT, MKNOD, AUDIT_WRITE, SETFCAP.
const OCI_CAPS: [u32; 14] = [0, 1, 3, 4, 5, 6, 7, 8, 10, 13, 18, 27, 29, 31];

/// The host nodes a container gets besides the proxies (bound, not made:
/// `mknod` in a user namespace cannot make device nodes).
const HARMLESS_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// The `/dev` links of an OCI container.
const DEV_LINKS: [(&str, &str); 4] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

/// /proc paths an OCI runtime hides (runc's default `maskedPaths`).
const PROC_MASKED: [&str; 7] = [
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/scsi",
];

/// /proc paths an OCI runtime makes read-only (`readonlyPaths`).
const PROC_READONLY: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The user and group ids of the container's user namespace: all of the
/// host's, so that files keep their owners.
const ID_MAP: &str = "0 0 4294967295\n";

/// The capability mask of [`OCI_CAPS`].
pub fn oci_cap_mask() -> u64 {
    OCI_CAPS.iter().fold(0, |m, c| m | 1u64 << c)
}

/// Where a target's real node is (from /sys/class/mockgpu/<name>/real_path).
pub fn real_path(name: &str) -> Result<String> {
    let p = format!("/sys/class/mockgpu/{name}/real_path");
    Ok(std::fs::read_to_string(&p)
        .with_context(|| format!("no target {name} ({p})"))?
        .trim()
        .to_string())
}

fn cstr(s: &str) -> Result<CString> {
    CString::new(s).with_context(|| format!("'{s}' contains a NUL byte"))
}

/// A target as the container gets it.
struct Exposed {
    name: String,
    /// The tenant kind it counts by (`enum mockgpu_tenant_kind`).
    kind: u32,
    /// The proxy node on the host.
    proxy: String,
    /// Where the container finds it: the real node's path.
    real: String,
}

/// The child cgroup a container runs in, for targets that count cgroups.
struct RunCgroup {
    path: String,
    id: u64,
}

impl RunCgroup {
    /// Creates `<caller's cgroup>/mockgpu-run-<pid>`.
    fn create() -> Result<Self> {
        let me = std::process::id();
        let path = format!("{}/mockgpu-run-{me}", tenant::cgroup_of(me)?);
        std::fs::create_dir(&path)
            .with_context(|| format!("cannot create the container's cgroup {path}"))?;
        let id = tenant::cgroup_id(&path)?;
        Ok(RunCgroup { path, id })
    }

    /// Moves the calling process into the cgroup.
    fn join(&self) -> Result<()> {
        std::fs::write(format!("{}/cgroup.procs", self.path), "0")
            .with_context(|| format!("cannot move into the cgroup {}", self.path))
    }

    /// Removes the cgroup once its last process is gone (its exit may be
    /// seen a moment before the cgroup is unpopulated).
    fn remove(&self) -> Result<()> {
        for _ in 0..100 {
            match std::fs::remove_dir(&self.path) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => return r.with_context(|| format!("cannot remove the cgroup {}", self.path)),
            }
        }
        bail!("the cgroup {} stays busy; not removed", self.path)
    }
}

/// Runs `args.cmd` as a new tenant in a container; returns its exit status.
pub fn run(control: &str, args: RunArgs) -> Result<ExitCode> {
    let ctl = Control::open(control)?;
    let names = if args.target.is_empty() {
        crate::targets()?
    } else {
        args.target.clone()
    };
    if names.is_empty() {
        bail!("no target to expose: add one with 'mockgpuctl target add PATH'");
    }
    crate::compute::check_share(&names, args.limits.compute, args.force)?;
    let exposed: Vec<Exposed> = names
        .iter()
        .map(|t| {
            Ok(Exposed {
                real: real_path(t)?,
                kind: ctl.tenant_kind(t)?,
                proxy: format!("/dev/mockgpu/{t}"),
                name: t.clone(),
            })
        })
        .collect::<Result<_>>()?;
    let argv: Vec<CString> = args.cmd.iter().map(|a| cstr(a)).collect::<Result<_>>()?;
    let userns = exposed.iter().any(|e| e.kind == abi::TENANT_USERNS);
    let cgroup = if exposed.iter().any(|e| e.kind == abi::TENANT_CGROUP) {
        Some(RunCgroup::create()?)
    } else {
        None
    };
    let cwd = std::env::current_dir().ok();
    let setup = Setup {
        exposed: &exposed,
        cgroup: cgroup.as_ref(),
        userns,
        argv: &argv,
        cwd: cwd.as_deref(),
    };

    let (up_r, up_w) = pipe()?;
    let (down_r, down_w) = pipe()?;
    // SAFETY: single-threaded here; the child execs or exits.
    let leader = match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            drop(up_r);
            drop(down_w);
            let code = setup.leader(up_w, down_r).unwrap_or_else(|e| {
                eprintln!("mockgpuctl run: {e:#}");
                127
            });
            std::process::exit(code);
        }
        Ok(ForkResult::Parent { child }) => child,
        Err(e) => {
            if let Some(cg) = &cgroup {
                let _ = cg.remove();
            }
            return Err(e).context("fork");
        }
    };
    drop(up_w);
    drop(down_r);
    // The terminal's ^C and ^\ are for the container; this process stays to
    // clean up after it.
    for sig in [Signal::SIGINT, Signal::SIGQUIT] {
        // SAFETY: SIG_IGN installs no handler.
        unsafe { signal(sig, SigHandler::SigIgn) }?;
    }
    let mut set = Vec::new();
    let started = setup.configure(
        &ctl,
        &args.limits,
        leader,
        File::from(up_r),
        File::from(down_w),
        &mut set,
    );
    let status = waitpid(leader, None);
    for (t, key) in set {
        let _ = ctl.limit_clear(&t, key);
    }
    let removed = cgroup.as_ref().map_or(Ok(()), RunCgroup::remove);
    started?;
    removed?;
    Ok(match status? {
        WaitStatus::Exited(_, code) => ExitCode::from(code as u8),
        _ => ExitCode::FAILURE,
    })
}

/// What the container's processes need to know.
struct Setup<'a> {
    exposed: &'a [Exposed],
    cgroup: Option<&'a RunCgroup>,
    userns: bool,
    argv: &'a [CString],
    cwd: Option<&'a Path>,
}

impl Setup<'_> {
    /// In the caller: maps the container's user namespace, sets the limits on
    /// the container's tenants (recorded in `set`), then lets CMD start.
    fn configure(
        &self,
        ctl: &Control,
        limits: &crate::args::LimitArgs,
        leader: Pid,
        mut up: File,
        mut down: File,
        set: &mut Vec<(String, abi::Tenant)>,
    ) -> Result<()> {
        let gone = "the container did not start";
        if self.userns {
            let mut b = [0u8; 1];
            up.read_exact(&mut b).context(gone)?;
            for map in ["uid_map", "gid_map"] {
                let path = format!("/proc/{leader}/{map}");
                std::fs::write(&path, ID_MAP).with_context(|| format!("cannot write {path}"))?;
            }
            down.write_all(b"m").context(gone)?;
        }
        let mut pid = [0u8; 4];
        up.read_exact(&mut pid).context(gone)?;
        let init = u32::from_ne_bytes(pid);
        for e in self.exposed {
            let id = match e.kind {
                abi::TENANT_PIDNS => tenant::ns_id(init, "pid")?,
                abi::TENANT_USERNS => tenant::ns_id(init, "user")?,
                _ => self.cgroup.context("no cgroup for a cgroup target")?.id,
            };
            let key = tenant::tenant(e.kind, id);
            ctl.limit_set(&e.name, key, crate::to_abi(limits))?;
            set.push((e.name.clone(), key));
        }
        down.write_all(b"g")
            .context("the container died before it could start")?;
        Ok(())
    }

    /// The first child: joins the cgroup, builds the container's view of
    /// the file system, enters the remaining namespaces, then forks the
    /// container's init (pid 1 of the new pid namespace) and waits for it.
    fn leader(&self, up: OwnedFd, down: OwnedFd) -> Result<i32> {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        if let Some(cg) = self.cgroup {
            cg.join()?;
        }
        // The cgroup namespace is rooted at the cgroup just joined.
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWCGROUP)
            .context("unshare (are you root?)")?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .context("making / private")?;
        self.build_view()?;
        let mut up = File::from(up);
        let mut down = File::from(down);
        let rest = CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWIPC | CloneFlags::CLONE_NEWUTS;
        if self.userns {
            unshare(CloneFlags::CLONE_NEWUSER).context("creating the user namespace")?;
            up.write_all(b"u")?;
            let mut b = [0u8; 1];
            down.read_exact(&mut b)
                .map_err(|_| anyhow!("the user namespace was not mapped; not starting"))?;
            // A mount namespace of the new user namespace, so that init can
            // mount its /proc (the mounts made above are locked in it).
            unshare(CloneFlags::CLONE_NEWNS | rest).context("unshare in the user namespace")?;
        } else {
            unshare(rest).context("unshare")?;
        }
        // SAFETY: single-threaded; the child execs or exits.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(up);
                let err = self.init(down);
                eprintln!("mockgpuctl run: {err:#}");
                std::process::exit(127);
            }
            ForkResult::Parent { child } => {
                drop(down);
                up.write_all(&(child.as_raw() as u32).to_ne_bytes())?;
                drop(up);
                Ok(match waitpid(child, None)? {
                    WaitStatus::Exited(_, code) => code,
                    WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
                    _ => 1,
                })
            }
        }
    }

    /// In the leader's new mount namespace, still with the caller's
    /// privileges: the container's /dev, sysfs and cgroupfs, and `nodev`
    /// everywhere else.
    fn build_view(&self) -> Result<()> {
        // The nodes it keeps, cloned before /dev is covered and before the
        // mounts they are on become nodev.
        let mut nodes = Vec::new();
        for e in self.exposed {
            nodes.push((clone_tree(&e.proxy)?, e.real.clone()));
        }
        for n in HARMLESS_NODES {
            match clone_tree(&format!("/dev/{n}")) {
                Ok(fd) => nodes.push((fd, format!("/dev/{n}"))),
                Err(e) if errno_of(&e) == Some(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        nodev_everywhere()?;

        let rw = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount_fs(
            "tmpfs",
            "/dev",
            rw | MsFlags::MS_STRICTATIME,
            "mode=755,size=65536k",
        )?;
        for (tree, dst) in &nodes {
            if let Some(dir) = Path::new(dst).parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {dir:?}"))?;
            }
            if std::fs::symlink_metadata(dst).is_err() {
                File::create(dst).with_context(|| format!("creating {dst}"))?;
            }
            move_tree(tree, dst)?;
        }
        mkdir("/dev/pts")?;
        match mount_fs(
            "devpts",
            "/dev/pts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620",
        ) {
            Ok(()) => symlink("pts/ptmx", "/dev/ptmx")?,
            // A kernel without Unix98 ptys: a container without them.
            Err(e) if errno_of(&e) == Some(Errno::ENODEV) => {
                std::fs::remove_dir("/dev/pts").context("removing /dev/pts")?
            }
            Err(e) => return Err(e),
        }
        mkdir("/dev/shm")?;
        mount_fs("tmpfs", "/dev/shm", rw, "mode=1777,size=65536k")?;
        for (name, to) in DEV_LINKS {
            symlink(to, &format!("/dev/{name}"))?;
        }

        // A sysfs of its own, read-only, without debugfs, configfs or the
        // host's cgroupfs below it; the cgroup2 hierarchy read-only from the
        // container's own cgroup (its cgroup namespace) down.
        // (A new sysfs instance would be the same superblock on the same
        // mount point, which mount refuses; a non-recursive bind is that
        // without the mounts below it.)
        let ro = rw | MsFlags::MS_RDONLY;
        bind_read_only("/sys", ro, false)?;
        match mount_fs("cgroup2", "/sys/fs/cgroup", ro, "") {
            Err(e) if matches!(errno_of(&e), Some(Errno::ENOENT) | Some(Errno::ENODEV)) => {}
            r => r?,
        }
        Ok(())
    }

    /// Pid 1 of the container: waits until the limits are set, then its own
    /// /proc, the OCI capability set, and CMD.
    fn init(&self, down: File) -> anyhow::Error {
        let mut go = [0u8; 1];
        if { down }.read_exact(&mut go).is_err() {
            return anyhow!("limits were not set; not starting");
        }
        if let Err(e) = self.finish() {
            return e;
        }
        match execvp(&self.argv[0], self.argv) {
            Err(e) => anyhow!("cannot run {:?}: {e}", self.argv[0]),
            Ok(never) => match never {},
        }
    }

    fn finish(&self) -> Result<()> {
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
        mount_fs(
            "proc",
            "/proc",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            "",
        )?;
        mask_proc()?;
        // The working directory as the container sees it (the caller's may
        // be a directory the new mounts cover, e.g. the host's /dev).
        match self.cwd {
            Some(dir) if std::env::set_current_dir(dir).is_ok() => {}
            _ => std::env::set_current_dir("/").context("chdir /")?,
        }
        drop_capabilities()?;
        // No fd of the caller's but stdio reaches CMD.
        // SAFETY: close_range with integer arguments.
        let r = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if r != 0 {
            bail!("close_range: {}", std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The errno an error comes from, if it does.
fn errno_of(e: &anyhow::Error) -> Option<Errno> {
    e.root_cause().downcast_ref::<Errno>().copied()
}

/// A mount of a new instance of `fstype` at `dst`.
fn mount_fs(fstype: &str, dst: &str, flags: MsFlags, data: &str) -> Result<()> {
    let data = (!data.is_empty()).then_some(data);
    mount(Some(fstype), dst, Some(fstype), flags, data)
        .with_context(|| format!("mounting {fstype} at {dst}"))
}

fn mkdir(path: &str) -> Result<()> {
    std::fs::create_dir(path).with_context(|| format!("creating {path}"))
}

fn symlink(to: &str, at: &str) -> Result<()> {
    std::os::unix::fs::symlink(to, at).with_context(|| format!("creating the link {at}"))
}

/// Binds `path` over itself (with the mounts below it if `rec`) and makes
/// the bind read-only with `flags`.
fn bind_read_only(path: &str, flags: MsFlags, rec: bool) -> Result<()> {
    let rec = if rec {
        MsFlags::MS_REC
    } else {
        MsFlags::empty()
    };
    mount(
        Some(path),
        path,
        None::<&str>,
        MsFlags::MS_BIND | rec,
        None::<&str>,
    )
    .with_context(|| format!("binding {path}"))?;
    mount(
        None::<&str>,
        path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | flags,
        None::<&str>,
    )
    .with_context(|| format!("making {path} read-only"))
}

/// A detached copy of the mount of `path` (a bind of that one file).
fn clone_tree(path: &str) -> Result<OwnedFd> {
    let c = cstr(path)?;
    // SAFETY: a path and flags; returns an fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            c.as_ptr(),
            (libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC) as libc::c_uint,
        )
    };
    if fd < 0 {
        return Err(Errno::last()).with_context(|| format!("cannot clone {path}"));
    }
    // SAFETY: `fd` is a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches a detached mount (from [`clone_tree`]) at `dst`.
fn move_tree(tree: &OwnedFd, dst: &str) -> Result<()> {
    let dst_c = cstr(dst)?;
    let empty = cstr("")?;
    // SAFETY: valid fds and NUL-terminated paths.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            tree.as_raw_fd(),
            empty.as_ptr(),
            libc::AT_FDCWD,
            dst_c.as_ptr(),
            libc::MOVE_MOUNT_F_EMPTY_PATH as libc::c_uint,
        )
    };
    if r != 0 {
        return Err(Errno::last()).with_context(|| format!("cannot mount a node at {dst}"));
    }
    Ok(())
}

/// The per-mount flags a bind remount must repeat (a remount replaces them
/// all, and a user namespace may not clear a locked one).
fn mount_flags(st: FsFlags) -> MsFlags {
    [
        (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ]
    .into_iter()
    .filter(|(s, _)| st.contains(*s))
    .fold(MsFlags::empty(), |m, (_, f)| m | f)
}

/// Every mount point of a mountinfo text, in order, once each.
fn mount_points(mountinfo: &str) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for mp in mountinfo.lines().filter_map(|l| l.split(' ').nth(4)) {
        let mp = tenant::unescape(mp);
        if !v.contains(&mp) {
            v.push(mp);
        }
    }
    v
}

/// Adds `nodev` to every mount of this mount namespace: the container may
/// make device nodes (`CAP_MKNOD` is in the OCI set) but not open them.
fn nodev_everywhere() -> Result<()> {
    let mi = std::fs::read_to_string("/proc/self/mountinfo").context("reading mountinfo")?;
    for mp in mount_points(&mi) {
        let flags = match statvfs(mp.as_str()) {
            Ok(st) => mount_flags(st.flags()),
            // Covered by a later mount: out of the container's reach.
            Err(Errno::ENOENT) | Err(Errno::EACCES) => continue,
            Err(e) => return Err(e).with_context(|| format!("statvfs {mp}")),
        };
        mount(
            None::<&str>,
            mp.as_str(),
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_NODEV | flags,
            None::<&str>,
        )
        .with_context(|| format!("remounting {mp} nodev"))?;
    }
    Ok(())
}

/// The OCI masked paths (a file gets /dev/null over it, a directory an empty
/// read-only tmpfs) and read-only paths of /proc.
fn mask_proc() -> Result<()> {
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    for p in PROC_MASKED {
        match std::fs::symlink_metadata(p) {
            Ok(md) if md.is_dir() => mount_fs("tmpfs", p, ro, "size=0")?,
            Ok(_) => mount(
                Some("/dev/null"),
                p,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .with_context(|| format!("masking {p}"))?,
            Err(_) => {}
        }
    }
    for p in PROC_READONLY {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        bind_read_only(p, ro, true)?;
    }
    Ok(())
}

/// Header and data of capset(2), version 3 (64-bit sets).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Leaves the OCI capabilities in the bounding, permitted, effective and
/// inheritable sets, none ambient, and sets `no_new_privs`.
fn drop_capabilities() -> Result<()> {
    let keep = oci_cap_mask();
    let mut cap = 0u32;
    // SAFETY (both prctl calls): integer arguments. PR_CAPBSET_READ fails
    // past the last capability the kernel knows.
    while unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } >= 0 {
        if keep & (1u64 << cap) == 0
            && unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0
        {
            bail!(
                "dropping capability {cap}: {}",
                std::io::Error::last_os_error()
            );
        }
        cap += 1;
    }
    let mut hdr = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let half = |shift: u32| {
        let v = (keep >> shift) as u32;
        CapData {
            effective: v,
            permitted: v,
            inheritable: v,
        }
    };
    let data = [half(0), half(32)];
    // SAFETY: a v3 header and two data records, as capset(2) reads them.
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) } != 0 {
        bail!("capset: {}", std::io::Error::last_os_error());
    }
    // SAFETY: prctl with integer arguments.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r != 0 {
        bail!(
            "clearing ambient capabilities: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        bail!("no_new_privs: {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// Binds the proxy of each target over its real node inside the mount
/// namespace of `pid`. The proxy is cloned as a detached mount first
/// (`open_tree`), since the container may not see /dev/mockgpu.
pub fn attach(pid: u32, targets: &[String]) -> Result<()> {
    let mut trees = Vec::new();
    for t in targets {
        trees.push((clone_tree(&format!("/dev/mockgpu/{t}"))?, real_path(t)?));
    }
    let ns =
        File::open(format!("/proc/{pid}/ns/mnt")).with_context(|| format!("no process {pid}"))?;
    setns(&ns, CloneFlags::CLONE_NEWNS).context("entering the mount namespace (are you root?)")?;
    for (tree, real) in &trees {
        if std::fs::metadata(real).is_err() {
            File::create(real).with_context(|| format!("creating {real} in the container"))?;
        }
        move_tree(tree, real).with_context(|| format!("cannot mount the proxy over {real}"))?;
        println!("pid {pid}: {real} is now the mockgpu proxy");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oci_default_capabilities() {
        // What `docker run` and `podman run` show as CapEff in
        // /proc/self/status.
        assert_eq!(oci_cap_mask(), 0xa804_25fb);
        // CAP_SYS_ADMIN, CAP_DAC_READ_SEARCH and CAP_CHECKPOINT_RESTORE are
        // not in it.
        for cap in [21, 2, 40] {
            assert_eq!(oci_cap_mask() & 1 << cap, 0, "{cap}");
        }
    }

    #[test]
    fn mount_points_are_unescaped_and_unique() {
        let mi = "1 0 0:1 / / rw - rootfs rootfs rw\n\
                  2 1 0:5 / /dev rw - devtmpfs devtmpfs rw\n\
                  3 1 0:6 / /my\\040dir rw - tmpfs tmpfs rw\n\
                  4 1 0:7 / /dev rw - tmpfs tmpfs rw\n";
        assert_eq!(mount_points(mi), ["/", "/dev", "/my dir"]);
    }

    #[test]
    fn remounts_keep_the_flags() {
        let f = mount_flags(FsFlags::ST_NOSUID | FsFlags::ST_RELATIME | FsFlags::ST_RDONLY);
        assert_eq!(
            f,
            MsFlags::MS_NOSUID | MsFlags::MS_RELATIME | MsFlags::MS_RDONLY
        );
    }
}
