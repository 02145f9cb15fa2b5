//! `mockgpuctl`: the operator's command line for mockgpu.
mod args;
mod cdi;
mod compute;
mod dmem;
mod metrics;
mod run;
mod sys;
mod tenant;
mod units;

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::Parser;
use mockgpu_policy::abi::control as abi;
use nix::errno::Errno;

use args::{Cli, Command, LimitArgs, LimitCommand, PolicyCommand, TargetCommand, TenantSel};
use sys::{Control, CtlError};

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mockgpuctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn real_main() -> Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        Command::Targets => {
            for t in targets()? {
                println!("{t}\t/dev/mockgpu/{t}");
            }
        }
        Command::Cdi(args) => cdi::command(&cli.control, args)?,
        Command::Run(args) => return run::run(&cli.control, args),
        Command::Ids { pid } => {
            for t in tenant::of_process(pid)? {
                println!("{} {}", tenant::kind_name(t.kind), t.id);
            }
        }
        Command::Attach { pid, target } => {
            let names = match target {
                Some(t) => vec![t],
                None => targets()?,
            };
            run::attach(pid, &names)?;
        }
        Command::Target(cmd) => target_command(&Control::open(&cli.control)?, cmd)?,
        Command::Limit(cmd) => limit_command(&Control::open(&cli.control)?, cmd)?,
        Command::Policy(cmd) => policy_command(&Control::open(&cli.control)?, cmd)?,
        Command::Usage { json, dmem } => {
            let usage = Control::open(&cli.control)?.usage()?;
            let cgroups = dmem::read(Path::new(dmem::CGROUP_ROOT));
            let out = if dmem {
                serde_json::json!({
                    "tenants": usage_json(&usage),
                    "dmem": dmem::json(&cgroups),
                })
            } else if json {
                usage_json(&usage)
            } else {
                print!("{}\n{}", usage_table(&usage), dmem::table(&cgroups));
                return Ok(ExitCode::SUCCESS);
            };
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Metrics => {
            // The usage first: the probes' own opens are not in it.
            let usage = Control::open(&cli.control)?.usage()?;
            let cgroups = dmem::read(Path::new(dmem::CGROUP_ROOT));
            let compute: Vec<_> = targets()?.iter().map(|t| compute::of_target(t)).collect();
            print!("{}", metrics::render(&usage, &compute, &cgroups));
        }
        Command::Status => {
            let ctl = Control::open(&cli.control)?;
            let names = targets()?;
            let usage = ctl.usage()?;
            println!(
                "targets: {}",
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", ")
                }
            );
            for t in &names {
                println!("  {}", target_line(&compute::of_target(t)));
            }
            print!(
                "{}\n{}",
                usage_table(&usage),
                dmem::table(&dmem::read(Path::new(dmem::CGROUP_ROOT)))
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn target_command(ctl: &Control, cmd: TargetCommand) -> Result<()> {
    match cmd {
        TargetCommand::Add { path, tenant } => {
            let name = ctl.target_add(&path, tenant.abi())?;
            println!("{path} is proxied at /dev/mockgpu/{name}");
        }
        TargetCommand::Remove { name } => {
            ctl.target_remove(&name)?;
            println!("target {name} removed");
        }
    }
    Ok(())
}

fn limit_command(ctl: &Control, cmd: LimitCommand) -> Result<()> {
    match cmd {
        LimitCommand::Set {
            target,
            tenant,
            limits,
            force,
        } => {
            let names = target_names(target)?;
            // Before anything is set: where a share cannot be enforced,
            // nothing is set on any target (unless --force).
            let unenforced = compute::check_share(&names, limits.compute, force)?;
            for t in names {
                let key = set_for_any_kind(ctl, &t, &tenant, &limits)?;
                println!(
                    "{t}: {} {} limited to {}{}",
                    tenant::kind_name(key.kind),
                    key.id,
                    describe(&to_abi(&limits)),
                    if unenforced.contains(&t) {
                        " (the compute share is not enforced: no engine time)"
                    } else {
                        ""
                    }
                );
            }
        }
        LimitCommand::Get { target, tenant } => {
            for t in target_names(target)? {
                let (key, l) = get_for_any_kind(ctl, &t, &tenant)?;
                println!(
                    "{t}: {} {}: {}",
                    tenant::kind_name(key.kind),
                    key.id,
                    describe(&l)
                );
            }
        }
        LimitCommand::Clear { target, tenant } => {
            for t in target_names(target)? {
                let keys = tenant::resolve(&tenant)?;
                let done = keys.iter().any(|k| ctl.limit_clear(&t, *k).is_ok());
                if !done {
                    bail!("{t}: no such tenant (nothing to clear)");
                }
                println!("{t}: limits cleared");
            }
        }
    }
    Ok(())
}

fn policy_command(ctl: &Control, cmd: PolicyCommand) -> Result<()> {
    match cmd {
        PolicyCommand::AllowAll { target } => {
            ctl.policy_set(&target, None)?;
            println!("{target}: every ioctl is forwarded");
        }
        PolicyCommand::Allow { target, cmds } => {
            ctl.policy_set(&target, Some(&cmds))?;
            println!(
                "{target}: only {} ioctl numbers are forwarded, others get EPERM",
                cmds.len()
            );
        }
    }
    Ok(())
}

/// The registered targets (from sysfs).
pub fn targets() -> Result<Vec<String>> {
    let dir = match std::fs::read_dir("/sys/class/mockgpu") {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("mockgpu is not loaded (no /sys/class/mockgpu)")
        }
        Err(e) => return Err(e).context("cannot read /sys/class/mockgpu"),
    };
    let mut names: Vec<String> = dir
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

fn target_names(target: Option<String>) -> Result<Vec<String>> {
    match target {
        Some(t) => Ok(vec![t]),
        None => targets(),
    }
}

/// The ABI limits of the command line (unset means no limit).
pub fn to_abi(l: &LimitArgs) -> abi::Limits {
    abi::Limits {
        memory: l.memory.unwrap_or(abi::UNLIMITED),
        files: l.files.unwrap_or(abi::UNLIMITED),
        compute_pct: l.compute.unwrap_or(100),
        pad: 0,
    }
}

/// Sets limits with the tenant kind the target counts by (the kernel refuses
/// the others with EINVAL).
fn set_for_any_kind(
    ctl: &Control,
    target: &str,
    sel: &TenantSel,
    l: &LimitArgs,
) -> Result<abi::Tenant> {
    let mut last = None;
    for key in tenant::resolve(sel)? {
        match ctl.limit_set(target, key, to_abi(l)) {
            Ok(()) => return Ok(key),
            Err(CtlError::Refused {
                errno: Errno::EINVAL,
                ..
            }) => last = Some(key),
            Err(e) => return Err(e.into()),
        }
    }
    bail!(
        "{target}: it does not count tenants of that kind ({:?})",
        last.map(|k| tenant::kind_name(k.kind))
    )
}

fn get_for_any_kind(
    ctl: &Control,
    target: &str,
    sel: &TenantSel,
) -> Result<(abi::Tenant, abi::Limits)> {
    let mut err = None;
    for key in tenant::resolve(sel)? {
        match ctl.limit_get(target, key) {
            Ok(l) => return Ok((key, l)),
            Err(e) => err = Some(e),
        }
    }
    Err(err
        .map(Into::into)
        .unwrap_or_else(|| anyhow::anyhow!("no tenant")))
}

fn describe(l: &abi::Limits) -> String {
    format!(
        "memory {}, files {}, compute {}",
        units::human_size(l.memory),
        if l.files == abi::UNLIMITED {
            "-".into()
        } else {
            l.files.to_string()
        },
        if l.compute_pct >= 100 {
            "-".into()
        } else {
            format!("{}%", l.compute_pct)
        }
    )
}

/// A target in `status`: its proxy, real node, driver and compute shares.
fn target_line(t: &compute::TargetCompute) -> String {
    format!(
        "{}: /dev/mockgpu/{} -> {}{}, compute: {}",
        t.target,
        t.target,
        t.real.as_deref().unwrap_or("?"),
        t.driver
            .as_deref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default(),
        t.compute
    )
}

fn name_of(u: &abi::Usage) -> String {
    String::from_utf8_lossy(abi::c_string(&u.target).unwrap_or_default()).into_owned()
}

/// The usage table for humans.
pub fn usage_table(usage: &[abi::Usage]) -> String {
    let mut out = format!(
        "{:<12} {:<7} {:>12} {:>19} {:>9} {:>10} {:>8} {:>8}\n",
        "TARGET", "KIND", "TENANT", "MEMORY used/limit", "FILES", "COMPUTE", "USED-ms", "REFUSED"
    );
    for u in usage {
        let mem = format!(
            "{}/{}",
            units::human_size(u.memory_used),
            units::human_size(u.limits.memory)
        );
        let files = if u.limits.files == abi::UNLIMITED {
            format!("{}/-", u.files_used)
        } else {
            format!("{}/{}", u.files_used, u.limits.files)
        };
        let compute = if u.limits.compute_pct >= 100 {
            "-".into()
        } else {
            format!("{}%", u.limits.compute_pct)
        };
        out += &format!(
            "{:<12} {:<7} {:>12} {:>19} {:>9} {:>10} {:>8} {:>8}\n",
            name_of(u),
            tenant::kind_name(u.tenant.kind),
            u.tenant.id,
            mem,
            files,
            compute,
            u.compute_used_us / 1000,
            u.refused_memory + u.refused_files + u.refused_compute + u.refused_ioctls
        );
    }
    out
}

fn usage_json(usage: &[abi::Usage]) -> serde_json::Value {
    let opt = |v: u64| {
        if v == abi::UNLIMITED {
            serde_json::Value::Null
        } else {
            v.into()
        }
    };
    usage
        .iter()
        .map(|u| {
            serde_json::json!({
                "target": name_of(u),
                "tenant": { "kind": tenant::kind_name(u.tenant.kind), "id": u.tenant.id },
                "configured": u.configured != 0,
                "limits": {
                    "memory_bytes": opt(u.limits.memory),
                    "files": opt(u.limits.files),
                    "compute_percent": u.limits.compute_pct,
                },
                "usage": {
                    "memory_bytes": u.memory_used,
                    "files": u.files_used,
                    "compute_us": u.compute_used_us,
                },
                "refused": {
                    "memory": u.refused_memory,
                    "files": u.refused_files,
                    "compute": u.refused_compute,
                    "ioctls": u.refused_ioctls,
                },
            })
        })
        .collect()
}
