//! The `pcie` check: a link that trained below what the GPU and its slot support.
//!
//! A width below the maximum is a downtrained link (a badly seated card, a damaged riser or
//! slot) and is always a finding. A generation below the maximum is one only while the GPU
//! is busy (≥ [`PCIE_BUSY_PCT`] % utilization): idle GPUs drop their link generation to save
//! power by design.

use super::builtin::{finding, missing, skipped};
use super::require::PCIE_BUSY_PCT;
use super::{Severity, Verdict};
use crate::gpu::GpuSample;

const ACTION: &str = "reseat or replace the GPU; check the riser and the slot";

/// Runs the `pcie` check on one GPU that answered.
pub fn pcie(g: &GpuSample, v: &mut Verdict) {
    let (Some(link), Some(max)) = (g.pcie_link.get(), g.pcie_link_max.get()) else {
        let why = if g.pcie_link.get().is_none() {
            missing("PCIe link", &g.pcie_link)
        } else {
            missing("maximum PCIe link", &g.pcie_link_max)
        };
        skipped(g, "pcie", why, v);
        return;
    };
    if link.width < max.width {
        v.findings.push(finding(
            g,
            "pcie",
            Severity::Warning,
            format!(
                "PCIe link downtrained to x{} (its maximum is x{})",
                link.width, max.width
            ),
            ACTION,
        ));
    }
    if link.generation >= max.generation {
        return;
    }
    match g.utilization_gpu_pct.get() {
        Some(u) if u >= PCIE_BUSY_PCT => v.findings.push(finding(
            g,
            "pcie",
            Severity::Warning,
            format!(
                "PCIe link runs at gen{} (its maximum is gen{}) while the GPU is {u}% busy",
                link.generation, max.generation
            ),
            ACTION,
        )),
        Some(_) => {}
        None => skipped(
            g,
            "pcie",
            format!(
                "PCIe link at gen{} of gen{}, but whether the GPU is busy is unknown ({})",
                link.generation,
                max.generation,
                missing("utilization", &g.utilization_gpu_pct)
            ),
            v,
        ),
    }
}
