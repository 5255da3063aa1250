//! `gpuwarden record`: writes snapshots from any source as JSON lines (the snapshot schema,
//! one line per sample), flushed after every line so a recorder that is killed leaves a
//! valid trace. `gpuwarden replay` and `top --trace` read it back.

use super::{Cli, EXIT_OK};
use crate::gpu::sampler::now_ms;
use crate::gpu::{Source, open};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default, Args)]
pub struct RecordArgs {
    /// Write the trace to FILE (replaced if it exists) instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Stop after this long, e.g. 10m, 24h (default: until interrupted)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
    /// With --demo: step the simulated clock instead of waiting, so a 10-minute scenario is
    /// recorded at once (the timestamps are the same as a real-time run's would be)
    #[arg(long, requires = "duration")]
    pub simulated_time: bool,
}

pub fn run(cli: &Cli, args: &RecordArgs) -> Result<ExitCode> {
    if args.simulated_time && !cli.source.demo {
        bail!("--simulated-time needs --demo: real GPUs can only be sampled in real time");
    }
    let mut source = open::open(&cli.source.spec())?;
    let out: Box<dyn Write> = match &args.output {
        Some(path) => {
            Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)
        }
        None => Box::new(io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    let interval = cli.common.interval;
    let recorder = Recorder {
        gpus: cli.source.gpus.as_deref(),
        interval,
        duration: args.duration,
        first: std::cell::Cell::new(true),
    };
    let written = if args.simulated_time {
        recorder.simulated(source.as_mut(), &mut out)?
    } else {
        recorder.real_time(source.as_mut(), &mut out)?
    };
    tracing::info!("recorded {written} samples");
    Ok(ExitCode::from(EXIT_OK))
}

struct Recorder<'a> {
    gpus: Option<&'a [u32]>,
    interval: Duration,
    duration: Option<Duration>,
    /// No sample written yet: the first one checks that `-i` names GPUs that exist.
    first: std::cell::Cell<bool>,
}

impl Recorder<'_> {
    /// Samples on the wall clock, sleeping between samples.
    fn real_time(&self, source: &mut dyn Source, out: &mut impl Write) -> Result<u64> {
        let start = Instant::now();
        let mut next = start;
        let mut written = 0;
        loop {
            if self.duration.is_some_and(|d| next - start >= d) {
                return Ok(written);
            }
            if !self.write_one(source, now_ms(), out)? {
                return Ok(written);
            }
            written += 1;
            next += self.interval;
            let now = Instant::now();
            if next > now {
                std::thread::sleep(next - now);
            } else {
                next = now;
            }
        }
    }

    /// Samples the simulated fleet at the times a real-time run would, without waiting.
    fn simulated(&self, source: &mut dyn Source, out: &mut impl Write) -> Result<u64> {
        let step = self.interval.as_millis() as u64;
        let total = self.duration.map_or(0, |d| d.as_millis() as u64);
        // Whole seconds, so traces of the same scenario line up from run to run.
        let start = now_ms() / 1000 * 1000;
        let mut written = 0;
        let mut t = 0;
        while t < total {
            if !self.write_one(source, start + t, out)? {
                break;
            }
            written += 1;
            t += step;
        }
        Ok(written)
    }

    /// Writes one sample; `false` when the reader went away (e.g. `| head`).
    fn write_one(&self, source: &mut dyn Source, at_ms: u64, out: &mut impl Write) -> Result<bool> {
        let mut snap = match source.sample(at_ms) {
            Ok(s) => s,
            Err(e) => {
                // A source that fails now may answer next time; the gap stays in the trace.
                tracing::warn!("sample at {at_ms} failed: {e}");
                return Ok(true);
            }
        };
        if self.first.replace(false)
            && let Some(wanted) = self.gpus
            && let Some((missing, found)) = snap.missing_index(wanted)
        {
            anyhow::bail!("no GPU with index {missing} (found: {found})");
        }
        snap.select(self.gpus);
        let mut line = serde_json::to_string(&snap).context("encoding a snapshot")?;
        line.push('\n');
        match out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(e).context("writing the trace"),
        }
    }
}
