//! [`Action`]: what the engine decided, as data. The only thing actuators, alert sinks and the
//! event log act on.
//!
//! Every action names the GPU (index and UUID), the rule that caused it (absent for actions
//! of the daemon itself, such as undoing caps at shutdown), the severity and a one-line
//! summary with the numbers. Lifecycle actions ([`ActionKind::Fired`],
//! [`ActionKind::Cleared`], [`ActionKind::CapDropped`], [`ActionKind::RestartRefused`], …)
//! change nothing in the world; they exist so the event log tells the whole story.
//! In JSON the kind is flattened in: `{"at_ms":…,"gpu":{…},"action":"restart_unit","unit":…}`.

use super::config::Severity;
use crate::gpu::UnixMs;
use serde::{Deserialize, Serialize};
use std::fmt;

/// One decision of the engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    /// The `now_ms` of the engine step that decided it.
    pub at_ms: UnixMs,
    pub gpu: GpuId,
    /// The rule behind it; `None` for the daemon's own actions (shutdown).
    pub rule: Option<String>,
    pub severity: Severity,
    #[serde(flatten)]
    pub kind: ActionKind,
    /// One line for people, with the numbers: "temperature 91.0 °C above 85 for 10s".
    pub summary: String,
}

impl Action {
    /// Whether carrying it out changes the world (clocks, power limits, units) — the actions
    /// `dry_run` suppresses.
    pub fn changes_world(&self) -> bool {
        matches!(
            self.kind,
            ActionKind::CapClocks { .. }
                | ActionKind::ReapplyCap { .. }
                | ActionKind::UndoCap { .. }
                | ActionKind::RestartUnit { .. }
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.severity,
            self.kind.name(),
            self.summary
        )
    }
}

/// A GPU as actions name it: UUID for identity, index for people.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GpuId {
    pub index: u32,
    pub uuid: String,
}

/// What to do, or what happened.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum ActionKind {
    /// A rule's condition held for its sustain time (`value` is the reading, when numeric).
    Fired { value: Option<f64> },
    /// A firing rule stopped firing.
    Cleared {
        why: ClearReason,
        value: Option<f64>,
    },
    /// Show a desktop notification.
    Notify,
    /// Lock clocks / set the power limit to `cap`. `replaces` is the cap in force before (when
    /// several rules cap one GPU their caps are merged); the actuator resets the parts of
    /// `replaces` that `cap` no longer has.
    CapClocks {
        cap: ClockCap,
        replaces: Option<ClockCap>,
    },
    /// Apply `cap` again (limits do not survive a driver reload).
    ReapplyCap { cap: ClockCap },
    /// Reset what `cap` set: unlock the SM clock, restore the default power limit.
    UndoCap { cap: ClockCap },
    /// The GPU was lost while capped: the cap is forgotten, nothing is sent to the device.
    CapDropped { cap: ClockCap },
    /// A `cap_clocks` step could not form a cap (e.g. a power limit in percent with no known
    /// limit); nothing was changed.
    CapSkipped { why: String },
    /// Restart this systemd unit (`RestartUnit(unit, "replace")`).
    RestartUnit { unit: String },
    /// A unit the ladder wanted to restart was not restarted, and why.
    RestartRefused { unit: String, why: RefuseReason },
    /// A `restart_units` step found no unit for this GPU (none pinned, none owning its
    /// processes).
    NoUnitsToRestart,
    /// This firing restarts no more units (`why`) until it clears or a person resets it.
    RestartsStopped { why: GaveUp },
    /// A person reset the rule on this GPU (`gpuwarden reset`): its restart budget is whole.
    Reset,
    /// Send a firing alert to whoever is on call. An alert's identity is (host, GPU UUID,
    /// rule); at most one page is open per identity.
    Page,
    /// Resolve the alert sent by an earlier [`ActionKind::Page`] for the same GPU and rule;
    /// it carries the same severity as that page.
    Resolve,
}

