//! mockgpu's targets as the plugin sees them: `/sys/class/mockgpu/<name>/real_path`
//! says which targets exist and where their real nodes are; opening
//! `/dev/mockgpu/<name>` says whether the proxy works.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Lists the targets under `sysfs_root` (`/sys/class/mockgpu`): name and the
/// real node's path. A directory without `real_path` is skipped.
pub fn scan(sysfs_root: &Path) -> io::Result<BTreeMap<String, String>> {
    let mut found = BTreeMap::new();
    for entry in std::fs::read_dir(sysfs_root)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        match std::fs::read_to_string(entry.path().join("real_path")) {
            Ok(p) if !p.trim().is_empty() => {
                found.insert(name, p.trim().to_string());
            }
            _ => continue,
        }
    }
    Ok(found)
}

/// Opens a proxy node as a program would (read-write, non-blocking) and
/// closes it again.
pub fn open_check(proxy: &Path) -> io::Result<()> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(proxy)
        .map(drop)
}

/// What is known of one target, kept after the target is removed so that its
/// shares stay listed (as unhealthy) and come back healthy when it returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The name: `/dev/mockgpu/<name>`.
    pub name: String,
    /// The real node's path, the last one seen.
    pub real_path: String,
    /// Listed in sysfs at the last scan.
    pub present: bool,
    /// Why the last open of the proxy failed, if it did.
    pub open_error: Option<String>,
}

impl Target {
    /// Whether its shares can be handed out.
    pub fn healthy(&self) -> bool {
        self.present && self.open_error.is_none()
    }
}

/// Every target seen since the plugin started, and when each proxy was last
/// opened.
#[derive(Debug)]
pub struct Targets {
    sysfs_root: PathBuf,
    dev_root: PathBuf,
    open_every: Option<Duration>,
    known: BTreeMap<String, Target>,
    last_open: BTreeMap<String, Instant>,
    sysfs_error: Option<String>,
}

impl Targets {
    /// Targets from `sysfs_root`, proxies in `dev_root`, each proxy opened at
    /// most every `open_every` (and whenever its target appears or changes;
    /// never if `None`).
    pub fn new(sysfs_root: PathBuf, dev_root: PathBuf, open_every: Option<Duration>) -> Self {
        Targets {
            sysfs_root,
            dev_root,
            open_every,
            known: BTreeMap::new(),
            last_open: BTreeMap::new(),
            sysfs_error: None,
        }
    }

    /// The proxy node of target `name`.
    pub fn proxy_path(&self, name: &str) -> PathBuf {
        self.dev_root.join(name)
    }

    /// The targets, by name.
    pub fn known(&self) -> &BTreeMap<String, Target> {
        &self.known
    }

    /// Scans sysfs and opens the proxies that are due; logs every change in a
    /// target's health with what to do about it. Returns whether anything
    /// changed.
    pub fn refresh(&mut self, now: Instant) -> bool {
        let mut listed = match scan(&self.sysfs_root) {
            Ok(l) => {
                if self.sysfs_error.take().is_some() {
                    crate::log!("{} is readable again", self.sysfs_root.display());
                }
                l
            }
            Err(e) => {
                let msg = format!(
                    "cannot read {}: {e}; is the mockgpu module loaded (modprobe mockgpu \
                     targets=/dev/...)? Every share is Unhealthy until it is",
                    self.sysfs_root.display()
                );
                if self.sysfs_error.as_deref() != Some(msg.as_str()) {
                    crate::log!("{msg}");
                    self.sysfs_error = Some(msg);
                }
                BTreeMap::new()
            }
        };
        let mut changed = false;
        let mut vanished = Vec::new();
        for (name, real_path) in &listed {
            let fresh = match self.known.get(name) {
                None => {
                    crate::log!(
                        "target {name}: {} -> {real_path}",
                        self.proxy_path(name).display()
                    );
                    true
                }
                Some(t) if !t.present || t.real_path != *real_path => {
                    crate::log!("target {name} is back: {real_path}");
                    true
                }
                Some(_) => false,
            };
            let due = self.open_every.is_some_and(|every| {
                fresh
                    || self
                        .last_open
                        .get(name)
                        .is_none_or(|&t| now.duration_since(t) >= every)
            });
            let mut open_error = self.known.get(name).and_then(|t| t.open_error.clone());
            if due {
                self.last_open.insert(name.clone(), now);
                match self.check_open(name) {
                    Open::Ok => open_error = None,
                    Open::Failed(msg) => open_error = Some(msg),
                    Open::Vanished => {
                        vanished.push(name.clone());
                        continue;
                    }
                }
            }
            let t = Target {
                name: name.clone(),
                real_path: real_path.clone(),
                present: true,
                open_error,
            };
            if self.known.get(name) != Some(&t) {
                changed = true;
                self.known.insert(name.clone(), t);
            }
        }
        for name in vanished {
            listed.remove(&name);
        }
        for (name, t) in self.known.iter_mut() {
            if t.present && !listed.contains_key(name) {
                crate::log!(
                    "target {name} was removed (no {}): its shares are Unhealthy until it is \
                     added again (mockgpuctl target add {})",
                    self.sysfs_root.join(name).display(),
                    t.real_path
                );
                t.present = false;
                changed = true;
            }
        }
        changed
    }

