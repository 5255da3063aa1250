//! Clock caps: locking a GPU's SM clock range or lowering its power limit, through the source's
//! [`GpuControl`] (NVML, or the simulated fleet), keyed by GPU UUID.
//!
//! [`ClockActuator`] remembers every cap it applied in [`AppliedCaps`] (serializable, so the
//! daemon persists it and a restarted daemon neither forgets nor leaks a cap), re-applies them on
//! request (limits do not survive a driver reload) and undoes them when a rule clears or the
//! daemon stops. Every call ends in a [`ClockOutcome`]; NotSupported and NoPermission are
//! outcomes saying so, never panics or retries — the watchdog's ladder moves on. The daemon
//! puts the control behind [`super::bounded::BoundedControl`], so a hung driver costs one
//! bounded wait, not the watch loop.

use crate::events::{Event, EventKind, EventOutcome, EventResult};
use crate::gpu::{ControlError, GpuControl, UnixMs};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// One setting of a GPU that a cap is made of: what one NVML setter does. The engine's cap
/// ([`crate::policy::ClockCap`]) is a lock and/or a power limit; the daemon turns it into
/// these, one call each.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cap", rename_all = "snake_case")]
pub enum ClockSetting {
    /// Lock the SM clock into `[min_mhz, max_mhz]` (NVML `SetGpuLockedClocks`).
    LockedSm { min_mhz: u32, max_mhz: u32 },
    /// Lower the enforced power limit (NVML `SetPowerManagementLimit`).
    PowerLimit { watts: f64 },
}

/// Which kind of cap; a GPU holds at most one of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapKind {
    LockedSm,
    PowerLimit,
}

impl ClockSetting {
    pub fn kind(&self) -> CapKind {
        match self {
            ClockSetting::LockedSm { .. } => CapKind::LockedSm,
            ClockSetting::PowerLimit { .. } => CapKind::PowerLimit,
        }
    }
}

impl fmt::Display for ClockSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockSetting::LockedSm { min_mhz, max_mhz } => {
                write!(f, "lock SM clocks {min_mhz}-{max_mhz} MHz")
            }
            ClockSetting::PowerLimit { watts } => write!(f, "limit power to {watts} W"),
        }
    }
}

impl fmt::Display for CapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CapKind::LockedSm => "SM clock lock",
            CapKind::PowerLimit => "power limit",
        })
    }
}

/// Every cap currently in force, by GPU UUID — the part of the daemon's state to persist.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AppliedCaps {
    pub gpus: BTreeMap<String, Vec<ClockSetting>>,
}

impl AppliedCaps {
    /// The caps in force on `uuid`.
    pub fn on(&self, uuid: &str) -> &[ClockSetting] {
        self.gpus.get(uuid).map_or(&[], Vec::as_slice)
    }

    pub fn is_empty(&self) -> bool {
        self.gpus.values().all(Vec::is_empty)
    }

    fn insert(&mut self, uuid: &str, cap: ClockSetting) {
        let caps = self.gpus.entry(uuid.to_string()).or_default();
        caps.retain(|c| c.kind() != cap.kind());
        caps.push(cap);
        caps.sort_by_key(ClockSetting::kind);
    }

    fn remove(&mut self, uuid: &str, kind: CapKind) {
        if let Some(caps) = self.gpus.get_mut(uuid) {
            caps.retain(|c| c.kind() != kind);
            if caps.is_empty() {
                self.gpus.remove(uuid);
            }
        }
    }
}

/// What was attempted.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ClockOp {
    Apply(ClockSetting),
    Reapply(ClockSetting),
    Undo(CapKind),
}

impl fmt::Display for ClockOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockOp::Apply(cap) => write!(f, "{cap}"),
            ClockOp::Reapply(cap) => write!(f, "re-apply: {cap}"),
            ClockOp::Undo(kind) => write!(f, "undo {kind}"),
        }
    }
}

/// How one clock operation on one GPU ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ClockOutcome {
    pub uuid: String,
    pub op: ClockOp,
    pub result: Result<(), ControlError>,
}

impl ClockOutcome {
    pub fn is_ok(&self) -> bool {
        self.result.is_ok()
    }

    /// The event recording this outcome (kind `cap_clocks`, `reapply_cap` or `undo_cap`);
    /// add the rule and the GPU's index with the [`Event`] builder.
    pub fn to_event(&self, at_ms: UnixMs) -> Event {
        let kind = match self.op {
            ClockOp::Apply(_) => EventKind::CapClocks,
            ClockOp::Reapply(_) => EventKind::ReapplyCap,
            ClockOp::Undo(_) => EventKind::UndoCap,
        };
        Event::new(at_ms, kind, self.op.to_string())
            .gpu(self.uuid.clone(), None)
            .outcome(self)
    }
}

impl EventOutcome for ClockOutcome {
    fn result(&self) -> EventResult {
        match &self.result {
            Ok(()) => EventResult::Ok,
            Err(ControlError::NotSupported) => EventResult::NotSupported,
            Err(ControlError::NoPermission) => EventResult::NoPermission,
            Err(ControlError::TimedOut(_)) => EventResult::TimedOut,
            Err(_) => EventResult::Failed,
        }
    }

