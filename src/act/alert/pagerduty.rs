//! The PagerDuty sink: Events API v2 (`POST /v2/enqueue`), one event per alert change.
//!
//! A firing alert is a `trigger`, a resolved one a `resolve`, both with the alert's identity
//! (`host/uuid/rule`) as `dedup_key`, so re-sending the same trigger (at-least-once delivery)
//! updates one PagerDuty alert instead of opening a second, and the resolve closes it. The
//! rule's severity maps onto PagerDuty's by name (`info`, `warning`, `critical`). PagerDuty
//! answers 202 when it took the event, 400 for an event it will never take, 429 while it is
//! rate limiting and 5xx when it is down; the delivery thread sorts those.

use super::deliver::{SendError, Sink, agent, post_json};
use super::time::rfc3339;
use super::{Alert, AlertStatus, Severity};
use crate::http_client::{ClientTls, TlsFileError};
use serde_json::{Value, json};
use std::time::Duration;

/// PagerDuty refuses a longer summary.
const SUMMARY_MAX: usize = 1024;

pub struct PagerDutySink {
    agent: ureq::Agent,
    url: String,
    routing_key: String,
}

impl PagerDutySink {
    /// `url` is the Events API endpoint; `routing_key` the service's integration key.
    pub fn new(
        url: &str,
        routing_key: String,
        timeout: Duration,
        tls: &ClientTls,
    ) -> Result<Self, TlsFileError> {
        Ok(PagerDutySink {
            agent: agent(timeout, tls)?,
            url: url.to_string(),
            routing_key,
        })
    }
}

/// PagerDuty's severity for the rule's.
pub fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn truncated(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max - '…'.len_utf8();
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The Events API v2 event of one alert change.
pub fn to_json(alert: &Alert, routing_key: &str) -> Value {
    let dedup_key = alert.identity();
    if alert.status == AlertStatus::Resolved {
        return json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        });
    }
    let component = match (alert.gpu, alert.uuid.is_empty()) {
        (Some(g), false) => format!("GPU {g} ({})", alert.uuid),
        (Some(g), true) => format!("GPU {g}"),
        (None, false) => alert.uuid.clone(),
        (None, true) => "host".to_string(),
    };
    let mut details = serde_json::Map::new();
    for (k, v) in alert.labels() {
        details.insert(k.to_string(), Value::String(v));
    }
    for (k, v) in &alert.annotations {
        details.insert(k.clone(), Value::String(v.clone()));
    }
    let mut payload = json!({
        "summary": truncated(&alert.text(), SUMMARY_MAX),
        "source": alert.host,
        "severity": severity(alert.severity),
        "timestamp": rfc3339(alert.starts_at_ms),
        "component": component,
        "class": alert.rule,
        "custom_details": details,
    });
    if let (Some(unit), Some(p)) = (&alert.unit, payload.as_object_mut()) {
        p.insert("group".into(), Value::String(unit.clone()));
    }
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": payload,
        "client": "gpuwarden",
    })
}

impl Sink for PagerDutySink {
    fn name(&self) -> &str {
        "pagerduty"
    }

    fn max_batch(&self) -> usize {
        1
    }

    fn send(&mut self, alerts: &[&Alert], _now_ms: u64) -> Result<(), SendError> {
        for a in alerts {
            post_json(&self.agent, &self.url, None, &to_json(a, &self.routing_key))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_and_resolve_share_the_dedup_key_and_resolve_carries_nothing_else() {
        let a = Alert::firing("gpu-hot", "node7", "GPU-1", 1000, "91 °C")
            .gpu(3)
            .severity(Severity::Critical)
            .unit("vllm.service")
            .annotation("actions", "locked SM clock");
        let t = to_json(&a, "key");
        assert_eq!(t["event_action"], "trigger");
        assert_eq!(t["dedup_key"], "node7/GPU-1/gpu-hot");
        assert_eq!(t["payload"]["severity"], "critical");
        assert_eq!(t["payload"]["source"], "node7");
        assert_eq!(t["payload"]["component"], "GPU 3 (GPU-1)");
        assert_eq!(t["payload"]["group"], "vllm.service");
        assert_eq!(t["payload"]["custom_details"]["actions"], "locked SM clock");
        let r = to_json(&a.resolved(2000), "key");
        assert_eq!(r["event_action"], "resolve");
        assert_eq!(r["dedup_key"], t["dedup_key"]);
        assert!(r.get("payload").is_none());
    }

    #[test]
    fn a_long_summary_is_cut_on_a_character_boundary() {
        let long = "°".repeat(900);
        let cut = truncated(&long, SUMMARY_MAX);
        assert!(cut.len() <= SUMMARY_MAX && cut.ends_with('…'));
    }
}