    /// Opens the proxy of `name`; logs a change of outcome.
    fn check_open(&self, name: &str) -> Open {
        let path = self.proxy_path(name);
        let before = self.known.get(name).and_then(|t| t.open_error.clone());
        match open_check(&path) {
            Ok(()) => {
                if before.is_some() {
                    crate::log!("{} opens again: its shares are Healthy", path.display());
                }
                Open::Ok
            }
            // The target was being removed: its node went first.
            Err(e)
                if e.kind() == io::ErrorKind::NotFound && !self.sysfs_root.join(name).exists() =>
            {
                Open::Vanished
            }
            Err(e) => {
                let hint = match e.raw_os_error() {
                    Some(libc::EPERM) => {
                        "; either the container's device cgroup does not allow the node (run \
                         the plugin privileged, or with --open-check-secs 0) or this pod is a \
                         mockgpu tenant without access (unconfigured=1: set limits for it, or \
                         run it with hostPID: true)"
                    }
                    Some(libc::ENOENT) => {
                        "; is /dev (or /dev/mockgpu) of the host mounted into this pod?"
                    }
                    Some(libc::EACCES) => "; the plugin needs read-write access to the node",
                    _ => "",
                };
                let msg = format!("cannot open {}: {e}{hint}", path.display());
                if before.as_deref() != Some(msg.as_str()) {
                    crate::log!("{msg}: its shares are Unhealthy");
                }
                Open::Failed(msg)
            }
        }
    }
}

/// What opening a proxy node showed.
enum Open {
    Ok,
    Failed(String),
    /// Neither the node nor the target is there any more.
    Vanished,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_and_health() {
        let dir = std::env::temp_dir().join(format!("mockgpu-dp-targets-{}", std::process::id()));
        let (sys, dev) = (dir.join("sys"), dir.join("dev"));
        std::fs::create_dir_all(sys.join("gpu")).unwrap();
        std::fs::create_dir_all(sys.join("nopath")).unwrap();
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::write(sys.join("gpu/real_path"), "/dev/realgpu\n").unwrap();
        std::fs::write(dev.join("gpu"), "").unwrap();

        let mut t = Targets::new(sys.clone(), dev.clone(), Some(Duration::from_secs(3600)));
        let now = Instant::now();
        assert!(t.refresh(now));
        assert_eq!(t.known().len(), 1);
        assert!(t.known()["gpu"].healthy());
        assert_eq!(t.known()["gpu"].real_path, "/dev/realgpu");
        assert!(!t.refresh(now));

        std::fs::remove_dir_all(sys.join("gpu")).unwrap();
        assert!(t.refresh(now));
        assert!(!t.known()["gpu"].present);

        // Back, but the proxy cannot be opened.
        std::fs::create_dir_all(sys.join("gpu")).unwrap();
        std::fs::write(sys.join("gpu/real_path"), "/dev/realgpu\n").unwrap();
        std::fs::remove_file(dev.join("gpu")).unwrap();
        assert!(t.refresh(now));
        assert!(t.known()["gpu"].present);
        assert!(!t.known()["gpu"].healthy());

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
