//! `mockgpuctl cdi`: a Container Device Interface spec for mockgpu's
//! proxies, as podman, CRI-O and containerd read it from `/etc/cdi`.
//!
//! One CDI device per target, named after the target: its one device node
//! is the proxy on the host (`hostPath`, `/dev/mockgpu/<name>`) at the real
//! node's path in the container (`path`), a char device (`type: c`) the
//! container may read and write but not `mknod` (`permissions: rw`). The
//! spec gives no major and minor: the container engine reads them from the
//! proxy node when it creates the container, so the spec stays right when a
//! target is removed and added again (with another number).
//!
//! With limits (`--memory`, `--files`, `--compute`), every device also
//! carries an OCI `createRuntime` hook, `mockgpuctl cdi hook`: the runtime
//! runs it once the container's namespaces and cgroup exist and before its
//! first process runs, with the container's state (its pid) on stdin, and it
//! sets the limits for the container's tenant on that target. `podman run
//! --device <kind>=<target>` alone is then limited; if the hook fails, the
//! container does not start.
//!
//! The rules are those of the CDI specification (SPEC.md of
//! cncf-tags/container-device-interface, spec version 1.1.0, and the
//! reference parser's `pkg/parser`): see [`validate`]. `cdiVersion` is the
//! lowest version that has every feature the spec uses (as the reference
//! library computes it), "0.5.0" for `hostPath`: every CDI library since
//! 0.5 reads it, among them podman 4.3's (Debian 12), which refuses 0.6.0.
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use mockgpu_policy::abi::control as abi;
use serde_json::{json, Map, Value};

use crate::args::{CdiArgs, CdiCommand, LimitArgs};
use crate::sys::Control;
use crate::{run, tenant};

/// The released CDI spec versions, oldest first (SPEC.md, "Released versions").
pub const VERSIONS: [&str; 10] = [
    "0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
];

/// The OCI hooks a CDI spec may name (`hookName`).
const HOOK_NAMES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Where a spec is written when `--output` is a directory.
const SPEC_FILE: &str = "mockgpu.json";

/// A target as the spec maps it.
#[derive(Clone, Debug)]
pub struct Target {
    /// The target's name, the CDI device name.
    pub name: String,
    /// The proxy node on the host.
    pub proxy: String,
    /// The real node's path, where the container finds the proxy.
    pub real: String,
}

/// The createRuntime hook that applies limits.
#[derive(Clone, Debug)]
pub struct Hook {
    /// mockgpuctl's absolute path (the hook runs it).
    pub exe: String,
    /// The control node it opens.
    pub control: String,
    /// The limits it sets.
    pub limits: LimitArgs,
}

