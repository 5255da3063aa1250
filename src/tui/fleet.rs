//! The fleet dashboard's state (`gpuwarden top --agents …` / `--prometheus …`): the hosts view
//! and the drill-down into one host's GPUs.
//!
//! [`FleetApp`] keeps the [`Fleet`] (hosts are never dropped: an unreachable one keeps its last
//! numbers and says so), the selected host (by address, so a re-sort never moves the cursor to
//! another host) and, while drilled down, an ordinary [`App`] fed with that host's snapshots —
//! the GPU table, charts, detail and process views work on a remote host exactly as on the
//! local one. Esc in the host's view goes back to the hosts (help and detail close first).

use super::app::{App, Msg};
use super::theme::{Level, Theme, Thresholds};
use crate::check::HealthState;
use crate::fleet::{Fleet, Host, HostReport};
use crate::gpu::UnixMs;
use std::cmp::Ordering;
use std::time::Duration;

/// The worst GPU health of a host's last snapshot, and which GPU has it (the first of the
/// worst); `None` before a first snapshot or for a host with no GPU.
pub fn worst_health(host: &Host) -> Option<(u32, HealthState)> {
    let snap = host.snapshot.as_ref()?;
    snap.gpus
        .iter()
        .map(|g| (g.index, crate::check::gpu_health(g).state))
        .fold(None, |worst, (i, s)| match worst {
            Some((_, w)) if w >= s => worst,
            _ => Some((i, s)),
        })
}

/// How worrying a host is; the hosts view lists the worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostState {
    /// The last fetch failed (or none succeeded yet).
    Unreachable,
    /// Reachable, but its numbers are older than the stale limit.
    Stale,
    /// A rule is firing, a GPU is lost or failed, or a value is past its critical threshold.
    Alarm,
    /// Every GPU answers, but one is degraded (throttled, hot, a narrow link).
    Degraded,
    Ok,
}

impl HostState {
    pub fn name(self) -> &'static str {
        match self {
            HostState::Unreachable => "unreachable",
            HostState::Stale => "stale",
            HostState::Alarm => "alarm",
            HostState::Degraded => "degraded",
            HostState::Ok => "ok",
        }
    }
}

/// The fleet dashboard's whole state.
#[derive(Clone, Debug)]
pub struct FleetApp {
    pub theme: Theme,
    pub thresholds: Thresholds,
    pub interval_ms: u64,
    pub utc_offset_s: i32,
    /// Where the hosts come from, for the header (`prometheus http://…`, `3 agents`).
    pub source: String,
    pub fleet: Fleet,
    /// When the last fetch happened: the clock staleness is measured against.
    pub now_ms: UnixMs,
    /// Numbers older than this are shown as stale.
    pub stale_after: Duration,
    /// Address of the selected host.
    selected: Option<String>,
    /// By address: the worst GPU health of each host's last snapshot, judged once per fetch.
    health: std::collections::HashMap<String, Option<(u32, HealthState)>>,
    /// The host being looked at, with its own GPU dashboard.
    drilled: Option<(String, Box<App>)>,
    pub quit: bool,
}

impl FleetApp {
    pub fn new(theme: Theme, source: impl Into<String>) -> Self {
        FleetApp {
            theme,
            thresholds: Thresholds::default(),
            interval_ms: 2000,
            utc_offset_s: 0,
            source: source.into(),
            fleet: Fleet::default(),
            now_ms: 0,
            stale_after: Duration::from_secs(30),
            selected: None,
            health: Default::default(),
            drilled: None,
            quit: false,
        }
    }

    /// Folds in one fetch of every host; a drilled-down host's view gets its new snapshot.
    pub fn on_fetch(&mut self, reports: Vec<HostReport>, now_ms: UnixMs) {
        self.now_ms = now_ms;
        self.fleet.update(reports, now_ms);
        self.health = self
            .fleet
            .hosts
            .iter()
            .map(|h| (h.address.clone(), worst_health(h)))
            .collect();
        let valid = self
            .selected
            .as_deref()
            .is_some_and(|a| self.fleet.host(a).is_some());
        if !valid {
            self.selected = self.hosts().first().map(|h| h.address.clone());
        }
        if let Some((address, app)) = &mut self.drilled
            && let Some(host) = self.fleet.host(address)
        {
            feed(app, host);
        }
    }

