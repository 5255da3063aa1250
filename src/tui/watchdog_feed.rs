//! The dashboard's view of the local watchdog (`gpuwarden top --config PATH`): the config's
//! thresholds color the bars, and the daemon's event log (`state_dir/events.jsonl`) fills the
//! watchdog panel — recent events, and which rules are active on which GPU (folded from the
//! log's `fired` / `cleared` lines) — and marks GPUs with an XID in the last hour.
//!
//! The log is re-read only when its size or modification time changed, and then only its
//! tail (`act::read_last`), so a sample costs one `stat` when nothing happened.

use super::app::App;
use super::daemon_probe::{DaemonProbe, DaemonSeen};
use super::theme::Thresholds;
use super::watchdog::{DaemonLine, EventLine, RuleLine, WatchdogView};
use crate::events::EVENT_LOG_FILE;
use crate::events::{Event, EventKind, read_last};
use crate::gpu::GpuSample;
use crate::policy::config::{Condition, Config, DEFAULT_CONFIG_PATH, Metric};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Events shown in the panel.
const SHOWN_EVENTS: usize = 8;
/// Events read to find the active rules.
const SCANNED_EVENTS: usize = 1000;
/// How long a GPU's row is marked with its last XID.
const XID_MARK_MS: u64 = 60 * 60 * 1000;

/// A loaded config and where its daemon writes its event log.
#[derive(Debug)]
pub struct WatchdogFeed {
    config: Config,
    events_path: PathBuf,
    /// Size and modification time of the log when it was last read.
    seen: Option<(u64, Option<SystemTime>)>,
    view: WatchdogView,
    /// Asks the daemon itself.
    probe: DaemonProbe,
    /// Rule → GPUs, folded from the log: used only while the daemon cannot be asked.
    folded: BTreeMap<String, Vec<u32>>,
}

impl WatchdogFeed {
    /// The config at `path`; without one, the default path if it exists, else `None`. An
    /// invalid config is an error naming the file and line.
    pub fn open(path: Option<&Path>) -> Result<Option<WatchdogFeed>> {
        let path = match path {
            Some(p) => p.to_path_buf(),
            None if Path::new(DEFAULT_CONFIG_PATH).exists() => PathBuf::from(DEFAULT_CONFIG_PATH),
            None => return Ok(None),
        };
        let config = crate::policy::load(&path)
            .with_context(|| format!("loading the watchdog config {}", path.display()))?;
        Ok(Some(WatchdogFeed::new(config)))
    }

