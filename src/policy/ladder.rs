//! Climbing a firing rule's ladder: notify, cap clocks, restart units, page — and keeping a
//! GPU's applied cap equal to what its rules want.
//!
//! Each step runs once per firing, when the rule has fired for the step's `after`; steps are
//! remembered by content (`cap_clocks@30s`), so a reload that changes the ladder neither
//! repeats nor skips one. The `restart_units` step is the exception: once reached it hands
//! over to [`super::restarts`], which restarts, judges and gives up.

use super::action::{Action, ActionKind, GpuId};
use super::config::{Condition, Config, PowerLimit, Rule, Severity, Step, StepAction};
use super::engine::{Level, ms};
use super::state::{CapState, Firing, GpuState, HeldCap, UnitState};
use crate::gpu::{GpuSample, UnixMs};
use std::collections::BTreeMap;
use std::time::Duration;

/// Collects actions for one GPU at one moment.
pub(crate) struct Emit<'a> {
    pub out: &'a mut Vec<Action>,
    pub now_ms: UnixMs,
    pub gpu: GpuId,
    /// The first rule this step that took or released a hold on the GPU's cap, and why.
    /// The applied cap is brought in line once, at the end of the GPU's step, so two rules
    /// changing together give one `cap_clocks` or `undo_cap`, not two.
    pub cap_changed_by: Option<CapCause>,
}

impl Emit<'_> {
    pub fn push(&mut self, rule: Option<&Rule>, kind: ActionKind, summary: String) {
        let severity = rule.map_or(Severity::Info, |r| r.severity);
        self.push_named_opt(rule.map(|r| r.name.as_str()), severity, kind, summary);
    }

    pub fn push_named(
        &mut self,
        rule: &str,
        severity: Severity,
        kind: ActionKind,
        summary: String,
    ) {
        self.push_named_opt(Some(rule), severity, kind, summary);
    }

    pub fn push_named_opt(
        &mut self,
        rule: Option<&str>,
        severity: Severity,
        kind: ActionKind,
        summary: String,
    ) {
        self.out.push(Action {
            at_ms: self.now_ms,
            gpu: self.gpu.clone(),
            rule: rule.map(str::to_string),
            severity,
            kind,
            summary,
        });
    }
}

/// Which rule changed a GPU's cap holders, and the words for the summary.
pub(crate) struct CapCause {
    /// `None` for the daemon's own reasons (a GPU that came back).
    pub rule: Option<String>,
    pub severity: Severity,
    pub because: String,
}

/// Runs every step that is due, then keeps restarting if the restart step was reached.
#[expect(
    clippy::too_many_arguments,
    reason = "the engine's borrowed pieces of state, split for the borrow checker"
)]
pub(crate) fn escalate(
    config: &Config,
    rule: &Rule,
    f: &mut Firing,
    g: &mut GpuState,
    units: &mut BTreeMap<String, UnitState>,
    sample: &GpuSample,
    (lvl, value): (Level, Option<f64>),
    em: &mut Emit<'_>,
) {
    let firing_for = em.now_ms.saturating_sub(f.fired_ms);
    if f.steps_done > 0 && f.done_steps.is_empty() {
        // A state written before steps were kept by content: its first `steps_done` ran.
        f.done_steps = rule.steps.iter().take(f.steps_done).map(step_key).collect();
    }
    f.steps_done = 0;
    for step in &rule.steps {
        if firing_for < ms(step.after) {
            break;
        }
        if !f.done_steps.insert(step_key(step)) {
            continue;
        }
        let what = if firing_for == 0 {
            format!(
                "GPU {}: {} ({})",
                sample.index,
                reading_of(rule, f, value),
                rule.name
            )
        } else {
            format!(
                "GPU {}: {}, firing for {} ({})",
                sample.index,
                reading_of(rule, f, value),
                human(Duration::from_millis(firing_for)),
                rule.name
            )
        };
        match step.action {
            StepAction::Notify => em.push(Some(rule), ActionKind::Notify, what),
            StepAction::Page => {
                if f.paged.is_none() {
                    f.paged = Some(rule.severity);
                    em.push(Some(rule), ActionKind::Page, what);
                }
            }
            StepAction::CapClocks if g.mig_parent.is_some() => {
                let why = "clocks and power limits are the whole GPU's; a MIG instance is not \
                           capped alone";
                em.push(
                    Some(rule),
                    ActionKind::CapSkipped { why: why.into() },
                    format!("not capping GPU {}: {why}", sample.index),
                );
            }
            StepAction::CapClocks => cap(rule, f, &mut g.cap, sample, value, em),
            StepAction::RestartUnits => f.restarting = true,
        }
    }
    if f.restarting {
        super::restarts::restart_units(config, rule, f, units, sample, (lvl, value), em);
    }
}

