//! The `[alerts]` part of watchdog.toml (the policy's, not the sinks': `act::alert` delivers
//! what this describes), in two phases: [`RawAlertsConfig`] is exactly what the
//! file says (unknown keys rejected by serde with their line), [`AlertsConfig`] is checked and
//! ready (durations parsed, URLs usable, bounds sane).
//!
//! Every sink speaks `http://` or `https://`. Over https it trusts the system's roots, or only
//! the CA in `ca_file`; `client_cert` + `client_key` present a certificate to a server that
//! asks for one (mutual TLS).
//!
//! ```toml
//! [alerts]
//! outbox_dir = "/var/lib/gpuwarden/outbox"   # default: outbox/ in the state directory
//! outbox_max = 10000                          # alerts kept per sink before dropping the oldest
//! retry_initial = "1s"
//! retry_max = "5m"
//!
//! [alerts.alertmanager]
//! url = "http://127.0.0.1:9093"
//! timeout = "5s"
//! resend_interval = "1m"
//!
//! [alerts.webhook]
//! url = "http://127.0.0.1:8080/hooks/gpu"
//! timeout = "5s"
//! token_file = "/etc/gpuwarden/webhook.token"   # optional: sent as a bearer token
//!
//! [alerts.pagerduty]
//! routing_key_file = "/etc/gpuwarden/pagerduty.key"  # the integration key (Events API v2)
//! url = "https://events.pagerduty.com/v2/enqueue"    # the default
//!
//! [alerts.slack]
//! url = "https://hooks.slack.com/services/T000/B000/XXXX"  # an incoming webhook
//! ca_file = "/etc/gpuwarden/proxy-ca.pem"                  # optional: trust only this CA
//! client_cert = "/etc/gpuwarden/client.pem"                # optional, with client_key
//! client_key = "/etc/gpuwarden/client.key"
//! ```

use crate::http_client::ClientTls;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// The retry schedule (`retry_initial`, `retry_max` in watchdog.toml).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Backoff {
    #[serde(rename = "retry_initial", with = "humantime_serde")]
    pub initial: Duration,
    #[serde(rename = "retry_max", with = "humantime_serde")]
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
        }
    }
}

impl Backoff {
    /// The delay before retry number `attempt` (0-based), with jitter from `random`.
    pub fn delay(&self, attempt: u32, random: u64) -> Duration {
        let ceiling = self
            .initial
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.max);
        let half = ceiling / 2;
        let jitter_ns = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(random % jitter_ns)
    }
}

/// The outboxes' folder inside the state directory, when `outbox_dir` is not set.
pub const OUTBOX_SUBDIR: &str = "outbox";

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawAlertsConfig {
    pub outbox_dir: Option<PathBuf>,
    pub outbox_max: Option<usize>,
    #[serde(default, with = "humantime_serde")]
    pub retry_initial: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub retry_max: Option<Duration>,
    pub alertmanager: Option<RawAlertmanager>,
    pub webhook: Option<RawWebhook>,
    pub pagerduty: Option<RawPagerDuty>,
    pub slack: Option<RawSlack>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    pub url: String,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    #[serde(default, with = "humantime_serde")]
    pub resend_interval: Option<Duration>,
    /// Link shown in Alertmanager next to the alert (e.g. this host's /api/v1/events).
    pub generator_url: Option<String>,
    /// PEM CA file to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS), with `client_key`.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawWebhook {
    pub url: String,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    pub token_file: Option<PathBuf>,
    /// PEM CA file to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS), with `client_key`.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// PagerDuty's Events API v2.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDuty {
    /// The file holding the service's integration (routing) key.
    pub routing_key_file: PathBuf,
    pub url: Option<String>,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// PEM CA file to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS), with `client_key`.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// A Slack incoming webhook.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RawSlack {
    pub url: String,
    #[serde(default, with = "humantime_serde")]
    pub timeout: Option<Duration>,
    /// PEM CA file to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain (mutual TLS), with `client_key`.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// Validated alert settings.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertsConfig {
    /// `None`: `outbox/` in the daemon's state directory (`--state-dir` included).
    pub outbox_dir: Option<PathBuf>,
    pub outbox_max: usize,
    #[serde(flatten)]
    pub backoff: Backoff,
    pub alertmanager: Option<AlertmanagerConfig>,
    pub webhook: Option<WebhookConfig>,
    pub pagerduty: Option<PagerDutyConfig>,
    pub slack: Option<SlackConfig>,
}

