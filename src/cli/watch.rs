//! `gpuwarden watch`: run the watchdog (see `crate::daemon`).

use super::args::WatchArgs;
use super::{Cli, EXIT_FINDING, EXIT_OK};
use crate::daemon::{self, WatchOptions};
use crate::policy;
use anyhow::Result;
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &WatchArgs) -> Result<ExitCode> {
    let path = args
        .config
        .clone()
        .unwrap_or_else(|| policy::DEFAULT_CONFIG_PATH.into());
    let mut config = match policy::load(&path) {
        Ok(c) => c,
        Err(err @ policy::LoadError::Read { .. }) => {
            // Nothing to guard with: an environment error (2), with what to do about it.
            eprintln!("gpuwarden: {err}");
            if args.config.is_none() {
                eprintln!(
                    "  hint: install the reference config there (watchdog.toml in the source \
                     tree) or name one: gpuwarden watch --config PATH"
                );
            }
            return Ok(ExitCode::from(super::EXIT_ENVIRONMENT));
        }
        Err(err) => {
            eprintln!("gpuwarden: {err}");
            return Ok(ExitCode::from(EXIT_FINDING));
        }
    };
    // `--interval` typed on the command line beats `[watchdog] interval`.
    let interval = super::args::interval_given().then_some(cli.common.interval);
    if let Some(i) = interval {
        config.watchdog.interval = i;
    }
    crate::rlimit::raise_nofile_at_start();
    daemon::run(WatchOptions {
        config_path: path,
        config,
        source: cli.source.spec(),
        gpus: cli.source.gpu_list().cloned(),
        dry_run: args.dry_run,
        once: args.once,
        state_dir: args.state_dir.clone(),
        echo_events: !args.quiet,
        interval,
    })?;
    Ok(ExitCode::from(EXIT_OK))
}
