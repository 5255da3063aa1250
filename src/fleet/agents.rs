//! The agents fleet source: other gpuwarden instances (`gpuwarden serve` or `watch`) read over
//! their JSON API — `/api/v1/snapshot` for the numbers, `/api/v1/rules` for firing rules.
//!
//! Hosts are fetched concurrently by a small pool of threads (at most `workers` connections at
//! once), each request with a timeout, so one dead host costs one timeout, not a stalled view.

use super::{FiringRule, FleetSource, HostData, HostReport};
use crate::gpu::{Snapshot, UnixMs};
use crate::http_client::{ClientTls, TlsFileError, explain, system_agent};
use serde::Deserialize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Reads every `host:port` in `addresses`.
pub struct AgentsSource {
    addresses: Vec<String>,
    agent: ureq::Agent,
    timeout: Duration,
    token: Option<String>,
    workers: usize,
}

impl AgentsSource {
    /// Reads `addresses` (`host:port`, `http://host:port` or `https://host:port`), trusting
    /// the system's roots over https.
    pub fn new(addresses: Vec<String>, timeout: Duration, token: Option<String>) -> Self {
        AgentsSource {
            addresses,
            agent: system_agent(timeout, CONNECT_TIMEOUT),
            timeout,
            token,
            workers: 32,
        }
    }

    /// The same source trusting (and presenting) what `tls` says.
    pub fn with_tls(mut self, tls: &ClientTls) -> Result<Self, TlsFileError> {
        self.agent = tls.agent(self.timeout, CONNECT_TIMEOUT)?;
        Ok(self)
    }

    fn get<T: for<'de> Deserialize<'de>>(&self, addr: &str, path: &str) -> Result<T, String> {
        let url = if addr.starts_with("http://") || addr.starts_with("https://") {
            format!("{}{path}", addr.trim_end_matches('/'))
        } else {
            format!("http://{addr}{path}")
        };
        let mut req = self.agent.get(&url);
        if let Some(t) = &self.token {
            req = req.header("Authorization", &format!("Bearer {t}"));
        }
        let resp = req
            .call()
            .map_err(|e| format!("{url}: {}", explain(&url, &e)))?;
        let status = resp.status().as_u16();
        if status != 200 {
            return Err(format!("{url}: HTTP {status}"));
        }
        let mut body = resp.into_body();
        body.with_config()
            .limit(64 << 20)
            .read_json()
            .map_err(|e| format!("{url}: {e}"))
    }

    fn fetch_one(&self, addr: &str) -> Result<HostData, String> {
        let snapshot: Snapshot = self.get(addr, "/api/v1/snapshot")?;
        let rules: Vec<RuleStateJson> = self.get(addr, "/api/v1/rules").unwrap_or_default();
        let firing = rules
            .into_iter()
            .filter(|r| r.status == "firing")
            .map(|r| FiringRule {
                gpu: Some(r.gpu),
                uuid: r.uuid,
                rule: r.rule,
            })
            .collect();
        Ok(HostData {
            snapshot,
            firing,
            xids: Vec::new(),
        })
    }
}

/// `/api/v1/rules` as it comes over the wire (the serialized [`RuleState`]).
#[derive(Deserialize)]
struct RuleStateJson {
    gpu: u32,
    uuid: String,
    rule: String,
    status: String,
}

impl FleetSource for AgentsSource {
    fn fetch(&mut self, _now_ms: UnixMs) -> Vec<HostReport> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<HostReport>>> = Mutex::new(vec![None; self.addresses.len()]);
        let workers = self.workers.clamp(1, self.addresses.len().max(1));
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(addr) = self.addresses.get(i) else {
                            return;
                        };
                        let report = HostReport {
                            address: addr.clone(),
                            result: self.fetch_one(addr),
                        };
                        results.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(report);
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(|e| e.into_inner())
            .into_iter()
            .flatten()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{RuleState, RuleStatus};

    #[test]
    fn the_rules_wire_shape_matches_what_serve_writes() {
        let r = RuleState {
            gpu: 2,
            uuid: "GPU-x".into(),
            rule: "gpu-hot".into(),
            status: RuleStatus::Firing,
        };
        let back: RuleStateJson =
            serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
        assert_eq!((back.gpu, back.status.as_str()), (2, "firing"));
    }
}
