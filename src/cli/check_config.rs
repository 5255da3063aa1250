//! `gpuwarden check-config [PATH]`: validate a watchdog.toml and summarize the policy it sets.
//!
//! Meant for `ExecStartPre=` and for people editing the file: exit 0 with a summary of the
//! effective policy on stdout (and `warning: file:line:col: key: …` on stderr for a rule that
//! may flap), exit 1 with `file:line:col: key: what is wrong` on stderr, exit 2 when the file
//! cannot be read. With no PATH it checks `/etc/gpuwarden/watchdog.toml` — the file the
//! daemon reads — and never falls back to another one, so what passes here is what the
//! daemon loads. `--json` prints the effective policy (every default filled in) and the
//! warnings, or the located error, as JSON.

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
    /// Print no summary when the file is valid (warnings still go to stderr)
    #[arg(short, long, conflicts_with = "json")]
    pub quiet: bool,
    /// The effective policy (or the error) as JSON on stdout, same exit codes
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &CheckConfigArgs) -> Result<ExitCode> {
    let path = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH));
    let loaded = policy::load(&path);
    if args.json
        && let Some(report) = json_report(&path, &loaded)
    {
        let code = if loaded.is_ok() {
            EXIT_OK
        } else {
            EXIT_FINDING
        };
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::from(code));
    }
    match loaded {
        Ok(config) => {
            for w in &config.warnings {
                eprintln!("warning: {w}");
            }
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

/// `{"file", "valid": true, "config", "warnings"}` or `{"file", "valid": false, "error"}`;
/// `None` when the file could not be read (reported on stderr, exit 2, like without --json).
fn json_report(
    path: &std::path::Path,
    loaded: &Result<policy::Config, LoadError>,
) -> Option<serde_json::Value> {
    match loaded {
        Ok(config) => Some(serde_json::json!({
            "file": path,
            "valid": true,
            "config": config,
            "warnings": config
                .warnings
                .iter()
                .map(ToString::to_string)
                .chain(policy::summary::warnings(config))
                .collect::<Vec<_>>(),
        })),
        Err(LoadError::Invalid(err)) => Some(serde_json::json!({
            "file": path,
            "valid": false,
            "error": err,
        })),
        Err(LoadError::Read { .. }) => None,
    }
}
