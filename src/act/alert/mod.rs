//! On-call alerts: what an [`Alert`] is, and how it reaches Alertmanager, a webhook, PagerDuty
//! or Slack, over http or https, without ever being lost.
//!
//! An alert has a stable identity (host, GPU UUID, rule) so Alertmanager can group, dedupe and
//! resolve it. [`Alerts`](dispatch::Alerts) hands each alert to every configured sink's
//! [`Outbox`](outbox::Outbox) (an fsynced journal on disk); a delivery thread per sink
//! ([`deliver`]) sends what is pending and removes it only once the sink accepted it, backing
//! off with jitter while the sink is down. `config` is the `[alerts]` part of watchdog.toml;
//! `from_action` turns the policy engine's pages and resolves into alert changes.

pub mod alertmanager;
pub mod deliver;
pub mod dispatch;
pub mod from_action;
pub mod outbox;
pub mod pagerduty;
pub mod slack;
pub mod time;
pub mod webhook;

pub use crate::policy::alerts::{AlertsConfig, Backoff, RawAlertsConfig};
pub use dispatch::Alerts;
pub use from_action::{AlertChange, action_failed, alert_change};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How urgent an alert is (the `severity` label): the severity of the rule that raised it.
pub use crate::policy::Severity;

/// Whether the alert's condition holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// One alert about one rule on one GPU (or on the host, with an empty `uuid`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The watchdog rule (or condition such as `action-failed`) that raised it.
    pub rule: String,
    pub host: String,
    /// GPU UUID; empty for an alert about the host or the watchdog itself.
    #[serde(default)]
    pub uuid: String,
    /// GPU index, for people.
    #[serde(default)]
    pub gpu: Option<u32>,
    #[serde(default)]
    pub severity: Severity,
    /// The systemd unit concerned, if any.
    #[serde(default)]
    pub unit: Option<String>,
    pub status: AlertStatus,
    /// When the condition started to hold (ms since the Unix epoch); kept across re-sends.
    pub starts_at_ms: u64,
    /// When it stopped holding; set on resolved alerts.
    #[serde(default)]
    pub ends_at_ms: Option<u64>,
    /// One line for people.
    pub summary: String,
    /// The numbers and the actions taken (`temperature_celsius = "91"`, `actions = "…"`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Alert {
    /// A firing alert for `rule` on `host`, GPU `uuid` (empty for the host).
    pub fn firing(
        rule: impl Into<String>,
        host: impl Into<String>,
        uuid: impl Into<String>,
        at_ms: u64,
        summary: impl Into<String>,
    ) -> Self {
        Alert {
            rule: rule.into(),
            host: host.into(),
            uuid: uuid.into(),
            gpu: None,
            severity: Severity::Warning,
            unit: None,
            status: AlertStatus::Firing,
            starts_at_ms: at_ms,
            ends_at_ms: None,
            summary: summary.into(),
            annotations: BTreeMap::new(),
        }
    }

    pub fn gpu(mut self, index: u32) -> Self {
        self.gpu = Some(index);
        self
    }

    pub fn severity(mut self, s: Severity) -> Self {
        self.severity = s;
        self
    }

    pub fn unit(mut self, unit: impl Into<String>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    pub fn annotation(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.annotations.insert(key.into(), value.into());
        self
    }

    /// The same alert, resolved at `at_ms`.
    pub fn resolved(&self, at_ms: u64) -> Self {
        let mut a = self.clone();
        a.status = AlertStatus::Resolved;
        a.ends_at_ms = Some(at_ms.max(a.starts_at_ms));
        a
    }

    /// The stable identity: `host/uuid/rule`. Sinks dedupe and resolve by it.
    pub fn identity(&self) -> String {
        format!("{}/{}/{}", self.host, self.uuid, self.rule)
    }

    /// The identifying labels (what Alertmanager groups and dedupes by).
    pub fn labels(&self) -> BTreeMap<&'static str, String> {
        let mut l = BTreeMap::new();
        l.insert("alertname", alert_name(&self.rule));
        l.insert("rule", self.rule.clone());
        l.insert("host", self.host.clone());
        l.insert("severity", self.severity.name().to_string());
        if !self.uuid.is_empty() {
            l.insert("uuid", self.uuid.clone());
        }
        if let Some(g) = self.gpu {
            l.insert("gpu", g.to_string());
        }
        if let Some(u) = &self.unit {
            l.insert("unit", u.clone());
        }
        l
    }

    /// A one-line text for chat (`[FIRING] gpu-hot on host gpu 0: …`).
    pub fn text(&self) -> String {
        let state = match self.status {
            AlertStatus::Firing => "FIRING",
            AlertStatus::Resolved => "RESOLVED",
        };
        let mut t = format!("[{state}] {} on {}", self.rule, self.host);
        if let Some(g) = self.gpu {
            t.push_str(&format!(" gpu {g}"));
        }
        if !self.uuid.is_empty() {
            t.push_str(&format!(" ({})", self.uuid));
        }
        if let Some(u) = &self.unit {
            t.push_str(&format!(" unit {u}"));
        }
        t.push_str(": ");
        t.push_str(&self.summary);
        t
    }
}

/// `gpu-hot` → `GpuwardenGpuHot`: Alertmanager's convention for `alertname`.
fn alert_name(rule: &str) -> String {
    let mut out = String::from("Gpuwarden");
    for part in rule.split(|c: char| !c.is_ascii_alphanumeric()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            out.extend(chars);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_and_labels_are_stable_across_firing_and_resolving() {
        let a = Alert::firing("gpu-hot", "node1", "GPU-1", 1000, "91 °C")
            .gpu(0)
            .severity(Severity::Critical)
            .unit("vllm.service");
        let r = a.resolved(5000);
        assert_eq!(a.identity(), "node1/GPU-1/gpu-hot");
        assert_eq!(a.identity(), r.identity());
        assert_eq!(a.labels(), r.labels());
        assert_eq!(a.labels()["alertname"], "GpuwardenGpuHot");
        assert_eq!(a.labels()["unit"], "vllm.service");
        assert_eq!(r.ends_at_ms, Some(5000));
        assert_eq!(
            a.text(),
            "[FIRING] gpu-hot on node1 gpu 0 (GPU-1) unit vllm.service: 91 °C"
        );
    }
}
