//! [`State`]: everything the engine remembers between samples.
//!
//! Rules pending and firing per GPU, how far each ladder got, the caps applied per GPU (and
//! which rules hold them), the memory history of leak rules (bounded: see
//! [`super::growth`]), and the restart history of every unit. All time lives here, as
//! `UnixMs` stamps passed in by the caller. It is serde-serializable so the daemon can persist
//! it atomically: a daemon restart neither forgets caps nor double-restarts units. The
//! read-only helpers at the bottom are what metrics and the dashboard show.

use super::action::{ClockCap, GaveUp, GpuId, RefuseReason};
use super::config::{RestartPolicy, Severity};
use crate::gpu::UnixMs;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Version of the persisted state's JSON; a daemon that finds another version starts fresh.
pub const STATE_SCHEMA: u32 = 1;

/// The engine's memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub schema: u32,
    /// Per GPU, keyed by UUID.
    #[serde(default)]
    pub gpus: BTreeMap<String, GpuState>,
    /// Per systemd unit name.
    #[serde(default)]
    pub units: BTreeMap<String, UnitState>,
}

impl Default for State {
    fn default() -> Self {
        State {
            schema: STATE_SCHEMA,
            gpus: BTreeMap::new(),
            units: BTreeMap::new(),
        }
    }
}

/// What the engine remembers about one GPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuState {
    /// Index at the last sample (for display; identity is the UUID key).
    pub index: u32,
    /// The last sample said the GPU fell off the bus.
    #[serde(default)]
    pub lost: bool,
    /// Rules pending or firing on this GPU, by rule name. Quiet rules are absent.
    #[serde(default)]
    pub rules: BTreeMap<String, RuleState>,
    #[serde(default)]
    pub cap: CapState,
    /// `(when, code)` of the XIDs counted on this GPU that `metric = "xid"` rules may still
    /// count (older ones are dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub xids: Vec<(UnixMs, u32)>,
    /// Memory history of each `memory_growth_pct` rule watching this GPU, by rule name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub growth: BTreeMap<String, super::growth::Growth>,
    /// For a MIG instance (keyed by its `MIG-…` UUID): the UUID of its GPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mig_parent: Option<String>,
}

/// One rule on one GPU that is pending or firing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleState {
    /// The condition has held since then but not yet for the rule's `for`.
    pub pending_since_ms: Option<UnixMs>,
    /// Set once the rule fired.
    pub firing: Option<Firing>,
    /// The last numeric reading (for summaries, metrics and the dashboard).
    pub last_value: Option<f64>,
}

/// A firing rule's progress along its ladder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Firing {
    pub fired_ms: UnixMs,
    /// The rule's severity when it fired (kept so a removed rule can still be cleared).
    #[serde(default)]
    pub severity: Severity,
    /// The clear condition has held since then but not yet for `clear_for`.
    pub clearing_since_ms: Option<UnixMs>,
    /// How many ladder steps ran, by position (states written before `done_steps` existed).
    #[serde(default, skip_serializing)]
    pub steps_done: usize,
    /// The ladder steps that ran, by content (`cap_clocks@30s`), so a reload that reorders
    /// or inserts steps neither repeats one nor skips one.
    #[serde(default)]
    pub done_steps: BTreeSet<String>,
    /// The `restart_units` step was reached: units are restarted while the reading is past
    /// the threshold, as far as budget, cooldown and the verdict on the last restart allow.
    #[serde(default)]
    pub restarting: bool,
    /// Restarts decided in this firing, by unit (the per-firing budget).
    #[serde(default)]
    pub restarts: BTreeMap<String, u32>,
    /// Restarts in this firing that systemd reported as failed, by unit.
    #[serde(default)]
    pub restart_failures: BTreeMap<String, u32>,
    /// The last restart, waiting to be judged.
    #[serde(default)]
    pub verify: Option<Verify>,
    /// Restarting stopped for the rest of this firing (until it clears or a person resets it).
    #[serde(default)]
    pub gave_up: Option<GaveUp>,
    /// A page went out, with this severity; a `resolve` with the same severity follows when
    /// the rule clears (severity may be an alert label, so they must match).
    #[serde(default)]
    pub paged: Option<Severity>,
    /// This rule holds a cap on the GPU.
    #[serde(default)]
    pub capped: bool,
    /// Units this firing restarted (so waiting out their cooldown is silent).
    #[serde(default)]
    pub restarted: BTreeSet<String>,
    /// The last refusal reported per unit (a refusal is reported once, not every sample).
    #[serde(default)]
    pub refused: BTreeMap<String, RefuseReason>,
    /// "No units to restart" was reported.
    #[serde(default)]
    pub no_units_reported: bool,
    /// Leak rules: the units whose own memory growth is past the threshold at the last
    /// sample. When there are any, `restart_units` restarts them and no other unit.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub culprits: BTreeSet<String>,
}

/// A restart whose effect is still to be judged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Verify {
    /// When the restart was decided.
    pub restarted_ms: UnixMs,
    /// The units restarted then.
    pub units: BTreeSet<String>,
    /// The verdict is due then: `verify` after systemd reported the job done (until that
    /// report, `job_timeout + verify` after the decision).
    pub judge_at_ms: UnixMs,
}

