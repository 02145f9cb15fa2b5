//! Whether a target can be given a compute share.
//!
//! mockgpu charges a tenant the engine time the real driver reports in each
//! of its files' fdinfo (`drm-engine-<engine>: <ns> ns`, the DRM usage-stats
//! format of `Documentation/gpu/drm-usage-stats.rst`), read in the kernel and
//! parsed by `mockgpu/policy/fdinfo.rs`. A driver that reports none (vgem has
//! no usage statistics at all; xe reports cycles, not time) gives it nothing
//! to charge: a share there would be accepted and never enforced.
//!
//! mockgpuctl finds out as the kernel would: it opens the target's real node
//! read-only, as the operator, reads that file's fdinfo
//! (`/proc/self/fdinfo/<fd>`) with the kernel's own parser, and closes it.
use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};

use anyhow::{bail, Result};
use mockgpu_policy::fdinfo::{self, ErrorKind, ParseError, Stat};

/// The most fdinfo the kernel reads from a driver (`FDINFO_MAX` in
/// `mockgpu/proxy.rs`): a driver that prints more is not metered.
const KERNEL_FDINFO_MAX: usize = 4096;

/// The lines the VFS prints before the driver's own in
/// `/proc/PID/fdinfo/FD` (the kernel reads only the driver's).
const VFS_KEYS: [&[u8]; 4] = [b"pos:", b"flags:", b"mnt_id:", b"ino:"];

/// The DRM char majors (`DRM_MAJOR`, `ACCEL_MAJOR`): nodes that answer
/// `DRM_IOCTL_VERSION`.
const DRM_MAJORS: [u64; 2] = [226, 261];

/// Why a driver's fdinfo gives mockgpu no engine time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoEngineTime {
    /// No usage statistics at all: no `drm-` line (vgem: no `show_fdinfo`).
    NoStats,
    /// Usage statistics without any `drm-engine-<engine>` key; `cycles`:
    /// it reports `drm-cycles-*` instead (xe), which mockgpu does not meter.
    NoEngines {
        /// Whether it reports busy cycles.
        cycles: bool,
    },
    /// A `drm-` line the parser rejects (the kernel then rejects the whole
    /// text and charges nothing).
    Malformed(ParseError),
    /// More than the kernel reads.
    TooLong,
}

impl NoEngineTime {
    /// What the driver does, after "its driver (NAME) ".
    fn does(&self) -> String {
        match self {
            NoEngineTime::NoStats | NoEngineTime::NoEngines { cycles: false } => {
                "reports no engine time in fdinfo (drm-engine-*)".into()
            }
            NoEngineTime::NoEngines { cycles: true } => {
                "reports no engine time in fdinfo (drm-engine-*), only busy cycles \
                 (drm-cycles-*), which mockgpu does not meter"
                    .into()
            }
            NoEngineTime::Malformed(e) => format!(
                "reports engine time mockgpu's parser rejects (fdinfo line {}: {}), \
                 so it charges nothing",
                e.line,
                kind_text(e.kind)
            ),
            NoEngineTime::TooLong => format!(
                "prints more fdinfo than mockgpu reads ({} bytes)",
                KERNEL_FDINFO_MAX
            ),
        }
    }

    /// Why, in a status line's parentheses.
    fn short(&self) -> String {
        match self {
            NoEngineTime::NoStats | NoEngineTime::NoEngines { cycles: false } => {
                "driver reports no engine time".into()
            }
            NoEngineTime::NoEngines { cycles: true } => {
                "driver reports no engine time, only cycles".into()
            }
            NoEngineTime::Malformed(e) => format!(
                "driver's fdinfo rejected at line {}: {}",
                e.line,
                kind_text(e.kind)
            ),
            NoEngineTime::TooLong => format!("driver's fdinfo over {KERNEL_FDINFO_MAX} bytes"),
        }
    }
}

fn kind_text(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Syntax => "not a key: value line",
        ErrorKind::Name => "empty engine or region name",
        ErrorKind::Number => "not an unsigned 64-bit number",
        ErrorKind::Unit => "wrong or missing unit",
        ErrorKind::ZeroCapacity => "engine capacity 0",
        ErrorKind::Duplicate => "a key given twice",
        ErrorKind::TooManyEngines => "too many engines",
        ErrorKind::Overflow => "a number too large",
    }
}

