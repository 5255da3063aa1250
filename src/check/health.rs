//! One health state per GPU — `ok`, `degraded` (slowed: throttled, hot, a narrow link) or
//! `failed` (lost, corrupted or unrepairable memory) — with the findings behind it, as the
//! built-in checks of `gpuwarden check` judge the GPU's sample. The same state is shown by
//! `snapshot --json`, `/api/v1/snapshot`, the dashboard, the fleet's hosts view and the
//! watchdog's `metric = "health"` rules, so a GPU is never "failed" in one place and fine in
//! another.

use super::{Finding, Severity, Verdict, builtin};
use crate::gpu::{GpuSample, Snapshot};
use serde::Serialize;

/// How a GPU is, worst last (so `max` is the worst).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthState {
    Ok,
    /// Works, but slower than it should: only warning findings.
    Degraded,
    /// Cannot be trusted with work: at least one critical finding.
    Failed,
}

impl HealthState {
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Ok => "ok",
            HealthState::Degraded => "degraded",
            HealthState::Failed => "failed",
        }
    }

    /// The value of the watchdog's `health` metric: 0 ok, 1 degraded, 2 failed.
    pub fn level(self) -> f64 {
        match self {
            HealthState::Ok => 0.0,
            HealthState::Degraded => 1.0,
            HealthState::Failed => 2.0,
        }
    }

    /// The state a set of findings amounts to.
    pub fn of(findings: &[Finding]) -> Self {
        findings
            .iter()
            .map(|f| match f.severity {
                Severity::Critical => HealthState::Failed,
                Severity::Warning => HealthState::Degraded,
            })
            .max()
            .unwrap_or(HealthState::Ok)
    }
}

/// One GPU's health: its state and the findings that made it so (critical first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GpuHealth {
    pub state: HealthState,
    pub findings: Vec<Finding>,
}

/// Judges one GPU's sample with every built-in check.
pub fn gpu_health(g: &GpuSample) -> GpuHealth {
    let mut v = Verdict::default();
    builtin::run_gpu(g, &mut v);
    let mut findings = v.findings;
    findings.sort_by_key(|f| f.severity);
    GpuHealth {
        state: HealthState::of(&findings),
        findings,
    }
}

/// The health of every GPU of `snap`, in its order.
pub fn snapshot_health(snap: &Snapshot) -> Vec<GpuHealth> {
    snap.gpus.iter().map(gpu_health).collect()
}

/// The worst state among `snap`'s GPUs; `failed` for a sample with no GPU at all (the
/// driver answered but lists none), `ok` for none that is unhealthy.
pub fn worst(snap: &Snapshot) -> HealthState {
    if snap.gpus.is_empty() {
        return HealthState::Failed;
    }
    snap.gpus
        .iter()
        .map(|g| gpu_health(g).state)
        .max()
        .unwrap_or(HealthState::Ok)
}

/// `snap` as JSON with each GPU's `health` beside its fields — what `snapshot --json` and
/// `/api/v1/snapshot` print.
pub fn snapshot_json(snap: &Snapshot) -> serde_json::Value {
    let mut value = serde_json::to_value(snap).unwrap_or(serde_json::Value::Null);
    if let Some(gpus) = value.get_mut("gpus").and_then(|g| g.as_array_mut()) {
        for (json, g) in gpus.iter_mut().zip(&snap.gpus) {
            if let Some(obj) = json.as_object_mut() {
                let health = serde_json::to_value(gpu_health(g)).unwrap_or_default();
                obj.insert("health".into(), health);
            }
        }
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{Field, GpuSample, RowRemap, Vendor};

    fn gpu(index: u32) -> GpuSample {
        let mut g = GpuSample::lost(index, format!("GPU-{index}"), Vendor::Nvidia);
        g.status = crate::gpu::GpuStatus::Ok;
        g.temperature_c = Field::Value(50.0);
        g.temperature_slowdown_c = Field::Value(90.0);
        g.ecc_uncorrected = Field::Value(0);
        g
    }

    #[test]
    fn the_state_is_the_worst_finding() {
        let healthy = gpu(0);
        assert_eq!(gpu_health(&healthy).state, HealthState::Ok);
        assert!(gpu_health(&healthy).findings.is_empty());

        let mut hot = gpu(1);
        hot.temperature_c = Field::Value(95.0);
        let h = gpu_health(&hot);
        assert_eq!(h.state, HealthState::Degraded);
        assert_eq!(h.findings[0].check, "temperature");

        let mut broken = hot.clone();
        broken.row_remap = Field::Value(RowRemap {
            correctable: 0,
            uncorrectable: 3,
            pending: false,
            failure: true,
        });
        let h = gpu_health(&broken);
        assert_eq!(h.state, HealthState::Failed);
        assert_eq!(h.findings[0].severity, Severity::Critical, "critical first");
        assert_eq!(h.findings.len(), 2, "{:?}", h.findings);

        let lost = GpuSample::lost(2, "GPU-2", Vendor::Nvidia);
        assert_eq!(gpu_health(&lost).state, HealthState::Failed);
    }

    #[test]
    fn the_snapshot_json_carries_each_gpus_health_and_the_node_its_worst() {
        let mut snap = Snapshot::new(1, "h", "nvml");
        let mut hot = gpu(1);
        hot.temperature_c = Field::Value(95.0);
        snap.gpus = vec![gpu(0), hot];
        let json = snapshot_json(&snap);
        assert_eq!(json["gpus"][0]["health"]["state"], "ok");
        assert_eq!(json["gpus"][1]["health"]["state"], "degraded");
        assert_eq!(
            json["gpus"][1]["health"]["findings"][0]["check"],
            "temperature"
        );
        assert_eq!(worst(&snap), HealthState::Degraded);
        snap.gpus.push(GpuSample::lost(2, "GPU-2", Vendor::Nvidia));
        assert_eq!(worst(&snap), HealthState::Failed);
        assert_eq!(worst(&Snapshot::new(1, "h", "nvml")), HealthState::Failed);
    }
}
