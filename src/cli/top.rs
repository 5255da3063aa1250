//! `gpuwarden top`: the terminal dashboard (the dashboard itself lives in `crate::tui`).
//!
//! The source is opened before the terminal is taken over, so "no driver" prints a plain
//! message and exits 2 instead of flashing a broken screen. `--trace FILE` plays a recorded
//! trace instead ([`TraceSource`]), at `--speed` times its own pace.

use super::Cli;
use super::EXIT_OK;
use super::args::TopArgs;
use crate::gpu::Source;
use crate::gpu::open::open;
use crate::gpu::trace::TraceSource;
use crate::tui::run::{Options, run as run_dashboard};
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &TopArgs) -> Result<ExitCode> {
    let source: Box<dyn Source> = match &args.trace {
        Some(path) => {
            let options = super::replay::trace_options(cli, false, args.columns.clone());
            Box::new(TraceSource::open(
                path,
                &options,
                args.speed.unwrap_or(1.0),
            )?)
        }
        None => open(&cli.source.spec())?,
    };
    let options = Options {
        interval: cli.common.interval,
        color: cli.common.color(),
        gpus: cli.source.gpus.clone(),
    };
    run_dashboard(source, &options)?;
    Ok(ExitCode::from(EXIT_OK))
}
