//! The `restart_units` step: restart the units of a GPU, judge each restart, and stop.
//!
//! A firing rule whose ladder reached `restart_units` restarts the GPU's allowlisted units
//! while its reading is past the threshold (never while it merely holds between threshold and
//! clear level). Every restart is then judged: `verify` after systemd reported the unit back
//! (at the latest `job_timeout + verify` after the decision) the reading must no longer be
//! past the threshold, else restarting did not help. Within one firing (fired → cleared) a
//! unit is restarted at most `budget` times, and at most `budget` times per `window` across
//! firings. When restarting did not help, the budget is spent, or systemd failed every
//! attempt, the firing *gives up*: one `restarts_stopped` action, one page (unless the rule
//! already paged), and no more restarts until the rule clears or a person resets it
//! ([`reset`]). A failed restart neither counts against the budget nor starts the cooldown:
//! it backs off ([`RETRY_AFTER_FAILURE`] per failure) and is tried again.

use super::action::{Action, ActionKind, GaveUp, GpuId, RefuseReason};
use super::config::{Config, GpuRef, Rule, Severity};
use super::engine::{Level, ms};
use super::ladder::{Emit, human, reading};
use super::state::{Firing, State, UnitState, Verify};
use crate::gpu::{GpuSample, UnixMs};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long a unit waits after a failed restart before the next attempt, per failure so far.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// One sample's restart decisions for a firing rule that reached `restart_units`.
pub(crate) fn restart_units(
    config: &Config,
    rule: &Rule,
    f: &mut Firing,
    units: &mut BTreeMap<String, UnitState>,
    sample: &GpuSample,
    (lvl, value): (Level, Option<f64>),
    em: &mut Emit<'_>,
) {
    if f.gave_up.is_some() {
        return;
    }
    let policy = &config.restarts;
    let now = em.now_ms;
    if let Some(v) = &f.verify {
        if now < v.judge_at_ms {
            return;
        }
        match lvl {
            // No reading, no verdict: wait for evidence.
            Level::Unknown => return,
            Level::Over => {
                let names: Vec<&str> = v.units.iter().map(String::as_str).collect();
                let why = format!(
                    "restarting {} did not help: {} {} after the restart",
                    names.join(", "),
                    reading(rule, value),
                    human(policy.verify)
                );
                give_up(rule, f, GaveUp::DidNotHelp, &why, em);
                return;
            }
            Level::Between | Level::Under => f.verify = None,
        }
    }
    if lvl != Level::Over {
        return;
    }
    let list = config.units.for_gpu(sample);
    if list.is_empty() {
        if !f.no_units_reported {
            f.no_units_reported = true;
            let summary = format!(
                "nothing to restart on GPU {}: no unit is pinned to it in [units] and none owns its processes",
                sample.index
            );
            em.push(Some(rule), ActionKind::NoUnitsToRestart, summary);
        }
        return;
    }
    let mut restarted = BTreeSet::new();
    let mut spent = Vec::new();
    for unit in list {
        let Some(why) = refusal(config, f, units, &unit, now) else {
            let us = units.entry(unit.clone()).or_default();
            us.restarts_ms.push(now);
            let in_window = us.restarts_within(ms(policy.window), now);
            let n = f.restarts.entry(unit.clone()).or_default();
            *n += 1;
            let summary = format!(
                "restarting {unit} on GPU {}: {}, firing for {} ({}; restart {n} of {} in this firing, {in_window} of {} per {})",
                sample.index,
                reading(rule, value),
                human(Duration::from_millis(now.saturating_sub(f.fired_ms))),
                rule.name,
                policy.budget,
                policy.budget,
                human(policy.window)
            );
            f.restarted.insert(unit.clone());
            f.refused.remove(&unit);
            em.push(
                Some(rule),
                ActionKind::RestartUnit { unit: unit.clone() },
                summary,
            );
            restarted.insert(unit);
            continue;
        };
        if why == RefuseReason::BudgetSpent {
            spent.push(unit.clone());
        }
        report_refusal(config, rule, f, units, &unit, why, sample.index, em);
    }
    if !restarted.is_empty() {
        f.verify = Some(Verify {
            restarted_ms: now,
            units: restarted,
            judge_at_ms: now + ms(policy.job_timeout) + ms(policy.verify),
        });
    } else if !spent.is_empty() {
        let why = format!(
            "restarting {} did not help: {}, restart budget spent ({} per firing and per {})",
            spent.join(", "),
            reading(rule, value),
            policy.budget,
            human(policy.window)
        );
        give_up(rule, f, GaveUp::BudgetSpent, &why, em);
    }
}

