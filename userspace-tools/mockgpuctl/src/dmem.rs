//! The cgroup v2 `dmem` controller's view of mockgpu's memory: each target
//! whose allocations mockgpu decodes (DRM, the simulated GPU) registers a
//! region `mockgpu/<target>` and charges
//! every buffer to the cgroup of the task that created it. This reads the
//! controller's own files (`dmem.capacity` at the root; `dmem.current`,
//! `dmem.max` and `dmem.peak` per cgroup; see the kernel's
//! `kernel/cgroup/dmem.c`): one line per region, `<region> <value>`, the
//! value a byte count or `max` (no limit).
//!
//! Only regions named `mockgpu/...` are shown; other drivers' regions
//! (`drm/<device>/vram0`, ...) are theirs to report.
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::units;

/// Where cgroup v2 is mounted.
pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The prefix of mockgpu's region names (`mockgpu/<target>`).
pub const REGION_PREFIX: &str = "mockgpu/";
/// The deepest cgroup visited (the root is depth 0).
pub const MAX_DEPTH: usize = 32;
/// The most cgroups visited in one walk.
pub const MAX_CGROUPS: usize = 10_000;

/// The value of a region in a dmem file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Bytes(u64),
    /// `max`: no limit.
    Max,
}

/// Parses a dmem file: `<region> <value>` per line, the value a byte count or
/// `max`. Lines that are not of that form are left out.
pub fn parse(text: &str) -> BTreeMap<String, Value> {
    text.lines()
        .filter_map(|line| {
            let (name, v) = line.trim().rsplit_once([' ', '\t'])?;
            let name = name.trim_end();
            let v = match v {
                "max" => Value::Max,
                n => Value::Bytes(n.parse().ok()?),
            };
            (!name.is_empty()).then(|| (name.to_string(), v))
        })
        .collect()
}

/// One of mockgpu's regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    /// From `dmem.capacity` (only the root has it: unknown where the cgroup2
    /// mount is a cgroup namespace's).
    pub capacity: Option<u64>,
}

/// A cgroup's numbers in one region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    /// As in `/proc/PID/cgroup`: `/` for the root, `/a/b` below it.
    pub cgroup: String,
    pub region: String,
    pub current: u64,
    /// `None`: `max` (no limit), or no `dmem.max` (the root).
    pub max: Option<u64>,
    /// `None`: no `dmem.peak` (the root).
    pub peak: Option<u64>,
}

/// What the dmem controller shows of mockgpu's regions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dmem {
    /// No cgroup v2 or no dmem controller: why.
    Unavailable(String),
    Present {
        regions: Vec<Region>,
        /// The cgroups charged (`current` > 0) or limited (`max` set) in a
        /// region, in path order, then region order.
        pools: Vec<Pool>,
        /// The walk stopped at `MAX_DEPTH` or `MAX_CGROUPS`.
        truncated: bool,
    },
}

fn is_ours(region: &str) -> bool {
    region.starts_with(REGION_PREFIX)
}

fn read_file(dir: &Path, name: &str) -> Option<String> {
    fs::read_to_string(dir.join(name)).ok()
}

/// Whether a cgroup's children have the dmem controller (its
/// `cgroup.subtree_control` names it); only then do they have dmem files.
fn dmem_below(dir: &Path) -> bool {
    read_file(dir, "cgroup.subtree_control")
        .is_some_and(|t| t.split_whitespace().any(|c| c == "dmem"))
}

/// Reads the dmem controller under the cgroup2 mount `root`. Never fails: a
/// cgroup that cannot be read (it vanished meanwhile) is skipped.
pub fn read(root: &Path) -> Dmem {
    read_bounded(root, MAX_DEPTH, MAX_CGROUPS)
}