    /// Applies a key (or resize) message.
    pub fn update(&mut self, msg: Msg) {
        if let Some((_, app)) = &mut self.drilled {
            match msg {
                Msg::Back if !app.help && !app.detail => self.drilled = None,
                msg => {
                    app.update(msg);
                    self.quit = app.quit;
                }
            }
            return;
        }
        match msg {
            Msg::Quit => self.quit = true,
            Msg::Back => self.quit = true,
            Msg::Move(delta) => self.move_selection(delta),
            Msg::ToggleDetail => self.drill_down(),
            _ => {}
        }
    }

    /// Hosts in display order: the worst state first, then the worst GPU health, then by
    /// name.
    pub fn hosts(&self) -> Vec<&Host> {
        let mut hosts: Vec<&Host> = self.fleet.hosts.iter().collect();
        // Unknown health (no snapshot yet) sorts with the worst.
        let health =
            |h: &Host| std::cmp::Reverse(self.health(h).map_or(u8::MAX, |(_, s)| s.level() as u8));
        hosts.sort_by(|a, b| {
            self.state(a)
                .cmp(&self.state(b))
                .then_with(|| health(a).cmp(&health(b)))
                .then_with(|| a.name().cmp(b.name()))
                .then_with(|| a.address.cmp(&b.address))
        });
        hosts
    }

    pub fn state(&self, host: &Host) -> HostState {
        if !host.reachable {
            return HostState::Unreachable;
        }
        if host.is_stale(self.now_ms, self.stale_after) {
            return HostState::Stale;
        }
        let hot = host
            .hottest()
            .is_some_and(|(_, c)| self.thresholds.temperature(c) == Level::Critical);
        let full = host
            .fullest()
            .is_some_and(|(_, p)| self.thresholds.memory(p) == Level::Critical);
        let health = self.health(host).map(|(_, h)| h);
        if !host.firing.is_empty()
            || host.lost_count() > 0
            || hot
            || full
            || health == Some(HealthState::Failed)
        {
            HostState::Alarm
        } else if health == Some(HealthState::Degraded) {
            HostState::Degraded
        } else {
            HostState::Ok
        }
    }

    /// The host's worst GPU health as of the last fetch (see [`worst_health`]).
    pub fn health(&self, host: &Host) -> Option<(u32, HealthState)> {
        self.health.get(&host.address).copied().flatten()
    }

    pub fn selected_host(&self) -> Option<&Host> {
        self.fleet.host(self.selected.as_deref()?)
    }

    /// The drilled-down host's dashboard, when one is open.
    pub fn drilled(&self) -> Option<&App> {
        self.drilled.as_ref().map(|(_, app)| app.as_ref())
    }

    fn move_selection(&mut self, delta: i32) {
        let hosts = self.hosts();
        if hosts.is_empty() {
            return;
        }
        let now = self
            .selected
            .as_deref()
            .and_then(|a| hosts.iter().position(|h| h.address == a))
            .unwrap_or(0);
        let next = (now as i64 + i64::from(delta)).clamp(0, hosts.len() as i64 - 1) as usize;
        self.selected = Some(hosts[next].address.clone());
    }

    fn drill_down(&mut self) {
        let Some(host) = self.selected_host() else {
            return;
        };
        let mut app = App::new(self.theme);
        app.thresholds = self.thresholds;
        app.interval_ms = self.interval_ms;
        app.utc_offset_s = self.utc_offset_s;
        feed(&mut app, host);
        self.drilled = Some((host.address.clone(), Box::new(app)));
    }
}

/// Gives a host's dashboard the host's newest news: a new snapshot, or why it is unreachable.
fn feed(app: &mut App, host: &Host) {
    match (&host.snapshot, host.reachable) {
        (Some(s), true) => {
            let newer = app
                .snapshot()
                .is_none_or(|old| old.at_ms.cmp(&s.at_ms) == Ordering::Less);
            if newer {
                app.update(Msg::Sample(Box::new(s.clone())));
            } else {
                app.source_error = None;
            }
        }
        (Some(s), false) if app.snapshot().is_none() => {
            app.update(Msg::Sample(Box::new(s.clone())));
            app.update(Msg::SourceError(unreachable(host)));
        }
        _ => app.update(Msg::SourceError(unreachable(host))),
    }
}

fn unreachable(host: &Host) -> String {
    format!(
        "{} unreachable: {}",
        host.address,
        host.error.as_deref().unwrap_or("no answer yet")
    )
}
