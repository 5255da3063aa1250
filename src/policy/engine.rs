//! The pure policy engine: `(config, state, snapshot, now) -> actions`.
//!
//! [`step`] walks every GPU of a snapshot through every rule that watches it. A rule is
//! quiet, *pending* (its condition holds, not yet for `for`) or *firing*; while firing it
//! climbs its ladder ([`super::ladder`]) and it clears once the clear condition held for
//! `clear_for`. No I/O, no clock reads, no NVML types: time is `now_ms`, memory is [`State`].
//!
//! Choices worth knowing:
//! - Comparisons: `above = 85` fires on readings > 85 and `clear_below = 80` clears on
//!   readings <= 80 (mirrored for `below`); without a clear level the rule clears as soon
//!   as the reading is no longer past the threshold.
//! - Hysteresis: a firing rule stays firing while its metric sits between the clear level
//!   and the threshold; a pending rule is reset by any sample not past the threshold.
//! - A missing value (not supported, no permission) neither fires, clears nor escalates a
//!   rule: the engine waits for evidence.
//! - A leak rule (`memory_growth_pct`) reads a trend, not a sample: its history lives in
//!   [`GpuState::growth`] ([`super::growth`]). It reads the GPU's growth and each unit's; the
//!   fastest unit past the threshold is named, and while there is one, `restart_units`
//!   restarts the units past the threshold (`Firing::culprits`) and no other.
//! - A lost GPU: every rule on it except `gpu_lost` rules clears with reason `gpu_lost`
//!   (alerts resolved), and its cap is *dropped* (a `cap_dropped` action, nothing sent to the
//!   device) instead of undone, so no undo fails forever against a GPU that is gone. When it
//!   comes back its rules start from quiet and the cap it had is undone (it may have survived
//!   without a driver reload). A GPU absent from a snapshot is left untouched.
//! - A rule removed from the config (reload) or no longer watching a GPU clears with reason
//!   `rule_removed`, releasing its cap.
//! - A GPU in MIG mode: the memory rules run on each of its MIG instances instead, as GPUs
//!   of their own keyed by the MIG UUID ([`super::mig`]); its other rules run on the GPU.
//! - `dry_run` is the dispatcher's business: the engine decides the same either way (a
//!   decided restart counts against the budget), so a dry run shows what would happen.
//! - Order within one step: GPU by GPU in snapshot order — a lost GPU's clears, rules gone
//!   from the config, then each rule in config order (`fired`, its ladder, restarts,
//!   `cleared`/`resolve`), then the GPU's one cap change (`cap_clocks`/`undo_cap`) and
//!   `reapply_cap`; then the same for each of its MIG instances, and the clears of instances
//!   gone since the last step.

use super::action::{Action, ActionKind, ClearReason, GpuId};
use super::config::{Condition, Config, Rule, Severity};
use super::ladder::{self, CapCause, Emit};
use super::mig;
use super::state::{CapState, Firing, GpuState, RuleState, State};
use crate::gpu::{GpuSample, Snapshot, UnixMs};

/// Applies the policy to one snapshot taken at `now_ms`; returns what to do, in order.
pub fn step(config: &Config, state: &mut State, snap: &Snapshot, now_ms: UnixMs) -> Vec<Action> {
    let mut out = Vec::new();
    let State { gpus, units, .. } = state;
    for sample in &snap.gpus {
        let instances = mig::instances(sample);
        let scope = if instances.is_empty() {
            Scope::Whole
        } else {
            Scope::MigParent
        };
        step_gpu(config, gpus, units, sample, scope, now_ms, &mut out);
        for instance in &instances {
            let from = out.len();
            let parent = Scope::MigInstance {
                parent: &sample.uuid,
            };
            step_gpu(config, gpus, units, instance, parent, now_ms, &mut out);
            mig::name_instance(&mut out[from..], instance.index, &instance.uuid);
        }
        mig::forget_instances(gpus, sample, &instances, now_ms, &mut out);
    }
    let window_ms = config.restarts.window.as_millis() as u64;
    for u in units.values_mut() {
        u.restarts_ms
            .retain(|t| now_ms.saturating_sub(*t) < window_ms);
    }
    for u in units.values_mut() {
        if u.retry_after_ms.is_some_and(|t| now_ms >= t) {
            u.retry_after_ms = None;
        }
    }
    units.retain(|_, u| !u.restarts_ms.is_empty() || u.retry_after_ms.is_some());
    out
}