impl Hook {
    /// The hook's argv for a target.
    fn args(&self, target: &str) -> Vec<String> {
        let mut a: Vec<String> = ["mockgpuctl", "--control", &self.control, "cdi", "hook"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(["--target".into(), target.into()]);
        if let Some(m) = self.limits.memory {
            a.extend(["--memory".into(), m.to_string()]);
        }
        if let Some(f) = self.limits.files {
            a.extend(["--files".into(), f.to_string()]);
        }
        if let Some(c) = self.limits.compute {
            a.extend(["--compute".into(), format!("{c}%")]);
        }
        a
    }
}

/// `mockgpuctl cdi ...`
pub fn command(control: &str, args: CdiArgs) -> Result<()> {
    match args.command {
        Some(CdiCommand::Hook { target, limits }) => hook(control, &target, &limits),
        None => generate(control, &args),
    }
}

fn has_limits(l: &LimitArgs) -> bool {
    l.memory.is_some() || l.files.is_some() || l.compute.is_some()
}

/// The targets as they are now, checked for what a spec needs.
fn current_targets() -> Result<Vec<Target>> {
    if !Path::new("/sys/class/mockgpu").exists() {
        bail!(
            "mockgpu is not loaded (no /sys/class/mockgpu): load it first, \
             e.g. modprobe mockgpu targets=/dev/dri/renderD128"
        );
    }
    let names = crate::targets()?;
    if names.is_empty() {
        bail!(
            "mockgpu has no targets, and a CDI spec needs at least one device: \
             add one first, e.g. mockgpuctl target add /dev/dri/renderD128"
        );
    }
    let mut out = Vec::new();
    for name in names {
        if let Err(why) = validate_device_name(&name) {
            eprintln!("mockgpuctl: target {name} left out of the CDI spec: {why}");
            continue;
        }
        let proxy = format!("/dev/mockgpu/{name}");
        match std::fs::metadata(&proxy) {
            Ok(md) if md.file_type().is_char_device() => {}
            Ok(_) => bail!("target {name}: {proxy} is not a char device"),
            Err(e) => bail!(
                "target {name}: its proxy node {proxy} is missing ({e}); the container \
                 engine needs it on the host: is devtmpfs mounted at /dev?"
            ),
        }
        out.push(Target {
            real: run::real_path(&name)?,
            proxy,
            name,
        });
    }
    if out.is_empty() {
        bail!("no target has a name CDI allows for a device (letters, digits, '-', '_', '.')");
    }
    Ok(out)
}

fn generate(control: &str, args: &CdiArgs) -> Result<()> {
    validate_kind(&args.kind)
        .map_err(|why| anyhow!("--kind {}: {why} (e.g. mockgpu.dev/gpu)", args.kind))?;
    let targets = current_targets()?;
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    crate::compute::check_share(&names, args.limits.compute, args.force)?;
    let hook = if has_limits(&args.limits) {
        let exe = std::env::current_exe()
            .and_then(|p| p.canonicalize())
            .context("cannot tell where mockgpuctl is (the hook runs it)")?;
        Some(Hook {
            exe: exe.to_string_lossy().into_owned(),
            control: control.to_string(),
            limits: args.limits.clone(),
        })
    } else {
        None
    };
    let spec = spec(&args.kind, &targets, hook.as_ref())?;
    let version = spec["cdiVersion"].as_str().unwrap_or_default();
    if version_index(version) > version_index("0.5.0") {
        eprintln!(
            "mockgpuctl: note: this spec needs CDI {version} (a '.' in the kind's class); \
             podman 4.3 (Debian 12) reads specs up to 0.5.0 only"
        );
    }
    let text = serde_json::to_string_pretty(&spec)? + "\n";
    let Some(out) = &args.output else {
        print!("{text}");
        return Ok(());
    };
    let file = write_spec(out, &text)?;
    println!(
        "wrote {}: CDI {version}, kind {}",
        file.display(),
        args.kind
    );
    for t in &targets {
        println!(
            "  {}={}: {} at {}{}",
            args.kind,
            t.name,
            t.proxy,
            t.real,
            match &hook {
                Some(h) => format!(
                    ", limited to {}",
                    crate::describe(&crate::to_abi(&h.limits))
                ),
                None => String::new(),
            }
        );
    }
    println!(
        "use: podman run --device {}={} ...",
        args.kind, targets[0].name
    );
    Ok(())
}

/// The CDI spec for `targets`, checked against the specification's rules.
pub fn spec(kind: &str, targets: &[Target], hook: Option<&Hook>) -> Result<Value> {
    validate_kind(kind).map_err(|why| anyhow!("kind {kind}: {why}"))?;
    if targets.is_empty() {
        bail!("no targets: a CDI spec needs at least one device");
    }
    let devices: Vec<Value> = targets
        .iter()
        .map(|t| {
            let mut edits = json!({
                "deviceNodes": [{
                    "path": t.real,
                    "hostPath": t.proxy,
                    "type": "c",
                    "permissions": "rw",
                }],
            });
            if let Some(h) = hook {
                edits["hooks"] = json!([{
                    "hookName": "createRuntime",
                    "path": h.exe,
                    "args": h.args(&t.name),
                }]);
            }
            json!({ "name": t.name, "containerEdits": edits })
        })
        .collect();
    let mut spec = json!({ "cdiVersion": "", "kind": kind, "devices": devices });
    spec["cdiVersion"] = minimum_version(&spec).into();
    validate(&spec)
        .map_err(|errs| anyhow!("the CDI spec breaks its rules: {}", errs.join("; ")))?;
    Ok(spec)
}

fn version_index(v: &str) -> Option<usize> {
    VERSIONS.iter().position(|k| *k == v)
}

fn edits_of(spec: &Value) -> Vec<&Value> {
    let mut v: Vec<&Value> = spec["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| &d["containerEdits"])
        .collect();
    v.push(&spec["containerEdits"]);
    v
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

/// The lowest spec version with every feature `spec` uses (the reference
/// library's `MinimumRequiredVersion`).
pub fn minimum_version(spec: &Value) -> &'static str {
    let edits = edits_of(spec);
    let devices = spec["devices"].as_array().cloned().unwrap_or_default();
    let any_edit = |f: &dyn Fn(&Value) -> bool| edits.iter().any(|e| f(e));
    // 1.1.0: netDevices, intelRdt.schemata / enableMonitoring.
    if any_edit(&|e| {
        non_empty(&e["netDevices"])
            || non_empty(&e["intelRdt"]["schemata"])
            || e["intelRdt"]["enableMonitoring"] == json!(true)
    }) {
        return "1.1.0";
    }
    // 0.7.0: intelRdt, additionalGids.
    if any_edit(&|e| !e["intelRdt"].is_null() || non_empty(&e["additionalGids"])) {
        return "0.7.0";
    }
    // 0.6.0: annotations; a '.' in the kind's class.
    let class_dot = spec["kind"]
        .as_str()
        .and_then(|k| k.split_once('/'))
        .is_some_and(|(_, c)| c.contains('.'));
    if non_empty(&spec["annotations"])
        || devices.iter().any(|d| non_empty(&d["annotations"]))
        || class_dot
    {
        return "0.6.0";
    }
    // 0.5.0: a device name starting with a digit; deviceNodes' hostPath.
    let digit_name = devices.iter().any(|d| {
        d["name"]
            .as_str()
            .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
    });
    let host_path = any_edit(&|e| {
        e["deviceNodes"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|n| non_empty(&n["hostPath"]))
    });
    if digit_name || host_path {
        return "0.5.0";
    }
    // 0.4.0: a mount's type.
    if any_edit(&|e| {
        e["mounts"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| non_empty(&m["type"]))
    }) {
        return "0.4.0";
    }
    "0.3.0"
}

fn alnum(c: char) -> bool {
    c.is_ascii_alphanumeric()
}

/// `[first][middle*][last]`, one character allowed.
fn shaped(s: &str, first: fn(char) -> bool, middle: fn(char) -> bool) -> bool {
    let mut cs = s.chars();
    let (Some(f), rest) = (cs.next(), cs.as_str()) else {
        return false;
    };
    first(f)
        && match rest.chars().last() {
            None => true,
            Some(l) => alnum(l) && rest[..rest.len() - l.len_utf8()].chars().all(middle),
        }
}

/// A kind, `vendor/class` (SPEC.md "Kind"): the vendor a DNS subdomain
/// (dot-separated labels of lowercase letters, digits and '-', each
/// beginning and ending with a letter or digit and at most 63 long, at most
/// 253 in all) beginning with a letter (the reference parser); the class at
/// most 63 long, letters, digits, '-', '_' and '.' (from 0.6.0), beginning
/// with a letter (the parser) and ending with a letter or digit.
pub fn validate_kind(kind: &str) -> Result<(), String> {
    let Some((vendor, class)) = kind.split_once('/') else {
        return Err("a kind has two parts, vendor/class".into());
    };
    if class.contains('/') {
        return Err("a kind has exactly one '/'".into());
    }
    if vendor.is_empty() || vendor.len() > 253 {
        return Err(format!(
            "vendor '{vendor}' must be 1 to 253 characters (a DNS subdomain)"
        ));
    }
    if !vendor.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(format!("vendor '{vendor}' must begin with a letter"));
    }
    for label in vendor.split('.') {
        let ok = label.len() <= 63
            && shaped(
                label,
                |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
                |c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
            );
        if !ok {
            return Err(format!(
                "vendor '{vendor}' is not a DNS subdomain (label '{label}': lowercase \
                 letters, digits and '-', beginning and ending with a letter or digit)"
            ));
        }
    }
    let class_ok = class.len() <= 63
        && shaped(
            class,
            |c| c.is_ascii_alphabetic(),
            |c| alnum(c) || matches!(c, '-' | '_' | '.'),
        );
    if !class_ok {
        return Err(format!(
            "class '{class}' must be 1 to 63 letters, digits, '-', '_' or '.', beginning \
             with a letter and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// A device name (SPEC.md "CDI Devices"): letters, digits, '-', '_' and
/// '.', beginning and ending with a letter or digit (a digit first from 0.5.0).
pub fn validate_device_name(name: &str) -> Result<(), String> {
    if shaped(name, alnum, |c| alnum(c) || matches!(c, '-' | '_' | '.')) {
        Ok(())
    } else {
        Err(format!(
            "device name '{name}': letters, digits, '-', '_' or '.', beginning and \
             ending with a letter or digit"
        ))
    }
}

fn check_keys(errs: &mut Vec<String>, at: &str, v: &Map<String, Value>, allowed: &[&str]) {
    for k in v.keys() {
        if !allowed.contains(&k.as_str()) {
            errs.push(format!(
                "{at}: unknown field '{k}' (a CDI library refuses the spec)"
            ));
        }
    }
}

fn check_abs_path(errs: &mut Vec<String>, at: &str, v: &Value, required: bool) {
    match v {
        Value::Null if !required => {}
        Value::String(s) if s.starts_with('/') => {}
        Value::Null => errs.push(format!("{at}: required")),
        _ => errs.push(format!("{at}: must be an absolute path, not {v}")),
    }
}

fn check_uint(errs: &mut Vec<String>, at: &str, v: &Value, max: u64) {
    match v {
        Value::Null => {}
        Value::Number(n) if n.as_u64().is_some_and(|n| n <= max) => {}
        _ => errs.push(format!("{at}: must be an integer from 0 to {max}, not {v}")),
    }
}

fn check_env(errs: &mut Vec<String>, at: &str, v: &Value) {
    match v {
        Value::Null => {}
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                if !e.as_str().is_some_and(|s| s.contains('=')) {
                    errs.push(format!(
                        "{at}[{i}]: must be a \"NAME=VALUE\" string, not {e}"
                    ));
                }
            }
        }
        _ => errs.push(format!("{at}: must be an array of strings")),
    }
}

fn check_strings(errs: &mut Vec<String>, at: &str, v: &Value) {
    let ok = match v {
        Value::Null => true,
        Value::Array(a) => a.iter().all(Value::is_string),
        _ => false,
    };
    if !ok {
        errs.push(format!("{at}: must be an array of strings"));
    }
}

fn check_edits(errs: &mut Vec<String>, at: &str, edits: &Value) {
    let Some(e) = edits.as_object() else {
        errs.push(format!("{at}: must be an object"));
        return;
    };
    check_keys(
        errs,
        at,
        e,
        &[
            "env",
            "deviceNodes",
            "mounts",
            "hooks",
            "intelRdt",
            "additionalGids",
            "netDevices",
        ],
    );
    check_env(errs, &format!("{at}.env"), &edits["env"]);
    for (i, n) in edits["deviceNodes"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("{at}.deviceNodes[{i}]");
        let Some(o) = n.as_object() else {
            errs.push(format!("{at}: must be an object"));
            continue;
        };
        check_keys(
            errs,
            &at,
            o,
            &[
                "path",
                "hostPath",
                "type",
                "major",
                "minor",
                "fileMode",
                "permissions",
                "uid",
                "gid",
            ],
        );
        check_abs_path(errs, &format!("{at}.path"), &n["path"], true);
        check_abs_path(errs, &format!("{at}.hostPath"), &n["hostPath"], false);
        match &n["type"] {
            Value::Null => {}
            Value::String(t) if ["", "b", "c", "u", "p"].contains(&t.as_str()) => {}
            t => errs.push(format!("{at}.type: must be b, c, u or p, not {t}")),
        }
        for f in ["major", "minor", "fileMode"] {
            if !(n[f].is_null() || n[f].is_i64()) {
                errs.push(format!("{at}.{f}: must be an integer, not {}", n[f]));
            }
        }
        for f in ["uid", "gid"] {
            check_uint(errs, &format!("{at}.{f}"), &n[f], u32::MAX.into());
        }
        match &n["permissions"] {
            Value::Null => {}
            Value::String(p) if !p.is_empty() && p.chars().all(|c| "rwm".contains(c)) => {}
            p => errs.push(format!("{at}.permissions: one or more of r, w, m, not {p}")),
        }
    }
    if !(edits["deviceNodes"].is_null() || edits["deviceNodes"].is_array()) {
        errs.push(format!("{at}.deviceNodes: must be an array"));
    }
    for (i, m) in edits["mounts"].as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.mounts[{i}]");
        let Some(o) = m.as_object() else {
            errs.push(format!("{at}: must be an object"));
            continue;
        };
        check_keys(
            errs,
            &at,
            o,
            &["hostPath", "containerPath", "options", "type"],
        );
        for f in ["hostPath", "containerPath"] {
            if !m[f].is_string() {
                errs.push(format!("{at}.{f}: required (a string)"));
            }
        }
        check_strings(errs, &format!("{at}.options"), &m["options"]);
    }
    for (i, h) in edits["hooks"].as_array().into_iter().flatten().enumerate() {
        let at = format!("{at}.hooks[{i}]");
        let Some(o) = h.as_object() else {
            errs.push(format!("{at}: must be an object"));
            continue;
        };
        check_keys(
            errs,
            &at,
            o,
            &["hookName", "path", "args", "env", "timeout"],
        );
        if !h["hookName"]
            .as_str()
            .is_some_and(|n| HOOK_NAMES.contains(&n))
        {
            errs.push(format!(
                "{at}.hookName: one of {}, not {}",
                HOOK_NAMES.join(", "),
                h["hookName"]
            ));
        }
        check_abs_path(errs, &format!("{at}.path"), &h["path"], true);
        check_strings(errs, &format!("{at}.args"), &h["args"]);
        check_env(errs, &format!("{at}.env"), &h["env"]);
        if !(h["timeout"].is_null() || h["timeout"].as_u64().is_some_and(|t| t > 0)) {
            errs.push(format!(
                "{at}.timeout: must be greater than zero, not {}",
                h["timeout"]
            ));
        }
    }
    if let Some(g) = edits["additionalGids"].as_array() {
        for (i, v) in g.iter().enumerate() {
            check_uint(
                errs,
                &format!("{at}.additionalGids[{i}]"),
                v,
                u32::MAX.into(),
            );
        }
    }
}

fn check_annotations(errs: &mut Vec<String>, at: &str, v: &Value) {
    match v {
        Value::Null => {}
        Value::Object(o) if o.iter().all(|(k, v)| !k.is_empty() && v.is_string()) => {}
        _ => errs.push(format!("{at}: must map non-empty keys to strings")),
    }
}

/// Checks a spec against the CDI specification's rules; every broken rule
/// is one message.
pub fn validate(spec: &Value) -> Result<(), Vec<String>> {
    let mut errs = Vec::new();
    let Some(top) = spec.as_object() else {
        return Err(vec!["a CDI spec is a JSON object".into()]);
    };
    check_keys(
        &mut errs,
        "spec",
        top,
        &[
            "cdiVersion",
            "kind",
            "annotations",
            "devices",
            "containerEdits",
        ],
    );
    match spec["cdiVersion"].as_str() {
        None => errs.push("cdiVersion: required (a string)".into()),
        Some(v) => match version_index(v) {
            None => errs.push(format!(
                "cdiVersion '{v}': not a released CDI version ({})",
                VERSIONS.join(", ")
            )),
            Some(i) => {
                let min = minimum_version(spec);
                if i < version_index(min).unwrap_or(0) {
                    errs.push(format!(
                        "cdiVersion '{v}': the features this spec uses need at least {min}"
                    ));
                }
            }
        },
    }
    match spec["kind"].as_str() {
        None => errs.push("kind: required (a string)".into()),
        Some(k) => {
            if let Err(why) = validate_kind(k) {
                errs.push(format!("kind '{k}': {why}"));
            }
        }
    }
    check_annotations(&mut errs, "annotations", &spec["annotations"]);
    match spec["devices"].as_array() {
        None => errs.push("devices: required (an array)".into()),
        Some(d) if d.is_empty() => errs.push("devices: at least one device is required".into()),
        Some(devices) => {
            let mut seen = std::collections::BTreeSet::new();
            for (i, d) in devices.iter().enumerate() {
                let at = format!("devices[{i}]");
                let Some(o) = d.as_object() else {
                    errs.push(format!("{at}: must be an object"));
                    continue;
                };
                check_keys(
                    &mut errs,
                    &at,
                    o,
                    &["name", "annotations", "containerEdits"],
                );
                match d["name"].as_str() {
                    None => errs.push(format!("{at}.name: required (a string)")),
                    Some(n) => {
                        if let Err(why) = validate_device_name(n) {
                            errs.push(format!("{at}.name: {why}"));
                        }
                        if !seen.insert(n) {
                            errs.push(format!("{at}.name: '{n}' is defined twice"));
                        }
                    }
                }
                check_annotations(&mut errs, &format!("{at}.annotations"), &d["annotations"]);
                if d["containerEdits"].is_null() {
                    errs.push(format!("{at}.containerEdits: required"));
                } else {
                    check_edits(
                        &mut errs,
                        &format!("{at}.containerEdits"),
                        &d["containerEdits"],
                    );
                }
            }
        }
    }
    if !spec["containerEdits"].is_null() {
        check_edits(&mut errs, "containerEdits", &spec["containerEdits"]);
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// Why writing failed, and what to do about it.
fn io_error(e: std::io::Error, what: &str, path: &Path) -> anyhow::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => {
            "; writing there needs root: run it with sudo, or write elsewhere with --output"
        }
        Some(libc::EROFS) => {
            "; that file system is read-only: write the spec to /var/run/cdi instead \
             (podman reads /etc/cdi and /var/run/cdi)"
        }
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "; free some space there",
        Some(libc::ENOTDIR) => "; a component of that path is not a directory",
        _ => "",
    };
    anyhow!("cannot {what} {}: {e}{hint}", path.display())
}

/// Writes `text` to `out` (or `out/mockgpu.json` if `out` is a directory),
/// atomically: a container engine never reads half a spec. Returns the file.
pub fn write_spec(out: &Path, text: &str) -> Result<PathBuf> {
    let file = if out.is_dir() {
        out.join(SPEC_FILE)
    } else {
        out.to_path_buf()
    };
    if file.extension().and_then(|e| e.to_str()) != Some("json") {
        bail!(
            "{}: the file name must end in .json (CDI reads only *.json and *.yaml \
             files; this is JSON), or name a directory to write {SPEC_FILE} in",
            file.display()
        );
    }
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(|e| io_error(e, "create the directory", &dir))?;
    }
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&tmp)?;
        std::io::Write::write_all(&mut f, text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, &file)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io_error(e, "write the CDI spec to", &file));
    }
    Ok(file)
}

