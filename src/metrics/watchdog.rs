//! The watchdog's own metric families, fed by a small plain struct the daemon fills in.
//!
//! [`WatchdogMetrics`] holds numbers only (no policy types), so the exporter mode and tests can
//! build one directly and the daemon can convert its state into one each sample.

use super::text::{Exposition, Kind, push_label, push_label_num};
use serde::Serialize;

/// Where a rule stands for one GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleStatus {
    /// The condition does not hold.
    Ok,
    /// The condition holds but not yet for the rule's `for` duration.
    Pending,
    /// The rule fired.
    Firing,
}

impl RuleStatus {
    pub const ALL: [RuleStatus; 3] = [RuleStatus::Ok, RuleStatus::Pending, RuleStatus::Firing];

    pub fn name(self) -> &'static str {
        match self {
            RuleStatus::Ok => "ok",
            RuleStatus::Pending => "pending",
            RuleStatus::Firing => "firing",
        }
    }
}

/// One rule's state for one GPU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleState {
    pub gpu: u32,
    pub uuid: String,
    pub rule: String,
    pub status: RuleStatus,
}

/// How many actions of one kind ended with one result (`ok`, `failed`, `dry-run`, …).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ActionCount {
    pub kind: String,
    pub result: String,
    pub count: u64,
}

/// XID events of one code seen on one GPU since the daemon started.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct XidCount {
    pub gpu: u32,
    pub uuid: String,
    pub code: u32,
    pub count: u64,
}

/// The state of one alert sink's outbox.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OutboxStats {
    pub sink: String,
    /// Alerts written to disk and not yet accepted by the sink.
    pub pending: u64,
    /// Alerts the sink accepted.
    pub delivered: u64,
    /// Alerts the sink refused for good (a 4xx answer).
    pub rejected: u64,
    /// Alerts dropped because the outbox was full.
    pub dropped: u64,
}

/// Everything the watchdog adds to `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WatchdogMetrics {
    pub rules: Vec<RuleState>,
    pub actions: Vec<ActionCount>,
    /// Restarts left per unit in the current budget window.
    pub restart_budget: Vec<(String, u64)>,
    pub xids: Vec<XidCount>,
    pub outboxes: Vec<OutboxStats>,
    /// Whether the driver answers samples (`None` outside the daemon).
    pub driver_answering: Option<bool>,
    /// Whether the daemon only says what it would do (`None` outside the daemon).
    pub dry_run: Option<bool>,
}

/// Writes the watchdog families; families with no data are still declared where Prometheus
/// rules expect them (`actions`), so a fresh daemon exposes a zero instead of nothing.
pub fn write(e: &mut Exposition, w: &WatchdogMetrics, scratch: &mut String) {
    if !w.rules.is_empty() {
        const NAME: &str = "gpuwarden_watchdog_rule_state";
        e.family(
            NAME,
            Kind::Gauge,
            "1 for the state (ok, pending, firing) a watchdog rule is in for a GPU, else 0.",
        );
        for r in &w.rules {
            scratch.clear();
            push_label_num(scratch, "gpu", u64::from(r.gpu));
            scratch.push(',');
            push_label(scratch, "uuid", &r.uuid);
            scratch.push(',');
            push_label(scratch, "rule", &r.rule);
            for s in RuleStatus::ALL {
                let v = if r.status == s { 1.0 } else { 0.0 };
                e.sample(NAME, scratch, &[("state", s.name())], v);
            }
        }
    }
    if let Some(answering) = w.driver_answering {
        const NAME: &str = "gpuwarden_driver_answering";
        e.family(
            NAME,
            Kind::Gauge,
            "1 while the GPU driver answers samples, 0 while a sample has hung past driver_timeout.",
        );
        e.sample(NAME, "", &[], if answering { 1.0 } else { 0.0 });
    }
    const ACTIONS: &str = "gpuwarden_watchdog_actions_total";
    e.family(
        ACTIONS,
        Kind::Counter,
        "Watchdog actions taken, by kind and result.",
    );
    for a in &w.actions {
        e.sample(
            ACTIONS,
            "",
            &[("kind", &a.kind), ("result", &a.result)],
            a.count as f64,
        );
    }
    if !w.restart_budget.is_empty() {
        const NAME: &str = "gpuwarden_watchdog_restart_budget_remaining";
        e.family(
            NAME,
            Kind::Gauge,
            "Unit restarts the watchdog may still make in the current budget window.",
        );
        for (unit, left) in &w.restart_budget {
            e.sample(NAME, "", &[("unit", unit)], *left as f64);
        }
    }
    const XID: &str = "gpuwarden_gpu_xid_errors_total";
    e.family(
        XID,
        Kind::Counter,
        "XID error events reported by the driver, by code.",
    );
    for x in &w.xids {
        scratch.clear();
        push_label(scratch, "gpu", &x.gpu.to_string());
        scratch.push(',');
        push_label(scratch, "uuid", &x.uuid);
        e.sample(
            XID,
            scratch,
            &[("code", &x.code.to_string())],
            x.count as f64,
        );
    }
    write_outboxes(e, &w.outboxes);
}

fn write_outboxes(e: &mut Exposition, outboxes: &[OutboxStats]) {
    if outboxes.is_empty() {
        return;
    }
    type Read = fn(&OutboxStats) -> u64;
    let families: [(&str, Kind, &str, Read); 4] = [
        (
            "gpuwarden_alert_outbox_pending",
            Kind::Gauge,
            "Alerts on disk waiting for the sink to accept them.",
            |o| o.pending,
        ),
        (
            "gpuwarden_alerts_delivered_total",
            Kind::Counter,
            "Alerts the sink accepted.",
            |o| o.delivered,
        ),
        (
            "gpuwarden_alerts_rejected_total",
            Kind::Counter,
            "Alerts the sink refused for good (HTTP 4xx).",
            |o| o.rejected,
        ),
        (
            "gpuwarden_alerts_dropped_total",
            Kind::Counter,
            "Alerts dropped because the outbox was full.",
            |o| o.dropped,
        ),
    ];
    for (name, kind, help, read) in families {
        e.family(name, kind, help);
        for o in outboxes {
            e.sample(name, "", &[("sink", &o.sink)], read(o) as f64);
        }
    }
}
