//! The one data model every part of gpuwarden reads: a [`Snapshot`] of [`GpuSample`]s.
//!
//! Sources (NVML, AMD sysfs, the simulated fleet, traces, remote hosts) produce snapshots;
//! the dashboard, the policy engine, the metrics endpoint, the recorder and the bench report
//! consume them. GPUs are keyed by UUID (index is for display), every metric is a
//! [`Field`] so a missing one carries its reason, and a GPU that fell off the bus is a sample
//! with `status: lost`, not an error. The JSON form is versioned by [`SCHEMA_VERSION`] and
//! documented in `docs/snapshot-schema.md`.

use super::field::Field;
use super::throttle::ThrottleReasons;
pub use crate::owner::{OwnerKind, ProcessOwner};
use serde::{Deserialize, Serialize};

/// Version of the snapshot JSON schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// Milliseconds since the Unix epoch. Time enters the model only through snapshots.
pub type UnixMs = u64;

/// One sample of every GPU on a host, taken at one moment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub schema: u32,
    /// When the sample was taken, in ms since the Unix epoch.
    pub at_ms: UnixMs,
    pub host: String,
    /// Which source produced it: `nvml`, `amd`, `sim`, `trace`, `remote`.
    pub source: String,
    pub gpus: Vec<GpuSample>,
}

impl Snapshot {
    pub fn new(at_ms: UnixMs, host: impl Into<String>, source: impl Into<String>) -> Self {
        Snapshot {
            schema: SCHEMA_VERSION,
            at_ms,
            host: host.into(),
            source: source.into(),
            gpus: Vec::new(),
        }
    }

    pub fn gpu(&self, uuid: &str) -> Option<&GpuSample> {
        self.gpus.iter().find(|g| g.uuid == uuid)
    }

    /// Keeps only the GPUs whose index is listed (the `-i 0,2` selection); `None` keeps all.
    pub fn select(&mut self, indices: Option<&[u32]>) {
        if let Some(keep) = indices {
            self.gpus.retain(|g| keep.contains(&g.index));
        }
    }

    /// The driver version of the first GPU that reports one (header display).
    pub fn driver_version(&self) -> Option<&str> {
        self.gpus
            .iter()
            .find_map(|g| g.driver_version.value().map(String::as_str))
    }
}

/// Which vendor's driver a GPU belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    #[default]
    Nvidia,
    Amd,
    Intel,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Intel => "intel",
        }
    }
}

/// Whether the GPU answered this sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GpuStatus {
    #[default]
    Ok,
    /// Fell off the bus / stopped answering; its fields are missing with `gpu_lost`.
    Lost,
}

/// PCIe link generation and width.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcieLink {
    pub generation: u32,
    pub width: u32,
}

/// Row remapping of the GPU's memory (Ampere and later): rows replaced by spares after ECC
/// errors. A pending remap takes effect at the next GPU reset; a failure means no spare row
/// was left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRemap {
    /// Rows remapped after correctable errors.
    pub correctable: u32,
    /// Rows remapped after uncorrectable errors.
    pub uncorrectable: u32,
    /// A remap waits for the next GPU reset.
    pub pending: bool,
    /// A remap failed: the memory has no spare rows left.
    pub failure: bool,
}

/// A process using a GPU, as the driver reports it, enriched from `/proc`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuProcess {
    pub pid: u32,
    /// GPU memory the process holds, when the driver says (not under some MIG/WSL setups).
    pub used_memory_bytes: Option<u64>,
    pub user: Option<String>,
    pub command: Option<String>,
    /// The systemd unit the process runs in, read from `/proc/PID/cgroup`.
    pub unit: Option<String>,
    /// Who the process belongs to: its unit, container, Kubernetes pod or Slurm job.
    #[serde(default)]
    pub owner: Option<ProcessOwner>,
    /// Share of the driver's last sample period this process kept the SMs busy (0–100).
    #[serde(default)]
    pub utilization_sm_pct: Option<u32>,
    /// Share of that period it was reading or writing device memory (0–100).
    #[serde(default)]
    pub utilization_memory_pct: Option<u32>,
    #[serde(default)]
    pub encoder_pct: Option<u32>,
    #[serde(default)]
    pub decoder_pct: Option<u32>,
    /// Host CPU time since the previous sample, in % of one core (above 100 with threads).
    #[serde(default)]
    pub cpu_pct: Option<f64>,
    /// Resident host memory.
    #[serde(default)]
    pub rss_bytes: Option<u64>,
    /// Seconds since the process started.
    #[serde(default)]
    pub run_time_s: Option<u64>,
    /// The MIG device the process runs on, by UUID (`MIG-…`), on a GPU in MIG mode.
    #[serde(default)]
    pub mig_uuid: Option<String>,
}