impl AlertsConfig {
    /// Whether any sink is configured (a `page` step reaches someone).
    pub fn has_sink(&self) -> bool {
        self.alertmanager.is_some()
            || self.webhook.is_some()
            || self.pagerduty.is_some()
            || self.slack.is_some()
    }

    /// Where the outboxes live for a daemon whose state is in `state_dir`.
    pub fn outbox_dir(&self, state_dir: &std::path::Path) -> PathBuf {
        self.outbox_dir
            .clone()
            .unwrap_or_else(|| state_dir.join(OUTBOX_SUBDIR))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AlertmanagerConfig {
    pub url: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub resend_interval: Duration,
    pub generator_url: Option<String>,
    #[serde(flatten)]
    pub tls: ClientTls,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub token_file: Option<PathBuf>,
    #[serde(flatten)]
    pub tls: ClientTls,
}

/// PagerDuty's public Events API v2 endpoint.
pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PagerDutyConfig {
    pub url: String,
    pub routing_key_file: PathBuf,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(flatten)]
    pub tls: ClientTls,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SlackConfig {
    pub url: String,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    #[serde(flatten)]
    pub tls: ClientTls,
}

/// A setting that parsed but makes no sense; names its key.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{key}: {problem}")]
pub struct AlertsConfigError {
    pub key: &'static str,
    pub problem: String,
}

fn err(key: &'static str, problem: impl Into<String>) -> AlertsConfigError {
    AlertsConfigError {
        key,
        problem: problem.into(),
    }
}

fn check_url(key: &'static str, url: &str) -> Result<String, AlertsConfigError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| err(key, format!("{url:?} is not an http:// or https:// URL")))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(err(key, format!("{url:?} has no host")));
    }
    Ok(url.to_string())
}

/// The TLS files of the sink `table`; a client certificate comes with its key.
fn tls(
    table: &'static str,
    ca_file: &Option<PathBuf>,
    client_cert: &Option<PathBuf>,
    client_key: &Option<PathBuf>,
) -> Result<ClientTls, AlertsConfigError> {
    match (client_cert, client_key) {
        (Some(_), None) => Err(err(table, "client_cert is set without client_key")),
        (None, Some(_)) => Err(err(table, "client_key is set without client_cert")),
        _ => Ok(ClientTls {
            ca_file: ca_file.clone(),
            client_cert: client_cert.clone(),
            client_key: client_key.clone(),
        }),
    }
}

fn positive(
    key: &'static str,
    d: Option<Duration>,
    default: Duration,
) -> Result<Duration, AlertsConfigError> {
    let d = d.unwrap_or(default);
    if d.is_zero() {
        return Err(err(key, "must be longer than 0s"));
    }
    Ok(d)
}

impl RawAlertsConfig {
    pub fn validate(&self) -> Result<AlertsConfig, AlertsConfigError> {
        let outbox_max = self.outbox_max.unwrap_or(10_000);
        if outbox_max == 0 {
            return Err(err("alerts.outbox_max", "must be at least 1"));
        }
        let backoff = Backoff {
            initial: positive(
                "alerts.retry_initial",
                self.retry_initial,
                Duration::from_secs(1),
            )?,
            max: positive("alerts.retry_max", self.retry_max, Duration::from_secs(300))?,
        };
        if backoff.max < backoff.initial {
            return Err(err(
                "alerts.retry_max",
                "must not be shorter than alerts.retry_initial",
            ));
        }
        let alertmanager = match &self.alertmanager {
            None => None,
            Some(am) => {
                let resend_interval = positive(
                    "alerts.alertmanager.resend_interval",
                    am.resend_interval,
                    Duration::from_secs(60),
                )?;
                Some(AlertmanagerConfig {
                    url: check_url("alerts.alertmanager.url", &am.url)?,
                    timeout: positive(
                        "alerts.alertmanager.timeout",
                        am.timeout,
                        Duration::from_secs(5),
                    )?,
                    resend_interval,
                    generator_url: am.generator_url.clone(),
                    tls: tls(
                        "alerts.alertmanager",
                        &am.ca_file,
                        &am.client_cert,
                        &am.client_key,
                    )?,
                })
            }
        };
        let webhook = match &self.webhook {
            None => None,
            Some(w) => Some(WebhookConfig {
                url: check_url("alerts.webhook.url", &w.url)?,
                timeout: positive("alerts.webhook.timeout", w.timeout, Duration::from_secs(5))?,
                token_file: w.token_file.clone(),
                tls: tls("alerts.webhook", &w.ca_file, &w.client_cert, &w.client_key)?,
            }),
        };
        let pagerduty = match &self.pagerduty {
            None => None,
            Some(p) => Some(PagerDutyConfig {
                url: check_url(
                    "alerts.pagerduty.url",
                    p.url.as_deref().unwrap_or(PAGERDUTY_URL),
                )?,
                routing_key_file: p.routing_key_file.clone(),
                timeout: positive(
                    "alerts.pagerduty.timeout",
                    p.timeout,
                    Duration::from_secs(5),
                )?,
                tls: tls(
                    "alerts.pagerduty",
                    &p.ca_file,
                    &p.client_cert,
                    &p.client_key,
                )?,
            }),
        };
        let slack = match &self.slack {
            None => None,
            Some(s) => Some(SlackConfig {
                url: check_url("alerts.slack.url", &s.url)?,
                timeout: positive("alerts.slack.timeout", s.timeout, Duration::from_secs(5))?,
                tls: tls("alerts.slack", &s.ca_file, &s.client_cert, &s.client_key)?,
            }),
        };
        Ok(AlertsConfig {
            outbox_dir: self.outbox_dir.clone(),
            outbox_max,
            backoff,
            alertmanager,
            webhook,
            pagerduty,
            slack,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawAlertsConfig, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn the_documented_example_parses_and_validates() {
        let doc = include_str!("alerts.rs");
        let example: String = doc
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!").trim_start()))
            .collect();
        #[derive(Deserialize)]
        struct File {
            alerts: RawAlertsConfig,
        }
        let f: File = toml::from_str(&example).unwrap();
        let c = f.alerts.validate().unwrap();
        assert_eq!(
            c.alertmanager.unwrap().resend_interval,
            Duration::from_secs(60)
        );
        assert_eq!(c.webhook.unwrap().url, "http://127.0.0.1:8080/hooks/gpu");
        assert_eq!(c.backoff.max, Duration::from_secs(300));
        assert_eq!(c.pagerduty.unwrap().url, PAGERDUTY_URL);
        let slack = c.slack.unwrap();
        assert!(slack.url.starts_with("https://"));
        assert!(slack.tls.client_key.is_some());
    }

    #[test]
    fn watchdog_toml_carries_the_alerts_table_and_locates_its_mistakes() {
        use std::path::Path;
        let file = Path::new("watchdog.toml");
        let lost =
            "[[rule]]\nname = \"lost\"\nmetric = \"gpu_lost\"\nsteps = [{ do = \"page\" }]\n";
        let c = crate::policy::build::parse(
            file,
            &format!("{lost}[alerts.alertmanager]\nurl = \"http://am:9093\"\n"),
        )
        .unwrap();
        let am = c.alerts.unwrap().alertmanager.unwrap();
        assert_eq!(am.url, "http://am:9093");
        let e = crate::policy::build::parse(
            file,
            "[watchdog]\ndry_run = true\n\n[alerts.webhook]\nurl = \"ftp://hooks.example/x\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("watchdog.toml:4") && e.contains("alerts.webhook.url"),
            "{e}"
        );
        let e = crate::policy::build::parse(file, "[alerts]\nretries = 3\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("watchdog.toml:2") && e.contains("retries"),
            "{e}"
        );
    }

    #[test]
    fn mistakes_are_named_by_key_or_line() {
        let e = parse("[webhook]\nurl = \"http://x\"\nretries = 3\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("retries"), "{e}");
        let raw = parse("[webhook]\nurl = \"ftp://x\"\n").unwrap();
        assert_eq!(raw.validate().unwrap_err().key, "alerts.webhook.url");
        let raw = parse("[alertmanager]\nurl = \"https://am:9093\"\n").unwrap();
        assert_eq!(
            raw.validate().unwrap().alertmanager.unwrap().url,
            "https://am:9093"
        );
        let raw = parse("[slack]\nurl = \"https://\"\n").unwrap();
        assert!(raw.validate().unwrap_err().problem.contains("no host"));
        let raw = parse("[slack]\nurl = \"https://h/x\"\nclient_cert = \"c.pem\"\n").unwrap();
        let e = raw.validate().unwrap_err();
        assert_eq!(e.key, "alerts.slack");
        assert!(e.problem.contains("without client_key"), "{e}");
        let raw = parse("retry_initial = \"1m\"\nretry_max = \"1s\"\n").unwrap();
        assert_eq!(raw.validate().unwrap_err().key, "alerts.retry_max");
        let e = parse("retry_max = \"soon\"\n").unwrap_err();
        assert!(e.contains("retry_max"), "{e}");
    }
}