/// `read`, visiting cgroups down to `max_depth` and at most `max_cgroups`.
fn read_bounded(root: &Path, max_depth: usize, max_cgroups: usize) -> Dmem {
    let Some(controllers) = read_file(root, "cgroup.controllers") else {
        return Dmem::Unavailable(format!(
            "cgroup v2 is not mounted at {} (no cgroup.controllers)",
            root.display()
        ));
    };
    let capacity = read_file(root, "dmem.capacity").map(|t| parse(&t));
    if capacity.is_none() {
        if !controllers.split_whitespace().any(|c| c == "dmem") {
            return Dmem::Unavailable(format!(
                "no dmem cgroup controller at {} (not in cgroup.controllers)",
                root.display()
            ));
        }
        // The kernel shows the root's dmem.capacity (and so the regions)
        // only once the controller is enabled for its children; a cgroup
        // namespace's root has dmem.current instead.
        if read_file(root, "dmem.current").is_none() {
            return Dmem::Unavailable(format!(
                "the dmem controller is not enabled at {0} (echo +dmem > {0}/cgroup.subtree_control)",
                root.display()
            ));
        }
    }
    let regions: Vec<Region> = match capacity {
        Some(cap) => cap
            .into_iter()
            .filter(|(name, _)| is_ours(name))
            .map(|(name, v)| Region {
                name,
                capacity: match v {
                    Value::Bytes(n) => Some(n),
                    Value::Max => None,
                },
            })
            .collect(),
        // Not the root cgroup (a cgroup namespace): the names from its
        // dmem.current, the sizes unknown.
        None => read_file(root, "dmem.current")
            .map(|t| parse(&t))
            .unwrap_or_default()
            .into_keys()
            .filter(|name| is_ours(name))
            .map(|name| Region {
                name,
                capacity: None,
            })
            .collect(),
    };
    let mut walk = Walk {
        pools: Vec::new(),
        visited: 0,
        truncated: false,
        max_depth,
        max_cgroups,
    };
    if !regions.is_empty() {
        walk.visit(root, "/", 0, &regions);
    }
    Dmem::Present {
        regions,
        pools: walk.pools,
        truncated: walk.truncated,
    }
}

struct Walk {
    pools: Vec<Pool>,
    visited: usize,
    truncated: bool,
    max_depth: usize,
    max_cgroups: usize,
}