/// Which rules a sample is evaluated against: every rule on a GPU not in MIG mode; on a GPU
/// in MIG mode the GPU-wide rules on the GPU itself and the per-instance ones (memory) on
/// each of its MIG instances (see [`super::mig`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    Whole,
    MigParent,
    MigInstance { parent: &'a str },
}

impl Scope<'_> {
    /// Whether `rule` is evaluated on `sample` in this scope.
    pub(crate) fn applies(self, rule: &Rule, sample: &GpuSample) -> bool {
        match self {
            Scope::Whole => rule.gpus.matches(sample.index, &sample.uuid),
            Scope::MigParent => {
                !rule.condition.watches_mig_instances()
                    && rule.gpus.matches(sample.index, &sample.uuid)
            }
            Scope::MigInstance { parent } => {
                rule.condition.watches_mig_instances()
                    && (rule.gpus.matches(sample.index, &sample.uuid)
                        || rule.gpus.matches(sample.index, parent))
            }
        }
    }
}

/// One GPU (or MIG instance) through the rules of its scope.
fn step_gpu(
    config: &Config,
    gpus: &mut std::collections::BTreeMap<String, GpuState>,
    units: &mut std::collections::BTreeMap<String, super::state::UnitState>,
    sample: &GpuSample,
    scope: Scope<'_>,
    now_ms: UnixMs,
    out: &mut Vec<Action>,
) {
    let g = gpus.entry(sample.uuid.clone()).or_default();
    g.index = sample.index;
    if let Scope::MigInstance { parent } = scope {
        g.mig_parent = Some(parent.to_string());
    }
    let mut em = Emit {
        out,
        now_ms,
        gpu: GpuId {
            index: sample.index,
            uuid: sample.uuid.clone(),
        },
        cap_changed_by: None,
    };
    if sample.is_lost() && !g.lost {
        lose_gpu(config, g, &mut em);
    }
    if !sample.is_lost() && g.lost && g.cap.applied.is_some() {
        // Back on the bus: the cap it had when it was lost may still be set (no driver
        // reload in between); no rule holds it now, so it is undone.
        em.cap_changed_by = Some(CapCause {
            rule: None,
            severity: Severity::Info,
            because: "the GPU is back; the cap from before it was lost no longer applies".into(),
        });
    }
    g.lost = sample.is_lost();
    drop_stale_rules(config, g, sample, scope, &mut em);
    for rule in config.rules.iter().filter(|r| watches(r, sample, scope)) {
        let mut rs = g.rules.remove(&rule.name).unwrap_or_default();
        evaluate(config, rule, &mut rs, g, units, sample, &mut em);
        if rs.pending_since_ms.is_some() || rs.firing.is_some() {
            g.rules.insert(rule.name.clone(), rs);
        }
    }
    if !g.xids.is_empty() {
        forget_old_xids(&mut g.xids, xid_memory_ms(config), now_ms);
    }
    if !g.lost && g.mig_parent.is_none() {
        let by = em.cap_changed_by.take();
        ladder::sync_cap(config, &mut g.cap, by, &mut em);
        ladder::reapply_cap(config, &mut g.cap, &mut em);
    }
}

/// At most this many XIDs remembered per GPU for `metric = "xid"` rules.
const MAX_XIDS_KEPT: usize = 10_000;

/// Remembers an XID counted on a GPU at `at_ms`, for `metric = "xid"` rules (the next
/// [`step`] evaluates them). Nothing is kept when no rule counts XIDs.
pub fn note_xid(
    config: &Config,
    state: &mut State,
    uuid: &str,
    index: u32,
    code: u32,
    at_ms: UnixMs,
) {
    let keep_ms = xid_memory_ms(config);
    if keep_ms == 0 {
        return;
    }
    let g = state.gpus.entry(uuid.to_string()).or_default();
    g.index = index;
    g.xids.push((at_ms, code));
    forget_old_xids(&mut g.xids, keep_ms, at_ms);
}

