//! The generic JSON webhook sink: one `POST` per alert, with a Slack-compatible `text` field
//! and the alert's identity, labels and annotations for anything that parses JSON.

use super::deliver::{SendError, Sink, agent, post_json};
use super::time::rfc3339;
use super::{Alert, AlertStatus};
use crate::http_client::{ClientTls, TlsFileError};
use serde_json::{Value, json};
use std::time::Duration;

pub struct WebhookSink {
    agent: ureq::Agent,
    url: String,
    bearer: Option<String>,
}

impl WebhookSink {
    pub fn new(
        url: &str,
        timeout: Duration,
        bearer: Option<String>,
        tls: &ClientTls,
    ) -> Result<Self, TlsFileError> {
        Ok(WebhookSink {
            agent: agent(timeout, tls)?,
            url: url.to_string(),
            bearer,
        })
    }
}

/// The webhook JSON of one alert.
pub fn to_json(alert: &Alert) -> Value {
    json!({
        "text": alert.text(),
        "status": match alert.status {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        },
        "identity": alert.identity(),
        "labels": alert.labels(),
        "annotations": alert.annotations,
        "summary": alert.summary,
        "startsAt": rfc3339(alert.starts_at_ms),
        "endsAt": alert.ends_at_ms.map(rfc3339),
    })
}

impl Sink for WebhookSink {
    fn name(&self) -> &str {
        "webhook"
    }

    fn max_batch(&self) -> usize {
        1
    }

    fn send(&mut self, alerts: &[&Alert], _now_ms: u64) -> Result<(), SendError> {
        for a in alerts {
            post_json(&self.agent, &self.url, self.bearer.as_deref(), &to_json(a))?;
        }
        Ok(())
    }
}