/// Why `unit` is not restarted now, if it is not. `Some(Cooldown)` covers the silent waits
/// too; [`report_refusal`] decides what is news.
fn refusal(
    config: &Config,
    f: &Firing,
    units: &BTreeMap<String, UnitState>,
    unit: &str,
    now: UnixMs,
) -> Option<RefuseReason> {
    let policy = &config.restarts;
    if !config.units.allow.allows(unit) {
        return Some(RefuseReason::NotAllowlisted);
    }
    let us = units.get(unit);
    if us.and_then(|u| u.retry_after_ms).is_some_and(|t| now < t) {
        return Some(RefuseReason::RetryWait);
    }
    // Cooldown first: a spent budget is news only when a restart is due.
    let last = us.and_then(UnitState::last_restart_ms);
    if last.is_some_and(|t| now.saturating_sub(t) < ms(policy.cooldown)) {
        return Some(RefuseReason::Cooldown);
    }
    let in_window = us.map_or(0, |u| u.restarts_within(ms(policy.window), now));
    let in_firing = f.restarts.get(unit).copied().unwrap_or(0);
    if in_window >= policy.budget as usize || in_firing >= policy.budget {
        return Some(RefuseReason::BudgetSpent);
    }
    None
}

/// Reports a refusal once per firing and unit; waiting out our own cooldown or a retry
/// backoff is the normal rhythm, not news.
#[expect(
    clippy::too_many_arguments,
    reason = "the engine's borrowed pieces of state, split for the borrow checker"
)]
fn report_refusal(
    config: &Config,
    rule: &Rule,
    f: &mut Firing,
    units: &mut BTreeMap<String, UnitState>,
    unit: &str,
    why: RefuseReason,
    index: u32,
    em: &mut Emit<'_>,
) {
    let policy = &config.restarts;
    match why {
        RefuseReason::RetryWait => return,
        RefuseReason::Cooldown => {
            // One cooldown is reported once, however many firings run into it (flapping).
            let us = units.entry(unit.to_string()).or_default();
            let last = us.last_restart_ms();
            if f.restarted.contains(unit) || us.cooldown_reported_ms == last {
                return;
            }
            us.cooldown_reported_ms = last;
        }
        RefuseReason::NotAllowlisted | RefuseReason::BudgetSpent => {}
    }
    if f.refused.get(unit) == Some(&why) {
        return;
    }
    f.refused.insert(unit.to_string(), why);
    let detail = match why {
        RefuseReason::NotAllowlisted => format!(
            "{why} ({})",
            if config.units.allow.patterns.is_empty() {
                "[units] allow is empty".to_string()
            } else {
                config.units.allow.patterns.join(", ")
            }
        ),
        RefuseReason::BudgetSpent => format!(
            "{why} ({} per firing and per {})",
            policy.budget,
            human(policy.window)
        ),
        RefuseReason::Cooldown => {
            format!("{why}, at most one restart per {}", human(policy.cooldown))
        }
        RefuseReason::RetryWait => why.to_string(),
    };
    let summary = format!("not restarting {unit} on GPU {index}: {detail}");
    em.push(
        Some(rule),
        ActionKind::RestartRefused {
            unit: unit.to_string(),
            why,
        },
        summary,
    );
}

/// Stops restarting for the rest of this firing; pages unless the rule already paged.
fn give_up(rule: &Rule, f: &mut Firing, why: GaveUp, words: &str, em: &mut Emit<'_>) {
    f.gave_up = Some(why);
    f.verify = None;
    let firing_for = human(Duration::from_millis(em.now_ms.saturating_sub(f.fired_ms)));
    let summary = format!(
        "GPU {}: {words}; no more restarts until {} clears or a person runs `gpuwarden reset {}` \
         (firing for {firing_for})",
        em.gpu.index, rule.name, rule.name
    );
    em.push(
        Some(rule),
        ActionKind::RestartsStopped { why },
        summary.clone(),
    );
    if f.paged.is_none() {
        f.paged = Some(Severity::Critical);
        em.push_named(
            &rule.name,
            Severity::Critical,
            ActionKind::Page,
            format!("{summary}; needs a person ({})", rule.name),
        );
    }
}