/// What an fdinfo text (as `/proc/PID/fdinfo/FD` prints it) means for
/// compute shares: the engines the driver reports time for, in the order of
/// their lines, or why it reports none. Decided as the kernel decides:
/// the same parser on the driver's part of the text.
pub fn decide(text: &[u8]) -> Result<Vec<String>, NoEngineTime> {
    let (driver_part, vfs_lines) = driver_lines(text);
    if driver_part.len() >= KERNEL_FDINFO_MAX {
        return Err(NoEngineTime::TooLong);
    }
    let mut engines = Vec::new();
    let mut cycles = false;
    fdinfo::for_each_stat(driver_part, |s| {
        match s {
            Stat::EngineNs(name, _) => engines.push(String::from_utf8_lossy(name).into_owned()),
            Stat::Cycles(..) | Stat::TotalCycles(..) => cycles = true,
            _ => {}
        }
        Ok(())
    })
    .map_err(|e| {
        // Numbered as in the whole text, where a person reads it.
        NoEngineTime::Malformed(ParseError {
            line: e.line.saturating_add(vfs_lines),
            ..e
        })
    })?;
    if !engines.is_empty() {
        Ok(engines)
    } else if driver_part
        .split(|&b| b == b'\n')
        .any(|l| l.starts_with(b"drm-"))
    {
        Err(NoEngineTime::NoEngines { cycles })
    } else {
        Err(NoEngineTime::NoStats)
    }
}

/// `text` without the VFS's own leading lines (`pos:`, `flags:`, ...), and
/// how many lines those were.
fn driver_lines(text: &[u8]) -> (&[u8], usize) {
    let mut rest = text;
    let mut skipped = 0;
    while VFS_KEYS.iter().any(|k| rest.starts_with(k)) {
        rest = match rest.iter().position(|&b| b == b'\n') {
            Some(nl) => rest.get(nl + 1..).unwrap_or_default(),
            None => b"",
        };
        skipped += 1;
    }
    (rest, skipped)
}

/// Whether a target's compute shares can be enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compute {
    /// The driver reports engine time: these engines.
    Measured(Vec<String>),
    /// It does not: mockgpu charges nothing.
    Unavailable(NoEngineTime),
    /// It could not be told (the real node could not be opened, say).
    Unknown(String),
}

/// A target's real driver, as far as compute shares go.
#[derive(Clone, Debug)]
pub struct TargetCompute {
    /// The target's name.
    pub target: String,
    /// The real node's path (`None` if sysfs does not say).
    pub real: Option<String>,
    /// The driver's name, if it could be learned.
    pub driver: Option<String>,
    /// Whether shares can be enforced.
    pub compute: Compute,
}

impl TargetCompute {
    /// Whether shares are enforced: `None` if that could not be told.
    pub fn available(&self) -> Option<bool> {
        match self.compute {
            Compute::Measured(_) => Some(true),
            Compute::Unavailable(_) => Some(false),
            Compute::Unknown(_) => None,
        }
    }

    /// The refusal of a share on this target, for humans: what is wrong and
    /// what still works (`None` if shares are available or unknown).
    pub fn unavailable_message(&self) -> Option<String> {
        let Compute::Unavailable(why) = &self.compute else {
            return None;
        };
        let driver = match &self.driver {
            Some(d) => format!("its driver ({d})"),
            None => "its driver".into(),
        };
        Some(format!(
            "compute shares are unavailable for target {}: {driver} {}; \
             memory and files limits still apply",
            self.target,
            why.does()
        ))
    }
}

impl fmt::Display for Compute {
    /// `compute: ...` of `mockgpuctl status`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Compute::Measured(engines) => {
                write!(f, "measured (engines: {})", engines.join(", "))
            }
            Compute::Unavailable(why) => write!(f, "unavailable ({})", why.short()),
            Compute::Unknown(why) => write!(f, "unknown ({why})"),
        }
    }
}

/// Learns whether target `name`'s driver reports engine time: opens its
/// real node read-only (as the caller), reads the file's fdinfo, closes it.
pub fn of_target(name: &str) -> TargetCompute {
    let real = crate::run::real_path(name);
    let (real, driver, compute) = match real {
        Ok(real) => {
            let (driver, compute) = probe(&real);
            (Some(real), driver, compute)
        }
        Err(e) => (None, None, Compute::Unknown(format!("{e:#}"))),
    };
    TargetCompute {
        target: name.to_string(),
        real,
        driver,
        compute,
    }
}

