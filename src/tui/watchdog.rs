//! What the dashboard shows of a watchdog running alongside it: its active rules and its
//! recent events. Only data lives here; the watchdog fills it and `view::watchdog` draws it.
//! When [`App::watchdog`](super::App) is `None` the panel is not drawn at all.

use crate::gpu::UnixMs;
use std::collections::BTreeMap;

/// Whether the daemon guards right now, as it said itself (or could not).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum DaemonLine {
    /// Not asked yet, or it cannot be asked: rules are folded from the event log.
    #[default]
    Unknown,
    /// It cannot be asked (`listen` on port 0); the reason.
    CannotAsk(String),
    /// Running and acting.
    Acting,
    /// Running, only saying what it would do.
    DryRun,
    /// Running, but its GPU driver does not answer samples.
    DriverNotAnswering { dry_run: bool },
    /// No answer at the address (not running); why.
    Stopped(String),
}

/// The watchdog's state as the dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WatchdogView {
    /// The daemon's own state, and where it was asked.
    pub daemon: DaemonLine,
    pub address: String,
    /// Rules, in config order.
    pub rules: Vec<RuleLine>,
    /// Recent events, newest last.
    pub events: Vec<EventLine>,
    /// GPU index → the code of its latest recent XID (marked on the GPU's row).
    pub xid_on: BTreeMap<u32, u32>,
}

/// One rule and whether it is firing.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuleLine {
    pub name: String,
    /// A short summary, e.g. `temperature >= 85 °C for 30s → lock clocks`.
    pub summary: String,
    /// GPUs (by index) on which the rule is active right now.
    pub active_on: Vec<u32>,
    /// GPUs where its condition holds, waiting out `for` (from the daemon).
    pub pending_on: Vec<u32>,
    /// With no daemon running: GPUs on which the condition holds on the data on screen.
    pub would_fire_on: Vec<u32>,
}

/// One thing the watchdog did or saw.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLine {
    pub at_ms: UnixMs,
    pub text: String,
    /// Failed actions and firing rules stand out.
    pub failed: bool,
}
