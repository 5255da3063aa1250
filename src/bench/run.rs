//! The bench loop: start the burn on every selected GPU at once, sample them through the
//! sampling core every 250 ms while it runs, show progress, stop, and build the report.
//!
//! Real GPUs get one worker thread each (`cuda::worker`); the simulated fleet is driven
//! from this loop (`demo`), in simulated time that may run faster than the wall clock.

use super::cuda::{self, CudaUnavailable, worker};
use super::progress::{Progress, Row};
use super::report::{self, BenchReport, GpuRun, ReportInput};
use super::tally::SharedTally;
use super::verdict::Judging;
use super::watch::Watch;
use super::{Workload, demo};
use crate::gpu::open::{self, SourceSpec};
use crate::gpu::sampler::now_ms;
use crate::gpu::select::GpuList;
use crate::gpu::sim::{SimConfig, SimSource};
use crate::gpu::{Snapshot, Source};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long workers may take to finish their last launch after the end.
const GRACE: Duration = Duration::from_secs(30);

/// Everything the bench was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub duration_s: f64,
    pub workload: Workload,
    pub memory_fraction: f64,
    pub judging: Judging,
    pub threshold_c: f64,
    /// Simulated seconds per wall-clock second (`--demo` only).
    pub speed: f64,
    /// `-i` selection (NVML indices, UUIDs or PCI bus ids).
    pub gpus: Option<GpuList>,
    /// Seconds between samples.
    pub interval_s: f64,
    pub progress_to_stderr: bool,
}

/// Why the bench could not run (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum CouldNotRun {
    #[error(transparent)]
    Cuda(#[from] CudaUnavailable),
    #[error("{0}")]
    Other(String),
}

/// The finished bench: the report and every sample taken.
pub struct Finished {
    pub report: BenchReport,
    pub samples: Vec<Snapshot>,
}

struct Target {
    index: u32,
    name: String,
    tally: SharedTally,
}

/// The NVML indices `-i` names: UUIDs and PCI bus ids are looked up in NVML's first sample;
/// without one only indices can be told apart.
fn chosen(
    wanted: Option<&GpuList>,
    first: Option<&Snapshot>,
) -> Result<Option<Vec<u32>>, CouldNotRun> {
    let Some(wanted) = wanted else {
        return Ok(None);
    };
    match (first, wanted.indices_only()) {
        (Some(snap), _) => wanted
            .resolve(snap)
            .map(Some)
            .map_err(|e| CouldNotRun::Other(e.to_string())),
        (None, Some(indices)) => Ok(Some(indices)),
        (None, None) => Err(CouldNotRun::Other(
            "-i names a GPU by UUID or PCI bus id, but NVML did not answer to look it up \
             (select by index instead)"
                .into(),
        )),
    }
}

fn select<T>(items: Vec<(u32, T)>, wanted: Option<&[u32]>) -> Result<Vec<(u32, T)>, CouldNotRun> {
    let Some(wanted) = wanted else {
        return Ok(items);
    };
    let found: Vec<u32> = items.iter().map(|(i, _)| *i).collect();
    if let Some(missing) = wanted.iter().find(|w| !found.contains(w)) {
        let list: Vec<String> = found.iter().map(u32::to_string).collect();
        return Err(CouldNotRun::Other(format!(
            "no GPU with index {missing} (found: {})",
            list.join(", ")
        )));
    }
    Ok(items
        .into_iter()
        .filter(|(i, _)| wanted.contains(i))
        .collect())
}

/// Runs the bench on the simulated fleet.
pub fn run_demo(opts: &Options, sim: &SimConfig) -> Result<Finished, CouldNotRun> {
    let mut source = SimSource::new(sim);
    let start_ms = now_ms();
    let first = source
        .sample(start_ms)
        .map_err(|e| CouldNotRun::Other(e.to_string()))?;
    let found = first
        .gpus
        .iter()
        .map(|g| (g.index, g.display_name().to_string()))
        .collect();
    let wanted = chosen(opts.gpus.as_ref(), Some(&first))?;
    let targets: Vec<Target> = select(found, wanted.as_deref())?
        .into_iter()
        .map(|(index, name)| Target {
            index,
            name,
            tally: SharedTally::default(),
        })
        .collect();
    for t in &targets {
        source.set_burn(t.index, true);
    }
    let pairs: Vec<(u32, SharedTally)> =
        targets.iter().map(|t| (t.index, t.tally.clone())).collect();
    let workload = opts.workload;
    let (watch, samples) = burn_loop(
        opts,
        true,
        Some(&mut source),
        start_ms,
        &targets,
        |snap, t, dt| demo::advance(snap, t, dt, workload, &pairs),
    );
    Ok(finish(
        opts,
        "sim",
        "demo".into(),
        &targets,
        watch,
        samples,
        None,
    ))
}