/// systemd reported how the restart of `unit` decided at `decided_ms` ended, at `now_ms`.
///
/// Done: the verdict on it is due `verify` from now. Failed: it did not happen, so it does
/// not count against any budget or start the cooldown; the unit backs off and is tried again,
/// and a firing whose every allowed attempt failed gives up (the returned page).
pub fn restart_result(
    config: &Config,
    state: &mut State,
    unit: &str,
    decided_ms: UnixMs,
    succeeded: bool,
    now_ms: UnixMs,
) -> Vec<Action> {
    let mut out = Vec::new();
    let mut failures = 0;
    for (uuid, g) in &mut state.gpus {
        for (name, rs) in &mut g.rules {
            let Some(f) = rs.firing.as_mut() else {
                continue;
            };
            let Some(v) = f.verify.as_mut() else { continue };
            if v.restarted_ms != decided_ms || !v.units.contains(unit) {
                continue;
            }
            if succeeded {
                v.judge_at_ms = now_ms + ms(config.restarts.verify);
                continue;
            }
            v.units.remove(unit);
            if v.units.is_empty() {
                f.verify = None;
            }
            if let Some(n) = f.restarts.get_mut(unit) {
                *n = n.saturating_sub(1);
            }
            let n = f.restart_failures.entry(unit.to_string()).or_default();
            *n += 1;
            failures = failures.max(*n);
            if *n >= config.restarts.budget
                && let Some(rule) = config.rules.iter().find(|r| &r.name == name)
            {
                let mut em = Emit {
                    out: &mut out,
                    now_ms,
                    gpu: GpuId {
                        index: g.index,
                        uuid: uuid.clone(),
                    },
                    cap_changed_by: None,
                };
                let words = format!("restarting {unit} failed {n} times");
                give_up(rule, f, GaveUp::KeepsFailing, &words, &mut em);
            }
        }
    }
    if !succeeded && let Some(us) = state.units.get_mut(unit) {
        us.restarts_ms.retain(|t| *t != decided_ms);
        let backoff = RETRY_AFTER_FAILURE * failures.max(1);
        us.retry_after_ms = Some(now_ms + ms(backoff));
    }
    out
}

/// A person said "try again": firings matching `rule` and `gpu` forget their verdicts, spent
/// budgets and failures, and the units they restarted lose their history (window, cooldown,
/// back-off). One `reset` action per firing reset; none when nothing matched.
pub fn reset(
    config: &Config,
    state: &mut State,
    rule: Option<&str>,
    gpu: Option<&GpuRef>,
    now_ms: UnixMs,
) -> Vec<Action> {
    let mut out = Vec::new();
    let mut units = BTreeSet::new();
    for (uuid, g) in &mut state.gpus {
        if gpu.is_some_and(|r| !r.matches(g.index, uuid)) {
            continue;
        }
        for (name, rs) in &mut g.rules {
            if rule.is_some_and(|r| r != name) {
                continue;
            }
            let Some(f) = rs.firing.as_mut() else {
                continue;
            };
            let was = f.gave_up.map_or("restarting allowed", GaveUp::name);
            units.extend(f.restarted.iter().cloned());
            f.gave_up = None;
            f.verify = None;
            f.restarts.clear();
            f.restart_failures.clear();
            f.refused.clear();
            f.restarted.clear();
            let severity = config
                .rules
                .iter()
                .find(|r| &r.name == name)
                .map_or(f.severity, |r| r.severity);
            out.push(Action {
                at_ms: now_ms,
                gpu: GpuId {
                    index: g.index,
                    uuid: uuid.clone(),
                },
                rule: Some(name.clone()),
                severity,
                kind: ActionKind::Reset,
                summary: format!(
                    "{name} on GPU {} reset by a person (was {was}): its restart budget is \
                     whole again",
                    g.index
                ),
            });
        }
    }
    for unit in units {
        state.units.remove(&unit);
    }
    out
}
