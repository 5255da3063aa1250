//! Which processes use which Intel card, how busy they keep its engines and how much memory
//! they hold, from the kernel's DRM client statistics in `/proc/PID/fdinfo/FD`
//! (Documentation/gpu/drm-usage-stats.rst). The two drivers count busy time differently:
//!
//! ```text
//! drm-driver:            i915               drm-driver:             xe
//! drm-pdev:              0000:03:00.0       drm-pdev:               0000:03:00.0
//! drm-client-id:         7                  drm-client-id:          7
//! drm-total-local0:      8192 KiB           drm-total-vram0:        8192 KiB
//! drm-resident-local0:   8192 KiB           drm-resident-vram0:     8192 KiB
//! drm-engine-render:     9288864723 ns      drm-cycles-rcs:         28257900
//! drm-engine-capacity-video: 2              drm-total-cycles-rcs:   7655183225
//! ```
//!
//! i915's `drm-engine-<engine>` is busy nanoseconds: busy % = Δns / Δt. xe's
//! `drm-cycles-<engine>` is busy GPU cycles and `drm-total-cycles-<engine>` the GPU's clock
//! over the same time: busy % = Δcycles / Δtotal-cycles. Both divide by
//! `drm-engine-capacity-<engine>` (engines of that class; 1 when absent). A client's busy time
//! needs two samples, so the first sample has none.
//!
//! The card's utilization is the busiest engine summed over every client (capped at 100):
//! like NVIDIA's, it says how much of the time the card was doing something.
//!
//! Memory: `drm-resident-<region>` (else `drm-total-<region>`), over the card's own memory
//! regions (`local*`, `vram*`) on a discrete card, over every region on an integrated one
//! (it has only system memory). A client's memory is counted once however many fds share it.

use crate::gpu::drm_clients::DrmClients;
use crate::gpu::field::Missing;
use crate::gpu::model::UnixMs;
use std::collections::BTreeMap;

/// One engine counter of one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Busy {
    /// i915: busy nanoseconds.
    Ns(u64),
    /// xe: busy cycles and the GPU's cycles.
    Cycles { busy: u64, total: u64 },
}

/// One Intel DRM client as an fdinfo file describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntelClient {
    pub driver: String,
    pub pdev: String,
    pub id: Option<String>,
    /// Engine class (`render`, `rcs`, …) → counter.
    pub engines: BTreeMap<String, Busy>,
    /// Engine class → how many engines it has.
    pub capacity: BTreeMap<String, u64>,
    /// Memory by region (`local0`, `vram0`, `system0`), resident where said, else total.
    pub memory: BTreeMap<String, u64>,
}

impl IntelClient {
    /// Bytes of GPU memory: the card's own regions when it has any, else every region.
    pub fn memory_bytes(&self) -> Option<u64> {
        if self.memory.is_empty() {
            return None;
        }
        let own: Vec<u64> = self
            .memory
            .iter()
            .filter(|(r, _)| r.contains("local") || r.starts_with("vram"))
            .map(|(_, b)| *b)
            .collect();
        Some(if own.is_empty() {
            self.memory.values().sum()
        } else {
            own.iter().sum()
        })
    }
}

