//! What the daemon tells the outside world besides its event log: the HTTP endpoint's
//! shared state (`/metrics`, `/healthz`, `/api/v1/…`) and the on-call alert sinks.
//!
//! Pages and resolves from the engine become alerts; a restart that did not happen becomes
//! an `action-failed` alert (resolved by the next good restart on that GPU or when its rule
//! clears). Every event is counted by kind and result for `gpuwarden_watchdog_actions_total`.
//! XIDs are counted per GPU and code (once per fault, see `health::tally`) for
//! `gpuwarden_gpu_xid_errors_total`, each counted one becoming an `xid` event.

use crate::act::alert::{Alert, AlertChange, Alerts, Severity, alert_change};
use crate::act::{Event, EventKind, EventResult};
use crate::gpu::Snapshot;
use crate::health::tally::Outcome;
use crate::health::{XidReport, XidTally};
use crate::metrics::{ActionCount, RuleState, RuleStatus, WatchdogMetrics};
use crate::policy::{Action, ActionKind, Config, State};
use crate::serve::{EventLogFeed, ServeState};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The endpoint's state and the alert sinks, fed by the watch loop.
pub struct OnCall {
    pub serve: Arc<ServeState>,
    alerts: Option<Alerts>,
    host: String,
    counts: BTreeMap<(String, String), u64>,
    xids: XidTally,
}

impl OnCall {
    /// Starts the alert sinks configured in `[alerts]`; a sink that cannot start is reported
    /// in the returned message and the daemon goes on without it.
    pub fn start(config: &Config, host: &str, events_path: &Path) -> (OnCall, Option<String>) {
        let stale_after = (config.watchdog.interval * 3).max(Duration::from_secs(5));
        let serve = ServeState::new(stale_after, None);
        serve.set_events(Arc::new(EventLogFeed(events_path.to_path_buf())));
        let (alerts, problem) = match &config.alerts {
            None => (None, None),
            Some(c) => match Alerts::start(c, host) {
                Ok(a) => (Some(a), None),
                Err(e) => (None, Some(format!("alert sinks not started: {e}"))),
            },
        };
        let oncall = OnCall {
            serve,
            alerts,
            host: host.to_string(),
            counts: BTreeMap::new(),
            xids: XidTally::new(),
        };
        (oncall, problem)
    }

    /// Turns pages and resolves into alert changes.
    pub fn on_actions(&mut self, actions: &[Action], now_ms: u64) {
        let Some(alerts) = self.alerts.as_mut() else {
            return;
        };
        for a in actions {
            let taken: Vec<String> = actions
                .iter()
                .filter(|o| o.gpu == a.gpu && o.rule == a.rule && o.changes_world())
                .map(|o| o.summary.clone())
                .collect();
            if let Some(change) = alert_change(a, &self.host, &taken)
                && let Err(e) = alerts.apply(change, now_ms)
            {
                tracing::error!("writing an alert to the outbox: {e}");
            }
            if matches!(a.kind, ActionKind::Cleared { .. }) {
                let id = format!("{}/{}/action-failed", self.host, a.gpu.uuid);
                let _ = alerts.apply(AlertChange::Resolve(id), now_ms);
            }
        }
    }

    /// Learns the watched GPUs from a snapshot; returns the events of XIDs that waited for it
    /// (and hands them to the engine's `metric = "xid"` rules).
    pub fn learn_gpus(
        &mut self,
        snap: &Snapshot,
        config: &Config,
        state: &mut State,
    ) -> Vec<Event> {
        let outcomes = self.xids.learn(snap);
        outcomes
            .into_iter()
            .filter_map(|o| xid_event(o, config, state))
            .collect()
    }

    /// Counts an XID once per fault; a new one becomes an event and is remembered for the
    /// engine's `metric = "xid"` rules.
    pub fn on_xid(
        &mut self,
        report: XidReport,
        config: &Config,
        state: &mut State,
    ) -> Option<Event> {
        let outcome = self.xids.record(report);
        xid_event(outcome, config, state)
    }