/// The longest `within` of the config's XID rules (0 without any).
fn xid_memory_ms(config: &Config) -> u64 {
    config
        .rules
        .iter()
        .filter_map(|r| match &r.condition {
            Condition::Xid { within, .. } => Some(ms(*within)),
            _ => None,
        })
        .max()
        .unwrap_or(0)
}

fn forget_old_xids(xids: &mut Vec<(UnixMs, u32)>, keep_ms: u64, now_ms: UnixMs) {
    xids.retain(|(at, _)| now_ms.saturating_sub(*at) < keep_ms);
    if xids.len() > MAX_XIDS_KEPT {
        let extra = xids.len() - MAX_XIDS_KEPT;
        xids.drain(..extra);
    }
}

/// What to do when the daemon stops: undo every applied cap (on GPUs not lost). The caps
/// are marked as no longer applied while their holders are kept, so a daemon that starts
/// again from this state re-applies the caps of rules that are still firing.
pub fn shutdown(state: &mut State, now_ms: UnixMs) -> Vec<Action> {
    let mut out = Vec::new();
    for (uuid, g) in &mut state.gpus {
        let Some(cap) = g.cap.applied.take() else {
            continue;
        };
        g.cap.last_applied_ms = None;
        if g.lost {
            continue;
        }
        out.push(Action {
            at_ms: now_ms,
            gpu: GpuId {
                index: g.index,
                uuid: uuid.clone(),
            },
            rule: None,
            severity: Severity::Info,
            kind: ActionKind::UndoCap { cap },
            summary: format!("undoing the cap on GPU {} at shutdown: {cap}", g.index),
        });
    }
    out
}

fn watches(rule: &Rule, sample: &GpuSample, scope: Scope<'_>) -> bool {
    scope.applies(rule, sample) && (!sample.is_lost() || rule.condition.watches_lost_gpus())
}

/// Where a reading sits relative to a rule's threshold and clear level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Level {
    /// Past the threshold: the condition holds.
    Over,
    /// Between the clear level and the threshold: a firing rule keeps firing.
    Between,
    /// Past the clear level: a firing rule may clear.
    Under,
    /// No value this sample.
    Unknown,
}

/// The rule's reading of this sample (and of the XIDs counted on its GPU, at `now_ms`).
pub(crate) fn level(
    cond: &Condition,
    sample: &GpuSample,
    xids: &[(UnixMs, u32)],
    now_ms: UnixMs,
) -> (Level, Option<f64>) {
    let pick = |over: bool, under: bool| {
        if over {
            Level::Over
        } else if under {
            Level::Under
        } else {
            Level::Between
        }
    };
    match cond {
        Condition::Above {
            metric,
            threshold,
            clear,
        } => match metric.read(sample) {
            Some(v) => (pick(v > *threshold, v <= *clear), Some(v)),
            None => (Level::Unknown, None),
        },
        Condition::Below {
            metric,
            threshold,
            clear,
        } => match metric.read(sample) {
            Some(v) => (pick(v < *threshold, v >= *clear), Some(v)),
            None => (Level::Unknown, None),
        },
        Condition::Throttle(watch) => match sample.throttle.get() {
            Some(t) => (pick(watch.active(t), true), None),
            None => (Level::Unknown, None),
        },
        Condition::GpuLost => (pick(sample.is_lost(), true), None),
        Condition::Xid {
            codes,
            within,
            more_than,
        } => {
            let since = now_ms.saturating_sub(ms(*within));
            let n = xids
                .iter()
                .filter(|(at, code)| *at > since && (codes.is_empty() || codes.contains(code)))
                .count();
            let over = n > *more_than as usize;
            (pick(over, !over), Some(n as f64))
        }
        // A trend, not a sample: read by `observe` from the GPU's memory history.
        Condition::MemoryGrowth { .. } => (Level::Unknown, None),
    }
}

/// A rule's reading of this sample: its level and value, and for leak rules the trend (what
/// grew, for the words of a firing) and the units to blame.
struct Observed {
    level: Level,
    value: Option<f64>,
    trend: Option<super::growth::Trend>,
    culprits: std::collections::BTreeSet<String>,
}

