//! [`Alerts`]: the watchdog's one entry point for on-call alerts.
//!
//! The watchdog calls [`fire`](Alerts::fire) when a rule fires or an action fails,
//! [`resolve`](Alerts::resolve) when it clears, and [`tick`](Alerts::tick) every sample. Each
//! change goes into every sink's outbox; Alertmanager also gets every active alert again each
//! resend interval (it counts an alert not re-sent as resolved), a webhook only gets the
//! changes. When an outbox overflows, an `alert-outbox-overflow` alert says how many were lost.

use super::deliver::{self, Shared, Sink};
use super::outbox::{OVERFLOW_RULE, Outbox, OutboxError};
use super::{Alert, AlertStatus, Severity, alertmanager, pagerduty, slack, webhook};
use crate::http_client::TlsFileError;
use crate::metrics::OutboxStats;
use crate::policy::alerts::{AlertsConfig, Backoff};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

struct SinkHandle {
    name: String,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Re-send active alerts this often (Alertmanager); `None` for change-only sinks.
    resend: Option<Duration>,
}

struct Active {
    alert: Alert,
    last_sent_ms: u64,
}

/// Every configured sink with its outbox and delivery thread.
pub struct Alerts {
    host: String,
    sinks: Vec<SinkHandle>,
    active: HashMap<String, Active>,
}

/// A sink to start, with how often it wants active alerts re-sent.
pub struct SinkSpec {
    pub sink: Box<dyn Sink>,
    pub resend: Option<Duration>,
}

/// Why the alert sinks could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error("reading {path}: {source}")]
    TokenFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{sink}: {source}")]
    Tls {
        sink: &'static str,
        source: TlsFileError,
    },
    #[error("starting the alert delivery thread: {0}")]
    Thread(std::io::Error),
}

/// A token or key kept in its own file, without surrounding whitespace.
fn read_secret(path: &Path) -> Result<String, StartError> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| StartError::TokenFile {
            path: path.to_path_buf(),
            source,
        })
}

impl Alerts {
    /// Opens the outboxes (under `state_dir` unless `outbox_dir` says otherwise) and starts
    /// delivery for every sink in `config`.
    pub fn start(
        config: &AlertsConfig,
        host: &str,
        state_dir: &Path,
    ) -> Result<Alerts, StartError> {
        let mut specs = Vec::new();
        let tls = |sink: &'static str| move |source| StartError::Tls { sink, source };
        if let Some(am) = &config.alertmanager {
            specs.push(SinkSpec {
                sink: Box::new(
                    alertmanager::AlertmanagerSink::new(
                        &am.url,
                        am.timeout,
                        am.resend_interval,
                        am.generator_url.clone(),
                        &am.tls,
                    )
                    .map_err(tls("alerts.alertmanager"))?,
                ),
                resend: Some(am.resend_interval),
            });
        }
        if let Some(w) = &config.webhook {
            let token = w.token_file.as_deref().map(read_secret).transpose()?;
            specs.push(SinkSpec {
                sink: Box::new(
                    webhook::WebhookSink::new(&w.url, w.timeout, token, &w.tls)
                        .map_err(tls("alerts.webhook"))?,
                ),
                resend: None,
            });
        }
        if let Some(p) = &config.pagerduty {
            let key = read_secret(&p.routing_key_file)?;
            specs.push(SinkSpec {
                sink: Box::new(
                    pagerduty::PagerDutySink::new(&p.url, key, p.timeout, &p.tls)
                        .map_err(tls("alerts.pagerduty"))?,
                ),
                resend: None,
            });
        }
        if let Some(s) = &config.slack {
            specs.push(SinkSpec {
                sink: Box::new(
                    slack::SlackSink::new(&s.url, s.timeout, &s.tls)
                        .map_err(tls("alerts.slack"))?,
                ),
                resend: None,
            });
        }
        Alerts::with_sinks(
            &config.outbox_dir(state_dir),
            config.outbox_max,
            config.backoff,
            host,
            specs,
        )
    }