/// Runs the bench on the real GPUs through the CUDA driver.
pub fn run_cuda(opts: &Options, nvml_lib: Option<PathBuf>) -> Result<Finished, CouldNotRun> {
    let devices = cuda::discover()?;
    // The burn runs on CUDA, so its telemetry comes from NVIDIA's GPUs only.
    let spec = SourceSpec {
        nvml_lib,
        vendor: crate::gpu::multi::VendorChoice::Only(crate::gpu::Vendor::Nvidia),
        ..SourceSpec::default()
    };
    let start_ms = now_ms();
    let (mut source, first, telemetry_missing) = match open::open(&spec) {
        Ok(mut s) => match s.sample(start_ms) {
            Ok(snap) => (Some(s), Some(snap), None),
            Err(e) => (None, None, Some(e.to_string())),
        },
        Err(e) => (None, None, Some(e.to_string())),
    };
    let nvml: Vec<(u32, Option<String>)> = first
        .iter()
        .flat_map(|s| s.gpus.iter())
        .map(|g| (g.index, g.pci_bus_id.value().cloned()))
        .collect();
    let indices = cuda::assign_indices(&devices, &nvml);
    let found = indices.into_iter().zip(devices).collect();
    let wanted = chosen(opts.gpus.as_ref(), first.as_ref())?;
    let chosen = select(found, wanted.as_deref())?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let mut targets = Vec::new();
    for (index, dev) in chosen {
        // NVML's name matches the peaks table's spelling; CUDA's is the fallback.
        let name = first
            .as_ref()
            .and_then(|s| s.gpus.iter().find(|g| g.index == index))
            .and_then(|g| g.name.value().cloned())
            .unwrap_or_else(|| dev.name.clone());
        let tally = SharedTally::default();
        let plan = worker::Plan {
            workload: opts.workload,
            memory_fraction: opts.memory_fraction,
            start,
            stop: Arc::clone(&stop),
        };
        if let Err(e) = worker::spawn(dev, plan, tally.clone()) {
            let mut t = tally.lock();
            t.errors.push(format!("starting the worker thread: {e}"));
            t.finished = true;
        }
        targets.push(Target { index, name, tally });
    }
    let (watch, samples) = burn_loop(
        opts,
        false,
        source.as_mut().map(|s| s.as_mut() as &mut dyn Source),
        start_ms,
        &targets,
        |_, _, _| {},
    );
    stop.store(true, Ordering::Relaxed);
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && !targets.iter().all(|t| t.tally.lock().finished) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for t in &targets {
        let mut tally = t.tally.lock();
        if !tally.finished {
            tally.errors.push(format!(
                "the last kernel did not finish within {} s of the end (hung GPU?)",
                GRACE.as_secs()
            ));
        }
    }
    let host = crate::host::hostname();
    Ok(finish(
        opts,
        "cuda",
        host,
        &targets,
        watch,
        samples,
        telemetry_missing,
    ))
}

fn burn_loop(
    opts: &Options,
    simulated: bool,
    mut source: Option<&mut dyn Source>,
    start_ms: u64,
    targets: &[Target],
    mut on_sample: impl FnMut(&Snapshot, f64, f64),
) -> (Watch, Vec<Snapshot>) {
    let mut watch = Watch::new(opts.threshold_c);
    let mut samples = Vec::new();
    let mut progress = Progress::new(opts.progress_to_stderr);
    let indices: Vec<u32> = targets.iter().map(|t| t.index).collect();
    let speed = if simulated { opts.speed.max(1e-3) } else { 1.0 };
    let start = Instant::now();
    let mut last_t = 0.0;
    let mut tick = 0u32;
    loop {
        // Simulated runs step time exactly (same seed, same report); real ones read the clock.
        let t = if simulated {
            f64::from(tick) * opts.interval_s
        } else {
            start.elapsed().as_secs_f64()
        }
        .min(opts.duration_s);
        tick += 1;
        if let Some(src) = source.as_deref_mut()
            && let Ok(mut snap) = src.sample(start_ms + (t * 1000.0) as u64)
        {
            snap.select(Some(&indices));
            watch.observe(&snap, t, &indices);
            on_sample(&snap, t, t - last_t);
            samples.push(snap);
        }
        last_t = t;
        progress.update(
            &rows(targets, samples.last(), opts.workload),
            t,
            opts.duration_s,
        );
        let all_stopped = targets.iter().all(|x| x.tally.lock().finished);
        if t >= opts.duration_s || all_stopped {
            break;
        }
        std::thread::sleep(Duration::from_secs_f64(opts.interval_s / speed));
    }
    (watch, samples)
}

fn rows(targets: &[Target], last: Option<&Snapshot>, workload: Workload) -> Vec<Row> {
    targets
        .iter()
        .map(|t| {
            let tally = t.tally.lock();
            let g = last.and_then(|s| s.gpus.iter().find(|g| g.index == t.index));
            let stopped = if tally.lost {
                Some("lost".to_string())
            } else {
                tally.errors.first().map(|e| format!("error: {e}"))
            };
            Row {
                index: t.index,
                temp_c: g.and_then(|g| g.temperature_c.get()),
                power_w: g.and_then(|g| g.power_w.get()),
                power_pct: g.and_then(|g| g.power_pct_of_limit()),
                sm_mhz: g.and_then(|g| g.clock_sm_mhz.get()),
                rates: workload
                    .parts()
                    .iter()
                    .map(|p| (*p, tally.last_rate(*p)))
                    .collect(),
                faults: tally.faults(),
                stopped,
            }
        })
        .collect()
}

fn finish(
    opts: &Options,
    source: &str,
    host: String,
    targets: &[Target],
    watch: Watch,
    samples: Vec<Snapshot>,
    telemetry_missing: Option<String>,
) -> Finished {
    let runs: Vec<GpuRun> = targets
        .iter()
        .map(|t| GpuRun {
            index: t.index,
            name: t.name.clone(),
            tally: t.tally.snapshot(),
        })
        .collect();
    let input = ReportInput {
        host,
        source,
        workload: opts.workload,
        duration_s: opts.duration_s,
        judging: opts.judging,
        telemetry_missing,
    };
    Finished {
        report: report::build(input, &runs, &watch),
        samples,
    }
}