/// Caps on one GPU: who holds one, and what is applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CapState {
    /// Each holding rule's own cap; the applied cap is their merge (the tightest).
    #[serde(default)]
    pub holders: BTreeMap<String, HeldCap>,
    /// What was last sent to the GPU; `None` when nothing is applied.
    pub applied: Option<ClockCap>,
    pub last_applied_ms: Option<UnixMs>,
    /// The enforced power limit seen just before the first cap (base of `power_limit_pct`).
    pub base_power_limit_w: Option<f64>,
}

impl CapState {
    /// The merge of every holder's cap, or `None` when no rule holds one.
    pub fn wanted(&self) -> Option<ClockCap> {
        self.holders.values().map(|h| h.cap).reduce(ClockCap::merge)
    }

    /// The shortest re-apply period among the holders.
    pub fn reapply_every_ms(&self) -> Option<u64> {
        self.holders.values().map(|h| h.reapply_every_ms).min()
    }
}

/// One rule's hold on a GPU's cap.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldCap {
    pub cap: ClockCap,
    pub reapply_every_ms: u64,
    /// The rule cleared but its cap has `undo_on_clear = false`: kept until the daemon stops.
    #[serde(default)]
    pub kept_after_clear: bool,
}

/// Restart history of one unit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UnitState {
    /// When each restart was decided, oldest first (pruned to the budget window).
    pub restarts_ms: Vec<UnixMs>,
    /// The restart whose cooldown was already reported as a refusal (reported once).
    #[serde(default)]
    pub cooldown_reported_ms: Option<UnixMs>,
    /// A restart failed: the next attempt waits until then (failures do not start the
    /// cooldown, they back off).
    #[serde(default)]
    pub retry_after_ms: Option<UnixMs>,
}

impl UnitState {
    /// Restarts within the window ending at `now_ms`.
    pub fn restarts_within(&self, window_ms: u64, now_ms: UnixMs) -> usize {
        self.restarts_ms
            .iter()
            .filter(|t| now_ms.saturating_sub(**t) < window_ms)
            .count()
    }

    pub fn last_restart_ms(&self) -> Option<UnixMs> {
        self.restarts_ms.last().copied()
    }
}

/// A firing rule, as the dashboard and metrics list them.
#[derive(Clone, Debug, PartialEq)]
pub struct ActiveRule<'a> {
    pub gpu: GpuId,
    pub rule: &'a str,
    pub firing: &'a Firing,
    pub last_value: Option<f64>,
}

impl State {
    /// Every firing rule, by GPU UUID then rule name.
    pub fn active_rules(&self) -> Vec<ActiveRule<'_>> {
        self.gpus
            .iter()
            .flat_map(|(uuid, g)| {
                g.rules.iter().filter_map(move |(name, r)| {
                    r.firing.as_ref().map(|firing| ActiveRule {
                        gpu: GpuId {
                            index: g.index,
                            uuid: uuid.clone(),
                        },
                        rule: name,
                        firing,
                        last_value: r.last_value,
                    })
                })
            })
            .collect()
    }

    /// Every rule pending or firing, as (GPU, rule name, its state).
    pub fn rules(&self) -> impl Iterator<Item = (GpuId, &str, &RuleState)> {
        self.gpus.iter().flat_map(|(uuid, g)| {
            g.rules.iter().map(move |(name, r)| {
                (
                    GpuId {
                        index: g.index,
                        uuid: uuid.clone(),
                    },
                    name.as_str(),
                    r,
                )
            })
        })
    }

    /// A number that changes whenever a leak rule's memory history starts a new bucket (see
    /// [`super::growth`]): the daemon persists the state then, so a crash loses at most one
    /// bucket of history.
    pub fn growth_mark(&self) -> u64 {
        self.gpus
            .values()
            .flat_map(|g| g.growth.values())
            .map(super::growth::Growth::mark)
            .fold(0, u64::wrapping_add)
    }

    /// Whether `rule` is firing on the GPU with this UUID.
    pub fn is_firing(&self, uuid: &str, rule: &str) -> bool {
        self.gpus
            .get(uuid)
            .and_then(|g| g.rules.get(rule))
            .is_some_and(|r| r.firing.is_some())
    }

    /// Every cap currently applied, by GPU (a lost GPU's is not: nothing reaches it).
    pub fn caps(&self) -> Vec<(GpuId, ClockCap)> {
        self.gpus
            .iter()
            .filter(|(_, g)| !g.lost)
            .filter_map(|(uuid, g)| {
                g.cap.applied.map(|cap| {
                    (
                        GpuId {
                            index: g.index,
                            uuid: uuid.clone(),
                        },
                        cap,
                    )
                })
            })
            .collect()
    }

    /// Restarts `unit` may still get within the budget window ending at `now_ms`.
    pub fn restarts_left(&self, unit: &str, policy: &RestartPolicy, now_ms: UnixMs) -> u32 {
        let used = self.units.get(unit).map_or(0, |u| {
            u.restarts_within(policy.window.as_millis() as u64, now_ms)
        });
        policy.budget.saturating_sub(used as u32)
    }
}
