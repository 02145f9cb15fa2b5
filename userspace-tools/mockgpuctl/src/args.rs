//! The command line.
use clap::{Parser, Subcommand};

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
    /// Manage proxied devices.
    #[command(subcommand)]
    Target(TargetCommand),
}

/// `mockgpuctl target ...`
#[derive(Subcommand, Debug)]
pub enum TargetCommand {
    /// Proxy the char device at PATH as /dev/mockgpu/<last component of PATH>.
    Add {
        /// The real device node, e.g. /dev/dri/renderD128.
        path: String,
    },
    /// Remove a proxy node; files open on it keep working until closed.
    Remove {
        /// The target's name, e.g. renderD128.
        name: String,
    },
}
