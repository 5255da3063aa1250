//! Counting XIDs once per fault: reports from NVML (by UUID) and the kernel log (by PCI
//! address) are resolved to a watched GPU, and a report that matches one from the *other*
//! source for the same GPU and code within [`DEDUPE_WINDOW_MS`] is the same fault seen twice,
//! not a second one. Two reports from one source are always two faults.
//!
//! The GPU map is learned from the watch loop's snapshots (only watched GPUs are counted);
//! reports that arrive before the first snapshot wait for it.
//!
//! Every fault is counted, but an application looping on the same fault must not flood the
//! event log: after one event for a GPU and code, the next comes no sooner than
//! [`EVENT_EVERY_MS`] later and says how many were counted in between.

use super::{XidReport, XidSource, lookup, normalize_pci};
use crate::events::{Event, EventKind, EventResult};
use crate::gpu::Snapshot;
use crate::metrics::XidCount;
use std::collections::{BTreeMap, VecDeque};

/// Reports of one GPU and code from the two sources this close together are one fault.
pub const DEDUPE_WINDOW_MS: u64 = 2_000;

/// At most one event per GPU and code this often (the counts stay exact).
pub const EVENT_EVERY_MS: u64 = 60_000;

/// How many reports may wait for the first snapshot.
const MAX_WAITING: usize = 256;

/// What became of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A new fault, counted.
    Counted(Counted),
    /// The other source already reported this fault.
    Duplicate,
    /// Not a GPU being watched (or not resolvable); not counted.
    Unknown(XidReport),
    /// Waiting for the first snapshot to say which GPU it is.
    Waiting,
}

/// A counted XID on one GPU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counted {
    pub gpu: u32,
    pub uuid: String,
    pub report: XidReport,
    /// How many of this code on this GPU so far, this one included.
    pub total: u64,
    /// Whether this one gets an event (false while events for it are rate-limited).
    pub log: bool,
    /// Counted without an event since the last event for this GPU and code.
    pub unlogged_before: u64,
}

#[derive(Debug)]
struct Recent {
    uuid: String,
    code: u32,
    at_ms: u64,
    source: XidSource,
    /// Already paired with a report from the other source.
    matched: bool,
}

/// XID counts per GPU and code since the daemon started.
#[derive(Debug, Default)]
pub struct XidTally {
    learned: bool,
    /// Normalised PCI address → UUID.
    by_pci: BTreeMap<String, String>,
    /// UUID → index.
    index: BTreeMap<String, u32>,
    counts: BTreeMap<(String, u32), u64>,
    recent: VecDeque<Recent>,
    waiting: Vec<XidReport>,
    /// Per GPU and code: when the last event was, and how many were counted since.
    last_event: BTreeMap<(String, u32), (u64, u64)>,
}

impl XidTally {
    pub fn new() -> Self {
        Self::default()
    }

    /// Learns which GPUs are watched and their PCI addresses; a GPU once seen keeps its
    /// address (a lost GPU no longer reports one). Returns what the reports waiting for
    /// this became.
    pub fn learn(&mut self, snap: &Snapshot) -> Vec<Outcome> {
        for g in &snap.gpus {
            self.index.insert(g.uuid.clone(), g.index);
            if let Some(pci) = g.pci_bus_id.value().and_then(|p| normalize_pci(p)) {
                self.by_pci.insert(pci, g.uuid.clone());
            }
        }
        self.learned = true;
        std::mem::take(&mut self.waiting)
            .into_iter()
            .map(|r| self.record(r))
            .collect()
    }

    /// Counts `report` unless it is the other source's view of a fault already counted.
    pub fn record(&mut self, report: XidReport) -> Outcome {
        let uuid = report
            .uuid
            .clone()
            .filter(|u| self.index.contains_key(u))
            .or_else(|| {
                let pci = report.pci.as_ref()?;
                self.by_pci.get(pci).cloned()
            });
        let Some(uuid) = uuid else {
            if !self.learned && self.waiting.len() < MAX_WAITING {
                self.waiting.push(report);
                return Outcome::Waiting;
            }
            return Outcome::Unknown(report);
        };
        let Some(&gpu) = self.index.get(&uuid) else {
            return Outcome::Unknown(report);
        };
        let at = report.at_ms;
        self.recent
            .retain(|r| r.at_ms.saturating_add(DEDUPE_WINDOW_MS) >= at);
        let twin = self.recent.iter_mut().find(|r| {
            !r.matched
                && r.source != report.source
                && r.uuid == uuid
                && r.code == report.code
                && r.at_ms.abs_diff(at) <= DEDUPE_WINDOW_MS
        });
        if let Some(twin) = twin {
            twin.matched = true;
            return Outcome::Duplicate;
        }
        self.recent.push_back(Recent {
            uuid: uuid.clone(),
            code: report.code,
            at_ms: at,
            source: report.source,
            matched: false,
        });
        let key = (uuid.clone(), report.code);
        let total = self.counts.entry(key.clone()).or_default();
        *total += 1;
        let total = *total;
        let (log, unlogged_before) = match self.last_event.get_mut(&key) {
            Some((last, unlogged)) if at < last.saturating_add(EVENT_EVERY_MS) => {
                *unlogged += 1;
                (false, 0)
            }
            Some((last, unlogged)) => {
                *last = at;
                (true, std::mem::take(unlogged))
            }
            None => {
                self.last_event.insert(key, (at, 0));
                (true, 0)
            }
        };
        Outcome::Counted(Counted {
            gpu,
            uuid,
            total,
            report,
            log,
            unlogged_before,
        })
    }

