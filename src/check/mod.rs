//! One-shot node health (`gpuwarden check`): judge one [`Snapshot`] and say what is wrong,
//! on which GPU, and what to do about it.
//!
//! `builtin` runs the checks every run makes from what a sample already carries (lost, ECC,
//! slowdown, temperature), with `memory` (row remapping, page retirement) and `pcie` (the
//! link against its maximum) in their own modules; `require` parses and judges `--require`
//! (what this node must have); `report` renders the verdict as lines, one brief line, or
//! JSON; `slurm` drains and resumes the node through `scontrol`; `xid` reads the XIDs of the
//! last hour from the kernel log; `health` sums a GPU's
//! findings up as one state (ok / degraded / failed) for every other view. Everything here but `slurm`
//! is pure: a snapshot in, a [`Verdict`] out.

pub mod builtin;
pub mod health;
pub mod memory;
pub mod pcie;
pub mod report;
pub mod require;
pub mod slurm;
pub mod xid;

use crate::gpu::{GpuSample, Snapshot};
use serde::Serialize;

pub use health::{GpuHealth, HealthState, gpu_health};
pub use require::{Requirement, parse_requirements};

/// Version of the `check --json` schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// How bad a finding is. Every finding makes the node unhealthy (exit 1); severity orders
/// them (critical first) and tells a reader whether the GPU is broken or only slowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The GPU or node cannot be trusted with work: lost, corrupted memory, missing hardware.
    Critical,
    /// The GPU works but slower than it should: throttled, hot, narrow link.
    Warning,
}

/// Which GPU a finding or skipped check is about; all `None` for the node as a whole.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GpuRef {
    pub gpu: Option<u32>,
    pub uuid: Option<String>,
    pub pci: Option<String>,
}

impl GpuRef {
    /// The node itself (a requirement such as `gpus=8`).
    pub fn node() -> Self {
        GpuRef::default()
    }

    /// One GPU. A GPU lost before its first answer has no UUID (NVML names it
    /// `unknown-<index>`) and no PCI bus id; those stay `None` rather than a made-up name.
    pub fn of(g: &GpuSample) -> Self {
        let uuid = (!(g.is_lost() && g.uuid.starts_with("unknown-"))).then(|| g.uuid.clone());
        GpuRef {
            gpu: Some(g.index),
            uuid,
            pci: g.pci_bus_id.value().cloned(),
        }
    }

    /// `GPU 1 (GPU-…, 00000000:18:00.0)`, or `node` for node-wide findings.
    pub fn label(&self) -> String {
        let Some(index) = self.gpu else {
            return "node".to_string();
        };
        let uuid = self.uuid.as_deref().unwrap_or("UUID unknown");
        let pci = self.pci.as_deref().unwrap_or("PCI bus id unknown");
        format!("GPU {index} ({uuid}, {pci})")
    }
}

/// One thing that is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    #[serde(flatten)]
    pub target: GpuRef,
    /// The check's name: `lost`, `ecc`, `memory`, `throttle`, `temperature`, `pcie`, or
    /// `require:<item>` for an unmet `--require` item.
    pub check: String,
    pub severity: Severity,
    /// What was seen, e.g. `the GPU stopped answering NVML`.
    pub message: String,
    /// What a person should do about it.
    pub action: String,
}

impl Finding {
    /// The one-line form: `GPU 1 (…): lost: the GPU stopped answering NVML — drain …`.
    pub fn line(&self) -> String {
        format!(
            "{}: {}: {} — {}",
            self.target.label(),
            self.check,
            self.message,
            self.action
        )
    }

    /// A short form for a drain reason or one NPD line: `GPU 1 lost: the GPU stopped …`.
    pub fn short(&self) -> String {
        format!(
            "{} {}: {}",
            short_target(&self.target),
            self.check,
            self.message
        )
    }
}

fn short_target(t: &GpuRef) -> String {
    match t.gpu {
        Some(i) => format!("GPU {i}"),
        None => "node".to_string(),
    }
}

/// A check that could not be made, and why (missing data, an idle GPU).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NotChecked {
    #[serde(flatten)]
    pub target: GpuRef,
    pub check: String,
    pub reason: String,
}

/// Everything one check run found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Names of the checks that ran, in order (built-in ones, then `require:<item>`).
    pub checks: Vec<String>,
    /// Critical first, then by GPU index (node-wide last within a severity).
    pub findings: Vec<Finding>,
    pub not_checked: Vec<NotChecked>,
    /// How many GPUs the sample held.
    pub gpus: usize,
}

impl Verdict {
    pub fn healthy(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Judges `snap` with every built-in check and each requirement.
pub fn judge(snap: &Snapshot, requirements: &[Requirement]) -> Verdict {
    let mut v = Verdict {
        gpus: snap.gpus.len(),
        ..Verdict::default()
    };
    builtin::run_all(snap, &mut v);
    for r in requirements {
        r.judge(snap, &mut v);
    }
    sort_findings(&mut v);
    v
}

/// Critical first, then by GPU index, node-wide last within a severity (after a check is
/// added to a verdict from outside [`judge`]).
pub fn sort_findings(v: &mut Verdict) {
    v.findings.sort_by_key(|f| {
        (
            f.severity,
            f.target.gpu.is_none(),
            f.target.gpu.unwrap_or(0),
        )
    });
}

#[cfg(test)]
mod tests;
