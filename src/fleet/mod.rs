//! The fleet: many hosts' snapshots in one model, for the hosts view and fleet tools.
//!
//! A [`FleetSource`] fetches one [`HostReport`] per host — `agents` reads other gpuwarden
//! instances' `/api/v1/snapshot`, `prometheus` reads a Prometheus server that scrapes
//! gpuwarden or NVIDIA's dcgm-exporter. [`Fleet::update`] folds reports in: a host that stops
//! answering keeps its last snapshot and is marked unreachable, never dropped; every host knows
//! the age of its numbers so stale ones can be shown as such.

pub mod agents;
pub mod prometheus;
pub mod promql;

use crate::gpu::{Snapshot, UnixMs};
use serde::Serialize;
use std::time::Duration;

/// A watchdog rule firing on one GPU of a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FiringRule {
    pub gpu: Option<u32>,
    pub uuid: String,
    pub rule: String,
}

/// An XID seen on a GPU: gpuwarden counts events by code, dcgm-exporter reports the last code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct XidSeen {
    pub uuid: String,
    pub code: u32,
    /// Events counted (gpuwarden); `None` when only the last code is known (dcgm-exporter).
    pub count: Option<u64>,
}

/// What one fetch learned about one host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostReport {
    /// How the host is addressed (`host:port` of an agent, `instance` in Prometheus).
    pub address: String,
    pub result: Result<HostData, String>,
}

/// A reachable host's numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct HostData {
    pub snapshot: Snapshot,
    pub firing: Vec<FiringRule>,
    pub xids: Vec<XidSeen>,
}

/// Something that can fetch every host of a fleet at once.
pub trait FleetSource: Send {
    /// Fetches every host; never fails as a whole (each host reports its own error).
    fn fetch(&mut self, now_ms: UnixMs) -> Vec<HostReport>;
}

/// One host as the fleet view shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Host {
    pub address: String,
    /// The newest snapshot the host ever gave (kept while it is unreachable).
    pub snapshot: Option<Snapshot>,
    pub reachable: bool,
    /// Why the last fetch failed.
    pub error: Option<String>,
    pub firing: Vec<FiringRule>,
    pub xids: Vec<XidSeen>,
    /// When the last fetch of this host happened.
    pub checked_at_ms: UnixMs,
}

impl Host {
    /// The host's own name when it reported one, else its address.
    pub fn name(&self) -> &str {
        match &self.snapshot {
            Some(s) if !s.host.is_empty() => &s.host,
            _ => &self.address,
        }
    }

    /// How old its numbers are at `now_ms`; `None` before the first snapshot.
    pub fn age(&self, now_ms: UnixMs) -> Option<Duration> {
        let s = self.snapshot.as_ref()?;
        Some(Duration::from_millis(now_ms.saturating_sub(s.at_ms)))
    }

    pub fn is_stale(&self, now_ms: UnixMs, stale_after: Duration) -> bool {
        self.age(now_ms).is_none_or(|a| a > stale_after)
    }

    pub fn gpu_count(&self) -> usize {
        self.snapshot.as_ref().map_or(0, |s| s.gpus.len())
    }

    pub fn lost_count(&self) -> usize {
        self.snapshot
            .as_ref()
            .map_or(0, |s| s.gpus.iter().filter(|g| g.is_lost()).count())
    }

    /// The hottest GPU: (index, °C).
    pub fn hottest(&self) -> Option<(u32, f64)> {
        let s = self.snapshot.as_ref()?;
        s.gpus
            .iter()
            .filter_map(|g| Some((g.index, g.temperature_c.get()?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// The fullest GPU: (index, % memory used).
    pub fn fullest(&self) -> Option<(u32, f64)> {
        let s = self.snapshot.as_ref()?;
        s.gpus
            .iter()
            .filter_map(|g| Some((g.index, g.memory_used_pct()?)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// Every host of the fleet, in a stable order (the order they were first seen).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Fleet {
    pub hosts: Vec<Host>,
}

impl Fleet {
    /// Folds in one fetch. Hosts missing from `reports` are left as they were.
    pub fn update(&mut self, reports: Vec<HostReport>, now_ms: UnixMs) {
        for r in reports {
            let pos = match self.hosts.iter().position(|h| h.address == r.address) {
                Some(p) => p,
                None => {
                    self.hosts.push(Host {
                        address: r.address.clone(),
                        snapshot: None,
                        reachable: false,
                        error: None,
                        firing: Vec::new(),
                        xids: Vec::new(),
                        checked_at_ms: now_ms,
                    });
                    self.hosts.len() - 1
                }
            };
            let h = &mut self.hosts[pos];
            h.checked_at_ms = now_ms;
            match r.result {
                Ok(data) => {
                    h.snapshot = Some(data.snapshot);
                    h.firing = data.firing;
                    h.xids = data.xids;
                    h.reachable = true;
                    h.error = None;
                }
                Err(e) => {
                    h.reachable = false;
                    h.error = Some(e);
                }
            }
        }
    }

    pub fn gpu_count(&self) -> usize {
        self.hosts.iter().map(Host::gpu_count).sum()
    }

    pub fn host(&self, address: &str) -> Option<&Host> {
        self.hosts.iter().find(|h| h.address == address)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::GpuSample;

    fn report(addr: &str, at: u64, temp: f64) -> HostReport {
        let mut s = Snapshot::new(at, addr, "remote");
        let mut g = GpuSample {
            uuid: "GPU-1".into(),
            ..Default::default()
        };
        g.temperature_c = temp.into();
        s.gpus.push(g);
        HostReport {
            address: addr.into(),
            result: Ok(HostData {
                snapshot: s,
                firing: vec![],
                xids: vec![],
            }),
        }
    }

    #[test]
    fn an_unreachable_host_keeps_its_last_numbers_and_ages() {
        let mut f = Fleet::default();
        f.update(
            vec![report("a:1", 1000, 70.0), report("b:1", 1000, 80.0)],
            1000,
        );
        f.update(
            vec![
                report("a:1", 5000, 71.0),
                HostReport {
                    address: "b:1".into(),
                    result: Err("connection refused".into()),
                },
            ],
            5000,
        );
        assert_eq!(f.hosts.len(), 2);
        let b = f.host("b:1").unwrap();
        assert!(!b.reachable);
        assert_eq!(b.hottest(), Some((0, 80.0)));
        assert_eq!(b.age(5000), Some(Duration::from_secs(4)));
        assert!(b.is_stale(5000, Duration::from_secs(3)));
        assert!(
            !f.host("a:1")
                .unwrap()
                .is_stale(5000, Duration::from_secs(3))
        );
        assert_eq!(f.gpu_count(), 2);
    }
}