/// Parses an fdinfo text; `None` when it is not an i915 or xe client.
pub fn parse_client(info: &str) -> Option<IntelClient> {
    let mut c = IntelClient::default();
    let mut ns = BTreeMap::new();
    let mut cycles = BTreeMap::new();
    let mut total_cycles = BTreeMap::new();
    let mut resident = BTreeMap::new();
    let mut total = BTreeMap::new();
    for line in info.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let (key, value) = (key.trim(), value.trim());
        let number = || value.split_whitespace().next()?.parse::<u64>().ok();
        match key {
            "drm-driver" => c.driver = value.to_string(),
            "drm-pdev" => c.pdev = value.to_ascii_lowercase(),
            "drm-client-id" => c.id = Some(value.to_string()),
            _ => {
                if let Some(engine) = key.strip_prefix("drm-engine-capacity-") {
                    number().map(|n| c.capacity.insert(engine.to_string(), n));
                } else if let Some(engine) = key.strip_prefix("drm-engine-") {
                    number().map(|n| ns.insert(engine.to_string(), n));
                } else if let Some(engine) = key.strip_prefix("drm-total-cycles-") {
                    number().map(|n| total_cycles.insert(engine.to_string(), n));
                } else if let Some(engine) = key.strip_prefix("drm-cycles-") {
                    number().map(|n| cycles.insert(engine.to_string(), n));
                } else if let Some(region) = key.strip_prefix("drm-resident-") {
                    parse_size(value).map(|b| resident.insert(region.to_string(), b));
                } else if let Some(region) = key.strip_prefix("drm-total-") {
                    parse_size(value).map(|b| total.insert(region.to_string(), b));
                }
            }
        }
    }
    if !matches!(c.driver.as_str(), "i915" | "xe") || c.pdev.is_empty() {
        return None;
    }
    for (engine, n) in ns {
        c.engines.insert(engine, Busy::Ns(n));
    }
    for (engine, busy) in cycles {
        if let Some(&total) = total_cycles.get(&engine) {
            c.engines.insert(engine, Busy::Cycles { busy, total });
        }
    }
    for (region, bytes) in total {
        c.memory.insert(
            region.clone(),
            resident.get(&region).copied().unwrap_or(bytes),
        );
    }
    for (region, bytes) in resident {
        c.memory.entry(region).or_insert(bytes);
    }
    Some(c)
}

/// Busy percent of one engine between two readings `dt_ms` apart, divided by `capacity`.
pub fn busy_pct(before: Busy, now: Busy, dt_ms: u64, capacity: u64) -> Option<f64> {
    let capacity = capacity.max(1) as f64;
    let pct = match (before, now) {
        (Busy::Ns(a), Busy::Ns(b)) if b >= a && dt_ms > 0 => {
            (b - a) as f64 / (dt_ms as f64 * 1e6) * 100.0
        }
        (Busy::Cycles { busy: a, total: ta }, Busy::Cycles { busy: b, total: tb })
            if b >= a && tb > ta =>
        {
            (b - a) as f64 / (tb - ta) as f64 * 100.0
        }
        _ => return None,
    };
    Some((pct / capacity).min(100.0))
}

/// A client seen in one read: whose it is and what it said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    pub pid: u32,
    /// The client id, or `fd N` when the driver gives none.
    pub key: String,
    pub client: IntelClient,
}

/// Every Intel DRM client at `at_ms`, one per `(pid, client id)` (see [`DrmClients::read`]
/// for which processes are looked at). `Err` only when the proc root itself is unreadable.
pub fn clients(clients: &mut DrmClients, at_ms: UnixMs) -> Result<Vec<Seen>, Missing> {
    let mut out: BTreeMap<(u32, String), Seen> = BTreeMap::new();
    for f in clients.read(at_ms, parse_client)? {
        let key = f
            .client
            .id
            .clone()
            .unwrap_or_else(|| format!("fd {}", f.fd));
        out.entry((f.pid, key.clone())).or_insert(Seen {
            pid: f.pid,
            key,
            client: f.client,
        });
    }
    Ok(out.into_values().collect())
}