    fn detail(&self) -> Option<String> {
        match &self.result {
            Ok(()) => None,
            Err(ControlError::NoPermission) => Some(
                "no permission: clock locks and power limits need root \
                 (CAP_SYS_ADMIN); the watchdog keeps monitoring"
                    .to_string(),
            ),
            Err(ControlError::NotSupported) => {
                Some(format!("{} is not supported on this GPU", self.op))
            }
            Err(err) => Some(err.to_string()),
        }
    }
}

/// Applies, remembers, re-applies and undoes clock caps.
pub struct ClockActuator {
    control: Option<Box<dyn GpuControl>>,
    applied: AppliedCaps,
}

/// The error when the GPU source cannot change anything (a recorded trace, a remote host).
fn no_control() -> ControlError {
    ControlError::Other("this GPU source cannot change clocks or power limits".to_string())
}

impl ClockActuator {
    /// An actuator over `control` (`None` for sources that cannot change GPUs: every operation
    /// then fails with an outcome saying so) with nothing applied yet.
    pub fn new(control: Option<Box<dyn GpuControl>>) -> Self {
        Self::restore(control, AppliedCaps::default())
    }

    /// An actuator that takes over the caps a previous run persisted. Call
    /// [`reapply_all`](Self::reapply_all) or [`undo_all`](Self::undo_all) next.
    pub fn restore(control: Option<Box<dyn GpuControl>>, applied: AppliedCaps) -> Self {
        ClockActuator { control, applied }
    }

    /// The caps in force, to persist or show.
    pub fn applied(&self) -> &AppliedCaps {
        &self.applied
    }

    /// Applies `cap` to the GPU `uuid` and remembers it on success (replacing a cap of the
    /// same kind). A failed apply changes nothing that is remembered — except one that timed
    /// out: the stuck driver may still carry it out, so it is remembered and undone like any
    /// other cap rather than left behind.
    pub fn apply(&mut self, uuid: &str, cap: ClockSetting) -> ClockOutcome {
        let result = self.call(uuid, cap);
        if matches!(result, Ok(()) | Err(ControlError::TimedOut(_))) {
            self.applied.insert(uuid, cap);
        }
        ClockOutcome {
            uuid: uuid.to_string(),
            op: ClockOp::Apply(cap),
            result,
        }
    }

    /// Applies every remembered cap again (after a driver reload, a lost GPU coming back, or
    /// simply on a timer while a rule is active). The caps stay remembered whatever happens.
    pub fn reapply_all(&mut self) -> Vec<ClockOutcome> {
        let all: Vec<(String, ClockSetting)> = self.entries();
        all.into_iter()
            .map(|(uuid, cap)| {
                let result = self.call(&uuid, cap);
                ClockOutcome {
                    uuid,
                    op: ClockOp::Reapply(cap),
                    result,
                }
            })
            .collect()
    }

    /// Undoes the cap of `kind` on `uuid`, if one is remembered (`None` when there was nothing
    /// to undo). The cap is forgotten when the reset worked or can never work (NotSupported, no
    /// such GPU); after NoPermission, a lost GPU or another error it stays remembered, so a
    /// later undo (at shutdown at the latest) tries again.
    pub fn undo(&mut self, uuid: &str, kind: CapKind) -> Option<ClockOutcome> {
        if !self.applied.on(uuid).iter().any(|c| c.kind() == kind) {
            return None;
        }
        let result = match self.control.as_mut() {
            None => Err(no_control()),
            Some(control) => match kind {
                CapKind::LockedSm => control.reset_sm_clocks(uuid),
                CapKind::PowerLimit => control.reset_power_limit(uuid),
            },
        };
        if matches!(
            result,
            Ok(()) | Err(ControlError::NotSupported | ControlError::UnknownGpu(_))
        ) {
            self.applied.remove(uuid, kind);
        }
        Some(ClockOutcome {
            uuid: uuid.to_string(),
            op: ClockOp::Undo(kind),
            result,
        })
    }

    /// Undoes every cap on `uuid` (a rule cleared).
    pub fn undo_gpu(&mut self, uuid: &str) -> Vec<ClockOutcome> {
        let kinds: Vec<CapKind> = self
            .applied
            .on(uuid)
            .iter()
            .map(ClockSetting::kind)
            .collect();
        kinds
            .into_iter()
            .filter_map(|kind| self.undo(uuid, kind))
            .collect()
    }

    /// Undoes every cap on every GPU (daemon shutdown).
    pub fn undo_all(&mut self) -> Vec<ClockOutcome> {
        let uuids: Vec<String> = self.applied.gpus.keys().cloned().collect();
        uuids.iter().flat_map(|uuid| self.undo_gpu(uuid)).collect()
    }

    fn entries(&self) -> Vec<(String, ClockSetting)> {
        self.applied
            .gpus
            .iter()
            .flat_map(|(uuid, caps)| caps.iter().map(|cap| (uuid.clone(), *cap)))
            .collect()
    }

    fn call(&mut self, uuid: &str, cap: ClockSetting) -> Result<(), ControlError> {
        let control = self.control.as_mut().ok_or_else(no_control)?;
        match cap {
            ClockSetting::LockedSm { min_mhz, max_mhz } => {
                control.lock_sm_clocks(uuid, min_mhz, max_mhz)
            }
            ClockSetting::PowerLimit { watts } => control.set_power_limit(uuid, watts),
        }
    }
}

#[cfg(test)]
mod tests;
