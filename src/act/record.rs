//! Recording stand-ins for the actuators, so the daemon and its tests can check actions as data
//! (what LACT does with the writes it would make): a [`RecordingControl`] for clocks with
//! per-GPU error injection, a [`RecordingRestarter`] and a [`RecordingNotifier`].
//!
//! Each is cheap to clone; clones share one record, so a test keeps a clone and hands the other
//! to the code under test. The real actuators are tested against real peers in `tests/act.rs`.

use super::notify::{Notification, Notifier, NotifyOutcome};
use super::systemd::{JobResult, RestartOutcome, UnitRestarter};
use crate::gpu::{ControlError, GpuControl};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One call to a [`GpuControl`].
#[derive(Clone, Debug, PartialEq)]
pub enum ControlCall {
    LockSmClocks {
        uuid: String,
        min_mhz: u32,
        max_mhz: u32,
    },
    ResetSmClocks {
        uuid: String,
    },
    SetPowerLimit {
        uuid: String,
        watts: f64,
    },
    ResetPowerLimit {
        uuid: String,
    },
}

#[derive(Default)]
struct ControlRecord {
    calls: Vec<ControlCall>,
    failures: HashMap<String, ControlError>,
}

/// A [`GpuControl`] that records every call and fails for the GPUs told to.
#[derive(Clone, Default)]
pub struct RecordingControl {
    record: Arc<Mutex<ControlRecord>>,
}

impl RecordingControl {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every call for `uuid` fails with `error` (and is still recorded).
    pub fn fail(&self, uuid: &str, error: ControlError) {
        lock(&self.record).failures.insert(uuid.to_string(), error);
    }

    /// Calls for `uuid` succeed again.
    pub fn heal(&self, uuid: &str) {
        lock(&self.record).failures.remove(uuid);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<ControlCall> {
        lock(&self.record).calls.clone()
    }

    fn record(&self, uuid: &str, call: ControlCall) -> Result<(), ControlError> {
        let mut record = lock(&self.record);
        record.calls.push(call);
        record.failures.get(uuid).cloned().map_or(Ok(()), Err)
    }
}

impl GpuControl for RecordingControl {
    fn lock_sm_clocks(
        &mut self,
        uuid: &str,
        min_mhz: u32,
        max_mhz: u32,
    ) -> Result<(), ControlError> {
        let call = ControlCall::LockSmClocks {
            uuid: uuid.to_string(),
            min_mhz,
            max_mhz,
        };
        self.record(uuid, call)
    }
    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
        let call = ControlCall::ResetSmClocks {
            uuid: uuid.to_string(),
        };
        self.record(uuid, call)
    }
    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError> {
        let call = ControlCall::SetPowerLimit {
            uuid: uuid.to_string(),
            watts,
        };
        self.record(uuid, call)
    }
    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
        let call = ControlCall::ResetPowerLimit {
            uuid: uuid.to_string(),
        };
        self.record(uuid, call)
    }
}

#[derive(Default)]
struct RestartRecord {
    units: Vec<String>,
    outcomes: HashMap<String, RestartOutcome>,
}

/// A [`UnitRestarter`] that records unit names and answers `done` unless told otherwise.
#[derive(Clone, Default)]
pub struct RecordingRestarter {
    record: Arc<Mutex<RestartRecord>>,
}

impl RecordingRestarter {
    pub fn new() -> Self {
        Self::default()
    }

    /// Restarts of `unit` end with `outcome` from now on.
    pub fn answer(&self, unit: &str, outcome: RestartOutcome) {
        lock(&self.record)
            .outcomes
            .insert(unit.to_string(), outcome);
    }

    /// Every unit restarted so far, in order.
    pub fn restarted(&self) -> Vec<String> {
        lock(&self.record).units.clone()
    }
}

impl UnitRestarter for RecordingRestarter {
    fn restart_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, RestartOutcome> {
        let mut record = lock(&self.record);
        record.units.push(unit.to_string());
        let n = record.units.len();
        let outcome = record
            .outcomes
            .get(unit)
            .cloned()
            .unwrap_or_else(|| RestartOutcome::Job {
                job: format!("/org/freedesktop/systemd1/job/{n}"),
                result: JobResult::Done,
            });
        Box::pin(std::future::ready(outcome))
    }
}

/// A [`Notifier`] that records notifications and reports them shown.
#[derive(Clone, Default)]
pub struct RecordingNotifier {
    sent: Arc<Mutex<Vec<Notification>>>,
}

impl RecordingNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every notification so far, in order.
    pub fn sent(&self) -> Vec<Notification> {
        lock(&self.sent).clone()
    }
}

impl Notifier for RecordingNotifier {
    fn notify<'a>(&'a self, notification: &'a Notification) -> BoxFuture<'a, NotifyOutcome> {
        let mut sent = lock(&self.sent);
        sent.push(notification.clone());
        let id = u32::try_from(sent.len()).unwrap_or(u32::MAX);
        Box::pin(std::future::ready(NotifyOutcome::Shown { id }))
    }
}