impl ActionKind {
    /// The snake_case name used in JSON, logs and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            ActionKind::Fired { .. } => "fired",
            ActionKind::Cleared { .. } => "cleared",
            ActionKind::Notify => "notify",
            ActionKind::CapClocks { .. } => "cap_clocks",
            ActionKind::ReapplyCap { .. } => "reapply_cap",
            ActionKind::UndoCap { .. } => "undo_cap",
            ActionKind::CapDropped { .. } => "cap_dropped",
            ActionKind::CapSkipped { .. } => "cap_skipped",
            ActionKind::RestartUnit { .. } => "restart_unit",
            ActionKind::RestartRefused { .. } => "restart_refused",
            ActionKind::NoUnitsToRestart => "no_units_to_restart",
            ActionKind::RestartsStopped { .. } => "restarts_stopped",
            ActionKind::Reset => "reset",
            ActionKind::Page => "page",
            ActionKind::Resolve => "resolve",
        }
    }
}

/// A concrete cap for one GPU, with percentages already turned into watts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockCap {
    /// Locked SM clock range `[min, max]` in MHz.
    pub sm_clock_mhz: Option<[u32; 2]>,
    /// Enforced power limit in watts.
    pub power_limit_w: Option<f64>,
}

impl ClockCap {
    pub fn is_empty(&self) -> bool {
        self.sm_clock_mhz.is_none() && self.power_limit_w.is_none()
    }

    /// The tighter of two caps: lowest clock ceiling and lowest power limit.
    pub fn merge(self, other: ClockCap) -> ClockCap {
        let sm = match (self.sm_clock_mhz, other.sm_clock_mhz) {
            (Some([a0, a1]), Some([b0, b1])) => {
                let max = a1.min(b1);
                Some([a0.min(b0).min(max), max])
            }
            (a, b) => a.or(b),
        };
        let power = match (self.power_limit_w, other.power_limit_w) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        ClockCap {
            sm_clock_mhz: sm,
            power_limit_w: power,
        }
    }
}

impl fmt::Display for ClockCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some([lo, hi]) = self.sm_clock_mhz {
            parts.push(format!("SM clock locked to {lo}-{hi} MHz"));
        }
        if let Some(w) = self.power_limit_w {
            parts.push(format!("power limit {w:.0} W"));
        }
        if parts.is_empty() {
            f.write_str("no cap")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// Why a firing rule stopped firing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClearReason {
    /// The metric passed the clear level and stayed there for `clear_for`.
    Recovered,
    /// The GPU fell off the bus; rules other than `gpu_lost` stop watching it.
    GpuLost,
    /// The rule is gone from the config (reload) or no longer watches this GPU.
    RuleRemoved,
}

impl ClearReason {
    /// The snake_case name used in JSON and the event log.
    pub fn name(self) -> &'static str {
        match self {
            ClearReason::Recovered => "recovered",
            ClearReason::GpuLost => "gpu_lost",
            ClearReason::RuleRemoved => "rule_removed",
        }
    }
}

/// Why a firing stopped restarting units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GaveUp {
    /// The per-firing or per-window restart budget is spent.
    BudgetSpent,
    /// The reading was still past the threshold `verify` after a restart.
    DidNotHelp,
    /// systemd failed every restart the budget allowed.
    KeepsFailing,
}

impl GaveUp {
    /// The snake_case name used in JSON, the API and the README.
    pub fn name(self) -> &'static str {
        match self {
            GaveUp::BudgetSpent => "budget_spent",
            GaveUp::DidNotHelp => "did_not_help",
            GaveUp::KeepsFailing => "keeps_failing",
        }
    }
}

/// Why a unit was not restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefuseReason {
    /// No glob of `[units].allow` matches it; it is never restarted.
    NotAllowlisted,
    /// It was restarted `budget` times within the window; the rule pages instead.
    BudgetSpent,
    /// It was restarted less than `cooldown` ago (by another rule or GPU); retried later.
    Cooldown,
    /// Its last restart failed; the next attempt backs off (never reported on its own).
    RetryWait,
}

impl RefuseReason {
    /// The snake_case name used in JSON, the event log and the README.
    pub fn name(self) -> &'static str {
        match self {
            RefuseReason::NotAllowlisted => "not_allowlisted",
            RefuseReason::BudgetSpent => "budget_spent",
            RefuseReason::Cooldown => "cooldown",
            RefuseReason::RetryWait => "retry_wait",
        }
    }
}

impl fmt::Display for RefuseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefuseReason::NotAllowlisted => "not in the allowlist",
            RefuseReason::BudgetSpent => "restart budget spent",
            RefuseReason::Cooldown => "restarted too recently (cooldown)",
            RefuseReason::RetryWait => "its last restart failed; backing off before the next",
        })
    }
}
