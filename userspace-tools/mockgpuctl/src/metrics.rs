//! `mockgpuctl metrics`: per-tenant usage in the Prometheus text exposition
//! format (version 0.0.4), for a node exporter's textfile collector or a
//! scrape through any HTTP wrapper.
use std::fmt::Write;

use mockgpu_policy::abi::control as abi;

use crate::compute::TargetCompute;
use crate::dmem::Dmem;
use crate::tenant;

/// What one metric reads off a usage record; `None` leaves the sample out.
type Sample = fn(&abi::Usage) -> Option<f64>;

/// A limit as a sample: "no limit" is `+Inf`.
fn limit(v: u64) -> Option<f64> {
    Some(if v == abi::UNLIMITED {
        f64::INFINITY
    } else {
        v as f64
    })
}

/// Every metric: name, type, help, and the sample of one tenant.
const METRICS: &[(&str, &str, &str, Sample)] = &[
    (
        "mockgpu_memory_used_bytes",
        "gauge",
        "Device memory charged to the tenant.",
        |u| Some(u.memory_used as f64),
    ),
    (
        "mockgpu_memory_limit_bytes",
        "gauge",
        "The tenant's device memory limit (+Inf: none).",
        |u| limit(u.limits.memory),
    ),
    (
        "mockgpu_files_open",
        "gauge",
        "Open files of the proxy node charged to the tenant.",
        |u| Some(u.files_used as f64),
    ),
    (
        "mockgpu_files_limit",
        "gauge",
        "The tenant's open file limit (+Inf: none).",
        |u| limit(u.limits.files),
    ),
    (
        "mockgpu_compute_share_ratio",
        "gauge",
        "The tenant's share of device time per period (1: unlimited).",
        |u| Some(f64::from(u.limits.compute_pct.min(100)) / 100.0),
    ),
    (
        "mockgpu_compute_used_seconds",
        "gauge",
        "Engine time the driver reported in its fdinfo for the tenant's files, \
         charged while the tenant has a compute share.",
        |u| Some(u.compute_used_us as f64 / 1e6),
    ),
    (
        "mockgpu_tenant_configured",
        "gauge",
        "1 if an operator set the tenant's limits, 0 if it has the defaults.",
        |u| Some(f64::from(u8::from(u.configured != 0))),
    ),
    (
        "mockgpu_memory_refused_total",
        "counter",
        "Allocations refused over the memory limit (EDQUOT).",
        |u| Some(u.refused_memory as f64),
    ),
    (
        "mockgpu_files_refused_total",
        "counter",
        "Opens refused over the file limit (EMFILE).",
        |u| Some(u.refused_files as f64),
    ),
    (
        "mockgpu_compute_throttled_total",
        "counter",
        "Jobs that waited for, or were refused (EAGAIN), the next period.",
        |u| Some(u.refused_compute as f64),
    ),
    (
        "mockgpu_ioctls_refused_total",
        "counter",
        "Ioctls the target's allowlist refused (EPERM).",
        |u| Some(u.refused_ioctls as f64),
    ),
];

