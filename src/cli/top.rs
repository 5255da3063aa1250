//! `gpuwarden top`: the terminal dashboard (the dashboard itself lives in `crate::tui`).
//!
//! With `--agents` or `--prometheus` it is the fleet dashboard instead: a hosts view fed by a
//! `crate::fleet` source. With a watchdog config (`--config`, or the default path when it
//! exists) the local dashboard shows the watchdog's thresholds, rules and events. The source
//! is opened before the terminal is taken over, so "no driver" prints a plain message and
//! exits 2 instead of flashing a broken screen. `--trace FILE` plays a recorded trace
//! instead ([`TraceSource`]), at `--speed` times its own pace.

use super::Cli;
use super::EXIT_OK;
use super::args::TopArgs;
use crate::fleet::FleetSource;
use crate::fleet::agents::AgentsSource;
use crate::fleet::prometheus::PrometheusSource;
use crate::gpu::Source;
use crate::gpu::open::open;
use crate::gpu::trace::TraceSource;
use crate::tui::fleet_run::run_fleet;
use crate::tui::run::{Options, run as run_dashboard};
use crate::tui::watchdog_feed::WatchdogFeed;
use crate::tui::{FleetApp, Theme};
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::time::Duration;

/// How long one host (or Prometheus) may take to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(cli: &Cli, args: &TopArgs) -> Result<ExitCode> {
    if let Some(fleet) = fleet_source(args)? {
        let (source, label) = fleet;
        let mut app = FleetApp::new(Theme::new(cli.common.color()), label);
        app.interval_ms = cli.common.interval.as_millis() as u64;
        // A host is stale once it missed a few refreshes.
        app.stale_after = (cli.common.interval * 3).max(Duration::from_secs(10));
        run_fleet(app, source, cli.common.color())?;
        return Ok(ExitCode::from(EXIT_OK));
    }
    let watchdog = WatchdogFeed::open(args.config.as_deref())?;
    let mut replay = None;
    let mut gpus = None;
    let source: Box<dyn Source> = match &args.trace {
        Some(path) => {
            let options = super::replay::trace_options(cli, false, args.columns.clone());
            let mut trace = TraceSource::open(path, &options, args.speed.unwrap_or(1.0))?;
            if let Some(wanted) = cli.source.gpu_list() {
                gpus = Some(wanted.resolve(&trace.first_snapshot()?)?);
            }
            replay = Some(trace.control());
            Box::new(trace)
        }
        None => {
            let spec = crate::gpu::open::SourceSpec {
                // Health counters every few seconds, the process table every 2 s.
                cadence: crate::gpu::cadence::Cadence::DASHBOARD,
                ..cli.source.spec()
            };
            let mut source = open(&spec)?;
            if let Some(wanted) = cli.source.gpu_list() {
                // `-i 9` on a 4-GPU box: say so before taking the terminal, like snapshot;
                // UUIDs and PCI bus ids come down to the indices of this first sample.
                let snap = source
                    .sample(crate::gpu::sampler::now_ms())
                    .context("taking a first sample")?;
                gpus = Some(wanted.resolve(&snap)?);
            }
            source
        }
    };
    let options = Options {
        interval: cli.common.interval,
        color: cli.common.color(),
        gpus,
        local_pids: replay.is_none() && !cli.source.demo,
        replay,
    };
    run_dashboard(source, &options, watchdog)?;
    Ok(ExitCode::from(EXIT_OK))
}

/// The fleet source the options ask for, with its header label; `None` for the local GPUs.
fn fleet_source(args: &TopArgs) -> Result<Option<(Box<dyn FleetSource>, String)>> {
    let tls = crate::http_client::ClientTls {
        ca_file: args.ca_file.clone(),
        client_cert: args.client_cert.clone(),
        client_key: args.client_key.clone(),
    };
    if let Some(url) = &args.prometheus {
        let source = PrometheusSource::new(url, FETCH_TIMEOUT).with_tls(&tls)?;
        return Ok(Some((Box::new(source), format!("prometheus {url}"))));
    }
    if args.agents.is_empty() {
        return Ok(None);
    }
    let token = match &args.token_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the token file {}", path.display()))?
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let n = args.agents.len();
    let label = format!("{n} agent{}", if n == 1 { "" } else { "s" });
    let source = AgentsSource::new(args.agents.clone(), FETCH_TIMEOUT, token).with_tls(&tls)?;
    Ok(Some((Box::new(source), label)))
}