impl Walk {
    fn visit(&mut self, dir: &Path, path: &str, depth: usize, regions: &[Region]) {
        if self.visited >= self.max_cgroups {
            self.truncated = true;
            return;
        }
        self.visited += 1;
        // No dmem.current: gone, or no dmem here (nor below).
        let Some(current) = read_file(dir, "dmem.current").map(|t| parse(&t)) else {
            return;
        };
        let max = read_file(dir, "dmem.max").map(|t| parse(&t));
        let peak = read_file(dir, "dmem.peak").map(|t| parse(&t));
        for r in regions {
            let Some(Value::Bytes(current)) = current.get(&r.name).copied() else {
                continue;
            };
            let bytes = |file: &Option<BTreeMap<String, Value>>| match file
                .as_ref()
                .and_then(|f| f.get(&r.name))
            {
                Some(Value::Bytes(n)) => Some(*n),
                _ => None,
            };
            let max = bytes(&max);
            if current > 0 || max.is_some() {
                self.pools.push(Pool {
                    cgroup: path.to_string(),
                    region: r.name.clone(),
                    current,
                    max,
                    peak: bytes(&peak),
                });
            }
        }
        if !dmem_below(dir) {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut children: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        if children.is_empty() {
            return;
        }
        if depth >= self.max_depth {
            self.truncated = true;
            return;
        }
        children.sort();
        for name in children {
            let child = if path == "/" {
                format!("/{name}")
            } else {
                format!("{path}/{name}")
            };
            self.visit(&dir.join(&name), &child, depth + 1, regions);
        }
    }
}

/// The dmem section of the usage table.
pub fn table(d: &Dmem) -> String {
    let (regions, pools, truncated) = match d {
        Dmem::Unavailable(why) => return format!("dmem: {why}\n"),
        Dmem::Present {
            regions,
            pools,
            truncated,
        } => (regions, pools, *truncated),
    };
    if regions.is_empty() {
        return "dmem: no mockgpu region (a target whose allocations mockgpu decodes registers one, mockgpu/<target>)\n"
            .into();
    }
    let size = |v: Option<u64>| v.map_or_else(|| "-".into(), units::human_size);
    let mut out = format!(
        "dmem regions: {}\n",
        regions
            .iter()
            .map(|r| format!(
                "{} {}",
                r.name,
                r.capacity.map_or_else(|| "?".into(), units::human_size)
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if pools.is_empty() {
        out += "no cgroup is charged or limited in a mockgpu region\n";
    } else {
        let cw = pools
            .iter()
            .map(|p| p.cgroup.len())
            .max()
            .unwrap_or(0)
            .max(6);
        let rw = pools
            .iter()
            .map(|p| p.region.len())
            .max()
            .unwrap_or(0)
            .max(6);
        out += &format!(
            "{:<cw$} {:<rw$} {:>9} {:>9} {:>9}\n",
            "CGROUP", "REGION", "CURRENT", "MAX", "PEAK"
        );
        for p in pools {
            out += &format!(
                "{:<cw$} {:<rw$} {:>9} {:>9} {:>9}\n",
                p.cgroup,
                p.region,
                units::human_size(p.current),
                size(p.max),
                size(p.peak)
            );
        }
    }
    if truncated {
        out += &format!(
            "(stopped at {MAX_CGROUPS} cgroups or depth {MAX_DEPTH}: more cgroups not shown)\n"
        );
    }
    out
}

/// The dmem object of `usage --json --dmem`: always every key; `null` for no
/// limit or a file that is not there.
pub fn json(d: &Dmem) -> serde_json::Value {
    match d {
        Dmem::Unavailable(why) => serde_json::json!({
            "available": false,
            "reason": why,
            "regions": [],
            "cgroups": [],
            "truncated": false,
        }),
        Dmem::Present {
            regions,
            pools,
            truncated,
        } => serde_json::json!({
            "available": true,
            "reason": null,
            "regions": regions.iter().map(|r| serde_json::json!({
                "region": r.name,
                "capacity_bytes": r.capacity,
            })).collect::<Vec<_>>(),
            "cgroups": pools.iter().map(|p| serde_json::json!({
                "cgroup": p.cgroup,
                "region": p.region,
                "current_bytes": p.current,
                "max_bytes": p.max,
                "peak_bytes": p.peak,
            })).collect::<Vec<_>>(),
            "truncated": truncated,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch directory removed on drop.
    struct Tree(PathBuf);

    impl Tree {
        fn new(tag: &str) -> Self {
            let d =
                std::env::temp_dir().join(format!("mockgpuctl-dmem-{tag}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&d);
            fs::create_dir_all(&d).unwrap();
            Tree(d)
        }
        fn write(&self, rel: &str, text: &str) {
            let p = self.0.join(rel);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    const CAPACITY: &str = "drm/0000:03:00.0/vram0 8589934592\nmockgpu/card0 4294967296\nmockgpu/renderD128 4294967296\n";

    /// A cgroup's dmem files, a value per region of CAPACITY.
    fn cgroup(t: &Tree, rel: &str, current: [&str; 3], max: [&str; 3], peak: [&str; 3]) {
        let names = [
            "drm/0000:03:00.0/vram0",
            "mockgpu/card0",
            "mockgpu/renderD128",
        ];
        let file = |vals: [&str; 3]| {
            names
                .iter()
                .zip(vals)
                .map(|(n, v)| format!("{n} {v}\n"))
                .collect::<String>()
        };
        t.write(&format!("{rel}/dmem.current"), &file(current));
        t.write(&format!("{rel}/dmem.max"), &file(max));
        t.write(&format!("{rel}/dmem.peak"), &file(peak));
    }

    fn root(t: &Tree, subtree: &str) {
        t.write(
            "cgroup.controllers",
            "cpuset cpu io memory hugetlb pids rdma misc dmem\n",
        );
        t.write("cgroup.subtree_control", subtree);
        t.write("dmem.capacity", CAPACITY);
        t.write(
            "dmem.current",
            "drm/0000:03:00.0/vram0 4096\nmockgpu/card0 524288\nmockgpu/renderD128 0\n",
        );
    }

    fn pool(cgroup: &str, region: &str, current: u64, max: Option<u64>, peak: Option<u64>) -> Pool {
        Pool {
            cgroup: cgroup.into(),
            region: region.into(),
            current,
            max,
            peak,
        }
    }

    #[test]
    fn parses_bytes_max_and_skips_garbage() {
        let m = parse("mockgpu/card0 524288\nmockgpu/renderD128 max\n\nnonsense\nx y z\nbad -1\n drm/a b/c 7 \n");
        assert_eq!(m.get("mockgpu/card0"), Some(&Value::Bytes(524288)));
        assert_eq!(m.get("mockgpu/renderD128"), Some(&Value::Max));
        assert_eq!(m.get("drm/a b/c"), Some(&Value::Bytes(7)));
        assert_eq!(m.len(), 3, "{m:?}");
        assert!(parse("").is_empty());
    }

    #[test]
    fn no_cgroup2_or_no_dmem_is_said_not_failed() {
        let t = Tree::new("absent");
        assert!(
            matches!(read(&t.0), Dmem::Unavailable(w) if w.contains("cgroup v2 is not mounted"))
        );
        t.write("cgroup.controllers", "cpu memory pids\n");
        let d = read(&t.0);
        assert!(
            matches!(&d, Dmem::Unavailable(w) if w.contains("no dmem")),
            "{d:?}"
        );
        assert!(table(&d).starts_with("dmem: no dmem cgroup controller"));
        assert_eq!(json(&d)["available"], false);
        // Listed but not enabled: the root has no dmem.capacity yet.
        t.write("cgroup.controllers", "cpu memory pids dmem\n");
        let d = read(&t.0);
        assert!(
            matches!(&d, Dmem::Unavailable(w) if w.contains("echo +dmem")),
            "{d:?}"
        );
    }

    #[test]
    fn walks_the_charged_and_limited_cgroups_of_mockgpu_regions() {
        let t = Tree::new("walk");
        root(&t, "memory dmem\n");
        // a: charged on card0, no limits; its child a/b limited on
        // renderD128 only; c: dmem enabled, nothing charged or limited (not
        // shown); d: charged in the other driver's region only (not shown).
        cgroup(
            &t,
            "a",
            ["0", "524288", "0"],
            ["max", "max", "max"],
            ["0", "1048576", "0"],
        );
        t.write("a/cgroup.subtree_control", "dmem\n");
        cgroup(
            &t,
            "a/b",
            ["0", "0", "0"],
            ["max", "max", "1048576"],
            ["0", "0", "0"],
        );
        cgroup(
            &t,
            "c",
            ["0", "0", "0"],
            ["max", "max", "max"],
            ["0", "0", "0"],
        );
        cgroup(
            &t,
            "d",
            ["4096", "0", "0"],
            ["8192", "max", "max"],
            ["4096", "0", "0"],
        );
        // e has no dmem files (vanished, or dmem not enabled for it).
        fs::create_dir_all(t.0.join("e/f")).unwrap();
        let Dmem::Present {
            regions,
            pools,
            truncated,
        } = read(&t.0)
        else {
            panic!("no dmem");
        };
        assert!(!truncated);
        assert_eq!(
            regions,
            vec![
                Region {
                    name: "mockgpu/card0".into(),
                    capacity: Some(4 << 30)
                },
                Region {
                    name: "mockgpu/renderD128".into(),
                    capacity: Some(4 << 30)
                },
            ]
        );
        assert_eq!(
            pools,
            vec![
                pool("/", "mockgpu/card0", 524288, None, None),
                pool("/a", "mockgpu/card0", 524288, None, Some(1048576)),
                pool("/a/b", "mockgpu/renderD128", 0, Some(1048576), Some(0)),
            ]
        );
    }

    #[test]
    fn children_of_a_cgroup_without_dmem_in_subtree_control_are_not_read() {
        let t = Tree::new("prune");
        root(&t, "memory\n");
        cgroup(
            &t,
            "a",
            ["0", "4096", "0"],
            ["max", "max", "max"],
            ["0", "4096", "0"],
        );
        let Dmem::Present { pools, .. } = read(&t.0) else {
            panic!("no dmem");
        };
        assert_eq!(pools, vec![pool("/", "mockgpu/card0", 524288, None, None)]);
    }

    #[test]
    fn the_walk_is_bounded_in_depth() {
        let t = Tree::new("deep");
        root(&t, "dmem\n");
        let mut rel = String::new();
        for i in 0..6 {
            rel += &format!("{}d{i}", if i == 0 { "" } else { "/" });
            cgroup(
                &t,
                &rel,
                ["0", "0", "0"],
                ["max", "1", "max"],
                ["0", "0", "0"],
            );
            t.write(&format!("{rel}/cgroup.subtree_control"), "dmem\n");
        }
        let d = read_bounded(&t.0, 3, MAX_CGROUPS);
        let Dmem::Present {
            pools, truncated, ..
        } = &d
        else {
            panic!("no dmem");
        };
        assert!(truncated);
        // The root (charged) and depths 1..=3 (limited).
        let paths: Vec<&str> = pools.iter().map(|p| p.cgroup.as_str()).collect();
        assert_eq!(paths, ["/", "/d0", "/d0/d1", "/d0/d1/d2"]);
        assert!(table(&d).contains("stopped at"));
        let Dmem::Present {
            pools, truncated, ..
        } = read(&t.0)
        else {
            panic!("no dmem");
        };
        assert!(!truncated);
        assert_eq!(pools.len(), 7);
    }

    #[test]
    fn the_walk_is_bounded_in_cgroups() {
        let t = Tree::new("wide");
        root(&t, "dmem\n");
        for i in 0..10 {
            cgroup(
                &t,
                &format!("c{i}"),
                ["0", "0", "0"],
                ["max", "1", "max"],
                ["0", "0", "0"],
            );
        }
        let Dmem::Present {
            pools, truncated, ..
        } = read_bounded(&t.0, MAX_DEPTH, 4)
        else {
            panic!("no dmem");
        };
        assert!(truncated);
        let paths: Vec<&str> = pools.iter().map(|p| p.cgroup.as_str()).collect();
        assert_eq!(paths, ["/", "/c0", "/c1", "/c2"]);
    }

    #[test]
    fn a_cgroup_namespace_root_names_regions_without_capacity() {
        let t = Tree::new("ns");
        t.write("cgroup.controllers", "memory dmem\n");
        t.write("cgroup.subtree_control", "");
        t.write("dmem.current", "mockgpu/card0 8192\nmockgpu/renderD128 0\n");
        t.write("dmem.max", "mockgpu/card0 max\nmockgpu/renderD128 max\n");
        let d = read(&t.0);
        let Dmem::Present { regions, pools, .. } = &d else {
            panic!("no dmem");
        };
        assert_eq!(regions.len(), 2);
        assert!(regions.iter().all(|r| r.capacity.is_none()));
        assert_eq!(pools, &vec![pool("/", "mockgpu/card0", 8192, None, None)]);
        assert!(table(&d).starts_with("dmem regions: mockgpu/card0 ?, mockgpu/renderD128 ?\n"));
    }

    #[test]
    fn table_and_json() {
        let d = Dmem::Present {
            regions: vec![Region {
                name: "mockgpu/card0".into(),
                capacity: Some(4 << 30),
            }],
            pools: vec![
                pool("/", "mockgpu/card0", 524288, None, None),
                pool("/ctr", "mockgpu/card0", 524288, Some(1 << 20), Some(786432)),
            ],
            truncated: false,
        };
        assert_eq!(
            table(&d),
            "dmem regions: mockgpu/card0 4.0G\n\
             CGROUP REGION          CURRENT       MAX      PEAK\n\
             /      mockgpu/card0    512.0K         -         -\n\
             /ctr   mockgpu/card0    512.0K      1.0M    768.0K\n"
        );
        let j = json(&d);
        assert_eq!(j["available"], true);
        assert_eq!(j["regions"][0]["capacity_bytes"], 4u64 << 30);
        assert_eq!(j["cgroups"][0]["max_bytes"], serde_json::Value::Null);
        assert_eq!(j["cgroups"][1]["cgroup"], "/ctr");
        assert_eq!(j["cgroups"][1]["max_bytes"], 1u64 << 20);
        assert_eq!(j["cgroups"][1]["peak_bytes"], 786432);
        let none = Dmem::Present {
            regions: vec![],
            pools: vec![],
            truncated: false,
        };
        assert!(table(&none).starts_with("dmem: no mockgpu region"));
    }
}