    /// Starts the given sinks with outboxes under `dir` (also for tests with custom sinks).
    pub fn with_sinks(
        dir: &Path,
        outbox_max: usize,
        backoff: Backoff,
        host: &str,
        specs: Vec<SinkSpec>,
    ) -> Result<Alerts, StartError> {
        let mut sinks = Vec::new();
        for spec in specs {
            let name = spec.sink.name().to_string();
            let shared = Shared::new(Outbox::open(dir, &name, outbox_max)?);
            let thread =
                deliver::spawn(spec.sink, shared.clone(), backoff).map_err(StartError::Thread)?;
            sinks.push(SinkHandle {
                name,
                shared,
                thread: Some(thread),
                resend: spec.resend,
            });
        }
        Ok(Alerts {
            host: host.to_string(),
            sinks,
            active: HashMap::new(),
        })
    }

    /// A rule fired (or an action failed). A new alert goes to every sink; one already firing
    /// only updates its annotations (re-sends happen in [`tick`](Self::tick)).
    pub fn fire(&mut self, mut alert: Alert, now_ms: u64) -> Result<(), OutboxError> {
        alert.status = AlertStatus::Firing;
        alert.ends_at_ms = None;
        let id = alert.identity();
        if let Some(a) = self.active.get_mut(&id) {
            alert.starts_at_ms = a.alert.starts_at_ms;
            a.alert = alert;
            return Ok(());
        }
        let result = self.push_all(&alert, now_ms, |_| true);
        self.active.insert(
            id,
            Active {
                alert,
                last_sent_ms: now_ms,
            },
        );
        result
    }

    /// The alert with this identity cleared; returns whether it was active.
    pub fn resolve(&mut self, identity: &str, now_ms: u64) -> Result<bool, OutboxError> {
        let Some(a) = self.active.remove(identity) else {
            return Ok(false);
        };
        self.push_all(&a.alert.resolved(now_ms), now_ms, |_| true)?;
        Ok(true)
    }

    /// Sends `alert` resolved although it is not active here (a page from before this daemon
    /// kept its alerts): the sinks resolve it by identity, or ignore it.
    pub fn resolve_unknown(&mut self, alert: &Alert, now_ms: u64) -> Result<(), OutboxError> {
        self.push_all(&alert.resolved(now_ms), now_ms, |_| true)
    }

    /// Applies a change made by [`alert_change`](super::alert_change).
    pub fn apply(&mut self, change: super::AlertChange, now_ms: u64) -> Result<(), OutboxError> {
        match change {
            super::AlertChange::Fire(alert) => self.fire(alert, now_ms),
            super::AlertChange::Resolve(identity) => self.resolve(&identity, now_ms).map(|_| ()),
        }
    }

    /// Identities of the alerts now firing.
    pub fn firing(&self) -> impl Iterator<Item = &str> {
        self.active.keys().map(String::as_str)
    }

    /// The alerts now firing, oldest first (what the daemon persists).
    pub fn active_alerts(&self) -> Vec<Alert> {
        let mut out: Vec<Alert> = self.active.values().map(|a| a.alert.clone()).collect();
        out.sort_by_key(|a| (a.starts_at_ms, a.identity()));
        out
    }

    /// Takes back alerts that were firing before a restart (or a reload of `[alerts]`): they
    /// are active again — resolved when their condition clears — and the sinks that want
    /// re-sends get them at the next [`tick`](Self::tick), so Alertmanager does not let them
    /// expire.
    pub fn restore(&mut self, alerts: Vec<Alert>) {
        for alert in alerts {
            self.active.entry(alert.identity()).or_insert(Active {
                alert,
                last_sent_ms: 0,
            });
        }
    }

