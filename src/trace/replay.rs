//! The replay driver: a trace's snapshots through the watchdog's pure engine
//! ([`policy::step`]) with the trace's own timestamps, keeping a summary per rule and GPU.
//!
//! It is the same engine call the daemon makes on each live sample, minus the dispatcher:
//! nothing is actuated, and every restart is taken to come back at once (so its verdict is
//! due `verify` later, as on a box whose units restart quickly). No I/O here; `gpuwarden
//! replay` prints, the benchmark counts.

use crate::gpu::{Snapshot, UnixMs};
use crate::policy::{self, Action, ActionKind, Config, RefuseReason, State};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One sample through the engine at its own timestamp, every restart it decides taken to be
/// done at once — the policy loop of `replay`, `bench --with-policy` and their tests.
pub fn step(config: &Config, state: &mut State, snap: &Snapshot) -> Vec<Action> {
    let mut actions = policy::step(config, state, snap, snap.at_ms);
    let restarted: Vec<String> = actions
        .iter()
        .filter_map(|a| match &a.kind {
            ActionKind::RestartUnit { unit } => Some(unit.clone()),
            _ => None,
        })
        .collect();
    for unit in restarted {
        actions.extend(policy::restart_result(
            config, state, &unit, snap.at_ms, true, snap.at_ms,
        ));
    }
    actions
}

/// Feeds snapshots to the engine and remembers what happened.
pub struct Replay<'c> {
    config: &'c Config,
    state: State,
    summary: BTreeMap<(String, u32, String), RuleSummary>,
    gpus: BTreeSet<(u32, String)>,
    samples: u64,
    first_ms: Option<UnixMs>,
    last_ms: Option<UnixMs>,
    actions: u64,
}

/// What one rule did on one GPU over the whole trace.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RuleSummary {
    pub rule: String,
    pub gpu_index: u32,
    pub gpu_uuid: String,
    /// Times the rule fired.
    pub fired: u32,
    /// Total time it was firing, in ms (up to the end of the trace when still firing).
    pub firing_ms: u64,
    /// Firing at the end of the trace.
    pub firing_at_end: bool,
    pub notifications: u32,
    pub clock_caps: u32,
    pub caps_undone: u32,
    pub restarts: u32,
    /// Restarts refused because the unit's budget was spent.
    pub budget_exhausted: u32,
    /// Restarts refused for another reason (allowlist, cooldown).
    pub restarts_refused: u32,
    /// Times a firing stopped restarting (budget spent, restarts did not help or kept failing).
    pub restarts_stopped: u32,
    pub pages: u32,
    #[serde(skip)]
    firing_since: Option<UnixMs>,
}

/// The whole outcome of a replay.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Outcome {
    pub samples: u64,
    pub gpus: usize,
    pub first_ms: Option<UnixMs>,
    pub last_ms: Option<UnixMs>,
    pub actions: u64,
    pub rules: Vec<RuleSummary>,
}

impl<'c> Replay<'c> {
    /// Starts from an empty engine state, as a daemon with no state file does.
    pub fn new(config: &'c Config) -> Self {
        Replay {
            config,
            state: State::default(),
            summary: BTreeMap::new(),
            gpus: BTreeSet::new(),
            samples: 0,
            first_ms: None,
            last_ms: None,
            actions: 0,
        }
    }

    /// One sample through the engine at its own timestamp; returns what would have run.
    pub fn feed(&mut self, snap: &Snapshot) -> Vec<Action> {
        self.samples += 1;
        self.first_ms.get_or_insert(snap.at_ms);
        self.last_ms = Some(snap.at_ms);
        for g in &snap.gpus {
            if !self.gpus.iter().any(|(_, u)| *u == g.uuid) {
                self.gpus.insert((g.index, g.uuid.clone()));
            }
        }
        let actions = step(self.config, &mut self.state, snap);
        for a in &actions {
            self.count(a);
        }
        self.actions += actions.len() as u64;
        actions
    }

    fn count(&mut self, a: &Action) {
        let rule = a.rule.clone().unwrap_or_else(|| "(watchdog)".into());
        let key = (rule.clone(), a.gpu.index, a.gpu.uuid.clone());
        let s = self.summary.entry(key).or_insert_with(|| RuleSummary {
            rule,
            gpu_index: a.gpu.index,
            gpu_uuid: a.gpu.uuid.clone(),
            ..RuleSummary::default()
        });
        match &a.kind {
            ActionKind::Fired { .. } => {
                s.fired += 1;
                s.firing_since = Some(a.at_ms);
            }
            ActionKind::Cleared { .. } => {
                if let Some(since) = s.firing_since.take() {
                    s.firing_ms += a.at_ms.saturating_sub(since);
                }
            }
            ActionKind::Notify => s.notifications += 1,
            ActionKind::CapClocks { .. } => s.clock_caps += 1,
            ActionKind::UndoCap { .. } => s.caps_undone += 1,
            ActionKind::RestartUnit { .. } => s.restarts += 1,
            ActionKind::RestartRefused {
                why: RefuseReason::BudgetSpent,
                ..
            } => s.budget_exhausted += 1,
            ActionKind::RestartRefused { .. } => s.restarts_refused += 1,
            ActionKind::RestartsStopped { .. } => s.restarts_stopped += 1,
            ActionKind::Page => s.pages += 1,
            _ => {}
        }
    }

    /// The summary at the end of the trace (rules still firing count up to the last sample).
    pub fn finish(mut self) -> Outcome {
        let end = self.last_ms.unwrap_or(0);
        for s in self.summary.values_mut() {
            if let Some(since) = s.firing_since.take() {
                s.firing_ms += end.saturating_sub(since);
                s.firing_at_end = true;
            }
        }
        Outcome {
            samples: self.samples,
            gpus: self.gpus.len(),
            first_ms: self.first_ms,
            last_ms: self.last_ms,
            actions: self.actions,
            rules: self.summary.into_values().collect(),
        }
    }
}
