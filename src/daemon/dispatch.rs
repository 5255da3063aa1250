//! From decisions to deeds: carries out the engine's [`Action`]s through the actuators and
//! turns every outcome into an [`Event`].
//!
//! Clock caps are quick and happen inline. Restarts (which wait for systemd's job result)
//! and notifications (which wait for a server) run as tasks so the sampling loop never
//! waits on them; their events, and how each restart ended, come back through the
//! [`JoinSet`] the loop polls (the engine judges restarts by it). `dry_run` turns every
//! world-changing action into a `dry_run` event. The systemd actuator carries the allowlist
//! too, so a unit outside it is refused even if the engine asked; a reload hands both the
//! new allowlist and `dry_run` ([`Dispatcher::reconfigure`]).

use crate::act::{self, ClockActuator, Notification, Notifier, UnitRestarter, Urgency};
use crate::events::{Event, EventKind, EventResult};
use crate::policy::{Action, ActionKind, ClockCap};
use std::sync::Arc;
use tokio::task::JoinSet;

/// Carries out actions; owns the actuators.
pub struct Dispatcher {
    pub clocks: ClockActuator,
    restarter: Arc<dyn UnitRestarter>,
    notifier: Arc<dyn Notifier>,
    dry_run: bool,
    /// Restarts and notifications in flight.
    pub tasks: JoinSet<TaskDone>,
}

/// A task that ended: the events to log and, for a restart, how it ended.
pub struct TaskDone {
    pub events: Vec<Event>,
    pub restart: Option<RestartDone>,
}

/// How a restart the engine decided ended in systemd.
pub struct RestartDone {
    pub unit: String,
    /// The engine time of the decision (the engine finds the restart by it).
    pub decided_ms: u64,
    pub succeeded: bool,
}

/// The actuator's caps for one policy cap (a lock and/or a power limit).
pub fn actuator_caps(cap: &ClockCap) -> Vec<act::ClockSetting> {
    let mut out = Vec::new();
    if let Some([min_mhz, max_mhz]) = cap.sm_clock_mhz {
        out.push(act::ClockSetting::LockedSm { min_mhz, max_mhz });
    }
    if let Some(watts) = cap.power_limit_w {
        out.push(act::ClockSetting::PowerLimit { watts });
    }
    out
}

/// An event about `action`: its time, GPU and rule.
pub fn base_event(action: &Action, kind: EventKind, what: impl Into<String>) -> Event {
    let mut e =
        Event::new(action.at_ms, kind, what).gpu(action.gpu.uuid.clone(), Some(action.gpu.index));
    if let Some(rule) = &action.rule {
        e = e.rule(rule.clone());
    }
    e
}