    pub fn new(config: Config) -> WatchdogFeed {
        let events_path = config.watchdog.state_dir.join(EVENT_LOG_FILE);
        let view = WatchdogView {
            rules: config
                .rules
                .iter()
                .map(|r| RuleLine {
                    name: r.name.clone(),
                    summary: summary(&r.condition),
                    active_on: Vec::new(),
                    pending_on: Vec::new(),
                    would_fire_on: Vec::new(),
                })
                .collect(),
            events: Vec::new(),
            xid_on: BTreeMap::new(),
            daemon: DaemonLine::Unknown,
            address: String::new(),
        };
        let token = config
            .watchdog
            .token_file
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|t| t.trim().to_string());
        let probe = DaemonProbe::start(config.watchdog.listen, token, Duration::from_secs(1));
        WatchdogFeed {
            config,
            events_path,
            seen: None,
            view,
            probe,
            folded: BTreeMap::new(),
        }
    }

    /// Sets the app's thresholds from the config and refreshes its watchdog panel: the
    /// daemon's own state when it answers; when it does not, nothing marked as firing, and
    /// which rules would fire now on the data on screen.
    pub fn refresh(&mut self, app: &mut App) {
        app.thresholds = thresholds(&self.config, app.gpus());
        self.read_log();
        self.view.address = self.probe.address.clone();
        let seen = self.probe.latest();
        self.view.daemon = match &seen {
            DaemonSeen::Asking => DaemonLine::Unknown,
            DaemonSeen::CannotAsk(why) => DaemonLine::CannotAsk(why.clone()),
            DaemonSeen::NoAnswer(why) => DaemonLine::Stopped(why.clone()),
            DaemonSeen::Answering(s) if !s.driver_answering => {
                DaemonLine::DriverNotAnswering { dry_run: s.dry_run }
            }
            DaemonSeen::Answering(s) if s.dry_run => DaemonLine::DryRun,
            DaemonSeen::Answering(_) => DaemonLine::Acting,
        };
        for (rule, line) in self.config.rules.iter().zip(&mut self.view.rules) {
            let get = |m: &BTreeMap<String, Vec<u32>>| m.get(&rule.name).cloned();
            (line.active_on, line.pending_on, line.would_fire_on) = match &seen {
                DaemonSeen::Answering(s) => (
                    get(&s.firing).unwrap_or_default(),
                    get(&s.pending).unwrap_or_default(),
                    Vec::new(),
                ),
                DaemonSeen::NoAnswer(_) => (Vec::new(), Vec::new(), would_fire(rule, app.gpus())),
                DaemonSeen::Asking | DaemonSeen::CannotAsk(_) => (
                    get(&self.folded).unwrap_or_default(),
                    Vec::new(),
                    Vec::new(),
                ),
            };
        }
        app.watchdog = Some(self.view.clone());
    }

    fn read_log(&mut self) {
        let meta = std::fs::metadata(&self.events_path).ok();
        let now = meta.map(|m| (m.len(), m.modified().ok()));
        if now == self.seen && self.seen.is_some() {
            return;
        }
        self.seen = now;
        let events = match read_last(&self.events_path, SCANNED_EVENTS) {
            Ok(events) => events,
            Err(e) => {
                self.view.events = vec![EventLine {
                    at_ms: 0,
                    text: format!("cannot read the event log: {e}"),
                    failed: true,
                }];
                return;
            }
        };
        self.folded = active_rules(&events)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        self.view.xid_on = recent_xids(&events, crate::gpu::sampler::now_ms());
        let first = events.len().saturating_sub(SHOWN_EVENTS);
        self.view.events = events[first..].iter().map(event_line).collect();
    }
}

/// The lowest `above` threshold rules put on each metric over the GPUs on screen (the level a
/// bar turns critical at); the defaults where no rule says.
pub fn thresholds(config: &Config, gpus: &[GpuSample]) -> Thresholds {
    let lowest = |metric: Metric| {
        gpus.iter()
            .flat_map(|g| config.limits(metric, g.index, &g.uuid))
            .filter(|l| l.above)
            .map(|l| l.threshold)
            .min_by(f64::total_cmp)
    };
    let d = Thresholds::default();
    Thresholds {
        temperature_c: lowest(Metric::TemperatureC).unwrap_or(d.temperature_c),
        memory_pct: lowest(Metric::MemoryUsedPct).unwrap_or(d.memory_pct),
        power_pct: lowest(Metric::PowerPctOfLimit).unwrap_or(d.power_pct),
    }
}

/// GPUs on which `rule`'s condition holds in this sample (ignoring `for`): what would fire
/// if a daemon ran. Conditions that need history (XIDs, growth) are never guessed.
fn would_fire(rule: &crate::policy::config::Rule, gpus: &[GpuSample]) -> Vec<u32> {
    gpus.iter()
        .filter(|g| rule.gpus.matches(g.index, &g.uuid))
        .filter(|g| match &rule.condition {
            Condition::Above {
                metric, threshold, ..
            } => !g.is_lost() && metric.read(g).is_some_and(|v| v > *threshold),
            Condition::Below {
                metric, threshold, ..
            } => !g.is_lost() && metric.read(g).is_some_and(|v| v < *threshold),
            Condition::Throttle(w) => g.throttle.get().is_some_and(|r| w.active(r)),
            Condition::GpuLost => g.is_lost(),
            Condition::MemoryGrowth { .. } | Condition::Xid { .. } => false,
        })
        .map(|g| g.index)
        .collect()
}

