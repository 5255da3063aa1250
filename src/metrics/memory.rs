//! Memory health families: the lifetime ECC count, remapped rows and pending row remaps or
//! page retirements — what decides whether a GPU needs a reset or has to leave the fleet.
//!
//! As in [`super::gpu`], a GPU whose driver does not report a field is left out of its
//! family, and a family no GPU reports is not written at all.

use super::gpu::GpuLabels;
use super::text::{Exposition, Kind};
use crate::gpu::{GpuSample, Snapshot};

type Flag = fn(&GpuSample) -> Option<bool>;

/// 0/1 gauges: name, help, how to read it.
const FLAGS: &[(&str, &str, Flag)] = &[
    (
        "gpuwarden_gpu_row_remap_pending",
        "1 when a memory row remap waits for the next GPU reset, else 0.",
        |g| g.row_remap.get().map(|r| r.pending),
    ),
    (
        "gpuwarden_gpu_row_remap_failure",
        "1 when a memory row remap failed (no spare rows left), else 0.",
        |g| g.row_remap.get().map(|r| r.failure),
    ),
    (
        "gpuwarden_gpu_retired_pages_pending",
        "1 when retired memory pages wait for the next GPU reset, else 0.",
        |g| g.retired_pages_pending.get(),
    ),
];

/// Writes the memory health families of `snap`.
pub fn write(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    const AGGREGATE: &str = "gpuwarden_gpu_ecc_uncorrected_errors_aggregate_total";
    if snap
        .gpus
        .iter()
        .any(|g| g.ecc_uncorrected_aggregate.get().is_some())
    {
        e.family(
            AGGREGATE,
            Kind::Counter,
            "Uncorrected ECC errors over the GPU's lifetime (kept across driver reloads).",
        );
        for (i, g) in snap.gpus.iter().enumerate() {
            if let Some(v) = g.ecc_uncorrected_aggregate.get() {
                e.sample(AGGREGATE, labels.get(i), &[], v as f64);
            }
        }
    }
    const ROWS: &str = "gpuwarden_gpu_remapped_rows";
    if snap.gpus.iter().any(|g| g.row_remap.get().is_some()) {
        e.family(
            ROWS,
            Kind::Gauge,
            "Memory rows remapped to spares, by the kind of ECC error that caused it.",
        );
        for (i, g) in snap.gpus.iter().enumerate() {
            if let Some(r) = g.row_remap.get() {
                let l = labels.get(i);
                e.sample(
                    ROWS,
                    l,
                    &[("kind", "correctable")],
                    f64::from(r.correctable),
                );
                e.sample(
                    ROWS,
                    l,
                    &[("kind", "uncorrectable")],
                    f64::from(r.uncorrectable),
                );
            }
        }
    }
    for (name, help, read) in FLAGS {
        if !snap.gpus.iter().any(|g| read(g).is_some()) {
            continue;
        }
        e.family(name, Kind::Gauge, help);
        for (i, g) in snap.gpus.iter().enumerate() {
            if let Some(v) = read(g) {
                e.sample(name, labels.get(i), &[], if v { 1.0 } else { 0.0 });
            }
        }
    }
}