/// `8192 KiB` → bytes (`KiB`, `MiB`, `GiB` or no unit).
fn parse_size(value: &str) -> Option<u64> {
    let mut parts = value.split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    let scale = match parts.next() {
        None => 1,
        Some("KiB") => 1 << 10,
        Some("MiB") => 1 << 20,
        Some("GiB") => 1 << 30,
        Some(_) => return None,
    };
    n.checked_mul(scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What i915 prints for a client of an Arc A380 (the kernel's documented keys).
    pub const I915: &str = "pos:\t0\nflags:\t02100002\nmnt_id:\t26\nino:\t685\n\
        drm-driver:\ti915\ndrm-client-id:\t13\ndrm-pdev:\t0000:0B:00.0\n\
        drm-total-system0:\t6528 KiB\ndrm-shared-system0:\t0\ndrm-active-system0:\t0\n\
        drm-resident-system0:\t6528 KiB\ndrm-purgeable-system0:\t0\n\
        drm-total-local0:\t65536 KiB\ndrm-resident-local0:\t49152 KiB\n\
        drm-total-stolen-local0:\t0\n\
        drm-engine-render:\t9288864723 ns\ndrm-engine-copy:\t0 ns\n\
        drm-engine-video:\t0 ns\ndrm-engine-capacity-video:\t2\n\
        drm-engine-video-enhance:\t0 ns\n";

    /// What xe prints for a client of an Arc B580.
    pub const XE: &str = "pos:\t0\nflags:\t0100002\nmnt_id:\t27\nino:\t1051\n\
        drm-driver:\txe\ndrm-client-id:\t4\ndrm-pdev:\t0000:09:00.0\n\
        drm-total-system:\t0\ndrm-shared-system:\t0\ndrm-active-system:\t0\n\
        drm-resident-system:\t0\ndrm-purgeable-system:\t0\n\
        drm-total-gtt:\t192 KiB\ndrm-shared-gtt:\t0\ndrm-active-gtt:\t0\n\
        drm-resident-gtt:\t192 KiB\n\
        drm-total-vram0:\t23992 KiB\ndrm-shared-vram0:\t16 MiB\ndrm-active-vram0:\t0\n\
        drm-resident-vram0:\t23992 KiB\ndrm-purgeable-vram0:\t0\n\
        drm-cycles-bcs:\t0\ndrm-total-cycles-bcs:\t37728596\n\
        drm-cycles-ccs:\t0\ndrm-total-cycles-ccs:\t37728537\n\
        drm-cycles-rcs:\t28257900\ndrm-total-cycles-rcs:\t37728537\n\
        drm-cycles-vcs:\t0\ndrm-total-cycles-vcs:\t37728537\n\
        drm-engine-capacity-ccs:\t4\ndrm-engine-capacity-vcs:\t2\n";

    #[test]
    fn i915_clients_have_nanoseconds_and_local_memory() {
        let c = parse_client(I915).unwrap();
        assert_eq!(c.pdev, "0000:0b:00.0");
        assert_eq!(c.id.as_deref(), Some("13"));
        assert_eq!(c.engines["render"], Busy::Ns(9_288_864_723));
        assert_eq!(c.engines["video-enhance"], Busy::Ns(0));
        assert_eq!(c.capacity["video"], 2);
        assert!(!c.engines.contains_key("capacity-video"));
        // Discrete: only local memory counts, resident over total.
        assert_eq!(c.memory_bytes(), Some(49152 << 10));
    }

    #[test]
    fn xe_clients_have_cycles_and_vram() {
        let c = parse_client(XE).unwrap();
        assert_eq!(
            c.engines["rcs"],
            Busy::Cycles {
                busy: 28_257_900,
                total: 37_728_537
            }
        );
        assert_eq!(c.capacity["ccs"], 4);
        assert_eq!(c.memory_bytes(), Some(23992 << 10));
    }

    #[test]
    fn an_integrated_card_counts_system_memory_and_others_are_not_intel() {
        let igpu = "drm-driver: i915\ndrm-pdev: 0000:00:02.0\ndrm-client-id: 3\n\
                    drm-total-system0: 2 MiB\ndrm-resident-system0: 1 MiB\n\
                    drm-total-stolen-system0: 0\n";
        assert_eq!(parse_client(igpu).unwrap().memory_bytes(), Some(1 << 20));
        assert_eq!(
            parse_client("drm-driver: amdgpu\ndrm-pdev: 0000:03:00.0\n"),
            None
        );
        assert_eq!(parse_client("drm-driver: xe\n"), None);
    }

    #[test]
    fn busy_percent_from_two_readings() {
        // i915: 250 ms busy in 1 s.
        assert_eq!(
            busy_pct(Busy::Ns(1_000_000_000), Busy::Ns(1_250_000_000), 1_000, 1),
            Some(25.0)
        );
        // xe: half the cycles, on a class of 2 engines.
        let a = Busy::Cycles {
            busy: 100,
            total: 1_000,
        };
        let b = Busy::Cycles {
            busy: 600,
            total: 2_000,
        };
        assert_eq!(busy_pct(a, b, 1_000, 2), Some(25.0));
        // A counter that went backwards (client reopened) has no rate.
        assert_eq!(busy_pct(b, a, 1_000, 1), None);
    }
}
