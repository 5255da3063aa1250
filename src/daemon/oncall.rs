//! What the daemon tells the outside world besides its event log: the HTTP endpoint's
//! shared state (`/metrics`, `/healthz`, `/api/v1/…`) and the on-call alert sinks.
//!
//! Pages and resolves from the engine become alerts, and each becomes an event whose result
//! says what really happened: `queued` (in every sink's outbox on disk) or `failed` (no sink
//! configured: nobody was paged). A restart or a cap that did not happen becomes an
//! `action-failed` alert (resolved by the next good one on that GPU or when its rule clears).
//! The alerts firing are kept in `alerts.json` in the state directory, so a restarted daemon
//! (SIGTERM or kill -9) re-sends them and resolves them when their rule clears — at once when
//! the restored state holds no firing rule for one (see [`OnCall::resolve_orphans`]). Every event
//! is counted by kind and result for `gpuwarden_watchdog_actions_total`.
//! XIDs are counted per GPU and code (once per fault, see `health::tally`) for
//! `gpuwarden_gpu_xid_errors_total`, each counted one becoming an `xid` event.

use super::dispatch::base_event;
use crate::act::alert::outbox::OVERFLOW_RULE;
use crate::act::alert::{Alert, AlertChange, Alerts, AlertsConfig, Severity, alert_change};
use crate::events::{Event, EventKind, EventResult};
use crate::gpu::Snapshot;
use crate::health::tally::Outcome;
use crate::health::{XidReport, XidTally};
use crate::metrics::{ActionCount, RuleState, RuleStatus, WatchdogMetrics};
use crate::policy::{Action, ActionKind, Config, State};
use crate::serve::{EventLogFeed, ServeState};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The rule name of the host alert for a driver that does not answer.
const DRIVER_RULE: &str = "driver-not-answering";

/// The file, in the state directory, of the alerts firing.
pub const ACTIVE_ALERTS_FILE: &str = "alerts.json";

/// The endpoint's state and the alert sinks, fed by the watch loop.
pub struct OnCall {
    pub serve: Arc<ServeState>,
    alerts: Option<Alerts>,
    host: String,
    counts: BTreeMap<(String, String), u64>,
    xids: XidTally,
    /// Where the firing alerts are kept; what was last written there.
    state_dir: PathBuf,
    active_path: PathBuf,
    /// False while a sample hangs past `driver_timeout`.
    driver_answering: bool,
    /// The daemon only says what it would do (`--dry-run` or `dry_run = true`).
    pub dry_run: bool,
    saved: Vec<Alert>,
}

impl OnCall {
    /// Starts the alert sinks configured in `[alerts]` with the alerts that were firing when
    /// the daemon last stopped; a sink that cannot start (or an unreadable `alerts.json`) is
    /// reported in the returned message and the daemon goes on.
    pub fn start(
        config: &Config,
        host: &str,
        events_path: &Path,
        state_dir: &Path,
    ) -> (OnCall, Option<String>) {
        let stale_after = (config.watchdog.interval * 3).max(Duration::from_secs(5));
        let serve = ServeState::new(stale_after, None);
        serve.set_events(Arc::new(EventLogFeed(events_path.to_path_buf())));
        let active_path = state_dir.join(ACTIVE_ALERTS_FILE);
        let (saved, read_problem) = load_active(&active_path);
        let mut oncall = OnCall {
            serve,
            alerts: None,
            host: host.to_string(),
            counts: BTreeMap::new(),
            xids: XidTally::new(),
            state_dir: state_dir.to_path_buf(),
            active_path,
            driver_answering: true,
            dry_run: false,
            saved: saved.clone(),
        };
        let problem = oncall.start_alerts(config.alerts.as_ref(), saved);
        (oncall, problem.or(read_problem))
    }