/// Rule name → GPU indexes it is active on, from the log's fired/cleared events in order.
fn active_rules(events: &[Event]) -> BTreeMap<&str, Vec<u32>> {
    let mut active: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for e in events {
        let (Some(rule), Some(gpu)) = (e.rule.as_deref(), e.gpu_index) else {
            continue;
        };
        let on = active.entry(rule).or_default();
        match e.kind {
            EventKind::Fired if !on.contains(&gpu) => on.push(gpu),
            EventKind::Cleared => on.retain(|g| *g != gpu),
            _ => {}
        }
        on.sort_unstable();
    }
    active
}

/// GPU index → code of its latest `xid` event within [`XID_MARK_MS`] of `now_ms`.
fn recent_xids(events: &[Event], now_ms: u64) -> BTreeMap<u32, u32> {
    events
        .iter()
        .filter(|e| e.kind == EventKind::Xid && now_ms.saturating_sub(e.at_ms) < XID_MARK_MS)
        .filter_map(|e| Some((e.gpu_index?, xid_code(&e.action)?)))
        .collect()
}

/// The code of an `xid` event's action, `XID 79: GPU has fallen off the bus`.
fn xid_code(action: &str) -> Option<u32> {
    let rest = action.strip_prefix("XID ")?;
    rest.split(':').next()?.trim().parse().ok()
}

fn event_line(e: &Event) -> EventLine {
    let mut text = String::new();
    if let Some(i) = e.gpu_index {
        text.push_str(&format!("GPU {i}: "));
    }
    text.push_str(&e.action);
    if let Some(rule) = &e.rule {
        text.push_str(&format!(" ({rule})"));
    }
    // Every action says how it ended: a dry run must never read like a real cap.
    if is_action(e.kind) || !e.result.is_ok() {
        text.push_str(&format!(" — {}", e.result.name()));
        if let Some(d) = e.detail.as_ref().filter(|_| !e.result.is_ok()) {
            text.push_str(&format!(": {d}"));
        }
    }
    EventLine {
        at_ms: e.at_ms,
        text,
        failed: !e.result.is_ok() || matches!(e.kind, EventKind::Fired | EventKind::Xid),
    }
}

/// Kinds that change the world or page someone: their result is always shown.
fn is_action(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::CapClocks
            | EventKind::ReapplyCap
            | EventKind::UndoCap
            | EventKind::RestartUnit
            | EventKind::Notify
            | EventKind::Page
            | EventKind::Resolve
    )
}

/// `temperature > 85.0 °C`, `throttle hw-thermal`.
fn summary(c: &Condition) -> String {
    match c {
        Condition::Above {
            metric, threshold, ..
        } => format!("{} > {}", metric.label(), metric.format(*threshold)),
        Condition::Below {
            metric, threshold, ..
        } => format!("{} < {}", metric.label(), metric.format(*threshold)),
        Condition::Throttle(r) => format!("throttle {}", r.name()),
        Condition::GpuLost => "GPU lost".to_string(),
        Condition::MemoryGrowth {
            window, threshold, ..
        } => format!(
            "memory growth > {threshold:.1} % in {}",
            humantime::format_duration(*window)
        ),
        Condition::Xid { codes, .. } if codes.is_empty() => "any XID".to_string(),
        Condition::Xid { codes, .. } => {
            let list: Vec<String> = codes.iter().map(u32::to_string).collect();
            format!("XID {}", list.join("/"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventResult;

    fn xid(at_ms: u64, gpu: u32, code: u32) -> Event {
        Event::new(at_ms, EventKind::Xid, format!("XID {code}: something"))
            .gpu(format!("GPU-{gpu}"), Some(gpu))
            .result(EventResult::Ok, None)
    }

    #[test]
    fn the_latest_xid_of_the_last_hour_marks_each_gpu() {
        let now = 10 * XID_MARK_MS;
        let events = [
            xid(now - XID_MARK_MS, 0, 48), // an hour old: gone
            xid(now - 5_000, 1, 13),
            xid(now - 1_000, 1, 79),
            Event::new(now, EventKind::Fired, "XID 94: not an xid event").gpu("GPU-2", Some(2)),
        ];
        let marks: Vec<_> = recent_xids(&events, now).into_iter().collect();
        assert_eq!(marks, [(1, 79)]);
        assert_eq!(xid_code("XID 154: GPU recovery action changed"), Some(154));
        assert_eq!(xid_code("read the kernel log"), None);
    }
}