    /// Whether any sink is configured (a page with none reaches nobody).
    pub fn has_sinks(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// The names of the sinks, for the event log ("alertmanager, webhook").
    pub fn sink_names(&self) -> String {
        let names: Vec<&str> = self.sinks.iter().map(|s| s.name.as_str()).collect();
        names.join(", ")
    }

    /// Re-sends active alerts to the sinks that want it. `now_ms` is wall time, like the
    /// times given to [`fire`](Self::fire); a last send later than now (the wall clock went
    /// back) makes the alert due at once rather than silent until the clock catches up, which
    /// would let Alertmanager expire it.
    pub fn tick(&mut self, now_ms: u64) -> Result<(), OutboxError> {
        let due =
            |last: u64, every: Duration| last > now_ms || now_ms - last >= every.as_millis() as u64;
        let mut first_err = None;
        for sink in &self.sinks {
            let Some(every) = sink.resend else { continue };
            for a in self.active.values() {
                if due(a.last_sent_ms, every)
                    && let Err(e) = push(sink, &self.host, a.alert.clone(), now_ms)
                {
                    first_err.get_or_insert(e);
                }
            }
        }
        let resending = self.sinks.iter().filter_map(|s| s.resend).min();
        if let Some(every) = resending {
            for a in self.active.values_mut() {
                if due(a.last_sent_ms, every) {
                    a.last_sent_ms = now_ms;
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn push_all(
        &self,
        alert: &Alert,
        now_ms: u64,
        want: impl Fn(&SinkHandle) -> bool,
    ) -> Result<(), OutboxError> {
        let mut first_err = None;
        for sink in self.sinks.iter().filter(|s| want(s)) {
            if let Err(e) = push(sink, &self.host, alert.clone(), now_ms) {
                tracing::error!(
                    "alert {} not queued for {}: {e}",
                    alert.identity(),
                    sink.name
                );
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Numbers for `/metrics`.
    pub fn stats(&self) -> Vec<OutboxStats> {
        self.sinks
            .iter()
            .map(|s| {
                let o = s.shared.lock();
                let c = o.counters();
                OutboxStats {
                    sink: s.name.clone(),
                    pending: o.pending().len() as u64,
                    delivered: c.delivered,
                    rejected: c.rejected,
                    dropped: c.dropped,
                }
            })
            .collect()
    }

    /// Stops the delivery threads; what is still pending stays on disk for the next start.
    pub fn shutdown(mut self) {
        self.stop_threads();
    }

    fn stop_threads(&mut self) {
        for s in &self.sinks {
            s.shared.request_stop();
        }
        for s in &mut self.sinks {
            if let Some(t) = s.thread.take() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Alerts {
    fn drop(&mut self) {
        self.stop_threads();
    }
}

fn push(sink: &SinkHandle, host: &str, alert: Alert, now_ms: u64) -> Result<(), OutboxError> {
    let mut outbox = sink.shared.lock();
    let dropped = outbox.push(alert)?;
    if dropped > 0 {
        let total = outbox.counters().dropped;
        tracing::error!(
            "alert outbox {} is full: dropped {dropped} oldest alert(s), {total} in all",
            outbox.path().display()
        );
        let overflow = Alert::firing(
            OVERFLOW_RULE,
            host,
            "",
            now_ms,
            format!(
                "the {} outbox was full: {total} alert(s) dropped so far",
                sink.name
            ),
        )
        .severity(Severity::Critical)
        .annotation("dropped_total", total.to_string());
        outbox.push_unbounded(overflow)?;
    }
    drop(outbox);
    sink.shared.notify();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::alert::deliver::SendError;
    use std::sync::Mutex;

    /// Records what it is sent; the real sinks are tested against real peers in tests/alerts.rs.
    struct Recorder(Arc<Mutex<Vec<(String, AlertStatus)>>>);

    impl Sink for Recorder {
        fn name(&self) -> &str {
            "recorder"
        }
        fn max_batch(&self) -> usize {
            8
        }
        fn send(&mut self, alerts: &[&Alert], _now_ms: u64) -> Result<(), SendError> {
            let mut seen = self.0.lock().unwrap();
            seen.extend(alerts.iter().map(|a| (a.identity(), a.status)));
            Ok(())
        }
    }

    fn sent_after(log: &Mutex<Vec<(String, AlertStatus)>>, n: usize) -> Vec<(String, AlertStatus)> {
        for _ in 0..200 {
            if log.lock().unwrap().len() >= n {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        log.lock().unwrap().clone()
    }

    #[test]
    fn an_active_alert_is_resent_each_interval_and_resolved_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let spec = SinkSpec {
            sink: Box::new(Recorder(log.clone())),
            resend: Some(Duration::from_secs(60)),
        };
        let mut alerts =
            Alerts::with_sinks(dir.path(), 10, Backoff::default(), "h", vec![spec]).unwrap();
        let a = Alert::firing("gpu-hot", "h", "GPU-1", 1_000, "hot");
        alerts.fire(a.clone(), 1_000).unwrap();
        alerts
            .fire(a.clone().annotation("temperature_celsius", "92"), 2_000)
            .unwrap();
        alerts.tick(30_000).unwrap();
        assert_eq!(
            sent_after(&log, 1).len(),
            1,
            "no re-send before the interval"
        );
        alerts.tick(61_000).unwrap();
        let sent = sent_after(&log, 2);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].1, AlertStatus::Firing);
        assert!(alerts.resolve(&a.identity(), 70_000).unwrap());
        assert!(!alerts.resolve(&a.identity(), 71_000).unwrap());
        let sent = sent_after(&log, 3);
        assert_eq!(sent.len(), 3);
        assert_eq!(sent[2], (a.identity(), AlertStatus::Resolved));
        assert_eq!(alerts.firing().count(), 0);
    }

    #[test]
    fn a_wall_clock_gone_back_makes_an_active_alert_due_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let spec = SinkSpec {
            sink: Box::new(Recorder(log.clone())),
            resend: Some(Duration::from_secs(60)),
        };
        let mut alerts =
            Alerts::with_sinks(dir.path(), 10, Backoff::default(), "h", vec![spec]).unwrap();
        let a = Alert::firing("gpu-hot", "h", "GPU-1", 7_200_000, "hot");
        alerts.fire(a, 7_200_000).unwrap();
        assert_eq!(sent_after(&log, 1).len(), 1);
        // Two hours back: waiting for 7_260_000 would leave Alertmanager without it.
        alerts.tick(1_000).unwrap();
        assert_eq!(sent_after(&log, 2).len(), 2, "not re-sent at once");
        // From there on, every interval of the new time.
        alerts.tick(30_000).unwrap();
        assert_eq!(sent_after(&log, 3).len(), 2, "re-sent before the interval");
        alerts.tick(61_000).unwrap();
        assert_eq!(sent_after(&log, 3).len(), 3);
    }

    #[test]
    fn an_overflowing_outbox_reports_its_drops_as_an_alert() {
        let dir = tempfile::tempdir().unwrap();
        let spec = SinkSpec {
            sink: Box::new(
                crate::act::alert::webhook::WebhookSink::new(
                    "http://127.0.0.1:9/unreachable",
                    Duration::from_millis(200),
                    None,
                    &Default::default(),
                )
                .unwrap(),
            ),
            resend: None,
        };
        let slow = Backoff {
            initial: Duration::from_secs(60),
            max: Duration::from_secs(60),
        };
        let mut alerts = Alerts::with_sinks(dir.path(), 3, slow, "h", vec![spec]).unwrap();
        for i in 0..5 {
            let a = Alert::firing("gpu-hot", "h", format!("GPU-{i}"), i, "hot");
            alerts.fire(a, i).unwrap();
        }
        let stats = &alerts.stats()[0];
        assert_eq!(stats.dropped, 2);
        let outbox = alerts.sinks[0].shared.lock();
        let overflow: Vec<&Alert> = outbox
            .pending()
            .iter()
            .map(|e| &e.alert)
            .filter(|a| a.rule == OVERFLOW_RULE)
            .collect();
        assert_eq!(overflow.len(), 1, "one overflow alert, kept up to date");
        assert_eq!(overflow[0].annotations["dropped_total"], "2");
    }
}