    fn start_alerts(
        &mut self,
        config: Option<&AlertsConfig>,
        active: Vec<Alert>,
    ) -> Option<String> {
        let c = config?;
        match Alerts::start(c, &self.host, &self.state_dir) {
            Ok(mut a) => {
                a.restore(active);
                self.alerts = Some(a);
                None
            }
            Err(e) => Some(format!("alert sinks not started: {e}")),
        }
    }

    /// A reload changed `[alerts]`: the old sinks stop (what they had not delivered stays in
    /// their outboxes on disk), the new ones start with every alert still firing.
    pub fn reconfigure(&mut self, config: Option<&AlertsConfig>) -> Option<String> {
        let active = match self.alerts.take() {
            Some(a) => {
                let active = a.active_alerts();
                a.shutdown();
                active
            }
            None => self.saved.clone(),
        };
        self.start_alerts(config, active)
    }

    /// Turns pages and resolves into alert changes; returns the events saying how each went.
    pub fn on_actions(&mut self, actions: &[Action], now_ms: u64) -> Vec<Event> {
        let mut events = Vec::new();
        for a in actions {
            let (page, resolve) = (a.kind == ActionKind::Page, a.kind == ActionKind::Resolve);
            if page || resolve {
                let what = format!("{}: {}", a.kind.name(), a.summary);
                let (result, detail) = match self.alerts.as_mut() {
                    None if page => (
                        EventResult::Failed,
                        "no alert sink is configured in [alerts]: nobody was paged".to_string(),
                    ),
                    None => (
                        EventResult::Failed,
                        "no alert sink is configured in [alerts]".to_string(),
                    ),
                    Some(alerts) => {
                        let taken: Vec<String> = actions
                            .iter()
                            .filter(|o| o.gpu == a.gpu && o.rule == a.rule && o.changes_world())
                            .map(|o| o.summary.clone())
                            .collect();
                        match deliver(alerts, a, &self.host, &taken, now_ms) {
                            Ok(()) => (EventResult::Queued, alerts.sink_names()),
                            Err(e) => (EventResult::Failed, format!("writing the outbox: {e}")),
                        }
                    }
                };
                let kind = if page {
                    EventKind::Page
                } else {
                    EventKind::Resolve
                };
                events.push(base_event(a, kind, what).result(result, Some(detail)));
            }
            if matches!(a.kind, ActionKind::Cleared { .. })
                && let Some(alerts) = self.alerts.as_mut()
            {
                let id = format!("{}/{}/action-failed", self.host, a.gpu.uuid);
                let _ = alerts.apply(AlertChange::Resolve(id), now_ms);
            }
        }
        self.save_active();
        events
    }

    /// Resolves the alerts restored from `alerts.json` whose rule is not firing in the
    /// engine's restored state: nothing would ever clear them. It happens when the daemon
    /// died after queuing a page but before writing `state.json`, or when the rule left the
    /// config meanwhile. Alerts about failed actions and the outbox keep their own course.
    pub fn resolve_orphans(&mut self, state: &State, now_ms: u64) -> Vec<Event> {
        let Some(alerts) = self.alerts.as_mut() else {
            return Vec::new();
        };
        let firing = |a: &Alert| {
            state
                .gpus
                .get(&a.uuid)
                .and_then(|g| g.rules.get(&a.rule))
                .is_some_and(|r| r.firing.is_some())
        };
        let orphans: Vec<Alert> = alerts
            .active_alerts()
            .into_iter()
            .filter(|a| a.rule != "action-failed" && a.rule != OVERFLOW_RULE && !a.uuid.is_empty())
            .filter(|a| !firing(a))
            .collect();
        let mut events = Vec::new();
        for a in orphans {
            let (result, detail) = match alerts.resolve(&a.identity(), now_ms) {
                Ok(_) => (EventResult::Queued, alerts.sink_names()),
                Err(e) => (EventResult::Failed, format!("writing the outbox: {e}")),
            };
            let what = format!(
                "resolve: {} is not firing after the restart (the alert was, in {ACTIVE_ALERTS_FILE})",
                a.rule
            );
            events.push(
                Event::new(now_ms, EventKind::Resolve, what)
                    .gpu(a.uuid.clone(), a.gpu)
                    .rule(a.rule.clone())
                    .result(result, Some(detail)),
            );
        }
        self.save_active();
        events
    }

