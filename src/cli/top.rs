//! `gpuwarden top`: the terminal dashboard (the dashboard itself lives in `crate::tui`).

use super::Cli;
use super::args::TopArgs;
use anyhow::{Result, bail};
use std::process::ExitCode;

pub fn run(_cli: &Cli, _args: &TopArgs) -> Result<ExitCode> {
    bail!("the dashboard is not built yet")
}
