//! `mockgpuctl`: the operator's command line for mockgpu.
mod args;
mod sys;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command, TargetCommand};

fn main() -> Result<()> {
    let cli = Cli::parse();
    let ctl = sys::Control::open(&cli.control)?;
    match cli.command {
        Command::Target(TargetCommand::Add { path }) => {
            let name = ctl.target_add(&path)?;
            println!("{path} is proxied at /dev/mockgpu/{name}");
        }
        Command::Target(TargetCommand::Remove { name }) => {
            ctl.target_remove(&name)?;
            println!("target {name} removed");
        }
    }
    Ok(())
}
