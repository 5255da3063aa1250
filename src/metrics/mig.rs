//! MIG device families: the memory of each MIG device of a GPU in MIG mode, labelled with
//! the GPU's labels (see [`super::gpu`]) plus `mig_uuid` and `profile`.

use super::gpu::GpuLabels;
use super::text::{Exposition, Kind};
use crate::gpu::{MigDevice, Snapshot};

type Read = fn(&MigDevice) -> Option<f64>;

const FAMILIES: &[(&str, &str, Read)] = &[
    (
        "gpuwarden_mig_memory_used_bytes",
        "Memory in use on one MIG device.",
        |m| m.memory_used_bytes.get().map(|v| v as f64),
    ),
    (
        "gpuwarden_mig_memory_total_bytes",
        "Memory of one MIG device.",
        |m| m.memory_total_bytes.get().map(|v| v as f64),
    ),
    (
        "gpuwarden_mig_utilization_ratio",
        "Fraction of the last sample period one MIG device was busy (0 to 1).",
        |m| m.utilization_gpu_pct.get().map(|v| f64::from(v) / 100.0),
    ),
];

/// Writes the MIG families of `snap`; a family no MIG device reports is left out.
pub fn write(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    for (name, help, read) in FAMILIES {
        let devices = || {
            snap.gpus
                .iter()
                .enumerate()
                .flat_map(|(i, g)| g.mig.value().into_iter().flatten().map(move |m| (i, m)))
        };
        if !devices().any(|(_, m)| read(m).is_some()) {
            continue;
        }
        e.family(name, Kind::Gauge, help);
        for (i, m) in devices() {
            let Some(v) = read(m) else { continue };
            let profile = m.profile.value().map_or("", String::as_str);
            e.sample(
                name,
                labels.get(i),
                &[("mig_uuid", &m.uuid), ("profile", profile)],
                v,
            );
        }
    }
}
