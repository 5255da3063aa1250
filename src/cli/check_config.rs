//! `gpuwarden check-config [PATH]`: validate a watchdog.toml and summarize the policy it sets.
//!
//! Meant for `ExecStartPre=` and for people editing the file: exit 0 with a summary of the
//! effective policy (and any warnings) on stdout, exit 1 with `file:line:col: key: what is
//! wrong` on stderr, exit 2 when the file cannot be read. With no PATH it checks
//! `/etc/gpuwarden/watchdog.toml` — the file the daemon reads — and never falls back to
//! another one, so what passes here is what the daemon loads.

use super::{EXIT_ENVIRONMENT, EXIT_FINDING, EXIT_OK};
use crate::policy::{self, DEFAULT_CONFIG_PATH, LoadError};
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Debug, Default, Args)]
pub struct CheckConfigArgs {
    /// The file to check (default: /etc/gpuwarden/watchdog.toml)
    #[arg(value_name = "PATH")]
    pub path: Option<PathBuf>,
    /// Print nothing when the file is valid
    #[arg(short, long)]
    pub quiet: bool,
}

pub fn run(args: &CheckConfigArgs) -> Result<ExitCode> {
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    match policy::load(&path) {
        Ok(config) => {
            if !args.quiet {
                let mut out = format!("{}: ok\n", path.display());
                out.push_str(&policy::summary::summary(&config));
                std::io::stdout()
                    .lock()
                    .write_all(out.as_bytes())
                    .context("writing to stdout")?;
            }
            Ok(ExitCode::from(EXIT_OK))
        }
        Err(LoadError::Invalid(err)) => {
            eprintln!("{err}");
            Ok(ExitCode::from(EXIT_FINDING))
        }
        Err(err @ LoadError::Read { .. }) => {
            eprintln!("gpuwarden: error: {err}");
            if args.path.is_none() {
                eprintln!(
                    "  hint: install the reference config there (watchdog.toml in the source tree) \
                     or name a file: gpuwarden check-config PATH"
                );
            }
            Ok(ExitCode::from(EXIT_ENVIRONMENT))
        }
    }
}
