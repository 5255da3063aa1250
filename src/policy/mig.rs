//! GPUs in MIG mode: each MIG instance (UUID `MIG-…`) is watched as a GPU of its own by the
//! rules that read what an instance has of its own — memory (`memory_used_pct`,
//! `memory_growth_pct`) — while every other rule (temperature, power, throttling, XIDs, a
//! lost GPU, …) stays on the physical GPU.
//!
//! An instance's state, events and alerts are keyed by its MIG UUID (its index is the GPU's);
//! it reads its own memory used and total, and its processes are the GPU's processes that
//! run on it, so `restart_units` restarts the owners of that instance's processes only (and
//! the units `[units]` pins to the GPU's index or to the MIG UUID). A rule selects an
//! instance by the GPU's index or UUID or by the MIG UUID. Clocks and power limits belong
//! to the whole GPU: a `cap_clocks` step of a rule firing on an instance is skipped with a
//! `cap_skipped` action. An instance that is gone (the GPU lost, MIG mode off, the instance
//! destroyed) clears its rules (`gpu_lost`) and is forgotten.

use super::action::{Action, ClearReason, GpuId};
use super::engine::clear;
use super::ladder::Emit;
use super::state::{CapState, GpuState};
use crate::gpu::{Field, GpuSample, UnixMs};
use std::collections::BTreeMap;

/// The MIG instances of a GPU in MIG mode, each as a sample of its own; none otherwise.
pub(crate) fn instances(gpu: &GpuSample) -> Vec<GpuSample> {
    let Some(devices) = gpu.mig.value().filter(|d| !d.is_empty()) else {
        return Vec::new();
    };
    devices
        .iter()
        .map(|m| {
            let mut s = gpu.clone();
            s.uuid = m.uuid.clone();
            s.memory_used_bytes = m.memory_used_bytes.clone();
            s.memory_total_bytes = m.memory_total_bytes.clone();
            s.utilization_gpu_pct = m.utilization_gpu_pct.clone();
            s.processes = gpu.processes.as_ref().map(|procs| {
                procs
                    .iter()
                    .filter(|p| p.mig_uuid.as_deref() == Some(m.uuid.as_str()))
                    .cloned()
                    .collect()
            });
            s.mig = Field::Value(Vec::new());
            s
        })
        .collect()
}

/// Clears the rules of the instances of `gpu` that are no longer there, and forgets them.
pub(crate) fn forget_instances(
    gpus: &mut BTreeMap<String, GpuState>,
    gpu: &GpuSample,
    present: &[GpuSample],
    now_ms: UnixMs,
    out: &mut Vec<Action>,
) {
    let gone: Vec<String> = gpus
        .iter()
        .filter(|(uuid, g)| {
            g.mig_parent.as_deref() == Some(gpu.uuid.as_str())
                && !present.iter().any(|p| &p.uuid == *uuid)
        })
        .map(|(uuid, _)| uuid.clone())
        .collect();
    for uuid in gone {
        let Some(mut g) = gpus.remove(&uuid) else {
            continue;
        };
        let from = out.len();
        let mut em = Emit {
            out,
            now_ms,
            gpu: GpuId {
                index: gpu.index,
                uuid: uuid.clone(),
            },
            cap_changed_by: None,
        };
        for (name, mut rs) in std::mem::take(&mut g.rules) {
            let summary = format!(
                "{name} stopped on GPU {}: the MIG instance is gone",
                gpu.index
            );
            clear(
                &name,
                &mut rs,
                &mut CapState::default(),
                ClearReason::GpuLost,
                None,
                true,
                summary,
                &mut em,
            );
        }
        name_instance(&mut out[from..], gpu.index, &uuid);
    }
}

/// Says which instance in the summaries of its actions: `GPU 1` becomes `GPU 1 (MIG-…)`.
pub(crate) fn name_instance(actions: &mut [Action], index: u32, uuid: &str) {
    let plain = format!("GPU {index}");
    let named = format!("GPU {index} ({uuid})");
    for a in actions {
        let mut text = String::with_capacity(a.summary.len() + uuid.len() + 3);
        let mut rest = a.summary.as_str();
        while let Some(at) = rest.find(&plain) {
            let after = &rest[at + plain.len()..];
            text.push_str(&rest[..at]);
            // `GPU 1` but not `GPU 10`.
            if after.starts_with(|c: char| c.is_ascii_digit()) {
                text.push_str(&plain);
            } else {
                text.push_str(&named);
            }
            rest = after;
        }
        text.push_str(rest);
        a.summary = text;
    }
}