    /// Every count, for `gpuwarden_gpu_xid_errors_total`.
    pub fn counts(&self) -> Vec<XidCount> {
        self.counts
            .iter()
            .map(|((uuid, code), count)| XidCount {
                gpu: self.index.get(uuid).copied().unwrap_or_default(),
                uuid: uuid.clone(),
                code: *code,
                count: *count,
            })
            .collect()
    }
}

impl Counted {
    /// The event-log line: the catalogue's meaning as the action, cause and what to do as
    /// the detail.
    pub fn to_event(&self) -> Event {
        let r = &self.report;
        let info = lookup(r.code);
        let mut detail = format!(
            "seen by {}; likely {}; do: {}",
            r.source.name(),
            info.cause,
            info.action.name()
        );
        if self.unlogged_before > 0 {
            detail.push_str(&format!(
                "; {} more counted since the last event ({} in all)",
                self.unlogged_before, self.total
            ));
        }
        if let Some(text) = &r.text {
            detail.push_str("; driver: ");
            detail.push_str(text);
        }
        Event::new(
            r.at_ms,
            EventKind::Xid,
            format!("XID {}: {}", r.code, info.meaning),
        )
        .gpu(self.uuid.clone(), Some(self.gpu))
        .result(EventResult::Ok, Some(detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::sim::{Scenario, SimConfig, SimSource};
    use crate::gpu::{Field, Source};

    /// Two simulated GPUs at PCI 0000:17:00 and 0000:18:00.
    fn snapshot() -> Snapshot {
        let mut sim = SimSource::new(&SimConfig {
            gpus: 2,
            seed: 1,
            scenario: Scenario::Idle,
        });
        let mut snap = sim.sample(1_000).unwrap();
        for (i, g) in snap.gpus.iter_mut().enumerate() {
            g.pci_bus_id = Field::Value(format!("00000000:{:02X}:00.0", 0x17 + i));
        }
        snap
    }

    fn nvml(uuid: &str, code: u32, at_ms: u64) -> XidReport {
        XidReport {
            source: XidSource::Nvml,
            uuid: Some(uuid.into()),
            pci: None,
            code,
            at_ms,
            text: None,
        }
    }

    fn kmsg(pci: &str, code: u32, at_ms: u64) -> XidReport {
        XidReport {
            source: XidSource::Kmsg,
            uuid: None,
            pci: Some(pci.into()),
            code,
            at_ms,
            text: Some("GPU has fallen off the bus.".into()),
        }
    }

    fn counted(o: &Outcome) -> (u32, u32, u64) {
        match o {
            Outcome::Counted(c) => (c.gpu, c.report.code, c.total),
            other => panic!("not counted: {other:?}"),
        }
    }

    #[test]
    fn the_same_fault_from_both_sources_counts_once() {
        let snap = snapshot();
        let uuid0 = snap.gpus[0].uuid.clone();
        let mut t = XidTally::new();
        t.learn(&snap);
        assert_eq!(counted(&t.record(nvml(&uuid0, 79, 10_000))), (0, 79, 1));
        assert_eq!(t.record(kmsg("0000:17:00", 79, 10_400)), Outcome::Duplicate);
        // Kernel log first, NVML second: the same.
        assert_eq!(
            counted(&t.record(kmsg("0000:17:00", 13, 20_000))),
            (0, 13, 1)
        );
        assert_eq!(t.record(nvml(&uuid0, 13, 20_100)), Outcome::Duplicate);
        let e = match t.record(nvml(&uuid0, 79, 50_000)) {
            Outcome::Counted(c) => c.to_event(),
            other => panic!("{other:?}"),
        };
        assert_eq!(e.kind, EventKind::Xid);
        assert_eq!(e.action, "XID 79: GPU has fallen off the bus");
        assert_eq!(
            (e.gpu.as_deref(), e.gpu_index),
            (Some(uuid0.as_str()), Some(0))
        );
        let detail = e.detail.unwrap_or_default();
        assert!(detail.starts_with("seen by nvml; likely "), "{detail}");
        assert!(detail.ends_with("do: reboot"), "{detail}");
        let counts = t.counts();
        assert_eq!(counts.len(), 2);
        let by_code: Vec<_> = counts.iter().map(|c| (c.code, c.count)).collect();
        assert_eq!(by_code, [(13, 1), (79, 2)]);
        assert!(counts.iter().all(|c| c.uuid == uuid0 && c.gpu == 0));
    }

    #[test]
    fn repeats_from_one_source_other_gpus_codes_and_late_twins_all_count() {
        let snap = snapshot();
        let (uuid0, uuid1) = (snap.gpus[0].uuid.clone(), snap.gpus[1].uuid.clone());
        let mut t = XidTally::new();
        t.learn(&snap);
        assert_eq!(
            counted(&t.record(kmsg("0000:17:00", 13, 1_000))),
            (0, 13, 1)
        );
        assert_eq!(
            counted(&t.record(kmsg("0000:17:00", 13, 1_100))),
            (0, 13, 2)
        );
        // One NVML report pairs with one of the two kernel lines; the next is new.
        assert_eq!(t.record(nvml(&uuid0, 13, 1_200)), Outcome::Duplicate);
        assert_eq!(t.record(nvml(&uuid0, 13, 1_300)), Outcome::Duplicate);
        assert_eq!(counted(&t.record(nvml(&uuid0, 13, 1_400))), (0, 13, 3));
        // Other GPU, other code.
        assert_eq!(
            counted(&t.record(kmsg("0000:18:00", 13, 1_500))),
            (1, 13, 1)
        );
        assert_eq!(counted(&t.record(nvml(&uuid1, 48, 1_600))), (1, 48, 1));
        // Outside the window it is a new fault.
        assert_eq!(counted(&t.record(nvml(&uuid1, 79, 10_000))), (1, 79, 1));
        let late = 10_000 + DEDUPE_WINDOW_MS + 1;
        assert_eq!(counted(&t.record(kmsg("0000:18:00", 79, late))), (1, 79, 2));
    }

    #[test]
    fn reports_before_the_first_snapshot_wait_and_strangers_are_not_counted() {
        let snap = snapshot();
        let mut t = XidTally::new();
        assert_eq!(t.record(kmsg("0000:17:00", 79, 1_000)), Outcome::Waiting);
        assert_eq!(t.record(kmsg("0000:99:00", 79, 1_000)), Outcome::Waiting);
        let outcomes = t.learn(&snap);
        assert_eq!(counted(&outcomes[0]), (0, 79, 1));
        assert!(matches!(outcomes[1], Outcome::Unknown(_)), "{outcomes:?}");
        let stranger = nvml("GPU-not-watched", 79, 2_000);
        assert_eq!(t.record(stranger.clone()), Outcome::Unknown(stranger));
    }

    #[test]
    fn a_looping_fault_is_counted_every_time_but_logged_once_a_minute() {
        let snap = snapshot();
        let mut t = XidTally::new();
        t.learn(&snap);
        let mut logged = Vec::new();
        for i in 0..10 {
            let at = 1_000 + i * 10_000;
            match t.record(kmsg("0000:17:00", 13, at)) {
                Outcome::Counted(c) if c.log => logged.push((at, c.unlogged_before, c.to_event())),
                Outcome::Counted(_) => {}
                other => panic!("{other:?}"),
            }
        }
        let times: Vec<_> = logged.iter().map(|(at, n, _)| (*at, *n)).collect();
        assert_eq!(times, [(1_000, 0), (61_000, 5)]);
        let detail = logged[1].2.detail.clone().unwrap_or_default();
        assert!(
            detail.contains("; 5 more counted since the last event (7 in all)"),
            "{detail}"
        );
        assert_eq!(t.counts()[0].count, 10);
        // Another code on the same GPU is not held back.
        assert!(matches!(t.record(kmsg("0000:17:00", 31, 91_500)), Outcome::Counted(c) if c.log));
    }

    #[test]
    fn a_lost_gpu_keeps_its_pci_address() {
        let mut snap = snapshot();
        let mut t = XidTally::new();
        t.learn(&snap);
        snap.gpus[0].pci_bus_id = Field::default();
        t.learn(&snap);
        assert_eq!(
            counted(&t.record(kmsg("0000:17:00", 79, 5_000))),
            (0, 79, 1)
        );
    }
}
