//! `gpuwarden bench`: parse the burn's options, run it on real GPUs or the simulated fleet,
//! print the report and map the verdicts to the exit code (0 every GPU passed, 1 a GPU
//! failed or warned, 2 the bench could not run).

use super::{Cli, EXIT_ENVIRONMENT, EXIT_FINDING, EXIT_OK};
use crate::bench::run::{self, Options};
use crate::bench::verdict::{Judging, Status};
use crate::bench::{Workload, replay, report};
use crate::policy;
use anyhow::{Context, Result};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Clone, Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every GPU passed; 1 a GPU failed or warned; 2 the bench \
    could not run (no driver, no GPU, bad options).\n\
    Without a GPU: `gpuwarden bench --demo` (add `--scenario lost` to see a GPU fail, `--scenario overheat` to see one throttle and warn)."
)]
pub struct BenchArgs {
    /// How long to burn, e.g. 60s, 5m
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// What to run on every selected GPU
    #[arg(long, value_enum, default_value_t = Workload::Mixed)]
    pub workload: Workload,
    /// Share of free GPU memory the pattern check covers (memory and mixed workloads)
    #[arg(long, default_value = "90%", value_parser = parse_memory, value_name = "PERCENT")]
    pub memory: f64,
    /// Allowed shortfall against the best GPU of the same model
    #[arg(long, default_value = "10%", value_parser = parse_tolerance, value_name = "PERCENT")]
    pub tolerance: f64,
    /// What a degraded GPU (hardware throttling, slow) gets: warn or fail
    #[arg(long, default_value = "warn", value_parser = parse_degraded, value_name = "warn|fail")]
    pub degraded: Status,
    /// Temperature rule the report measures time-to-reach against, in °C (default 85, or
    /// the lowest temperature_c rule of --with-policy)
    #[arg(long, value_name = "CELSIUS")]
    pub threshold: Option<f64>,
    /// Replay this watchdog.toml's rules over the bench's samples (dry run) and list what
    /// the watchdog would have done
    #[arg(long, value_name = "FILE")]
    pub with_policy: Option<PathBuf>,
    /// The report as JSON on stdout (progress goes to stderr)
    #[arg(long)]
    pub json: bool,
    /// With --demo: simulated seconds per real second (e.g. 20 runs 60s in 3s)
    #[arg(long, default_value_t = 1.0, value_name = "FACTOR")]
    pub demo_speed: f64,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 30s, 2m)"))?;
    if d < Duration::from_secs(1) {
        return Err(format!("{s} is shorter than the 1s minimum"));
    }
    Ok(d)
}

/// `90%` or `90` → 0.9, within `(0, max]` percent.
fn parse_percent(s: &str, max: f64) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .trim_end_matches('%')
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a percentage (try 90%)"))?;
    if !(v > 0.0 && v <= max) {
        return Err(format!("{s} is outside 0%..{max}%"));
    }
    Ok(v / 100.0)
}

fn parse_memory(s: &str) -> Result<f64, String> {
    parse_percent(s, 98.0)
}

fn parse_tolerance(s: &str) -> Result<f64, String> {
    parse_percent(s, 100.0).map(|f| f * 100.0)
}

fn parse_degraded(s: &str) -> Result<Status, String> {
    match s {
        "warn" => Ok(Status::Warn),
        "fail" => Ok(Status::Fail),
        _ => Err(format!("{s:?}: expected warn or fail")),
    }
}

pub fn run(cli: &Cli, args: &BenchArgs) -> Result<ExitCode> {
    if !(args.demo_speed > 0.0 && args.demo_speed <= 1000.0) {
        anyhow::bail!("--demo-speed {} is outside (0, 1000]", args.demo_speed);
    }
    let policy = match &args.with_policy {
        Some(path) => match policy::load(path) {
            Ok(config) => Some((path.display().to_string(), config)),
            Err(e) => {
                eprintln!("gpuwarden: bench could not run: --with-policy: {e}");
                return Ok(ExitCode::from(EXIT_ENVIRONMENT));
            }
        },
        None => None,
    };
    let threshold_c = args
        .threshold
        .or_else(|| {
            policy
                .as_ref()
                .and_then(|(_, c)| replay::temperature_threshold(c))
        })
        .unwrap_or(85.0);
    let opts = Options {
        duration_s: args.duration.as_secs_f64(),
        workload: args.workload,
        memory_fraction: args.memory,
        judging: Judging {
            degraded: args.degraded,
            tolerance_pct: args.tolerance,
        },
        threshold_c,
        speed: if cli.source.demo {
            args.demo_speed
        } else {
            1.0
        },
        gpus: cli.source.gpu_list().cloned(),
        interval_s: 0.25,
        progress_to_stderr: args.json,
    };
    let spec = cli.source.spec();
    let finished = match &spec.demo {
        Some(sim) => run::run_demo(&opts, sim),
        None => run::run_cuda(&opts, spec.nvml_lib.clone()),
    };
    let mut finished = match finished {
        Ok(f) => f,
        Err(e) => {
            eprintln!("gpuwarden: bench could not run: {e}");
            return Ok(ExitCode::from(EXIT_ENVIRONMENT));
        }
    };
    if let Some((file, config)) = &policy {
        finished.report.watchdog = Some(replay::replay(config, file, &finished.samples));
    }
    let out = if args.json {
        let mut s = serde_json::to_string_pretty(&finished.report)?;
        s.push('\n');
        s
    } else {
        format!("\n{}", report::table(&finished.report))
    };
    std::io::stdout()
        .lock()
        .write_all(out.as_bytes())
        .context("writing the report to stdout")?;
    Ok(ExitCode::from(match finished.report.status {
        Status::Pass => EXIT_OK,
        Status::Warn | Status::Fail => EXIT_FINDING,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_with_or_without_the_sign_and_stay_in_range() {
        assert_eq!(parse_memory("90%"), Ok(0.9));
        assert_eq!(parse_memory("50"), Ok(0.5));
        assert!(parse_memory("0%").is_err());
        assert!(parse_memory("99%").is_err());
        assert!(
            parse_memory("lots")
                .unwrap_err()
                .contains("not a percentage")
        );
        assert_eq!(parse_tolerance("10%"), Ok(10.0));
        assert!(parse_degraded("maybe").is_err());
        assert!(parse_duration("10ms").is_err());
    }
}