/// The state an OCI runtime gives a hook on stdin: the container's pid.
fn pid_of_state(state: &str) -> Result<u32> {
    let v: Value = serde_json::from_str(state).context(
        "stdin is not an OCI state (JSON): `mockgpuctl cdi hook` is the createRuntime \
         hook of a CDI spec, run by the container runtime",
    )?;
    v["pid"]
        .as_u64()
        .filter(|p| *p > 0)
        .and_then(|p| u32::try_from(p).ok())
        .ok_or_else(|| {
            anyhow!(
                "the OCI state on stdin has no pid (status {}): run the hook as createRuntime, \
                 once the container's process exists",
                v["status"]
            )
        })
}

/// `mockgpuctl cdi hook`: sets the limits for the tenant of the container
/// whose OCI state is on stdin.
fn hook(control: &str, target: &str, limits: &LimitArgs) -> Result<()> {
    let mut state = String::new();
    std::io::stdin()
        .read_to_string(&mut state)
        .context("cannot read the OCI state on stdin")?;
    let pid = pid_of_state(&state)?;
    let ctl = Control::open(control)?;
    let kind = ctl.tenant_kind(target)?;
    let of_kind = |pid: u32| -> Result<abi::Tenant> {
        tenant::of_process(pid)?
            .into_iter()
            .find(|t| t.kind == kind)
            .ok_or_else(|| anyhow!("process {pid} has no {}", tenant::kind_name(kind)))
    };
    let theirs = of_kind(pid).with_context(|| format!("the container's process {pid}"))?;
    // The hook runs in the runtime's namespaces and cgroup: a container that
    // shares its tenant with them (no pid namespace of its own, say) cannot
    // be limited without limiting the host.
    if of_kind(std::process::id()).ok() == Some(theirs) {
        bail!(
            "{target}: the container (pid {pid}) shares its {} {} with the host: limiting it \
             would limit the host too; give the container its own (podman's default \
             --pid private and --cgroupns private)",
            tenant::kind_name(kind),
            theirs.id
        );
    }
    ctl.limit_set(target, theirs, crate::to_abi(limits))?;
    println!(
        "{target}: container pid {pid}: {} {} limited to {}",
        tenant::kind_name(kind),
        theirs.id,
        crate::describe(&crate::to_abi(limits))
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<Target> {
        [
            ("renderD128", "/dev/dri/renderD128"),
            ("realgpu", "/dev/realgpu"),
        ]
        .iter()
        .map(|(n, r)| Target {
            name: n.to_string(),
            proxy: format!("/dev/mockgpu/{n}"),
            real: r.to_string(),
        })
        .collect()
    }

    fn limits_hook() -> Hook {
        Hook {
            exe: "/usr/local/bin/mockgpuctl".into(),
            control: "/dev/mockgpu-control".into(),
            limits: LimitArgs {
                memory: Some(4 << 20),
                files: Some(8),
                compute: Some(30),
            },
        }
    }

    /// mockgpu's own rules: one device per target, named after it, whose one
    /// node is the proxy (hostPath) at the real node's path, a char device
    /// the container may read and write but not mknod, its number read from
    /// the proxy when the container is created.
    fn maps_proxies(spec: &Value, targets: &[Target]) -> Result<(), String> {
        let devices = spec["devices"].as_array().ok_or("no devices")?;
        if devices.len() != targets.len() {
            return Err(format!(
                "{} devices for {} targets",
                devices.len(),
                targets.len()
            ));
        }
        for (d, t) in devices.iter().zip(targets) {
            if d["name"] != json!(t.name) {
                return Err(format!("device {} for target {}", d["name"], t.name));
            }
            let nodes = d["containerEdits"]["deviceNodes"]
                .as_array()
                .ok_or("no deviceNodes")?;
            let [n] = nodes.as_slice() else {
                return Err(format!("{}: {} device nodes", t.name, nodes.len()));
            };
            let want = json!({
                "path": t.real, "hostPath": format!("/dev/mockgpu/{}", t.name),
                "type": "c", "permissions": "rw",
            });
            if *n != want {
                return Err(format!("{}: node {n}, expected {want}", t.name));
            }
        }
        Ok(())
    }

    #[test]
    fn the_generated_spec_follows_the_cdi_rules() {
        for hook in [None, Some(limits_hook())] {
            let s = spec("mockgpu.dev/gpu", &targets(), hook.as_ref()).unwrap();
            assert_eq!(validate(&s), Ok(()), "{s:#}");
            assert_eq!(maps_proxies(&s, &targets()), Ok(()));
            // The lowest version with hostPath; podman 4.3 reads up to 0.5.0.
            assert_eq!(s["cdiVersion"], "0.5.0");
            assert_eq!(minimum_version(&s), "0.5.0");
            assert_eq!(s["kind"], "mockgpu.dev/gpu");
            let top: Vec<&str> = s.as_object().unwrap().keys().map(|k| k.as_str()).collect();
            assert_eq!(top, ["cdiVersion", "devices", "kind"]);
            assert!(s["containerEdits"].is_null());
        }
    }

    #[test]
    fn limits_come_as_a_create_runtime_hook_per_device() {
        let s = spec("mockgpu.dev/gpu", &targets(), Some(&limits_hook())).unwrap();
        for (d, t) in s["devices"].as_array().unwrap().iter().zip(targets()) {
            let hooks = d["containerEdits"]["hooks"].as_array().unwrap();
            assert_eq!(hooks.len(), 1);
            assert_eq!(hooks[0]["hookName"], "createRuntime");
            assert_eq!(hooks[0]["path"], "/usr/local/bin/mockgpuctl");
            let args: Vec<&str> = hooks[0]["args"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            let want = [
                "mockgpuctl",
                "--control",
                "/dev/mockgpu-control",
                "cdi",
                "hook",
                "--target",
                &t.name,
                "--memory",
                "4194304",
                "--files",
                "8",
                "--compute",
                "30%",
            ];
            assert_eq!(args, want);
        }
        // Without limits: no hook.
        let s = spec("mockgpu.dev/gpu", &targets(), None).unwrap();
        assert!(s["devices"][0]["containerEdits"]["hooks"].is_null());
    }

    #[test]
    fn the_hook_arguments_parse_as_the_hook_command() {
        use clap::Parser;
        let args = limits_hook().args("realgpu");
        let cli = crate::args::Cli::try_parse_from(&args).unwrap();
        let crate::args::Command::Cdi(CdiArgs {
            command: Some(CdiCommand::Hook { target, limits }),
            ..
        }) = cli.command
        else {
            panic!("{args:?} is not `cdi hook`");
        };
        assert_eq!(target, "realgpu");
        assert_eq!(
            (limits.memory, limits.files, limits.compute),
            (Some(4 << 20), Some(8), Some(30))
        );
    }

    #[test]
    fn kinds_and_names_follow_the_spec() {
        // SPEC.md's own examples.
        for k in [
            "vendor.com/foo",
            "foo.bar.baz/foo-bar123.B_az",
            "mockgpu.dev/gpu",
        ] {
            assert_eq!(validate_kind(k), Ok(()), "{k}");
        }
        for k in [
            "foo",
            "vendor.com/foo/",
            "vendor.com/foo/bar",
            "/gpu",
            "vendor.com/",
            "Vendor.com/gpu",
            "vendor_x.com/gpu",
            "vendor..com/gpu",
            "-vendor.com/gpu",
            "vendor-.com/gpu",
            "1vendor.com/gpu",
            "vendor.com/-gpu",
            "vendor.com/gpu-",
            "vendor.com/1gpu",
            "vendor.com/g pu",
            "vendor.com/gpu=x",
        ] {
            assert!(validate_kind(k).is_err(), "{k} should be refused");
        }
        assert!(validate_kind(&format!("v.com/{}", "g".repeat(63))).is_ok());
        assert!(validate_kind(&format!("v.com/{}", "g".repeat(64))).is_err());
        assert!(validate_kind(&format!("{}.com/gpu", "v".repeat(64))).is_err());
        let long_vendor = vec!["v".repeat(63); 4].join(".");
        assert_eq!(long_vendor.len(), 255);
        assert!(validate_kind(&format!("{long_vendor}/gpu")).is_err());

        for n in [
            "renderD128",
            "card0",
            "realgpu",
            "nvidia-uvm",
            "a",
            "0",
            "x_y.z",
        ] {
            assert_eq!(validate_device_name(n), Ok(()), "{n}");
        }
        for n in ["", "-a", "a-", ".a", "a b", "a/b", "a=b", "a:b", "ä"] {
            assert!(validate_device_name(n).is_err(), "{n:?} should be refused");
        }
    }

    #[test]
    fn the_version_is_the_lowest_with_every_feature_used() {
        let base = || {
            json!({"cdiVersion": "0.3.0", "kind": "v.com/gpu",
                   "devices": [{"name": "a", "containerEdits": {"deviceNodes": [{"path": "/dev/a"}]}}]})
        };
        assert_eq!(minimum_version(&base()), "0.3.0");
        let mut s = base();
        s["devices"][0]["containerEdits"]["mounts"] =
            json!([{"hostPath": "/a", "containerPath": "/a", "type": "bind"}]);
        assert_eq!(minimum_version(&s), "0.4.0");
        let mut s = base();
        s["devices"][0]["name"] = json!("0a");
        assert_eq!(minimum_version(&s), "0.5.0");
        let mut s = base();
        s["devices"][0]["containerEdits"]["deviceNodes"][0]["hostPath"] = json!("/dev/b");
        assert_eq!(minimum_version(&s), "0.5.0");
        let mut s = base();
        s["kind"] = json!("v.com/g.pu");
        assert_eq!(minimum_version(&s), "0.6.0");
        let mut s = base();
        s["annotations"] = json!({"a": "b"});
        assert_eq!(minimum_version(&s), "0.6.0");
        let mut s = base();
        s["containerEdits"] = json!({"additionalGids": [5]});
        assert_eq!(minimum_version(&s), "0.7.0");
        let mut s = base();
        s["containerEdits"] = json!({"netDevices": [{"hostInterfaceName": "a", "name": "b"}]});
        assert_eq!(minimum_version(&s), "1.1.0");
        // A spec whose kind has a dotted class gets 0.6.0.
        let s = spec("mockgpu.dev/gpu.v1", &targets(), None).unwrap();
        assert_eq!(s["cdiVersion"], "0.6.0");
        assert_eq!(validate(&s), Ok(()));
    }

    /// Every rule, broken once in an otherwise valid spec, is caught, and
    /// named in the message.
    #[test]
    fn a_broken_rule_fails_validation() {
        // what | where (a JSON pointer; @E is the first device's
        // containerEdits, @N its first device node, @H its first hook) | the
        // new value (JSON), or - to remove the field | what the error says
        const CASES: &str = r#"
            no version          | /cdiVersion      | -                  | cdiVersion: required
            version a number    | /cdiVersion      | 0.5                | cdiVersion
            version not semver  | /cdiVersion      | "0.5"              | not a released
            unknown version     | /cdiVersion      | "2.0.0"            | not a released
            v-prefixed version  | /cdiVersion      | "v0.5.0"           | not a released
            older than hostPath | /cdiVersion      | "0.4.0"            | at least 0.5.0
            dotted class        | /kind            | "mockgpu.dev/g.pu" | at least 0.6.0
            no kind             | /kind            | -                  | kind: required
            kind without vendor | /kind            | "gpu"              | vendor/class
            two slashes         | /kind            | "mockgpu.dev/a/b"  | one '/'
            uppercase vendor    | /kind            | "MockGPU.dev/gpu"  | DNS
            class with a space  | /kind            | "mockgpu.dev/g pu" | class
            no devices          | /devices         | -                  | devices: required
            empty devices       | /devices         | []                 | at least one device
            device without name | /devices/0/name  | -                  | name: required
            name with a space   | /devices/0/name  | "a b"              | device name
            name ending in -    | /devices/0/name  | "gpu-"             | device name
            name with a colon   | /devices/0/name  | "gpu:0"            | device name
            device twice        | /devices/1/name  | "renderD128"       | twice
            no containerEdits   | @E               | -                  | containerEdits: required
            node without path   | @N/path          | -                  | path: required
            relative path       | @N/path          | "dev/x"            | absolute
            relative hostPath   | @N/hostPath      | "mockgpu/x"        | absolute
            bad type            | @N/type          | "char"             | type
            bad permissions     | @N/permissions   | "rwx"              | permissions
            empty permissions   | @N/permissions   | ""                 | permissions
            major a string      | @N/major         | "226"              | major
            negative uid        | @N/uid           | -1                 | uid
            misspelt field      | @N/hostpath      | "/x"               | unknown field 'hostpath'
            unknown field       | /annotation      | {}                 | unknown field 'annotation'
            env without =       | @E/env           | ["FOO"]            | NAME=VALUE
            bad hook name       | @H/hookName      | "prestarts"        | hookName
            relative hook path  | @H/path          | "mockgpuctl"       | absolute
            zero hook timeout   | @H/timeout       | 0                  | timeout
            annotation a number | /devices/0/annotations | {"a": 1}     | annotations
            mount without dest  | /containerEdits  | {"mounts": [{"hostPath": "/a"}]} | containerPath
        "#;
        let cases = CASES.lines().filter(|l| !l.trim().is_empty()).map(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            let value = (f[2] != "-").then(|| serde_json::from_str::<Value>(f[2]).unwrap());
            (f[0], f[1], value, f[3])
        });
        let good = spec("mockgpu.dev/gpu", &targets(), Some(&limits_hook())).unwrap();
        for (what, at, value, needle) in cases {
            let at = at
                .replace("@N", "@E/deviceNodes/0")
                .replace("@H", "@E/hooks/0")
                .replace("@E", "/devices/0/containerEdits");
            let (parent, key) = at.rsplit_once('/').unwrap();
            let mut s = good.clone();
            let p = s.pointer_mut(parent).unwrap();
            match (value, p) {
                (Some(v), Value::Array(a)) => a[key.parse::<usize>().unwrap()] = v,
                (Some(v), p) => p[key] = v,
                (None, p) => {
                    p.as_object_mut().unwrap().remove(key).unwrap();
                }
            }
            match validate(&s) {
                Ok(()) => panic!("{what}: not caught in {s:#}"),
                Err(errs) => assert!(
                    errs.iter().any(|e| e.contains(needle)),
                    "{what}: {errs:?} does not say '{needle}'"
                ),
            }
        }
        // mockgpu's own rules: the proxy at the real path.
        let mut s = good.clone();
        s["devices"][0]["containerEdits"]["deviceNodes"][0]["hostPath"] =
            json!("/dev/dri/renderD128");
        assert!(validate(&s).is_ok() && maps_proxies(&s, &targets()).is_err());
        let mut s = good.clone();
        s["devices"][1]["containerEdits"]["deviceNodes"][0]["path"] = json!("/dev/mockgpu/realgpu");
        assert!(validate(&s).is_ok() && maps_proxies(&s, &targets()).is_err());
        let mut s = good;
        s["devices"][0]["containerEdits"]["deviceNodes"][0]["permissions"] = json!("rwm");
        assert!(validate(&s).is_ok() && maps_proxies(&s, &targets()).is_err());
    }

    #[test]
    fn a_spec_without_targets_or_with_a_bad_kind_is_refused() {
        let e = spec("mockgpu.dev/gpu", &[], None).unwrap_err().to_string();
        assert!(e.contains("at least one device"), "{e}");
        let e = spec("gpu", &targets(), None).unwrap_err().to_string();
        assert!(e.contains("vendor/class"), "{e}");
    }

    fn scratch(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mockgpuctl-cdi-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn the_spec_is_written_whole_where_asked() {
        let d = scratch("write");
        // A directory that does not exist yet is made; a directory names mockgpu.json.
        let f = write_spec(&d.join("cdi/mockgpu.json"), "{}\n").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "{}\n");
        let f2 = write_spec(&d.join("cdi"), "{\"a\": 1}\n").unwrap();
        assert_eq!(f2, f);
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "{\"a\": 1}\n");
        // No temporary file left behind.
        let left: Vec<_> = std::fs::read_dir(d.join("cdi")).unwrap().collect();
        assert_eq!(left.len(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn writing_fails_with_a_reason_and_a_remedy() {
        let d = scratch("fail");
        std::fs::create_dir_all(&d).unwrap();
        let e = write_spec(&d.join("mockgpu.yaml"), "{}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("must end in .json"), "{e}");
        std::fs::write(d.join("file"), "").unwrap();
        let e = write_spec(&d.join("file/mockgpu.json"), "{}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("file/mockgpu.json") || e.contains("file"), "{e}");
        assert!(e.contains("not a directory"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn the_hook_reads_the_pid_from_the_oci_state() {
        let state =
            r#"{"ociVersion":"1.0.2","id":"c1","status":"created","pid":4242,"bundle":"/b"}"#;
        assert_eq!(pid_of_state(state).unwrap(), 4242);
        let e = pid_of_state("not json").unwrap_err().to_string();
        assert!(e.contains("createRuntime hook"), "{e}");
        let e = pid_of_state(r#"{"status":"stopped","pid":0}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no pid"), "{e}");
    }
}
