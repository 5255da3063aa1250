//! `gpuwarden_gpu_health{check}`: the verdict of `gpuwarden check` on every sample, per GPU
//! and check — 0 ok, 1 a warning finding (slowed: throttled, hot, narrow link), 2 a critical
//! one (lost, corrupted memory). Node-wide findings (`require:…`) are not per GPU and are left
//! to `check` and `/api/v1/health`.

use super::gpu::GpuLabels;
use super::text::{Exposition, Kind};
use crate::check::{self, Severity};
use crate::gpu::Snapshot;

pub const NAME: &str = "gpuwarden_gpu_health";

pub fn write(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    if snap.gpus.is_empty() {
        return;
    }
    let verdict = check::judge(snap, &[]);
    e.family(
        NAME,
        Kind::Gauge,
        "Health of a GPU by check (as gpuwarden check judges it): 0 ok, 1 warning, 2 critical.",
    );
    for (i, g) in snap.gpus.iter().enumerate() {
        for name in &verdict.checks {
            let worst = verdict
                .findings
                .iter()
                .filter(|f| f.target.gpu == Some(g.index) && &f.check == name)
                .map(|f| match f.severity {
                    Severity::Critical => 2.0,
                    Severity::Warning => 1.0,
                })
                .fold(0.0, f64::max);
            e.sample(NAME, labels.get(i), &[("check", name.as_str())], worst);
        }
    }
}
