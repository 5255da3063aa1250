//! `gpuwarden record`: writes snapshots from any source as a trace ([`crate::trace::recording`]):
//! JSON lines in the snapshot schema, or with `-o FILE.jsonl.zst` the compact form compressed,
//! optionally rotated. Each sample is flushed as written so a recorder that is killed leaves a
//! valid trace; SIGINT and SIGTERM close the file properly. `gpuwarden replay` and
//! `top --trace` read it back.

use super::{Cli, EXIT_OK};
use crate::gpu::Snapshot;
use crate::gpu::sampler::now_ms;
use crate::gpu::select::GpuList;
use crate::gpu::{Source, open};
use crate::trace::recording::{LineFormat, Recording, Rotation};
use anyhow::{Context, Result, bail};
use clap::Args;
use std::io;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// What each line holds (default: compact for a FILE ending in .zst, else jsonl)
    #[arg(long, value_enum)]
    pub format: Option<LineFormat>,
    /// Start a new file once this one holds SIZE bytes, e.g. 64M (K, M, G: binary units)
    #[arg(long, value_name = "SIZE", requires = "output", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Start a new file once this one spans DURATION, e.g. 1h, 1d
    #[arg(long, value_name = "DURATION", requires = "output", value_parser = humantime::parse_duration)]
    pub rotate_age: Option<Duration>,
    /// Remove the oldest rotated files while the recording takes more than SIZE, e.g. 1G
    #[arg(long, value_name = "SIZE", requires = "output", value_parser = parse_size)]
    pub max_total: Option<u64>,
}

/// `64M` → 64 MiB; `1G`, `512K`, `100000` (bytes); a trailing `B` or `iB` is allowed.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let shift = match c.to_ascii_uppercase() {
                'K' => 10,
                'M' => 20,
                'G' => 30,
                'T' => 40,
                _ => return Err(format!("{s:?}: the unit is K, M, G or T")),
            };
            (&t[..i], shift)
        }
        _ => (t, 0),
    };
    let n: u64 = digits
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a size (try 64M, 1G, 100000)"))?;
    match n.checked_mul(1 << shift) {
        Some(0) | None => Err(format!("{s:?} is not a size above zero that fits")),
        Some(bytes) => Ok(bytes),
    }
}

/// Set by SIGINT/SIGTERM: finish the current file and stop.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn stop_on_signals() {
    let handler = request_stop as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

pub fn run(cli: &Cli, args: &RecordArgs) -> Result<ExitCode> {
    if args.simulated_time && !cli.source.demo {
        bail!("--simulated-time needs --demo: real GPUs can only be sampled in real time");
    }
    let mut source = open::open(&cli.source.spec())?;
    let compressed = args
        .output
        .as_ref()
        .is_some_and(|p| p.extension().is_some_and(|e| e == "zst"));
    let format = args.format.unwrap_or(if compressed {
        LineFormat::Compact
    } else {
        LineFormat::Jsonl
    });
    let rotation = Rotation {
        max_bytes: args.rotate_size,
        max_age_ms: args.rotate_age.map(|d| d.as_millis() as u64),
        max_total_bytes: args.max_total,
    };
    if rotation.max_total_bytes.is_some() && !rotation.is_on() {
        bail!("--max-total caps rotated files: give --rotate-size or --rotate-age too");
    }
    if let (Some(total), Some(size)) = (rotation.max_total_bytes, rotation.max_bytes)
        && total < size.saturating_mul(2)
    {
        bail!(
            "--max-total must hold at least two files of --rotate-size (the live one and one more)"
        );
    }
    let name = args
        .output
        .as_ref()
        .map_or_else(|| "stdout".to_string(), |p| p.display().to_string());
    let mut out = Recording::create(args.output.as_deref(), format, rotation)
        .with_context(|| format!("creating {name}"))?;
    if !args.simulated_time {
        stop_on_signals();
    }
    let interval = cli.common.interval;
    let recorder = Recorder {
        gpus: cli.source.gpu_list(),
        interval,
        duration: args.duration,
        first: std::cell::Cell::new(true),
    };
    let written = if args.simulated_time {
        recorder.simulated(source.as_mut(), &mut out)?
    } else {
        recorder.real_time(source.as_mut(), &mut out)?
    };
    match out.finish() {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        done => done.with_context(|| format!("closing {name}"))?,
    }
    tracing::info!("recorded {written} samples");
    Ok(ExitCode::from(EXIT_OK))
}

struct Recorder<'a> {
    gpus: Option<&'a GpuList>,
    interval: Duration,
    duration: Option<Duration>,
    /// No sample written yet: the first one checks that `-i` names GPUs that exist.
    first: std::cell::Cell<bool>,
}

impl Recorder<'_> {
    /// Samples on the wall clock, sleeping between samples.
    fn real_time(&self, source: &mut dyn Source, out: &mut Recording) -> Result<u64> {
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
            // Sleep in short steps so a signal ends the recording promptly.
            loop {
                if STOP.load(Ordering::SeqCst) {
                    return Ok(written);
                }
                let now = Instant::now();
                if next <= now {
                    break;
                }
                std::thread::sleep((next - now).min(Duration::from_millis(200)));
            }
        }
    }

    /// Samples the simulated fleet at the times a real-time run would, without waiting.
    fn simulated(&self, source: &mut dyn Source, out: &mut Recording) -> Result<u64> {
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
    fn write_one(&self, source: &mut dyn Source, at_ms: u64, out: &mut Recording) -> Result<bool> {
        let mut snap = match source.sample(at_ms) {
            Ok(s) => s,
            Err(e) => {
                // A source that fails now may answer next time; the gap stays in the trace.
                tracing::warn!("sample at {at_ms} failed: {e}");
                return Ok(true);
            }
        };
        if let Some(wanted) = self.gpus {
            if self.first.replace(false) {
                wanted.resolve(&snap)?;
            }
            wanted.select(&mut snap);
        }
        write_sample(out, &snap)
    }
}

/// Writes one sample; `false` when the reader went away (e.g. `| head`).
fn write_sample(out: &mut Recording, snap: &Snapshot) -> Result<bool> {
    match out.write(snap) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e).context("writing the trace"),
    }
}
