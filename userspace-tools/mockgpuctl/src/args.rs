//! The command line.
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Control mockgpu, the kernel proxy that shares GPU device nodes between containers.
#[derive(Parser, Debug)]
#[command(version)]
pub struct Cli {
    /// mockgpu's control node.
    #[arg(long, default_value = "/dev/mockgpu-control", global = true)]
    pub control: String,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Targets and tenants at a glance.
    Status,
    /// List the proxied devices.
    Targets,
    /// Manage proxied devices.
    #[command(subcommand)]
    Target(TargetCommand),
    /// Set, show or clear a tenant's limits on a target.
    #[command(subcommand)]
    Limit(LimitCommand),
    /// Set which ioctls a target forwards.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Per-tenant usage of every target, then the cgroup v2 dmem
    /// controller's numbers for mockgpu's regions (mockgpu/<target>).
    Usage {
        /// Print JSON instead of tables: the array of tenants.
        #[arg(long)]
        json: bool,
        /// With --json: print {"tenants": [...], "dmem": {...}} instead of
        /// the array of tenants alone.
        #[arg(long, requires = "json")]
        dmem: bool,
    },
    /// Per-tenant usage and the cgroup dmem controller's numbers for
    /// mockgpu's regions, in the Prometheus text format (for a textfile
    /// collector or any scrape wrapper).
    Metrics,
    /// Run CMD in a container of its own, as a new tenant: new pid, mount,
    /// cgroup, IPC and UTS namespaces (and a user namespace or a child cgroup
    /// where a target counts tenants by those), a private /dev holding only
    /// the proxies (at the real nodes' paths) and the harmless nodes, the
    /// capabilities of a default OCI container; the limits are set on the
    /// container's tenant and cleared afterwards.
    Run(RunArgs),
    /// Print the tenant ids of a process: its pid and user namespace ids
    /// (NS_GET_ID) and its cgroup v2 id, as `limit` and `usage` show them.
    Ids {
        /// The process.
        #[arg(long)]
        pid: u32,
    },
    /// Bind the proxy over the real node inside the mount namespace of PID.
    Attach {
        /// A process of the container.
        #[arg(long)]
        pid: u32,
        /// The target (default: every target).
        #[arg(long)]
        target: Option<String>,
    },
    /// Print or write a CDI spec (for podman, CRI-O, containerd): one device
    /// per target, the proxy node at the real node's path; with limits, each
    /// device carries a createRuntime hook that sets them for the container.
    Cdi(CdiArgs),
}

/// `mockgpuctl cdi ...`
#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CdiArgs {
    #[command(subcommand)]
    pub command: Option<CdiCommand>,
    /// The CDI kind, `vendor/class` (devices are `<kind>=<target>`).
    #[arg(long, default_value = "mockgpu.dev/gpu")]
    pub kind: String,
    /// Write the spec to this file (atomically), or to DIR/mockgpu.json if it
    /// is a directory, instead of printing it; e.g. /etc/cdi or /var/run/cdi,
    /// where podman looks.
    #[arg(long, short, value_name = "FILE|DIR")]
    pub output: Option<std::path::PathBuf>,
    /// Limits every container given one of the devices gets on that target
    /// (set by a createRuntime hook, `mockgpuctl cdi hook`, before the
    /// container's first process runs). None: no hook.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Set a compute share even on a target whose driver reports no engine
    /// time in fdinfo (drm-engine-*), where mockgpu cannot enforce it
    /// (otherwise refused).
    #[arg(long)]
    pub force: bool,
}

/// `mockgpuctl cdi hook`
#[derive(Subcommand, Debug)]
pub enum CdiCommand {
    /// The OCI createRuntime hook a spec made with limits runs: reads the
    /// container's state (JSON, with its pid) on stdin and sets the limits
    /// for the container's tenant on TARGET.
    Hook {
        /// The target.
        #[arg(long)]
        target: String,
        #[command(flatten)]
        limits: LimitArgs,
    },
}