/// A step's identity within a ladder: what it does and when.
pub(crate) fn step_key(step: &Step) -> String {
    format!("{}@{}ms", step.action.name(), ms(step.after))
}

fn cap(
    rule: &Rule,
    f: &mut Firing,
    cs: &mut CapState,
    sample: &GpuSample,
    value: Option<f64>,
    em: &mut Emit<'_>,
) {
    let Some(spec) = &rule.cap else { return };
    // The limit in force is the GPU's own unless a cap of ours already set it.
    let ours = cs.applied.is_some_and(|c| c.power_limit_w.is_some());
    let base = cs
        .base_power_limit_w
        .or_else(|| (!ours).then(|| sample.power_limit_w.get()).flatten());
    let power = match spec.power_limit {
        None => None,
        Some(PowerLimit::Watts(w)) => Some(w),
        Some(PowerLimit::Percent(p)) => base.map(|b| (b * p / 100.0).round()),
    };
    let cap = super::action::ClockCap {
        sm_clock_mhz: spec.sm_clock_mhz.map(|(lo, hi)| [lo, hi]),
        power_limit_w: power,
    };
    if cap.is_empty() {
        let why = "power_limit_pct needs the GPU's enforced power limit, which it does not report";
        em.push(
            Some(rule),
            ActionKind::CapSkipped { why: why.into() },
            format!("not capping GPU {}: {why}", sample.index),
        );
        return;
    }
    if matches!(spec.power_limit, Some(PowerLimit::Percent(_))) {
        cs.base_power_limit_w = base;
    }
    f.capped = true;
    cs.holders.insert(
        rule.name.clone(),
        HeldCap {
            cap,
            reapply_every_ms: ms(spec.reapply_every),
            kept_after_clear: false,
        },
    );
    em.cap_changed_by.get_or_insert_with(|| CapCause {
        rule: Some(rule.name.clone()),
        severity: rule.severity,
        because: format!("{}: {}", rule.name, reading(rule, value)),
    });
}

/// Makes the applied cap equal to the merge of the holders' caps, emitting `cap_clocks` or
/// `undo_cap` when they differ, attributed to `by` (else to the first holder: a state
/// restored at start).
pub(crate) fn sync_cap(
    config: &Config,
    cs: &mut CapState,
    by: Option<CapCause>,
    em: &mut Emit<'_>,
) {
    let wanted = cs.wanted();
    if wanted == cs.applied {
        return;
    }
    // Attribute an unprompted change (state restored at start) to the first holder.
    let first = cs.holders.keys().next().cloned();
    let (name, severity, because) = match by {
        Some(c) => (c.rule, c.severity, c.because),
        None => {
            let sev = first
                .as_deref()
                .and_then(|n| config.rules.iter().find(|r| r.name == n))
                .map_or(Severity::Info, |r| r.severity);
            (first, sev, "the rules holding it changed".to_string())
        }
    };
    let idx = em.gpu.index;
    match (cs.applied, wanted) {
        (old, Some(cap)) => {
            let summary = format!("capping GPU {idx}: {cap} ({because})");
            em.push_named_opt(
                name.as_deref(),
                severity,
                ActionKind::CapClocks { cap, replaces: old },
                summary,
            );
            cs.applied = Some(cap);
            cs.last_applied_ms = Some(em.now_ms);
        }
        (Some(cap), None) => {
            let summary = format!("undoing the cap on GPU {idx}: {cap} ({because})");
            em.push_named_opt(
                name.as_deref(),
                severity,
                ActionKind::UndoCap { cap },
                summary,
            );
            cs.applied = None;
            cs.last_applied_ms = None;
            cs.base_power_limit_w = None;
        }
        (None, None) => {}
    }
}

/// Re-sends the applied cap when its period has passed (limits do not survive a driver
/// reload).
pub(crate) fn reapply_cap(config: &Config, cs: &mut CapState, em: &mut Emit<'_>) {
    let (Some(cap), Some(every)) = (cs.applied, cs.reapply_every_ms()) else {
        return;
    };
    let due = cs
        .last_applied_ms
        .is_none_or(|t| em.now_ms.saturating_sub(t) >= every);
    if !due {
        return;
    }
    let name = cs.holders.keys().next().cloned();
    let severity = name
        .as_deref()
        .and_then(|n| config.rules.iter().find(|r| r.name == n))
        .map_or(Severity::Info, |r| r.severity);
    let summary = format!(
        "re-applying the cap on GPU {}: {cap} (every {})",
        em.gpu.index,
        human(Duration::from_millis(every))
    );
    em.push_named_opt(
        name.as_deref(),
        severity,
        ActionKind::ReapplyCap { cap },
        summary,
    );
    cs.last_applied_ms = Some(em.now_ms);
}