    /// Counts the event; a failed restart becomes an alert.
    pub fn on_event(&mut self, e: &Event) {
        let key = (e.kind.name().to_string(), e.result.name().to_string());
        *self.counts.entry(key).or_default() += 1;
        if e.kind != EventKind::UnitRestart {
            return;
        }
        let (Some(alerts), Some(uuid)) = (self.alerts.as_mut(), e.gpu.as_deref()) else {
            return;
        };
        let id = format!("{}/{uuid}/action-failed", self.host);
        let change = match e.result {
            EventResult::Ok => AlertChange::Resolve(id),
            EventResult::DryRun | EventResult::Refused => return,
            _ => {
                let error = e
                    .detail
                    .clone()
                    .unwrap_or_else(|| e.result.name().to_string());
                let mut alert = Alert::firing(
                    "action-failed",
                    self.host.as_str(),
                    uuid,
                    e.at_ms,
                    format!("{} failed: {error}", e.action),
                )
                .severity(Severity::Critical)
                .annotation("action", e.action.as_str())
                .annotation("error", error);
                if let Some(i) = e.gpu_index {
                    alert = alert.gpu(i);
                }
                if let Some(rule) = &e.rule {
                    alert = alert.annotation("because_of_rule", rule.as_str());
                }
                if let Some(unit) = e.action.strip_prefix("restart ") {
                    alert = alert.unit(unit);
                }
                AlertChange::Fire(alert)
            }
        };
        if let Err(err) = alerts.apply(change, e.at_ms) {
            tracing::error!("writing an alert to the outbox: {err}");
        }
    }

    /// Re-sends active alerts when due and publishes the watchdog's numbers.
    pub fn tick(&mut self, config: &Config, state: &State, now_ms: u64) {
        if let Some(alerts) = self.alerts.as_mut()
            && let Err(e) = alerts.tick(now_ms)
        {
            tracing::error!("alert outbox: {e}");
        }
        self.serve.set_watchdog(self.metrics(config, state, now_ms));
    }

    fn metrics(&self, config: &Config, state: &State, now_ms: u64) -> WatchdogMetrics {
        let mut rules = Vec::new();
        for (uuid, g) in &state.gpus {
            for rule in config
                .rules
                .iter()
                .filter(|r| r.gpus.matches(g.index, uuid))
            {
                let status = match g.rules.get(&rule.name) {
                    Some(r) if r.firing.is_some() => RuleStatus::Firing,
                    Some(r) if r.pending_since_ms.is_some() => RuleStatus::Pending,
                    _ => RuleStatus::Ok,
                };
                rules.push(RuleState {
                    gpu: g.index,
                    uuid: uuid.clone(),
                    rule: rule.name.clone(),
                    status,
                });
            }
        }
        let restart_budget = state
            .units
            .keys()
            .map(|u| {
                let left = state.restarts_left(u, &config.restarts, now_ms);
                (u.clone(), u64::from(left))
            })
            .collect();
        WatchdogMetrics {
            rules,
            actions: self
                .counts
                .iter()
                .map(|((kind, result), count)| ActionCount {
                    kind: kind.clone(),
                    result: result.clone(),
                    count: *count,
                })
                .collect(),
            restart_budget,
            xids: self.xids.counts(),
            outboxes: self.alerts.as_ref().map(Alerts::stats).unwrap_or_default(),
        }
    }

    /// Stops the delivery threads (what is not yet delivered stays in the outbox on disk).
    pub fn shutdown(&mut self) {
        if let Some(a) = self.alerts.take() {
            a.shutdown();
        }
    }
}

/// The event for a counted XID (unless rate-limited), which the engine also remembers;
/// duplicates and strangers are only traced.
fn xid_event(outcome: Outcome, config: &Config, state: &mut State) -> Option<Event> {
    match outcome {
        Outcome::Counted(c) => {
            crate::policy::note_xid(config, state, &c.uuid, c.gpu, c.report.code, c.report.at_ms);
            c.log.then(|| c.to_event())
        }
        Outcome::Duplicate | Outcome::Waiting => None,
        Outcome::Unknown(r) => {
            let gpu = r.uuid.or(r.pci).unwrap_or_else(|| "an unknown GPU".into());
            tracing::info!(
                "XID {} on {gpu} ({}): not a watched GPU",
                r.code,
                r.source.name()
            );
            None
        }
    }
}
