//! Which processes use which AMD card, from the kernel's DRM client statistics in
//! `/proc/PID/fdinfo/FD` (Documentation/gpu/drm-usage-stats.rst):
//!
//! ```text
//! drm-driver:       amdgpu
//! drm-pdev:         0000:03:00.0
//! drm-client-id:    42
//! drm-memory-vram:  524288 KiB
//! drm-engine-gfx:   1234567 ns
//! ```
//!
//! Which processes are looked at, and how often, is [`DrmClients`]'s business (every process
//! every `FULL_RESCAN_EVERY`, the known clients every sample). One process may hold several
//! fds of one client (`dup`); memory is counted once per client id. Processes of other users are
//! skipped when their fds are not readable (not root): the list holds what could be seen.
//! Per-process engine time (`drm-engine-gfx`) needs two samples to become a percentage and
//! the model has no per-process utilization, so it is not read.

use crate::gpu::drm_clients::DrmClients;
use crate::gpu::field::Missing;
use crate::gpu::model::{GpuProcess, UnixMs};
use std::collections::{BTreeMap, HashMap};

/// Processes using AMD cards, by PCI address (`0000:03:00.0`).
pub type ProcessesByCard = HashMap<String, Vec<GpuProcess>>;

/// The processes using AMD cards at `at_ms` (see [`DrmClients::read`] for which processes are
/// looked at), described through the clients' shared cache. `Err` only when the proc root
/// itself is unreadable.
pub fn processes(clients: &mut DrmClients, at_ms: UnixMs) -> Result<ProcessesByCard, Missing> {
    let found = clients.read(at_ms, parse_client)?;
    // (pdev, pid) -> client id -> vram bytes
    let mut by_client: BTreeMap<(String, u32), BTreeMap<String, Option<u64>>> = BTreeMap::new();
    for f in found {
        // Without a client id every fd counts as its own client.
        let id = f.client.id.unwrap_or_else(|| format!("fd {}", f.fd));
        by_client
            .entry((f.client.pdev, f.pid))
            .or_default()
            .insert(id, f.client.vram_bytes);
    }
    let mut out = ProcessesByCard::new();
    for ((pdev, pid), ids) in by_client {
        let known: Vec<u64> = ids.values().filter_map(|v| *v).collect();
        let mut process = GpuProcess {
            pid,
            used_memory_bytes: (!known.is_empty()).then(|| known.iter().sum()),
            ..GpuProcess::default()
        };
        clients.describe(&mut process);
        out.entry(pdev).or_default().push(process);
    }
    clients.end_sample();
    Ok(out)
}

/// One DRM client as an fdinfo file describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrmClient {
    pub pdev: String,
    pub id: Option<String>,
    pub vram_bytes: Option<u64>,
}

/// Parses an fdinfo text; `None` when it is not an AMD DRM client.
pub fn parse_client(info: &str) -> Option<DrmClient> {
    let mut driver = None;
    let mut pdev = None;
    let mut id = None;
    let mut vram = None;
    let mut resident = None;
    for line in info.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "drm-driver" => driver = Some(value.to_string()),
            "drm-pdev" => pdev = Some(value.to_ascii_lowercase()),
            "drm-client-id" => id = Some(value.to_string()),
            "drm-memory-vram" => vram = parse_size(value),
            "drm-resident-vram" => resident = parse_size(value),
            _ => {}
        }
    }
    if !matches!(driver.as_deref(), Some("amdgpu" | "radeon")) {
        return None;
    }
    let pdev = pdev?;
    Some(DrmClient {
        id,
        pdev,
        vram_bytes: vram.or(resident),
    })
}

/// `524288 KiB` → bytes (`KiB`, `MiB` or no unit).
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

    #[test]
    fn parses_amdgpu_clients_and_ignores_others() {
        let info = "pos:\t0\nflags:\t02100002\ndrm-driver:\tamdgpu\ndrm-pdev:\t0000:0C:00.0\n\
                    drm-client-id:\t7\ndrm-memory-vram:\t2048 KiB\ndrm-engine-gfx:\t5 ns\n";
        assert_eq!(
            parse_client(info),
            Some(DrmClient {
                pdev: "0000:0c:00.0".into(),
                id: Some("7".into()),
                vram_bytes: Some(2 << 20),
            })
        );
        assert_eq!(
            parse_client("drm-driver:\ti915\ndrm-pdev:\t0000:00:02.0\n"),
            None
        );
        let newer = "drm-driver: amdgpu\ndrm-pdev: 0000:03:00.0\ndrm-client-id: 1\n\
                     drm-resident-vram: 3 MiB\n";
        assert_eq!(parse_client(newer).unwrap().vram_bytes, Some(3 << 20));
    }
}