/// The reading and where it stands, truthfully: "temperature 91.0 °C (above 85.0 °C)" past
/// the threshold, "memory used 80.6 % (fired above 85.0 %, clears at or below 75.0 %)" while a
/// firing rule holds between its levels, "throttle reason hw-thermal active", …
pub(crate) fn reading(rule: &Rule, value: Option<f64>) -> String {
    let text = |m: super::config::Metric| value.map_or("unknown".into(), |v| m.format(v));
    match &rule.condition {
        Condition::Above {
            metric,
            threshold,
            clear,
        } => {
            let over = value.is_none_or(|v| v > *threshold);
            format!(
                "{} {} ({})",
                metric.label(),
                text(*metric),
                if over {
                    format!("above {}", metric.format(*threshold))
                } else {
                    format!(
                        "fired above {}, clears at or below {}",
                        metric.format(*threshold),
                        metric.format(*clear)
                    )
                }
            )
        }
        Condition::Below {
            metric,
            threshold,
            clear,
        } => {
            let under = value.is_none_or(|v| v < *threshold);
            format!(
                "{} {} ({})",
                metric.label(),
                text(*metric),
                if under {
                    format!("below {}", metric.format(*threshold))
                } else {
                    format!(
                        "fired below {}, clears at or above {}",
                        metric.format(*threshold),
                        metric.format(*clear)
                    )
                }
            )
        }
        Condition::Throttle(r) => format!("throttle reason {r} active"),
        Condition::GpuLost => "the GPU fell off the bus".into(),
        Condition::MemoryGrowth {
            window,
            threshold,
            clear,
        } => {
            let over = value.is_none_or(|v| v > *threshold);
            format!(
                "memory growth {} in {} ({})",
                value.map_or("unknown".into(), |v| format!("{v:.1} %")),
                humantime::format_duration(*window),
                if over {
                    format!("above {threshold:.1} %")
                } else {
                    format!("fired above {threshold:.1} %, clears at or below {clear:.1} %")
                }
            )
        }
        Condition::Xid {
            within, more_than, ..
        } => format!(
            "{} XID(s) in the last {} (above {more_than})",
            value.map_or("unknown".into(), |v| format!("{v:.0}")),
            human(*within)
        ),
    }
}

/// [`reading`], naming the units a leak rule blames: "…(above 10.0 %) in vllm@0.service".
pub(crate) fn reading_of(rule: &Rule, f: &Firing, value: Option<f64>) -> String {
    let text = reading(rule, value);
    if f.culprits.is_empty() {
        return text;
    }
    let names: Vec<&str> = f.culprits.iter().map(String::as_str).collect();
    format!("{text} in {}", names.join(", "))
}

/// The reading that let a rule clear: "temperature 79.0 °C (below 80.0 °C)".
pub(crate) fn clear_reading(rule: &Rule, value: Option<f64>) -> String {
    let v = |m: super::config::Metric| value.map_or("unknown".into(), |v| m.format(v));
    match &rule.condition {
        Condition::Above { metric, clear, .. } => {
            format!(
                "{} {} (at or below {})",
                metric.label(),
                v(*metric),
                metric.format(*clear)
            )
        }
        Condition::Below { metric, clear, .. } => {
            format!(
                "{} {} (at or above {})",
                metric.label(),
                v(*metric),
                metric.format(*clear)
            )
        }
        Condition::Throttle(r) => format!("throttle reason {r} no longer active"),
        Condition::GpuLost => "the GPU answers again".into(),
        Condition::MemoryGrowth { window, clear, .. } => format!(
            "memory growth {} in {} (at or below {clear:.1} %)",
            value.map_or("unknown".into(), |v| format!("{v:.1} %")),
            humantime::format_duration(*window)
        ),
        Condition::Xid {
            within, more_than, ..
        } => format!(
            "{} XID(s) in the last {} (at or below {more_than})",
            value.map_or("unknown".into(), |v| format!("{v:.0}")),
            human(*within)
        ),
    }
}

/// "2m 30s", "1s 500ms", "0s": whole seconds from 10 s up, milliseconds below.
pub fn human(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    let d = if d >= Duration::from_secs(10) {
        Duration::from_secs(d.as_secs())
    } else {
        Duration::from_millis(d.as_millis() as u64)
    };
    humantime::format_duration(d).to_string()
}