/// "vllm@0.service grew 12.4 GiB (15.5 %) in 30m (above 10.0 %)" for a leak rule's trend.
fn leak_words(rule: &Rule, trend: &super::growth::Trend) -> Option<String> {
    let Condition::MemoryGrowth {
        window, threshold, ..
    } = &rule.condition
    else {
        return None;
    };
    Some(format!(
        "{} (above {threshold:.1} %)",
        trend.words(*threshold, *window)
    ))
}

fn observe(rule: &Rule, g: &mut GpuState, sample: &GpuSample, now_ms: UnixMs) -> Observed {
    let Condition::MemoryGrowth {
        window,
        threshold,
        clear,
    } = &rule.condition
    else {
        let (level, value) = level(&rule.condition, sample, &g.xids, now_ms);
        return Observed {
            level,
            value,
            trend: None,
            culprits: Default::default(),
        };
    };
    if !g.growth.contains_key(&rule.name) {
        g.growth.insert(rule.name.clone(), Default::default());
    }
    let Some(history) = g.growth.get_mut(&rule.name) else {
        return Observed {
            level: Level::Unknown,
            value: None,
            trend: None,
            culprits: Default::default(),
        };
    };
    let trend = history.observe(*window, sample, now_ms);
    let value = trend.leader(*threshold).map(|(_, grew)| grew.pct);
    let level = match value {
        None => Level::Unknown,
        Some(v) if v > *threshold => Level::Over,
        Some(v) if v <= *clear => Level::Under,
        Some(_) => Level::Between,
    };
    Observed {
        level,
        value,
        culprits: trend.culprits(*threshold),
        trend: Some(trend),
    }
}

fn evaluate(
    config: &Config,
    rule: &Rule,
    rs: &mut RuleState,
    g: &mut GpuState,
    units: &mut std::collections::BTreeMap<String, super::state::UnitState>,
    sample: &GpuSample,
    em: &mut Emit<'_>,
) {
    let now = em.now_ms;
    let seen = observe(rule, g, sample, now);
    let (lvl, value) = (seen.level, seen.value);
    if value.is_some() {
        rs.last_value = value;
    }
    if let Some(f) = rs.firing.as_mut()
        && lvl != Level::Unknown
    {
        f.culprits = seen.culprits.clone();
    }
    let Some(f) = rs.firing.as_mut() else {
        if lvl != Level::Over {
            rs.pending_since_ms = None;
            return;
        }
        let since = *rs.pending_since_ms.get_or_insert(now);
        if now.saturating_sub(since) < ms(rule.sustain) {
            return;
        }
        rs.pending_since_ms = None;
        let summary = format!(
            "{} fired on GPU {}: {} for {}",
            rule.name,
            sample.index,
            seen.trend
                .as_ref()
                .and_then(|t| leak_words(rule, t))
                .unwrap_or_else(|| ladder::reading(rule, value)),
            ladder::human(rule.sustain)
        );
        em.push(Some(rule), ActionKind::Fired { value }, summary);
        let f = rs.firing.insert(Firing {
            fired_ms: now,
            severity: rule.severity,
            culprits: seen.culprits,
            ..Firing::default()
        });
        ladder::escalate(config, rule, f, g, units, sample, (lvl, value), em);
        return;
    };
    match lvl {
        Level::Unknown => f.clearing_since_ms = None,
        Level::Over | Level::Between => {
            f.clearing_since_ms = None;
            ladder::escalate(config, rule, f, g, units, sample, (lvl, value), em);
        }
        Level::Under => {
            let since = *f.clearing_since_ms.get_or_insert(now);
            if now.saturating_sub(since) >= ms(rule.clear_sustain) {
                let summary = format!(
                    "{} cleared on GPU {}: {} for {}",
                    rule.name,
                    sample.index,
                    ladder::clear_reading(rule, value),
                    ladder::human(rule.clear_sustain)
                );
                let undo = rule.cap.as_ref().is_none_or(|c| c.undo_on_clear);
                clear(
                    &rule.name,
                    rs,
                    &mut g.cap,
                    ClearReason::Recovered,
                    value,
                    undo,
                    summary,
                    em,
                );
            }
        }
    }
}

