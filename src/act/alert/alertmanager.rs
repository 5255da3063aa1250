//! The Alertmanager sink: `POST /api/v2/alerts` with the alert's labels and annotations.
//!
//! Alertmanager dedupes by label set, so re-sending a firing alert is safe and needed: one not
//! re-sent before its `endsAt` counts as resolved. A firing alert therefore gets
//! `endsAt = now + 3 × resend interval`, computed when it is sent (an alert that waited in the
//! outbox while Alertmanager was down still arrives as firing); a resolved one carries the
//! time it cleared.

use super::deliver::{SendError, Sink, agent, post_json};
use super::time::rfc3339;
use super::{Alert, AlertStatus};
use crate::http_client::{ClientTls, TlsFileError};
use serde_json::{Map, Value, json};
use std::time::Duration;

pub struct AlertmanagerSink {
    agent: ureq::Agent,
    url: String,
    resend: Duration,
    generator_url: Option<String>,
}

impl AlertmanagerSink {
    /// `base_url` is Alertmanager's address (`http://am:9093`).
    pub fn new(
        base_url: &str,
        timeout: Duration,
        resend: Duration,
        generator_url: Option<String>,
        tls: &ClientTls,
    ) -> Result<Self, TlsFileError> {
        Ok(AlertmanagerSink {
            agent: agent(timeout, tls)?,
            url: format!("{}/api/v2/alerts", base_url.trim_end_matches('/')),
            resend,
            generator_url,
        })
    }
}

/// The Alertmanager v2 JSON of one alert.
pub fn to_json(alert: &Alert, now_ms: u64, resend: Duration) -> Value {
    let labels: Map<String, Value> = alert
        .labels()
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    let mut annotations: Map<String, Value> = alert
        .annotations
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    annotations.insert("summary".into(), Value::String(alert.summary.clone()));
    let ends = match alert.status {
        AlertStatus::Resolved => alert.ends_at_ms.unwrap_or(now_ms),
        AlertStatus::Firing => now_ms + 3 * resend.as_millis() as u64,
    };
    json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": rfc3339(alert.starts_at_ms),
        "endsAt": rfc3339(ends),
    })
}

impl Sink for AlertmanagerSink {
    fn name(&self) -> &str {
        "alertmanager"
    }

    fn max_batch(&self) -> usize {
        64
    }

    fn send(&mut self, alerts: &[&Alert], now_ms: u64) -> Result<(), SendError> {
        let body: Vec<Value> = alerts
            .iter()
            .map(|a| {
                let mut v = to_json(a, now_ms, self.resend);
                if let (Some(url), Some(obj)) = (&self.generator_url, v.as_object_mut()) {
                    obj.insert("generatorURL".into(), Value::String(url.clone()));
                }
                v
            })
            .collect();
        post_json(&self.agent, &self.url, None, &Value::Array(body))
    }
}
