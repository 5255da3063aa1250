//! `gpuwarden replay --trace FILE`: what the watchdog would have done on a recorded trace.
//!
//! Reads the trace as a stream ([`crate::trace`]), feeds every sample to the same pure
//! engine the daemon runs ([`crate::trace::replay::Replay`]) at the trace's own timestamps,
//! and prints each action as it would have happened, then a summary per rule and GPU.
//! Nothing is actuated. Skipped lines are reported on stderr as `file:line: problem`.

use super::{Cli, EXIT_FINDING, EXIT_OK};
use crate::gpu::UnixMs;
use crate::policy::{self, Config, DEFAULT_CONFIG_PATH, LoadError};
use crate::trace::replay::{Outcome, Replay, RuleSummary};
use crate::trace::{self, Severity, TraceOptions, clock};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Skipped lines told one by one; past this many the summary only counts them, so a file
/// with the same problem on every line says it a few times, not thousands.
const SKIPPED_SHOWN: u64 = 10;

/// The reference policy shipped with gpuwarden, used when no config is given or installed.
const REFERENCE_CONFIG: &str = include_str!("../../watchdog.toml");

#[derive(Clone, Debug, Default, Args)]
pub struct ReplayArgs {
    /// The trace: `gpuwarden record` (.jsonl, .jsonl.zst), or an nvidia-smi CSV, dmon, pmon or table log
    #[arg(long, value_name = "FILE")]
    pub trace: PathBuf,
    /// The policy to test (default: /etc/gpuwarden/watchdog.toml, else the reference policy)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Play at N times the trace's own pace, e.g. 60 for an hour per minute
    #[arg(long, value_name = "N", conflicts_with = "instant", value_parser = parse_speed)]
    pub speed: Option<f64>,
    /// As fast as possible (the default)
    #[arg(long)]
    pub instant: bool,
    /// The timeline and summary as one JSON document
    #[arg(long)]
    pub json: bool,
    /// Stop at the first malformed line instead of skipping it
    #[arg(long)]
    pub strict: bool,
    /// The --query-gpu list of a CSV recorded with `noheader`, e.g. timestamp,index,temperature.gpu
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub columns: Option<Vec<String>>,
}

pub(super) fn parse_speed(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number (try 1, 10, 60)")),
    }
}

pub fn run(cli: &Cli, args: &ReplayArgs) -> Result<ExitCode> {
    let (config, config_name) = match load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(LoadError::Invalid(err)) => {
            eprintln!("{err}");
            return Ok(ExitCode::from(EXIT_FINDING));
        }
        Err(err) => return Err(err.into()),
    };
    let options = trace_options(cli, args.strict, args.columns.clone());
    let (format, stored, stream) = trace::open_described(&args.trace, &options)?;
    let mut out = Printer::new(args.json, io::stdout().lock());
    out.start(&args.trace, format, stored, &config_name)?;
    let mut replay = Replay::new(&config);
    let mut skipped = 0u64;
    let mut previous: Option<UnixMs> = None;
    for item in stream {
        let snap = match item {
            Ok(snap) => snap,
            Err(e) => match e.severity() {
                Severity::Fatal => return Err(e).context("reading the trace"),
                Severity::Skipped => {
                    skipped += 1;
                    if skipped <= SKIPPED_SHOWN {
                        eprintln!("gpuwarden: warning: {e}");
                    }
                    if skipped == SKIPPED_SHOWN {
                        eprintln!(
                            "gpuwarden: warning: further skipped lines are not shown; the \
                             summary counts them (--strict stops at the first)"
                        );
                    }
                    continue;
                }
                Severity::Note => {
                    eprintln!("gpuwarden: note: {e}");
                    continue;
                }
            },
        };
        if let (Some(speed), Some(prev)) = (args.speed, previous) {
            let wait = snap.at_ms.saturating_sub(prev) as f64 / speed;
            std::thread::sleep(Duration::from_secs_f64(wait / 1000.0));
        }
        previous = Some(snap.at_ms);
        for action in replay.feed(&snap) {
            out.action(&action)?;
        }
    }
    out.finish(&replay.finish(), skipped)?;
    Ok(ExitCode::from(EXIT_OK))
}

/// The config to replay against, and how to name it in the output.
fn load_config(path: Option<&Path>) -> Result<(Config, String), LoadError> {
    if let Some(p) = path {
        return Ok((policy::load(p)?, p.display().to_string()));
    }
    let installed = Path::new(DEFAULT_CONFIG_PATH);
    if installed.exists() {
        return Ok((policy::load(installed)?, DEFAULT_CONFIG_PATH.to_string()));
    }
    let name = "the reference watchdog.toml";
    let config = policy::parse(Path::new(name), REFERENCE_CONFIG).map_err(LoadError::Invalid)?;
    Ok((config, name.to_string()))
}