impl Dispatcher {
    pub fn new(
        clocks: ClockActuator,
        restarter: Arc<dyn UnitRestarter>,
        notifier: Arc<dyn Notifier>,
        dry_run: bool,
    ) -> Self {
        Dispatcher {
            clocks,
            restarter,
            notifier,
            dry_run,
            tasks: JoinSet::new(),
        }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Applies a reloaded config's `dry_run`, allowlist and job timeout to the actuators.
    pub fn reconfigure(&mut self, dry_run: bool, options: &act::SystemdOptions) {
        self.dry_run = dry_run;
        self.restarter.reconfigure(options);
    }

    /// Carries out `actions` in order; returns the events known now (tasks report later).
    /// `decided_ms` is the engine time the actions were decided at.
    pub fn dispatch(&mut self, actions: &[Action], decided_ms: u64) -> Vec<Event> {
        actions
            .iter()
            .flat_map(|a| self.one(a, decided_ms))
            .collect()
    }

    fn one(&mut self, a: &Action, decided_ms: u64) -> Vec<Event> {
        match &a.kind {
            ActionKind::Fired { .. } => {
                vec![base_event(a, EventKind::Fired, a.summary.clone())]
            }
            ActionKind::Cleared { why, .. } => vec![
                base_event(a, EventKind::Cleared, a.summary.clone())
                    .result(EventResult::Ok, Some(why.name().to_string())),
            ],
            ActionKind::Notify => {
                self.notify(a, Urgency::for_severity(a.severity.name()));
                vec![]
            }
            ActionKind::CapClocks { cap, replaces } => {
                let mut events = Vec::new();
                let new = actuator_caps(cap);
                if let Some(old) = replaces {
                    for gone in actuator_caps(old)
                        .into_iter()
                        .filter(|o| new.iter().all(|n| n.kind() != o.kind()))
                    {
                        events.extend(self.undo(a, gone));
                    }
                }
                for c in new {
                    events.push(self.apply(a, c, EventKind::CapClocks));
                }
                events
            }
            ActionKind::ReapplyCap { cap } => actuator_caps(cap)
                .into_iter()
                .map(|c| self.apply(a, c, EventKind::ReapplyCap))
                .collect(),
            ActionKind::UndoCap { cap } => actuator_caps(cap)
                .into_iter()
                .flat_map(|c| self.undo(a, c))
                .collect(),
            ActionKind::CapDropped { cap } => vec![
                base_event(a, EventKind::UndoCap, format!("hold {cap} (GPU lost)"))
                    .result(EventResult::NotSupported, Some(a.summary.clone())),
            ],
            ActionKind::CapSkipped { why } => vec![
                base_event(a, EventKind::CapClocks, "cap clocks")
                    .result(EventResult::Refused, Some(why.clone())),
            ],
            ActionKind::RestartUnit { unit } => {
                if self.dry_run {
                    return vec![
                        base_event(a, EventKind::RestartUnit, format!("restart {unit}"))
                            .result(EventResult::DryRun, Some(a.summary.clone())),
                    ];
                }
                let restarter = Arc::clone(&self.restarter);
                let notifier = Arc::clone(&self.notifier);
                let (unit, template, summary) = (unit.clone(), a.clone(), a.summary.clone());
                self.tasks.spawn(async move {
                    let outcome = restarter.restart_unit(&unit).await;
                    let mut ev = outcome.to_event(template.at_ms, &unit);
                    ev.gpu = Some(template.gpu.uuid.clone());
                    ev.gpu_index = Some(template.gpu.index);
                    ev.rule = template.rule.clone();
                    let mut events = vec![ev.clone()];
                    let restart = Some(RestartDone {
                        unit: unit.clone(),
                        decided_ms,
                        succeeded: ev.result.is_ok(),
                    });
                    if !ev.result.is_ok() {
                        // A restart that did not happen is news for whoever is on call.
                        let n = Notification::new(
                            format!(
                                "GPU{} restart of {unit} did not succeed",
                                template.gpu.index
                            ),
                            format!("{summary}\n{}", ev.detail.clone().unwrap_or_default()),
                            Urgency::Critical,
                        );
                        let sent = notifier.notify(&n).await;
                        events.push(with_origin(sent.to_event(template.at_ms, &n), &template));
                    }
                    TaskDone { events, restart }
                });
                vec![]
            }
            ActionKind::RestartRefused { unit, why } => vec![
                base_event(a, EventKind::RestartUnit, format!("restart {unit}")).result(
                    EventResult::Refused,
                    Some(format!("{}: {}", why.name(), a.summary)),
                ),
            ],
            ActionKind::RestartsStopped { why } => vec![
                base_event(a, EventKind::RestartsStopped, "stop restarting").result(
                    EventResult::Refused,
                    Some(format!("{}: {}", why.name(), a.summary)),
                ),
            ],
            ActionKind::Reset => vec![
                base_event(a, EventKind::Reset, "reset restart budget")
                    .result(EventResult::Ok, Some(a.summary.clone())),
            ],
            ActionKind::NoUnitsToRestart => vec![
                base_event(a, EventKind::RestartUnit, "restart units")
                    .result(EventResult::Refused, Some(a.summary.clone())),
            ],
            // The alert sinks' events come from the on-call side, which knows where they went.
            ActionKind::Page => {
                self.notify(a, Urgency::Critical);
                vec![]
            }
            ActionKind::Resolve => vec![],
        }
    }

    fn notify(&mut self, a: &Action, urgency: Urgency) {
        let notifier = Arc::clone(&self.notifier);
        let template = a.clone();
        let rule = a.rule.clone().unwrap_or_else(|| "gpuwarden".to_string());
        let n = Notification::new(
            format!("GPU{} {rule}", a.gpu.index),
            a.summary.clone(),
            urgency,
        );
        self.tasks.spawn(async move {
            let outcome = notifier.notify(&n).await;
            TaskDone {
                events: vec![with_origin(outcome.to_event(template.at_ms, &n), &template)],
                restart: None,
            }
        });
    }

    fn apply(&mut self, a: &Action, cap: act::ClockSetting, kind: EventKind) -> Event {
        if self.dry_run {
            return base_event(a, kind, cap.to_string()).result(EventResult::DryRun, None);
        }
        let outcome = self.clocks.apply(&a.gpu.uuid, cap);
        let mut ev = with_origin(outcome.to_event(a.at_ms), a);
        ev.kind = kind;
        ev
    }

    fn undo(&mut self, a: &Action, cap: act::ClockSetting) -> Option<Event> {
        if self.dry_run {
            return Some(
                base_event(a, EventKind::UndoCap, format!("undo {}", cap.kind()))
                    .result(EventResult::DryRun, None),
            );
        }
        let outcome = self.clocks.undo(&a.gpu.uuid, cap.kind())?;
        Some(with_origin(outcome.to_event(a.at_ms), a))
    }
}

/// Adds the GPU and rule of the action that caused an event.
fn with_origin(mut ev: Event, a: &Action) -> Event {
    ev.gpu = Some(a.gpu.uuid.clone());
    ev.gpu_index = Some(a.gpu.index);
    ev.rule = a.rule.clone();
    ev
}