/// One MIG device (a GPU instance with its compute instance) of a GPU in MIG mode.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MigDevice {
    /// Stable identity, `MIG-…`.
    pub uuid: String,
    /// The instance's profile, e.g. `3g.40gb`.
    #[serde(default)]
    pub profile: Field<String>,
    #[serde(default)]
    pub memory_used_bytes: Field<u64>,
    #[serde(default)]
    pub memory_total_bytes: Field<u64>,
    /// Busy share of the instance, where the driver gives it (most do not under MIG).
    #[serde(default)]
    pub utilization_gpu_pct: Field<u32>,
}

/// Everything gpuwarden knows about one GPU at one moment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuSample {
    pub index: u32,
    /// Stable identity (NVIDIA `GPU-…` UUID; AMD cards use their PCI address).
    pub uuid: String,
    #[serde(default)]
    pub vendor: Vendor,
    #[serde(default)]
    pub status: GpuStatus,
    #[serde(default)]
    pub name: Field<String>,
    #[serde(default)]
    pub pci_bus_id: Field<String>,
    #[serde(default)]
    pub driver_version: Field<String>,

    #[serde(default)]
    pub utilization_gpu_pct: Field<u32>,
    #[serde(default)]
    pub utilization_memory_pct: Field<u32>,
    #[serde(default)]
    pub memory_used_bytes: Field<u64>,
    #[serde(default)]
    pub memory_total_bytes: Field<u64>,

    #[serde(default)]
    pub temperature_c: Field<f64>,
    #[serde(default)]
    pub temperature_slowdown_c: Field<f64>,
    #[serde(default)]
    pub temperature_shutdown_c: Field<f64>,

    #[serde(default)]
    pub power_w: Field<f64>,
    #[serde(default)]
    pub power_limit_w: Field<f64>,

    #[serde(default)]
    pub clock_sm_mhz: Field<u32>,
    #[serde(default)]
    pub clock_sm_max_mhz: Field<u32>,
    #[serde(default)]
    pub clock_mem_mhz: Field<u32>,
    #[serde(default)]
    pub clock_mem_max_mhz: Field<u32>,

    #[serde(default)]
    pub fan_pct: Field<u32>,
    /// Performance state, 0 (P0, fastest) to 15.
    #[serde(default)]
    pub pstate: Field<u32>,
    #[serde(default)]
    pub throttle: Field<ThrottleReasons>,

    #[serde(default)]
    pub encoder_pct: Field<u32>,
    #[serde(default)]
    pub decoder_pct: Field<u32>,

    #[serde(default)]
    pub pcie_link: Field<PcieLink>,
    /// The fastest link this GPU and its slot can train to (read once).
    #[serde(default)]
    pub pcie_link_max: Field<PcieLink>,
    /// PCIe replays (link-level retransmissions) since the driver loaded; only counts up.
    #[serde(default)]
    pub pcie_replays: Field<u64>,
    #[serde(default)]
    pub pcie_rx_bytes_per_s: Field<u64>,
    #[serde(default)]
    pub pcie_tx_bytes_per_s: Field<u64>,

    /// Volatile (since driver load) uncorrected ECC errors.
    #[serde(default)]
    pub ecc_uncorrected: Field<u64>,
    /// Uncorrected ECC errors over the GPU's lifetime (survives driver reloads).
    #[serde(default)]
    pub ecc_uncorrected_aggregate: Field<u64>,
    #[serde(default)]
    pub row_remap: Field<RowRemap>,
    /// Pages retired for ECC errors wait for the next GPU reset (pre-Ampere page retirement).
    #[serde(default)]
    pub retired_pages_pending: Field<bool>,
    /// ECC is on now (a change waits for a reboot; read once).
    #[serde(default)]
    pub ecc_enabled: Field<bool>,
    /// MIG mode is on now (a change waits for a GPU reset; read once).
    #[serde(default)]
    pub mig_enabled: Field<bool>,

    #[serde(default)]
    pub processes: Field<Vec<GpuProcess>>,
    /// The GPU's MIG devices: empty with MIG mode off, `not_supported` on GPUs without MIG.
    #[serde(default)]
    pub mig: Field<Vec<MigDevice>>,
}

