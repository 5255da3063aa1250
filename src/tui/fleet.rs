//! The fleet dashboard's state (`gpuwarden top --agents …` / `--prometheus …`): the hosts view
//! and the drill-down into one host's GPUs.
//!
//! [`FleetApp`] keeps the [`Fleet`] (hosts are never dropped: an unreachable one keeps its last
//! numbers and says so), the selected host (by address, so a re-sort never moves the cursor to
//! another host) and, while drilled down, an ordinary [`App`] fed with that host's snapshots —
//! the GPU table, charts, detail and process views work on a remote host exactly as on the
//! local one. Esc in the host's view goes back to the hosts (help and detail close first).
//!
//! Every host's chart history is kept whether or not anyone looks: each fetch records into
//! that host's own [`History`] (the same bounded window as the local dashboard), so a host
//! opens on charts already filled, and going back to the hosts and in again keeps them. The
//! host being looked at records through its view instead, and hands its history back on Esc;
//! a host that leaves the fleet takes its history with it.

use super::app::{App, Msg};
use super::theme::{Level, Theme, Thresholds};
use crate::check::HealthState;
use crate::fleet::{Fleet, Host, HostReport};
use crate::gpu::UnixMs;
use crate::history::History;
use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
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
    health: HashMap<String, Option<(u32, HealthState)>>,
    /// By address: the chart history of every host but the one being looked at (that one's
    /// is in its view).
    histories: HashMap<String, History>,
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
            histories: Default::default(),
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
        self.record_histories(now_ms);
        if let Some((address, app)) = &mut self.drilled
            && let Some(host) = self.fleet.host(address)
            && host.checked_at_ms == now_ms
        {
            feed(app, host);
        }
    }

    /// Applies a key (or resize) message.
    pub fn update(&mut self, msg: Msg) {
        if let Some((_, app)) = &mut self.drilled {
            match msg {
                Msg::Back if !app.help && !app.detail => self.drill_up(),
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

    /// The chart history of the host at `address`: the one its view shows while it is open.
    pub fn host_history(&self, address: &str) -> Option<&History> {
        match &self.drilled {
            Some((a, app)) if a == address => Some(app.live_history()),
            _ => self.histories.get(address),
        }
    }

    /// Records this fetch into the history of every host it reached (the hosts it did not
    /// report on were not fetched: nothing happened to them) but the one being looked at,
    /// whose view records it; forgets the histories of hosts no longer in the fleet.
    fn record_histories(&mut self, now_ms: UnixMs) {
        let drilled = self.drilled.as_ref().map(|(a, _)| a.as_str());
        for host in &self.fleet.hosts {
            if host.checked_at_ms != now_ms || drilled == Some(host.address.as_str()) {
                continue;
            }
            match self.histories.get_mut(&host.address) {
                Some(history) => record(history, host),
                None => {
                    let mut history = History::default();
                    record(&mut history, host);
                    self.histories.insert(host.address.clone(), history);
                }
            }
        }
        if self.histories.len() + usize::from(drilled.is_some()) > self.fleet.hosts.len() {
            let hosts: HashSet<&str> = self
                .fleet
                .hosts
                .iter()
                .map(|h| h.address.as_str())
                .collect();
            self.histories.retain(|a, _| hosts.contains(a.as_str()));
        }
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
        let address = host.address.clone();
        let newest = host.snapshot.clone();
        let error = (!host.reachable).then(|| unreachable(host));
        // This fetch is already in the host's history: open on it without recording it again.
        let history = self.histories.remove(&address).unwrap_or_default();
        app.resume(history, newest);
        app.source_error = error;
        self.drilled = Some((address, Box::new(app)));
    }

    /// Back to the hosts: the host's history is kept for the next time it is opened.
    fn drill_up(&mut self) {
        if let Some((address, mut app)) = self.drilled.take()
            && self.fleet.host(&address).is_some()
        {
            self.histories.insert(address, app.take_history());
        }
    }
}

/// Records a host's fetch into its history as its view would: a slot for a newer snapshot,
/// a gap when the host did not answer, nothing when it answered with numbers already
/// recorded (an agent that has not sampled since).
fn record(history: &mut History, host: &Host) {
    match (&host.snapshot, host.reachable) {
        (Some(s), true) => {
            if history.last_at_ms().is_none_or(|at| at < s.at_ms) {
                history.record(s);
            }
        }
        _ => history.record_gap(),
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