/// The driver's name and whether it reports engine time, for the node at
/// `path`.
fn probe(path: &str) -> (Option<String>, Compute) {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) => return (None, Compute::Unknown(format!("cannot open {path}: {e}"))),
    };
    let rdev = match file.metadata() {
        Ok(md) if md.file_type().is_char_device() => md.rdev(),
        Ok(_) => {
            return (
                None,
                Compute::Unknown(format!("{path} is not a char device")),
            )
        }
        Err(e) => return (None, Compute::Unknown(format!("cannot stat {path}: {e}"))),
    };
    let fdinfo = format!("/proc/self/fdinfo/{}", file.as_raw_fd());
    let text = match std::fs::read(&fdinfo) {
        Ok(t) => t,
        Err(e) => return (None, Compute::Unknown(format!("cannot read {fdinfo}: {e}"))),
    };
    let compute = match decide(&text) {
        Ok(engines) => Compute::Measured(engines),
        Err(why) => Compute::Unavailable(why),
    };
    let driver = fdinfo::driver(driver_lines(&text).0)
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .or_else(|| drm_driver_name(&file, rdev))
        .or_else(|| sysfs_driver_name(rdev));
    drop(file);
    (driver, compute)
}

/// `struct drm_version` of `drm/drm.h`.
#[repr(C)]
struct DrmVersion {
    version_major: libc::c_int,
    version_minor: libc::c_int,
    version_patchlevel: libc::c_int,
    name_len: libc::size_t,
    name: *mut libc::c_char,
    date_len: libc::size_t,
    date: *mut libc::c_char,
    desc_len: libc::size_t,
    desc: *mut libc::c_char,
}

// DRM_IOCTL_VERSION = DRM_IOWR(0x00, struct drm_version).
nix::ioctl_readwrite!(drm_ioctl_version, b'd', 0x00, DrmVersion);

/// The DRM driver's name (`DRM_IOCTL_VERSION`), for DRM nodes only.
fn drm_driver_name(file: &File, rdev: u64) -> Option<String> {
    if !DRM_MAJORS.contains(&libc::major(rdev).into()) {
        return None;
    }
    let mut name = [0u8; 64];
    let mut v = DrmVersion {
        version_major: 0,
        version_minor: 0,
        version_patchlevel: 0,
        name_len: name.len(),
        name: name.as_mut_ptr().cast(),
        date_len: 0,
        date: std::ptr::null_mut(),
        desc_len: 0,
        desc: std::ptr::null_mut(),
    };
    // SAFETY: `v` is a valid `drm_version` whose `name` points at
    // `name_len` writable bytes (the kernel writes at most that many, and
    // nothing through the null pointers of length 0); both outlive the call.
    unsafe { drm_ioctl_version(file.as_raw_fd(), &mut v) }.ok()?;
    let len = v.name_len.min(name.len());
    let name = name.get(..len)?;
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
}

