//! `gpuwarden reset [RULE] [--gpu N]`: a person tells the running watchdog to try again.
//!
//! Firing rules that stopped restarting (their budget spent, restarts that did not help or
//! kept failing) get a whole restart budget back; the units they restarted lose their
//! history (window, cooldown, back-off). Nothing else changes: caps, pages and the firing
//! itself stay. Exit 0 when something was reset, 1 when nothing matched, 2 when no watchdog
//! answers.

use super::{EXIT_ENVIRONMENT, EXIT_FINDING, EXIT_OK};
use crate::daemon::control::{self, Request};
use crate::policy;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Debug, Default, Args)]
pub struct ResetArgs {
    /// Only this rule (default: every firing rule)
    pub rule: Option<String>,
    /// Only this GPU, by index or UUID
    #[arg(long, value_name = "GPU")]
    pub gpu: Option<String>,
    /// The watchdog's config, for its state directory (default /etc/gpuwarden/watchdog.toml)
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// The watchdog's state directory (overrides the config's)
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
}

pub fn run(args: &ResetArgs) -> Result<ExitCode> {
    let state_dir = match &args.state_dir {
        Some(d) => d.clone(),
        None => {
            let path = args
                .config
                .clone()
                .unwrap_or_else(|| policy::DEFAULT_CONFIG_PATH.into());
            match policy::load(&path) {
                Ok(c) => c.watchdog.state_dir,
                Err(e) => {
                    eprintln!("gpuwarden: {e} (or pass --state-dir)");
                    return Ok(ExitCode::from(EXIT_ENVIRONMENT));
                }
            }
        }
    };
    let request = Request::Reset {
        rule: args.rule.clone(),
        gpu: args.gpu.clone(),
    };
    let reply = match control::ask(&state_dir, &request) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("gpuwarden: {e}");
            return Ok(ExitCode::from(EXIT_ENVIRONMENT));
        }
    };
    for r in &reply.reset {
        println!("reset {} on GPU {} ({})", r.rule, r.gpu, r.uuid);
    }
    if reply.ok {
        Ok(ExitCode::from(EXIT_OK))
    } else {
        eprintln!("gpuwarden: {}", reply.message);
        Ok(ExitCode::from(EXIT_FINDING))
    }
}