/// `mockgpuctl target ...`
#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// Proxy the char device at PATH as /dev/mockgpu/<last component of PATH>.
    Add {
        /// The real device node, e.g. /dev/dri/renderD128.
        path: String,
        /// What a tenant is on this target.
        #[arg(long, value_enum, default_value = "pidns")]
        tenant: TenantKind,
    },
    /// Remove a proxy node; files open on it keep working until closed.
    Remove {
        /// The target's name, e.g. renderD128.
        name: String,
    },
}

/// The kinds of tenant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TenantKind {
    /// The pid namespace of the opening process (or its nearest configured
    /// ancestor).
    Pidns,
    /// Its cgroup (v2), or the nearest configured ancestor cgroup.
    Cgroup,
    /// Its user namespace, or the nearest configured ancestor.
    Userns,
}

/// Who a limit is for.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct TenantSel {
    /// The tenant of this process (its pid namespace, cgroup or user namespace, as the target counts).
    #[arg(long)]
    pub pid: Option<u32>,
    /// A pid namespace, by its unique id (NS_GET_ID on /proc/PID/ns/pid, as
    /// `mockgpuctl ids --pid PID` prints it; not the inode number).
    #[arg(long)]
    pub pidns: Option<u64>,
    /// A cgroup v2, by path (e.g. /sys/fs/cgroup/tenant-a).
    #[arg(long)]
    pub cgroup: Option<String>,
    /// A user namespace, by its unique id (NS_GET_ID on /proc/PID/ns/user,
    /// as `mockgpuctl ids --pid PID` prints it; not the inode number).
    #[arg(long)]
    pub userns: Option<u64>,
}

/// Limits on the command line.
#[derive(Args, Debug, Clone, Default)]
pub struct LimitArgs {
    /// Device memory, e.g. 512M, 2G, 4096.
    #[arg(long, value_parser = crate::units::parse_size)]
    pub memory: Option<u64>,
    /// Open files of the proxy.
    #[arg(long)]
    pub files: Option<u64>,
    /// Compute share, e.g. 30%.
    #[arg(long, value_parser = crate::units::parse_percent)]
    pub compute: Option<u32>,
}

/// `mockgpuctl limit ...`
#[derive(Subcommand, Debug)]
pub enum LimitCommand {
    /// Set limits (unset ones mean no limit).
    Set {
        /// The target (default: every target).
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        tenant: TenantSel,
        #[command(flatten)]
        limits: LimitArgs,
        /// Set a compute share even on a target whose driver reports no
        /// engine time in fdinfo (drm-engine-*), where mockgpu cannot enforce
        /// it (otherwise refused).
        #[arg(long)]
        force: bool,
    },
    /// Show the limits in force.
    Get {
        /// The target (default: every target).
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        tenant: TenantSel,
    },
    /// Return the tenant to the defaults.
    Clear {
        /// The target (default: every target).
        #[arg(long)]
        target: Option<String>,
        #[command(flatten)]
        tenant: TenantSel,
    },
}

/// `mockgpuctl policy ...`
#[derive(Subcommand, Debug)]
pub enum PolicyCommand {
    /// Forward every ioctl (the default).
    AllowAll {
        /// The target.
        #[arg(long)]
        target: String,
    },
    /// Forward only these ioctl numbers (e.g. 0xc020b701); others get EPERM.
    Allow {
        /// The target.
        #[arg(long)]
        target: String,
        /// Ioctl numbers, decimal or 0x-hex.
        #[arg(required = true, value_parser = parse_cmd)]
        cmds: Vec<u32>,
    },
}

fn parse_cmd(s: &str) -> Result<u32, String> {
    let r = match s.strip_prefix("0x") {
        Some(hex) => u32::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("'{s}' is not an ioctl number"))
}

/// `mockgpuctl run ...`
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The target(s) to expose (default: every target).
    #[arg(long)]
    pub target: Vec<String>,
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Set a compute share even on a target whose driver reports no engine
    /// time in fdinfo (drm-engine-*), where mockgpu cannot enforce it
    /// (otherwise refused).
    #[arg(long)]
    pub force: bool,
    /// The command and its arguments.
    #[arg(last = true, required = true)]
    pub cmd: Vec<String>,
}
