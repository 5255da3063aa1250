//! The Slack sink: an incoming webhook, one message per alert change.
//!
//! A firing alert is a message saying which GPU on which host, the rule, the reading that
//! tripped it and what the watchdog did; its resolve is a follow-up message (an incoming
//! webhook cannot edit or thread what it posted). `text` carries the same in one line, for
//! notifications and clients without blocks. Slack answers 200 `ok`, 4xx for a message or
//! webhook it will never take (`invalid_payload`, `no_service`, `channel_is_archived`), 429
//! while rate limiting and 5xx when down; the delivery thread sorts those.

use super::deliver::{SendError, Sink, agent, post_json};
use super::time::rfc3339;
use super::{Alert, AlertStatus};
use crate::http_client::{ClientTls, TlsFileError};
use serde_json::{Value, json};
use std::time::Duration;

pub struct SlackSink {
    agent: ureq::Agent,
    url: String,
}

impl SlackSink {
    /// `url` is the incoming webhook's address.
    pub fn new(url: &str, timeout: Duration, tls: &ClientTls) -> Result<Self, TlsFileError> {
        Ok(SlackSink {
            agent: agent(timeout, tls)?,
            url: url.to_string(),
        })
    }
}

/// Slack's mrkdwn treats these three as markup.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What the watchdog did about it, in the alert's own words.
fn action(alert: &Alert) -> String {
    if let Some(a) = alert.annotations.get("actions") {
        return a.clone();
    }
    match (
        alert.annotations.get("action"),
        alert.annotations.get("error"),
    ) {
        (Some(a), Some(e)) => format!("{a} failed: {e}"),
        (Some(a), None) => a.clone(),
        _ => "paged (no action taken)".to_string(),
    }
}

fn gpu(alert: &Alert) -> String {
    match (alert.gpu, alert.uuid.is_empty()) {
        (Some(g), false) => format!("{g} ({})", alert.uuid),
        (Some(g), true) => g.to_string(),
        (None, false) => alert.uuid.clone(),
        (None, true) => "— (the host)".to_string(),
    }
}

/// The incoming-webhook JSON of one alert change.
pub fn to_json(alert: &Alert) -> Value {
    let (head, when) = match alert.status {
        AlertStatus::Firing => (
            format!(
                ":rotating_light: *FIRING* ({}) `{}` on *{}*",
                alert.severity.name(),
                escape(&alert.rule),
                escape(&alert.host)
            ),
            format!("since {}", rfc3339(alert.starts_at_ms)),
        ),
        AlertStatus::Resolved => (
            format!(
                ":white_check_mark: *RESOLVED* `{}` on *{}*",
                escape(&alert.rule),
                escape(&alert.host)
            ),
            format!(
                "resolved {} (firing since {})",
                rfc3339(alert.ends_at_ms.unwrap_or(alert.starts_at_ms)),
                rfc3339(alert.starts_at_ms)
            ),
        ),
    };
    let mut fields = vec![
        ("GPU", gpu(alert)),
        ("Rule", alert.rule.clone()),
        ("Reading", alert.summary.clone()),
        ("Action", action(alert)),
        ("Host", alert.host.clone()),
    ];
    if let Some(u) = &alert.unit {
        fields.push(("Unit", u.clone()));
    }
    let fields: Vec<Value> = fields
        .into_iter()
        .map(|(k, v)| json!({ "type": "mrkdwn", "text": format!("*{k}*\n{}", escape(&v)) }))
        .collect();
    json!({
        "text": alert.text(),
        "blocks": [
            { "type": "section", "text": { "type": "mrkdwn", "text": head } },
            { "type": "section", "fields": fields },
            { "type": "context", "elements": [ { "type": "mrkdwn", "text": when } ] },
        ],
    })
}

impl Sink for SlackSink {
    fn name(&self) -> &str {
        "slack"
    }

    fn max_batch(&self) -> usize {
        1
    }

    fn send(&mut self, alerts: &[&Alert], _now_ms: u64) -> Result<(), SendError> {
        for a in alerts {
            post_json(&self.agent, &self.url, None, &to_json(a))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Severity;

    fn field<'a>(v: &'a Value, name: &str) -> &'a str {
        v["blocks"][1]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["text"].as_str())
            .find(|t| t.starts_with(&format!("*{name}*\n")))
            .unwrap_or_else(|| panic!("no {name} in {v}"))
    }

    #[test]
    fn the_message_names_gpu_rule_reading_action_and_host_and_escapes_markup() {
        let a = Alert::firing("gpu-hot", "node7", "GPU-1", 1000, "91 °C > 85 for 30s")
            .gpu(3)
            .severity(Severity::Critical)
            .annotation("actions", "locked SM clock to 1400 MHz");
        let m = to_json(&a);
        assert!(
            m["text"]
                .as_str()
                .unwrap()
                .starts_with("[FIRING] gpu-hot on node7 gpu 3")
        );
        assert!(
            m["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("*FIRING* (critical)")
        );
        assert_eq!(field(&m, "GPU"), "*GPU*\n3 (GPU-1)");
        assert_eq!(field(&m, "Reading"), "*Reading*\n91 °C &gt; 85 for 30s");
        assert_eq!(field(&m, "Action"), "*Action*\nlocked SM clock to 1400 MHz");
        assert_eq!(field(&m, "Host"), "*Host*\nnode7");
        let r = to_json(&a.resolved(61_000));
        assert!(
            r["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap()
                .contains("*RESOLVED*")
        );
        assert!(r["text"].as_str().unwrap().starts_with("[RESOLVED]"));
    }
}