/// How to read a trace, from the command line (shared with `top --trace`).
pub(super) fn trace_options(cli: &Cli, strict: bool, columns: Option<Vec<String>>) -> TraceOptions {
    TraceOptions {
        strict,
        interval: super::args::interval_given().then_some(cli.common.interval),
        columns,
    }
}

/// Writes the timeline as text lines or as one streamed JSON document.
struct Printer<W: Write> {
    json: bool,
    out: W,
    first: bool,
}

impl<W: Write> Printer<W> {
    fn new(json: bool, out: W) -> Self {
        Printer {
            json,
            out,
            first: true,
        }
    }

    fn start(
        &mut self,
        trace: &Path,
        format: trace::TraceFormat,
        stored: trace::encoding::Encoding,
        config: &str,
    ) -> Result<()> {
        let format = format.name();
        if self.json {
            let mut head =
                serde_json::json!({ "trace": trace, "format": format, "config": config });
            if let Some(encoding) = stored.name() {
                head["encoding"] = encoding.into();
            }
            let head = serde_json::to_string(&head)?;
            // Stream the timeline: the trace may hold a day of actions.
            write!(self.out, "{},\"timeline\":[", head.trim_end_matches('}'))?;
        } else {
            let format = match stored.name() {
                Some(encoding) => format!("{format}, {encoding}"),
                None => format.to_string(),
            };
            writeln!(
                self.out,
                "replaying {} ({format}) against {config}; nothing is actuated\n",
                trace.display()
            )?;
        }
        Ok(())
    }

    fn action(&mut self, a: &policy::Action) -> Result<()> {
        if self.json {
            if !self.first {
                self.out.write_all(b",")?;
            }
            self.out.write_all(b"\n")?;
            serde_json::to_writer(&mut self.out, a)?;
        } else {
            writeln!(
                self.out,
                "{}  GPU {}  {:<20} {}",
                clock::format_timestamp(a.at_ms),
                a.gpu.index,
                a.rule.as_deref().unwrap_or("(watchdog)"),
                a
            )?;
        }
        self.first = false;
        Ok(())
    }

    fn finish(&mut self, outcome: &Outcome, skipped: u64) -> Result<()> {
        if self.json {
            let summary = serde_json::json!({ "summary": outcome, "skipped_lines": skipped });
            let summary = serde_json::to_string(&summary)?;
            writeln!(self.out, "\n],{}", summary.trim_start_matches('{'))?;
            return Ok(self.out.flush()?);
        }
        if self.first {
            writeln!(self.out, "(no rule fired)")?;
        }
        let span = match (outcome.first_ms, outcome.last_ms) {
            (Some(a), Some(b)) => format!(
                "from {} to {} ({})",
                clock::format_timestamp(a),
                clock::format_timestamp(b),
                humantime::format_duration(Duration::from_secs((b - a) / 1000))
            ),
            _ => bail!("the trace holds no samples"),
        };
        writeln!(
            self.out,
            "\n{} samples of {} GPUs {span}; {} actions; {skipped} lines skipped",
            outcome.samples, outcome.gpus, outcome.actions
        )?;
        if !outcome.rules.is_empty() {
            writeln!(self.out, "\n{}", summary_header())?;
            for r in &outcome.rules {
                writeln!(self.out, "{}", summary_row(r))?;
            }
        }
        Ok(self.out.flush()?)
    }
}

fn summary_header() -> String {
    format!(
        "{:<20} {:>3} {:>5} {:>10} {:>6} {:>4} {:>8} {:>7} {:>9} {:>5}  {}",
        "RULE",
        "GPU",
        "FIRED",
        "FIRING FOR",
        "NOTIFY",
        "CAPS",
        "RESTARTS",
        "REFUSED",
        "NO-BUDGET",
        "PAGES",
        "AT END"
    )
}

fn summary_row(r: &RuleSummary) -> String {
    format!(
        "{:<20} {:>3} {:>5} {:>10} {:>6} {:>4} {:>8} {:>7} {:>9} {:>5}  {}",
        r.rule,
        r.gpu_index,
        r.fired,
        humantime::format_duration(Duration::from_secs(r.firing_ms / 1000)).to_string(),
        r.notifications,
        r.clock_caps,
        r.restarts,
        r.restarts_refused,
        r.budget_exhausted,
        r.pages,
        if r.firing_at_end { "firing" } else { "clear" }
    )
}
