//! Actuators: the only code that changes the world, each behind a small trait with plain inputs
//! (a unit name, a GPU UUID, cap parameters, a message) so the daemon can swap in the recorders
//! of `record` and tests can check actions as data.
//!
//! `clocks` locks SM clocks and power limits (NVML or the simulated fleet) and remembers them,
//! each call bounded in time by `bounded`;
//! `systemd` restarts units over D-Bus and waits for the job's result; `notify` sends desktop
//! notifications; every outcome becomes an event of the audit log (`crate::events`); `alert`
//! sends on-call alerts (Alertmanager, webhooks) through a durable on-disk outbox.

pub mod alert;
pub mod bounded;
pub mod clocks;
pub mod notify;
pub mod record;
pub mod systemd;

pub use clocks::{AppliedCaps, CapKind, ClockActuator, ClockOp, ClockOutcome, ClockSetting};
pub use notify::{DesktopNotifier, Notification, Notifier, NotifyOptions, NotifyOutcome, Urgency};
pub use record::{ControlCall, RecordingControl, RecordingNotifier, RecordingRestarter};
pub use systemd::{
    JobResult, RestartOutcome, Systemd, SystemdError, SystemdOptions, UnitLookup, UnitRestarter,
    UnitState,
};