/// Ends a firing (or pending) rule: `cleared`, `resolve` if it paged, its cap released (the
/// cap itself is brought in line at the end of the GPU's step).
#[expect(
    clippy::too_many_arguments,
    reason = "one call per clear path; a struct would only rename them"
)]
pub(crate) fn clear(
    name: &str,
    rs: &mut RuleState,
    cap: &mut CapState,
    why: ClearReason,
    value: Option<f64>,
    release_cap: bool,
    summary: String,
    em: &mut Emit<'_>,
) {
    rs.pending_since_ms = None;
    let Some(f) = rs.firing.take() else { return };
    em.push_named(
        name,
        f.severity,
        ActionKind::Cleared { why, value },
        summary,
    );
    if let Some(page_severity) = f.paged {
        let summary = format!(
            "{name} on GPU {} resolved ({})",
            em.gpu.index,
            clear_words(why)
        );
        em.push_named(name, page_severity, ActionKind::Resolve, summary);
    }
    if let Some(h) = cap.holders.get_mut(name) {
        if release_cap {
            cap.holders.remove(name);
            em.cap_changed_by.get_or_insert_with(|| CapCause {
                rule: Some(name.to_string()),
                severity: f.severity,
                because: format!("{name} cleared"),
            });
        } else {
            h.kept_after_clear = true;
        }
    }
}

fn clear_words(why: ClearReason) -> &'static str {
    match why {
        ClearReason::Recovered => "recovered",
        ClearReason::GpuLost => "the GPU was lost",
        ClearReason::RuleRemoved => "the rule was removed",
    }
}

/// The GPU just fell off the bus: clear its rules (except `gpu_lost` ones), drop its cap.
pub(crate) fn lose_gpu(config: &Config, g: &mut GpuState, em: &mut Emit<'_>) {
    let names: Vec<String> = g.rules.keys().cloned().collect();
    for name in names {
        let keep = config
            .rules
            .iter()
            .any(|r| r.name == name && r.condition.watches_lost_gpus());
        if keep {
            continue;
        }
        if let Some(mut rs) = g.rules.remove(&name) {
            let summary = format!("{name} stopped on GPU {}: the GPU was lost", em.gpu.index);
            // Caps on a lost GPU are dropped below, never undone.
            let mut no_cap = CapState::default();
            clear(
                &name,
                &mut rs,
                &mut no_cap,
                ClearReason::GpuLost,
                None,
                true,
                summary,
                em,
            );
        }
    }
    if let Some(cap) = g.cap.applied {
        let summary = format!(
            "holding the cap on GPU {} ({cap}): the GPU was lost; nothing is sent to it while it \
             is gone, and the cap is undone if it comes back",
            em.gpu.index
        );
        em.push_named_opt(
            None,
            Severity::Info,
            ActionKind::CapDropped { cap },
            summary,
        );
    }
    // No rule holds the cap any more; what was applied is remembered, to undo it on return.
    g.cap = CapState {
        applied: g.cap.applied,
        ..CapState::default()
    };
    // The memory of a GPU that comes back is a new story.
    g.growth.clear();
}

/// Rules in the state that the config no longer has (or that no longer watch this GPU).
fn drop_stale_rules(
    config: &Config,
    g: &mut GpuState,
    sample: &GpuSample,
    scope: Scope<'_>,
    em: &mut Emit<'_>,
) {
    let current = |name: &str| {
        config
            .rules
            .iter()
            .any(|r| r.name == name && scope.applies(r, sample))
    };
    let stale: Vec<String> = g.rules.keys().filter(|n| !current(n)).cloned().collect();
    for name in stale {
        if let Some(mut rs) = g.rules.remove(&name) {
            let summary = format!(
                "{name} stopped on GPU {}: the rule is no longer in the config for this GPU",
                em.gpu.index
            );
            clear(
                &name,
                &mut rs,
                &mut g.cap,
                ClearReason::RuleRemoved,
                None,
                true,
                summary,
                em,
            );
        }
    }
    // Caps kept after their rule cleared (`undo_on_clear = false`) go with the rule, and so
    // does the memory history of a leak rule.
    g.cap.holders.retain(|name, _| current(name));
    g.growth.retain(|name, _| {
        config
            .rules
            .iter()
            .any(|r| &r.name == name && matches!(r.condition, Condition::MemoryGrowth { .. }))
            && current(name)
    });
}

pub(crate) fn ms(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}
