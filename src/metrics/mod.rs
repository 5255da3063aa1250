//! `/metrics`: a [`Snapshot`] and the watchdog's counters as Prometheus text.
//!
//! `text` writes the classic exposition format that `promtool check metrics` lints; `gpu` holds
//! the per-GPU families (labels `gpu`, `uuid`, `model`, `vendor`; base units: celsius, bytes,
//! watts, hertz, ratios 0..1), `memory` the memory health ones (remapped rows, pending
//! resets), `owners` what each owner of GPU processes (unit, container, pod, Slurm job)
//! holds, `mig` the memory of each MIG device; `watchdog` holds the daemon's own families (rule states,
//! actions, restart budget, XID counts, alert outboxes); `http` the endpoint's connection
//! counters. [`render`] puts the first three together; the endpoint appends `http`.

pub mod gpu;
pub mod health;
pub mod http;
pub mod memory;
pub mod mig;
pub mod owners;
pub mod text;
pub mod watchdog;

pub use text::CONTENT_TYPE;
pub use watchdog::{ActionCount, OutboxStats, RuleState, RuleStatus, WatchdogMetrics, XidCount};

use crate::gpu::Snapshot;
use text::{Exposition, Kind};

/// How the sampling loop itself is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SamplingMetrics {
    /// How long the last sample took.
    pub duration_seconds: f64,
    /// How old the last sample is at render time.
    pub age_seconds: f64,
    /// Samples taken since start.
    pub samples_total: u64,
    /// Samples that failed as a whole since start.
    pub failures_total: u64,
}

/// Renders everything into Prometheus text. `snap` is `None` before the first sample.
pub fn render(
    snap: Option<&Snapshot>,
    sampling: &SamplingMetrics,
    watchdog: Option<&WatchdogMetrics>,
) -> String {
    let gpus = snap.map_or(0, |s| s.gpus.len());
    let mut e = Exposition::with_capacity(4096 + gpus * 3072);
    write_sampling(&mut e, sampling);
    if let Some(snap) = snap {
        let labels = gpu::GpuLabels::new(snap);
        gpu::write(&mut e, snap, &labels);
        health::write(&mut e, snap, &labels);
        owners::write(&mut e, snap, &labels);
        mig::write(&mut e, snap, &labels);
    }
    if let Some(w) = watchdog {
        let mut scratch = String::with_capacity(256);
        watchdog::write(&mut e, w, &mut scratch);
    }
    e.into_string()
}

fn write_sampling(e: &mut Exposition, s: &SamplingMetrics) {
    let families: [(&str, Kind, &str, f64); 4] = [
        (
            "gpuwarden_sample_duration_seconds",
            Kind::Gauge,
            "How long the last sample of every GPU took.",
            s.duration_seconds,
        ),
        (
            "gpuwarden_last_sample_age_seconds",
            Kind::Gauge,
            "Age of the newest sample when this page was rendered.",
            s.age_seconds,
        ),
        (
            "gpuwarden_samples_total",
            Kind::Counter,
            "Samples taken since start.",
            s.samples_total as f64,
        ),
        (
            "gpuwarden_sample_failures_total",
            Kind::Counter,
            "Samples that failed as a whole since start.",
            s.failures_total as f64,
        ),
    ];
    for (name, kind, help, v) in families {
        e.family(name, kind, help);
        e.sample(name, "", &[], v);
    }
}

#[cfg(test)]
mod tests;
