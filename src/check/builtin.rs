//! The checks every `gpuwarden check` makes, from what one sample already carries: a lost
//! GPU, uncorrected ECC errors, memory waiting for a reset or beyond repair (`memory`, in
//! [`super::memory`]), slowdown throttle reasons, temperature at the slowdown
//! threshold, and a PCIe link below its maximum (`pcie`, in [`super::pcie`]).
//!
//! A lost GPU gets only the `lost` finding: its other fields are all `gpu_lost`. A sample
//! with no GPU at all is a node-wide `lost` finding.

use super::{Finding, GpuRef, NotChecked, Severity, Verdict};
use crate::gpu::{Field, GpuSample, Snapshot};

/// The built-in checks, in the order they run and are listed.
pub const BUILTIN: &[&str] = &["lost", "ecc", "memory", "throttle", "temperature", "pcie"];

/// Runs every built-in check on every GPU of `snap`.
pub fn run_all(snap: &Snapshot, v: &mut Verdict) {
    v.checks.extend(BUILTIN.iter().map(|c| c.to_string()));
    if snap.gpus.is_empty() {
        // The driver answered but lists nothing: every GPU of this node is gone (or `-i`
        // selected none). That is not "healthy".
        v.findings.push(Finding {
            target: GpuRef::node(),
            check: "lost".into(),
            severity: Severity::Critical,
            message: "no GPU found (the driver answered but lists none)".into(),
            action: "drain the node; check that the GPUs are seated and powered, and dmesg \
                     for Xid or PCIe errors"
                .into(),
        });
    }
    for g in &snap.gpus {
        run_gpu(g, v);
    }
}

/// Runs every built-in check on one GPU (without naming the checks in `v.checks`).
pub fn run_gpu(g: &GpuSample, v: &mut Verdict) {
    if g.is_lost() {
        v.findings.push(finding(
            g,
            "lost",
            Severity::Critical,
            "the GPU stopped answering NVML".into(),
            "drain the node and reset or replace the GPU",
        ));
        return;
    }
    ecc(g, v);
    super::memory::memory(g, v);
    throttle(g, v);
    temperature(g, v);
    super::pcie::pcie(g, v);
}

pub fn finding(
    g: &GpuSample,
    check: &str,
    severity: Severity,
    message: String,
    action: &str,
) -> Finding {
    Finding {
        target: GpuRef::of(g),
        check: check.into(),
        severity,
        message,
        action: action.into(),
    }
}

/// Records that `check` could not be made on `g`.
pub fn skipped(g: &GpuSample, check: &str, reason: String, v: &mut Verdict) {
    v.not_checked.push(NotChecked {
        target: GpuRef::of(g),
        check: check.into(),
        reason,
    });
}

/// Why a field has no value, in words for `not_checked`.
pub fn missing<T>(what: &str, f: &Field<T>) -> String {
    match f.why() {
        Some(why) => format!("{what}: {why}"),
        None => format!("{what}: present"),
    }
}

fn ecc(g: &GpuSample, v: &mut Verdict) {
    match g.ecc_uncorrected.get() {
        Some(0) => {}
        Some(n) => v.findings.push(finding(
            g,
            "ecc",
            Severity::Critical,
            format!("{n} uncorrected ECC errors since the driver loaded"),
            "drain the node, reset the GPU so the bad memory is retired, and replace it if \
             errors come back",
        )),
        None => skipped(
            g,
            "ecc",
            missing("uncorrected ECC count", &g.ecc_uncorrected),
            v,
        ),
    }
}

/// Only reasons that slow a working GPU against its will count (hw-slowdown, sw-thermal,
/// hw-thermal, hw-power-brake); idle, a power cap, application clocks and sync boost are how
/// a healthy GPU runs.
fn throttle(g: &GpuSample, v: &mut Verdict) {
    let Some(reasons) = g.throttle.get() else {
        skipped(g, "throttle", missing("throttle reasons", &g.throttle), v);
        return;
    };
    let slow: Vec<&str> = reasons
        .iter()
        .filter(|r| r.is_slowdown())
        .map(|r| r.name())
        .collect();
    if !slow.is_empty() {
        v.findings.push(finding(
            g,
            "throttle",
            Severity::Warning,
            format!("clocks held down by {}", slow.join(", ")),
            "check cooling (fans, airflow, inlet temperature) and the power supply; \
             hw-slowdown and hw-power-brake are signals from the board or the PSU",
        ));
    }
}

fn temperature(g: &GpuSample, v: &mut Verdict) {
    let (Some(t), Some(limit)) = (g.temperature_c.get(), g.temperature_slowdown_c.get()) else {
        let why = if g.temperature_c.get().is_none() {
            missing("temperature", &g.temperature_c)
        } else {
            missing("slowdown temperature", &g.temperature_slowdown_c)
        };
        skipped(g, "temperature", why, v);
        return;
    };
    if t >= limit {
        v.findings.push(finding(
            g,
            "temperature",
            Severity::Warning,
            format!("{t:.0}°C, at or above its slowdown temperature of {limit:.0}°C"),
            "check fans, airflow and inlet temperature; the GPU slows itself down from here",
        ));
    }
}