impl GpuSample {
    /// A sample for a GPU that stopped answering: identity kept, every metric `gpu_lost`.
    pub fn lost(index: u32, uuid: impl Into<String>, vendor: Vendor) -> Self {
        use super::field::Missing::GpuLost;
        let m = || Field::missing(GpuLost);
        GpuSample {
            index,
            uuid: uuid.into(),
            vendor,
            status: GpuStatus::Lost,
            name: Field::missing(GpuLost),
            pci_bus_id: Field::missing(GpuLost),
            driver_version: Field::missing(GpuLost),
            utilization_gpu_pct: m(),
            utilization_memory_pct: m(),
            memory_used_bytes: Field::missing(GpuLost),
            memory_total_bytes: Field::missing(GpuLost),
            temperature_c: Field::missing(GpuLost),
            temperature_slowdown_c: Field::missing(GpuLost),
            temperature_shutdown_c: Field::missing(GpuLost),
            power_w: Field::missing(GpuLost),
            power_limit_w: Field::missing(GpuLost),
            clock_sm_mhz: m(),
            clock_sm_max_mhz: m(),
            clock_mem_mhz: m(),
            clock_mem_max_mhz: m(),
            fan_pct: m(),
            pstate: m(),
            throttle: Field::missing(GpuLost),
            encoder_pct: m(),
            decoder_pct: m(),
            pcie_link: Field::missing(GpuLost),
            pcie_link_max: Field::missing(GpuLost),
            pcie_replays: Field::missing(GpuLost),
            pcie_rx_bytes_per_s: Field::missing(GpuLost),
            pcie_tx_bytes_per_s: Field::missing(GpuLost),
            ecc_uncorrected: Field::missing(GpuLost),
            ecc_uncorrected_aggregate: Field::missing(GpuLost),
            row_remap: Field::missing(GpuLost),
            retired_pages_pending: Field::missing(GpuLost),
            ecc_enabled: Field::missing(GpuLost),
            mig_enabled: Field::missing(GpuLost),
            processes: Field::missing(GpuLost),
            mig: Field::missing(GpuLost),
        }
    }

    pub fn is_lost(&self) -> bool {
        self.status == GpuStatus::Lost
    }

    /// Memory used as a percentage of total, when both are known.
    pub fn memory_used_pct(&self) -> Option<f64> {
        let used = self.memory_used_bytes.get()? as f64;
        let total = self.memory_total_bytes.get()? as f64;
        (total > 0.0).then(|| used * 100.0 / total)
    }

    /// Power draw as a percentage of the enforced limit, when both are known.
    pub fn power_pct_of_limit(&self) -> Option<f64> {
        let p = self.power_w.get()?;
        let l = self.power_limit_w.get()?;
        (l > 0.0).then(|| p * 100.0 / l)
    }

    /// Degrees left before the driver's slowdown temperature (NVIDIA's margin view).
    pub fn temperature_margin_c(&self) -> Option<f64> {
        Some(self.temperature_slowdown_c.get()? - self.temperature_c.get()?)
    }

    /// The name to show: model name or, when unknown, the vendor.
    pub fn display_name(&self) -> &str {
        self.name
            .value()
            .map(String::as_str)
            .unwrap_or(self.vendor.name())
    }
}
