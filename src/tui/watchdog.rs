//! What the dashboard shows of a watchdog running alongside it: its active rules and its
//! recent events. Only data lives here; the watchdog fills it and `view::watchdog` draws it.
//! When [`App::watchdog`](super::App) is `None` the panel is not drawn at all.

use crate::gpu::UnixMs;
use std::collections::BTreeMap;

/// The watchdog's state as the dashboard shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WatchdogView {
    /// Rules, in config order.
    pub rules: Vec<RuleLine>,
    /// Recent events, newest last.
    pub events: Vec<EventLine>,
    /// GPU index → the code of its latest recent XID (marked on the GPU's row).
    pub xid_on: BTreeMap<u32, u32>,
}

/// One rule and whether it is firing.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleLine {
    pub name: String,
    /// A short summary, e.g. `temperature >= 85 °C for 30s → lock clocks`.
    pub summary: String,
    /// GPUs (by index) on which the rule is active right now.
    pub active_on: Vec<u32>,
}

/// One thing the watchdog did or saw.
#[derive(Clone, Debug, PartialEq)]
pub struct EventLine {
    pub at_ms: UnixMs,
    pub text: String,
    /// Failed actions and firing rules stand out.
    pub failed: bool,
}
