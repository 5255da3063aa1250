//! The watchdog's policy: `watchdog.toml` and the pure engine that applies it.
//!
//! Loading is two-phase: [`raw`] is the serde shape of the file (unknown keys rejected, spans
//! kept), [`build`] validates it into a [`Config`]; both report a [`ConfigError`] that says
//! `file:line:col: key: what is wrong`. `validate` refuses what parses but means nothing and
//! notes, as located [`ConfigWarning`]s, rules that probably flap. [`engine::step`] is the
//! whole policy as a pure function of ([`Config`], [`State`],
//! [`Snapshot`](crate::gpu::Snapshot), now) that returns [`Action`]s — no I/O, no clock, no
//! NVML types — and [`engine::shutdown`] lists the caps to undo when the daemon stops.
//! [`summary`] renders a config for `check-config`.

pub mod action;
pub mod alerts;
pub mod build;
pub mod config;
pub mod engine;
pub mod error;
pub mod growth;
mod growth_rules;
mod ladder;
mod mig;
pub mod raw;
mod restarts;
mod rules;
pub mod state;
pub mod summary;
mod validate;
mod values;

pub use action::{Action, ActionKind, ClearReason, ClockCap, GaveUp, GpuId, RefuseReason};
pub use build::{load, parse};
pub use config::{
    Allowlist, CapSpec, Condition, Config, DEFAULT_CONFIG_PATH, GpuRef, GpuSelector, Limit,
    MEMORY_GROWTH_PCT, Metric, PowerLimit, RestartPolicy, Rule, Severity, Step, StepAction,
    UnitMapping, Units, Watchdog,
};
pub use engine::{note_xid, shutdown, step};
pub use error::{ConfigError, ConfigWarning, LoadError};
pub use ladder::human as human_duration;
pub use restarts::{RETRY_AFTER_FAILURE, reset, restart_result};
pub use state::{
    ActiveRule, CapState, Firing, GpuState, HeldCap, RuleState, STATE_SCHEMA, State, UnitState,
    Verify,
};