/// A label value, escaped as the format asks (backslash, quote, newline).
fn escape(v: &str) -> String {
    v.replace('\\', r"\\")
        .replace('"', r#"\""#)
        .replace('\n', r"\n")
}

/// A sample value: integers without a fraction, limits as `+Inf`.
fn value(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

/// The per-target gauge: whether compute shares are enforced there.
const COMPUTE_AVAILABLE: &str = "mockgpu_compute_available";

/// The exposition of `usage`: each metric's HELP and TYPE once, then one
/// sample per tenant, labelled by target, tenant kind and tenant id (labels
/// that never change for a tenant, so that each is one series for life);
/// then, per target of `targets`, whether its driver reports engine time
/// (no sample where that could not be told); then the cgroup dmem
/// controller's numbers for mockgpu's regions (`render_dmem`).
pub fn render(usage: &[abi::Usage], targets: &[TargetCompute], dmem: &Dmem) -> String {
    let mut out = String::new();
    for (name, kind, help, sample) in METRICS {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for u in usage {
            if let Some(v) = sample(u) {
                let _ = writeln!(
                    out,
                    "{name}{{target=\"{}\",tenant_kind=\"{}\",tenant=\"{}\"}} {}",
                    escape(&crate::name_of(u)),
                    tenant::kind_name(u.tenant.kind),
                    u.tenant.id,
                    value(v)
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "# HELP {COMPUTE_AVAILABLE} 1 if the target's driver reports engine time in fdinfo \
         (drm-engine-*), so compute shares are enforced; 0 if not (mockgpu charges nothing).\n\
         # TYPE {COMPUTE_AVAILABLE} gauge"
    );
    for t in targets {
        if let Some(available) = t.available() {
            let _ = writeln!(
                out,
                "{COMPUTE_AVAILABLE}{{target=\"{}\"}} {}",
                escape(&t.target),
                u8::from(available)
            );
        }
    }
    out += &render_dmem(dmem);
    out
}

/// The dmem metrics: name, help.
const DMEM_CAPACITY: (&str, &str) = (
    "mockgpu_dmem_capacity_bytes",
    "Size of mockgpu's cgroup dmem region of a target (dmem.capacity).",
);
const DMEM_CGROUP: [(&str, &str); 3] = [
    (
        "mockgpu_dmem_current_bytes",
        "Device memory charged to the cgroup (and its descendants) in mockgpu's \
         region (dmem.current), for each cgroup charged or limited there.",
    ),
    (
        "mockgpu_dmem_max_bytes",
        "The cgroup's dmem.max in mockgpu's region (no sample: max, no limit).",
    ),
    (
        "mockgpu_dmem_peak_bytes",
        "The most the cgroup has had charged in mockgpu's region (dmem.peak).",
    ),
];

/// The cgroup v2 dmem controller's view of mockgpu's regions (`mockgpu/`
/// names): each region's capacity, and per cgroup charged or limited in a
/// region (as `usage` lists them) its current, max and peak, labelled by
/// `cgroup` (as in /proc/PID/cgroup) and `region`. Without cgroup v2 or the
/// dmem controller, only the HELP and TYPE lines.
pub fn render_dmem(dmem: &Dmem) -> String {
    let (regions, pools): (&[_], &[_]) = match dmem {
        Dmem::Present { regions, pools, .. } => (regions, pools),
        Dmem::Unavailable(_) => (&[], &[]),
    };
    let mut out = String::new();
    let (name, help) = DMEM_CAPACITY;
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    for r in regions {
        if let Some(c) = r.capacity {
            let _ = writeln!(out, "{name}{{region=\"{}\"}} {c}", escape(&r.name));
        }
    }
    for (i, (name, help)) in DMEM_CGROUP.iter().enumerate() {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for p in pools {
            let v = match i {
                0 => Some(p.current),
                1 => p.max,
                _ => p.peak,
            };
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "{name}{{cgroup=\"{}\",region=\"{}\"}} {v}",
                    escape(&p.cgroup),
                    escape(&p.region)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(target: &str, memory_limit: u64, used: u64) -> abi::Usage {
        let mut name = [0u8; abi::NAME_MAX];
        name[..target.len()].copy_from_slice(target.as_bytes());
        abi::Usage {
            target: name,
            tenant: abi::Tenant {
                kind: abi::TENANT_PIDNS,
                pad: 0,
                id: 4026532000,
            },
            limits: abi::Limits {
                memory: memory_limit,
                files: abi::UNLIMITED,
                compute_pct: 70,
                pad: 0,
            },
            memory_used: used,
            files_used: 2,
            compute_used_us: 1_500_000,
            refused_memory: 3,
            refused_files: 0,
            refused_compute: 4,
            refused_ioctls: 5,
            configured: 1,
            pad: 0,
        }
    }

    fn no_dmem() -> Dmem {
        Dmem::Unavailable("no dmem".into())
    }

    const LABELS: &str = r#"{target="realgpu",tenant_kind="pidns",tenant="4026532000"}"#;

    #[test]
    fn samples_carry_usage_and_limits() {
        let out = render(&[usage("realgpu", 96 << 20, 4096)], &[], &no_dmem());
        for (metric, v) in [
            ("mockgpu_memory_used_bytes", "4096"),
            ("mockgpu_memory_limit_bytes", "100663296"),
            ("mockgpu_files_open", "2"),
            ("mockgpu_files_limit", "+Inf"),
            ("mockgpu_compute_share_ratio", "0.7"),
            ("mockgpu_compute_used_seconds", "1.5"),
            ("mockgpu_tenant_configured", "1"),
            ("mockgpu_memory_refused_total", "3"),
            ("mockgpu_compute_throttled_total", "4"),
            ("mockgpu_ioctls_refused_total", "5"),
        ] {
            let line = format!("{metric}{LABELS} {v}");
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
    }

    #[test]
    fn help_and_type_once_per_metric_whatever_the_tenants() {
        let out = render(&[usage("a", 1, 0), usage("b", 2, 0)], &[], &no_dmem());
        for (name, kind, _, _) in METRICS {
            let ty = format!("# TYPE {name} {kind}");
            assert_eq!(out.lines().filter(|l| *l == ty).count(), 1, "{ty}");
            let samples = out
                .lines()
                .filter(|l| l.starts_with(&format!("{name}{{")))
                .count();
            assert_eq!(samples, 2, "{name}");
        }
    }

    #[test]
    fn no_tenants_gives_only_the_metadata() {
        let out = render(&[], &[], &no_dmem());
        assert!(out.lines().all(|l| l.starts_with('#')), "{out}");
        assert_eq!(
            out.lines().count(),
            2 * (METRICS.len() + 1 + 1 + DMEM_CGROUP.len())
        );
    }

    #[test]
    fn compute_availability_per_target() {
        use crate::compute::{Compute, NoEngineTime};
        let target = |name: &str, compute| TargetCompute {
            target: name.into(),
            real: None,
            driver: None,
            compute,
        };
        let out = render(
            &[],
            &[
                target("realgpu", Compute::Measured(vec!["gfx".into()])),
                target("renderD128", Compute::Unavailable(NoEngineTime::NoStats)),
                target("gone", Compute::Unknown("cannot open".into())),
            ],
            &no_dmem(),
        );
        let ty = format!("# TYPE {COMPUTE_AVAILABLE} gauge");
        assert_eq!(out.lines().filter(|l| *l == ty).count(), 1, "{out}");
        for line in [
            r#"mockgpu_compute_available{target="realgpu"} 1"#,
            r#"mockgpu_compute_available{target="renderD128"} 0"#,
        ] {
            assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
        }
        assert!(!out.contains(r#"target="gone""#), "{out}");
    }

    #[test]
    fn dmem_capacity_current_max_peak() {
        use crate::dmem::{Pool, Region};
        let d = Dmem::Present {
            regions: vec![
                Region {
                    name: "mockgpu/card0".into(),
                    capacity: Some(4 << 30),
                },
                Region {
                    name: "mockgpu/renderD128".into(),
                    capacity: None,
                },
            ],
            pools: vec![
                Pool {
                    cgroup: "/".into(),
                    region: "mockgpu/card0".into(),
                    current: 524288,
                    max: None,
                    peak: None,
                },
                Pool {
                    cgroup: "/ctr".into(),
                    region: "mockgpu/card0".into(),
                    current: 524288,
                    max: Some(1 << 20),
                    peak: Some(786432),
                },
            ],
            truncated: false,
        };
        let out = render(&[], &[], &d);
        let lines: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("mockgpu_dmem"))
            .collect();
        assert_eq!(
            lines,
            [
                r#"mockgpu_dmem_capacity_bytes{region="mockgpu/card0"} 4294967296"#,
                r#"mockgpu_dmem_current_bytes{cgroup="/",region="mockgpu/card0"} 524288"#,
                r#"mockgpu_dmem_current_bytes{cgroup="/ctr",region="mockgpu/card0"} 524288"#,
                r#"mockgpu_dmem_max_bytes{cgroup="/ctr",region="mockgpu/card0"} 1048576"#,
                r#"mockgpu_dmem_peak_bytes{cgroup="/ctr",region="mockgpu/card0"} 786432"#,
            ]
        );
        for name in [DMEM_CAPACITY.0]
            .into_iter()
            .chain(DMEM_CGROUP.iter().map(|m| m.0))
        {
            let ty = format!("# TYPE {name} gauge");
            assert_eq!(out.lines().filter(|l| *l == ty).count(), 1, "{ty}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }
}