/// The driver bound to the node's device in sysfs, if any.
fn sysfs_driver_name(rdev: u64) -> Option<String> {
    let link = format!(
        "/sys/dev/char/{}:{}/device/driver",
        libc::major(rdev),
        libc::minor(rdev)
    );
    let target = std::fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Refuses a compute share below 100% on targets whose driver reports no
/// engine time, unless `force` (then warns); returns the targets where a
/// share is set anyway. Targets that cannot be probed get a warning. Opens
/// nothing without a share.
pub fn check_share(targets: &[String], compute: Option<u32>, force: bool) -> Result<Vec<String>> {
    let Some(pct) = compute.filter(|&p| p < 100) else {
        return Ok(Vec::new());
    };
    let mut refused = Vec::new();
    let mut forced = Vec::new();
    for t in targets {
        let tc = of_target(t);
        if let Some(msg) = tc.unavailable_message() {
            if force {
                eprintln!(
                    "mockgpuctl: warning: {msg}; setting compute {pct}% anyway (--force): \
                     mockgpu charges nothing against it"
                );
                forced.push(t.clone());
            } else {
                refused.push(msg);
            }
        } else if let Compute::Unknown(why) = &tc.compute {
            eprintln!(
                "mockgpuctl: warning: cannot tell whether target {t} reports engine time \
                 ({why}); compute {pct}% is enforced only if its driver reports \
                 drm-engine-* in fdinfo"
            );
        }
    }
    if !refused.is_empty() {
        bail!(
            "{}\nnothing was done: leave out --compute (memory and files limits need no \
             engine time), or add --force to set the share anyway (it would not be enforced)",
            refused.join("\n")
        );
    }
    Ok(forced)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// realgpu's fdinfo as `/proc/PID/fdinfo/FD` prints it.
    const REALGPU: &[u8] = b"pos:\t0\nflags:\t02100002\nmnt_id:\t15\nino:\t5\n\
drm-driver:\trealgpu\ndrm-client-id:\t3\ndrm-engine-gfx:\t1500000000 ns\n\
drm-engine-capacity-gfx:\t1\ndrm-total-vram:\t1088 KiB\ndrm-resident-vram:\t8 KiB\n";

    /// amdgpu: several engines among memory and driver-specific keys.
    const AMDGPU: &[u8] = b"pos:\t0\nflags:\t02100002\nmnt_id:\t24\nino:\t1239\n\
drm-driver:\tamdgpu\ndrm-client-id:\t7\ndrm-pdev:\t0000:03:00.0\npasid:\t32771\n\
drm-memory-vram:\t131072 KiB\ndrm-memory-gtt:\t2048 KiB\ndrm-memory-cpu:\t0 KiB\n\
amd-memory-visible-vram:\t0 KiB\namd-evicted-vram:\t0 KiB\n\
drm-engine-gfx:\t1788127812 ns\ndrm-engine-compute:\t12 ns\n\
drm-engine-dec:\t0 ns\ndrm-engine-enc:\t0 ns\n";

    /// vgem: no `show_fdinfo`, only the VFS's lines.
    const VGEM: &[u8] = b"pos:\t0\nflags:\t02100002\nmnt_id:\t22\nino:\t1043\n";

    /// xe: busy cycles, no time.
    const XE: &[u8] = b"pos:\t0\nflags:\t02100002\nmnt_id:\t22\nino:\t7\n\
drm-driver:\txe\ndrm-client-id:\t42\ndrm-total-vram0:\t2 MiB\n\
drm-cycles-rcs:\t28257900\ndrm-total-cycles-rcs:\t7655183225\n";

    /// A driver with memory statistics only.
    const MEMORY_ONLY: &[u8] = b"pos:\t0\nflags:\t02\nmnt_id:\t1\nino:\t2\n\
drm-driver:\tpanthor\ndrm-client-id:\t1\ndrm-total-memory:\t4 KiB\n";

    fn target(driver: Option<&str>, compute: Compute) -> TargetCompute {
        TargetCompute {
            target: "renderD128".into(),
            real: Some("/dev/dri/renderD128".into()),
            driver: driver.map(Into::into),
            compute,
        }
    }

    #[test]
    fn realgpu_reports_gfx() {
        assert_eq!(decide(REALGPU), Ok(vec!["gfx".to_string()]));
        assert_eq!(
            Compute::Measured(decide(REALGPU).unwrap()).to_string(),
            "measured (engines: gfx)"
        );
        assert_eq!(
            fdinfo::driver(driver_lines(REALGPU).0),
            Some(&b"realgpu"[..])
        );
    }

    #[test]
    fn several_engines_in_their_order() {
        let engines = decide(AMDGPU).unwrap();
        assert_eq!(engines, ["gfx", "compute", "dec", "enc"]);
        assert_eq!(
            Compute::Measured(engines).to_string(),
            "measured (engines: gfx, compute, dec, enc)"
        );
    }

    #[test]
    fn capacity_alone_is_no_engine() {
        // `drm-engine-capacity-*` names a group size, not time.
        let text = b"drm-driver: x\ndrm-engine-capacity-gfx: 2\n";
        assert_eq!(decide(text), Err(NoEngineTime::NoEngines { cycles: false }));
    }

    #[test]
    fn none_and_empty() {
        assert_eq!(decide(VGEM), Err(NoEngineTime::NoStats));
        assert_eq!(decide(b""), Err(NoEngineTime::NoStats));
        assert_eq!(decide(b"\n"), Err(NoEngineTime::NoStats));
        assert_eq!(
            decide(MEMORY_ONLY),
            Err(NoEngineTime::NoEngines { cycles: false })
        );
        assert_eq!(decide(XE), Err(NoEngineTime::NoEngines { cycles: true }));
    }

    #[test]
    fn malformed_or_too_long_is_unavailable() {
        // The kernel rejects the whole text: nothing would be charged.
        let bad = b"pos:\t0\ndrm-engine-gfx: 5\n";
        assert_eq!(
            decide(bad),
            Err(NoEngineTime::Malformed(ParseError {
                line: 2,
                kind: ErrorKind::Unit
            }))
        );
        let mut long = b"pos:\t0\nflags:\t0\ndrm-engine-gfx: 1 ns\n".to_vec();
        while long.len() < KERNEL_FDINFO_MAX + 40 {
            long.extend_from_slice(b"amd-something-long: 0 KiB\n");
        }
        assert_eq!(decide(&long), Err(NoEngineTime::TooLong));
    }

    #[test]
    fn the_vfs_lines_are_not_the_drivers() {
        assert_eq!(driver_lines(VGEM), (&b""[..], 4));
        assert!(driver_lines(REALGPU).0.starts_with(b"drm-driver:"));
        assert_eq!(driver_lines(b"pos:\t0"), (&b""[..], 1));
        // Only leading VFS lines.
        let text = b"drm-x: 1\npos: 0\n";
        assert_eq!(driver_lines(text), (&text[..], 0));
    }

    #[test]
    fn the_refusal_names_target_driver_and_what_still_works() {
        let vgem = target(None, Compute::Unavailable(NoEngineTime::NoStats));
        assert_eq!(
            TargetCompute {
                driver: Some("vgem".into()),
                ..vgem.clone()
            }
            .unavailable_message()
            .unwrap(),
            "compute shares are unavailable for target renderD128: its driver (vgem) \
             reports no engine time in fdinfo (drm-engine-*); memory and files limits \
             still apply"
        );
        assert!(vgem
            .unavailable_message()
            .unwrap()
            .contains(": its driver reports no engine time"));
        assert_eq!(vgem.available(), Some(false));
        assert_eq!(
            vgem.compute.to_string(),
            "unavailable (driver reports no engine time)"
        );
        let xe = target(
            Some("xe"),
            Compute::Unavailable(NoEngineTime::NoEngines { cycles: true }),
        );
        assert!(xe.unavailable_message().unwrap().contains("drm-cycles-*"));
        let measured = target(Some("realgpu"), Compute::Measured(vec!["gfx".into()]));
        assert_eq!(measured.unavailable_message(), None);
        assert_eq!(measured.available(), Some(true));
        let unknown = target(None, Compute::Unknown("cannot open /dev/x".into()));
        assert_eq!(unknown.unavailable_message(), None);
        assert_eq!(unknown.available(), None);
        assert_eq!(unknown.compute.to_string(), "unknown (cannot open /dev/x)");
        let bad = target(
            Some("x"),
            Compute::Unavailable(NoEngineTime::Malformed(ParseError {
                line: 7,
                kind: ErrorKind::Number,
            })),
        );
        assert!(bad
            .unavailable_message()
            .unwrap()
            .contains("fdinfo line 7: not an unsigned 64-bit number"));
    }

    #[test]
    fn drm_version_is_the_drm_ioctl() {
        // DRM_IOCTL_VERSION on 64-bit: _IOWR('d', 0x00, 64 bytes).
        if std::mem::size_of::<usize>() == 8 {
            assert_eq!(
                nix::request_code_readwrite!(b'd', 0x00, std::mem::size_of::<DrmVersion>()),
                0xc040_6400
            );
        }
    }

    #[test]
    fn a_real_fdinfo_without_drm_keys() {
        // /dev/null has no show_fdinfo, like vgem.
        let (driver, compute) = probe("/dev/null");
        assert_eq!(compute, Compute::Unavailable(NoEngineTime::NoStats));
        assert_eq!(driver, None);
        let (_, compute) = probe("/nonexistent/node");
        assert!(matches!(compute, Compute::Unknown(ref w) if w.contains("cannot open")));
    }

    #[test]
    fn no_share_no_probe() {
        // 100% is no share; nothing is opened, so no target need exist.
        let none = ["no-such-target".to_string()];
        assert!(check_share(&none, None, false).unwrap().is_empty());
        assert!(check_share(&none, Some(100), false).unwrap().is_empty());
    }
}
