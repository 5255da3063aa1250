//! Per-owner families: what each owner of GPU processes (a systemd unit, a container, a
//! Kubernetes pod, a Slurm job) holds of each GPU, summed over its processes.
//!
//! Labels: the GPU's (see [`super::gpu`]) plus `owner_kind` (`unit`, `container`, `pod`,
//! `slurm_job`), `owner` (its id: unit name, container short id, pod UID, job id) and, for
//! a pod the kubelet's files name, `owner_name` (`namespace/name`). Processes without an
//! owner, or whose memory the driver does not report, are left out of the memory sum.

use super::gpu::GpuLabels;
use super::text::{Exposition, Kind};
use crate::gpu::{OwnerKind, Snapshot};
use std::collections::BTreeMap;

const MEMORY: &str = "gpuwarden_owner_gpu_memory_bytes";
const PROCESSES: &str = "gpuwarden_owner_processes";

/// One owner's share of one GPU.
#[derive(Default)]
struct Held<'a> {
    name: Option<&'a str>,
    bytes: Option<u64>,
    processes: u32,
}

/// Writes the owner families of `snap`; nothing when no process has an owner.
pub fn write(e: &mut Exposition, snap: &Snapshot, labels: &GpuLabels) {
    let per_gpu: Vec<BTreeMap<(OwnerKind, &str), Held>> = snap
        .gpus
        .iter()
        .map(|g| {
            let mut owners: BTreeMap<(OwnerKind, &str), Held> = BTreeMap::new();
            for p in g.processes.value().into_iter().flatten() {
                let Some(o) = &p.owner else { continue };
                let held = owners.entry((o.kind, o.id.as_str())).or_default();
                held.name = held.name.or(o.name.as_deref());
                held.processes += 1;
                if let Some(b) = p.used_memory_bytes {
                    held.bytes = Some(held.bytes.unwrap_or(0) + b);
                }
            }
            owners
        })
        .collect();
    if per_gpu.iter().all(BTreeMap::is_empty) {
        return;
    }
    e.family(
        MEMORY,
        Kind::Gauge,
        "GPU memory held by the processes of one owner (unit, container, pod or Slurm job).",
    );
    for_each(e, &per_gpu, labels, |h| h.bytes.map(|b| b as f64), MEMORY);
    e.family(
        PROCESSES,
        Kind::Gauge,
        "Processes of one owner (unit, container, pod or Slurm job) using the GPU.",
    );
    for_each(
        e,
        &per_gpu,
        labels,
        |h| Some(f64::from(h.processes)),
        PROCESSES,
    );
}

fn for_each(
    e: &mut Exposition,
    per_gpu: &[BTreeMap<(OwnerKind, &str), Held>],
    labels: &GpuLabels,
    value: fn(&Held) -> Option<f64>,
    name: &str,
) {
    for (i, owners) in per_gpu.iter().enumerate() {
        for ((kind, id), held) in owners {
            let Some(v) = value(held) else { continue };
            let owner = [("owner_kind", kind.name()), ("owner", id)];
            match held.name {
                Some(n) => e.sample(
                    name,
                    labels.get(i),
                    &[owner[0], owner[1], ("owner_name", n)],
                    v,
                ),
                None => e.sample(name, labels.get(i), &owner, v),
            }
        }
    }
}