    /// Learns the watched GPUs from a snapshot; returns the events of XIDs that waited for it
    /// (and hands them to the engine's `metric = "xid"` rules at engine time `now_ms`).
    pub fn learn_gpus(
        &mut self,
        snap: &Snapshot,
        config: &Config,
        state: &mut State,
        now_ms: u64,
    ) -> Vec<Event> {
        let outcomes = self.xids.learn(snap);
        outcomes
            .into_iter()
            .filter_map(|o| xid_event(o, config, state, now_ms))
            .collect()
    }

    /// Counts an XID once per fault; a new one becomes an event (at the wall time its source
    /// saw it) and is remembered for the engine's `metric = "xid"` rules at engine time
    /// `now_ms`.
    pub fn on_xid(
        &mut self,
        report: XidReport,
        config: &Config,
        state: &mut State,
        now_ms: u64,
    ) -> Option<Event> {
        let outcome = self.xids.record(report);
        xid_event(outcome, config, state, now_ms)
    }

    /// Counts the event; a failed restart or cap becomes an alert.
    pub fn on_event(&mut self, e: &Event) {
        let key = (e.kind.name().to_string(), e.result.name().to_string());
        *self.counts.entry(key).or_default() += 1;
        let cap = matches!(e.kind, EventKind::CapClocks | EventKind::ReapplyCap);
        if e.kind != EventKind::RestartUnit && !cap {
            return;
        }
        let (Some(alerts), Some(uuid)) = (self.alerts.as_mut(), e.gpu.as_deref()) else {
            return;
        };
        let id = format!("{}/{uuid}/action-failed", self.host);
        let change = match e.result {
            EventResult::Ok => AlertChange::Resolve(id),
            EventResult::DryRun | EventResult::Refused | EventResult::Queued => return,
            // A GPU that cannot be capped is a fact of the hardware, not a failure.
            EventResult::NotSupported if cap => return,
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
        self.save_active();
    }

    /// A sample came back, so the driver answers. A `driver-not-answering` alert restored from
    /// a daemon that died while the driver hung would never resolve otherwise: this process
    /// saw no hang, so it sees no return. Returns whether such an alert was resolved.
    pub fn driver_sampled(&mut self, now_ms: u64) -> bool {
        if !self.driver_answering {
            return false;
        }
        let Some(alerts) = self.alerts.as_mut() else {
            return false;
        };
        let id = Alert::firing(DRIVER_RULE, self.host.as_str(), "", now_ms, "").identity();
        if !alerts.firing().any(|a| a == id) {
            return false;
        }
        if let Err(e) = alerts.resolve(&id, now_ms) {
            tracing::error!("writing an alert to the outbox: {e}");
        }
        self.save_active();
        true
    }

    /// The driver stopped (or started again) answering: a host alert, and the gauge.
    pub fn driver(&mut self, answering: bool, summary: &str, now_ms: u64) {
        self.driver_answering = answering;
        let Some(alerts) = self.alerts.as_mut() else {
            return;
        };
        let alert = Alert::firing(DRIVER_RULE, self.host.as_str(), "", now_ms, summary)
            .severity(Severity::Critical);
        let result = if answering {
            alerts.resolve(&alert.identity(), now_ms).map(|_| ())
        } else {
            alerts.fire(alert, now_ms)
        };
        if let Err(e) = result {
            tracing::error!("writing an alert to the outbox: {e}");
        }
        self.save_active();
    }

    /// Writes the alerts firing to `alerts.json` when they changed.
    fn save_active(&mut self) {
        let Some(alerts) = &self.alerts else { return };
        let now = alerts.active_alerts();
        if now == self.saved {
            return;
        }
        match serde_json::to_vec_pretty(&now)
            .map_err(std::io::Error::other)
            .and_then(|json| super::persist::write_atomically(&self.active_path, &json))
        {
            Ok(()) => self.saved = now,
            Err(e) => tracing::error!(
                "could not keep the firing alerts in {}: {e}",
                self.active_path.display()
            ),
        }
    }

    /// Re-sends active alerts when due and publishes the watchdog's numbers. `now_ms` is
    /// engine time (the policy's state is kept in it); `wall_ms` is wall time, the clock the
    /// alerts were fired and last sent on ([`on_actions`](Self::on_actions), [`on_event`](Self::on_event)).
    pub fn tick(&mut self, config: &Config, state: &State, now_ms: u64, wall_ms: u64) {
        if let Some(alerts) = self.alerts.as_mut()
            && let Err(e) = alerts.tick(wall_ms)
        {
            tracing::error!("alert outbox: {e}");
        }
        self.serve.set_watchdog(self.metrics(config, state, now_ms));
    }

    fn metrics(&self, config: &Config, state: &State, now_ms: u64) -> WatchdogMetrics {
        let mut rules = Vec::new();
        for (uuid, g) in &state.gpus {
            for rule in config.rules.iter().filter(|r| {
                // A MIG instance has the rules that watch instances (and a selector may
                // name its GPU).
                match &g.mig_parent {
                    None => r.gpus.matches(g.index, uuid),
                    Some(parent) => {
                        r.condition.watches_mig_instances()
                            && (r.gpus.matches(g.index, uuid) || r.gpus.matches(g.index, parent))
                    }
                }
            }) {
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
            driver_answering: Some(self.driver_answering),
            dry_run: Some(self.dry_run),
        }
    }

    /// Stops the delivery threads (what is not yet delivered stays in the outbox on disk,
    /// what is firing in `alerts.json`).
    pub fn shutdown(&mut self) {
        self.save_active();
        if let Some(a) = self.alerts.take() {
            a.shutdown();
        }
    }
}

/// The event for a counted XID (unless rate-limited), which the engine also remembers;
/// duplicates and strangers are only traced.
fn xid_event(outcome: Outcome, config: &Config, state: &mut State, now_ms: u64) -> Option<Event> {
    match outcome {
        Outcome::Counted(c) => {
            crate::policy::note_xid(config, state, &c.uuid, c.gpu, c.report.code, now_ms);
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

/// A page fires its alert; a resolve resolves it, also when this daemon never saw it fire.
fn deliver(
    alerts: &mut Alerts,
    a: &Action,
    host: &str,
    taken: &[String],
    now_ms: u64,
) -> Result<(), crate::act::alert::outbox::OutboxError> {
    match alert_change(a, host, taken) {
        Some(AlertChange::Resolve(id)) => {
            if !alerts.resolve(&id, now_ms)? {
                let rule = a.rule.as_deref().unwrap_or("");
                let alert = Alert::firing(rule, host, a.gpu.uuid.as_str(), a.at_ms, &a.summary)
                    .gpu(a.gpu.index);
                alerts.resolve_unknown(&alert, now_ms)?;
            }
            Ok(())
        }
        Some(change) => alerts.apply(change, now_ms),
        None => Ok(()),
    }
}

/// The alerts that were firing, from `alerts.json`; a missing file is none.
fn load_active(path: &Path) -> (Vec<Alert>, Option<String>) {
    match std::fs::read(path) {
        Ok(bytes) => match serde_json::from_slice(&bytes) {
            Ok(alerts) => (alerts, None),
            Err(e) => (
                Vec::new(),
                Some(format!(
                    "{} is not a list of alerts ({e}); alerts firing before the restart are not re-sent",
                    path.display()
                )),
            ),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), None),
        Err(e) => (
            Vec::new(),
            Some(format!("could not read {}: {e}", path.display())),
        ),
    }
}
