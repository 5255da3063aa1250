//! The NVIDIA source: NVML through nvml-wrapper, with `libnvidia-ml.so.1` loaded at run time
//! so the binary starts (and `--demo` works) on machines without a driver.
//!
//! `NvmlSource` owns the library handle (shared through an `Arc` with [`NvmlControl`], which
//! the watchdog uses from another thread) and a cache of what never changes while NVML is
//! initialised: UUID, name, PCI bus id, clock maxima, temperature thresholds, the driver
//! version. Everything else is read again on every sample by `read`, field by field, so one
//! unsupported metric or one lost GPU never fails the whole snapshot; `processes` remembers
//! who each GPU process is, so `/proc` is read once per process rather than per sample.
//! With [`NvmlSource::with_pci_bus`], an NVIDIA GPU still on the PCI bus that NVML no longer
//! (or never) lists is a lost sample — under the UUID and index NVML last gave it, when it did.

mod bus;
mod control;
mod pcie;
mod read;

pub use control::NvmlControl;

use super::cadence::Cadence;
use super::field::{Field, Missing};
use super::model::{GpuSample, Snapshot, UnixMs, Vendor};
use super::processes::{self, ProcessDescriptions};
use super::source::{GpuControl, Source, SourceError};
use nvml_wrapper::Nvml;
use read::{DeviceReader, StaticInfo};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;

/// The library name NVML is loaded by.
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

/// NVIDIA GPUs through NVML.
pub struct NvmlSource {
    nvml: Arc<Nvml>,
    host: String,
    driver_version: Field<String>,
    /// Per NVML index: identity and limits, read once.
    statics: Vec<StaticInfo>,
    processes: ProcessDescriptions,
    /// The PCI bus, to see GPUs NVML does not list (`None`: not looked at).
    bus: Option<bus::PciBus>,
    /// Every GPU NVML listed so far, by PCI address: (index, UUID, name).
    seen: std::collections::BTreeMap<String, (u32, String, Field<String>)>,
    /// PCIe throughput read on a thread of its own, started with the second sample (a
    /// one-shot command reads it inline once and never starts it).
    pcie: Option<pcie::PcieReader>,
    samples: u64,
    /// The rates the inline samples read, to start the background reader from.
    inline_pcie: std::collections::HashMap<u32, pcie::PcieRates>,
    /// How often the slow fields and the process table are read again.
    cadence: Cadence,
}

impl NvmlSource {
    /// Loads NVML from `lib` (or the loader's search path) and initialises it.
    pub fn open(lib: Option<&Path>) -> Result<Self, SourceError> {
        let mut builder = Nvml::builder();
        if let Some(path) = lib {
            builder.lib_path(OsStr::new(path));
        }
        let nvml = builder.init().map_err(|e| SourceError::LibraryNotFound {
            library: lib
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| NVML_LIBRARY.to_string()),
            detail: e.to_string(),
            hint: "install the NVIDIA driver (it ships libnvidia-ml.so.1), point --nvml-lib at \
                   the library, or run `gpuwarden --demo` to see a simulated fleet"
                .to_string(),
        })?;
        Ok(NvmlSource {
            nvml: Arc::new(nvml),
            host: crate::host::hostname(),
            driver_version: Field::default(),
            statics: Vec::new(),
            processes: ProcessDescriptions::new("/proc"),
            bus: None,
            seen: std::collections::BTreeMap::new(),
            pcie: None,
            samples: 0,
            inline_pcie: Default::default(),
            cadence: Cadence::EVERY_SAMPLE,
        })
    }

    /// Reads the fields that change seldom — ECC and remapped-row counters, retired pages,
    /// PCIe replays, the enforced power limit, MIG mode, the memory clock and the PCIe link
    /// (which move only with the performance state), the fan — only once per
    /// `cadence.slow` (a field without a settled answer is read again at once). Idle engines
    /// (encoder, decoder at 0 %) and an empty graphics-process list are read again with them;
    /// busy ones every sample. The process table (lists, per-process utilization, host CPU
    /// and RSS) is read once per `cadence.processes`, and kept as read in between. The
    /// watchdog keeps the default, every sample; the dashboard asks for
    /// [`Cadence::DASHBOARD`].
    pub fn with_cadence(mut self, cadence: Cadence) -> Self {
        self.cadence = cadence;
        self
    }

    /// Also looks at the PCI bus under `sysfs_root` (`/sys` on a live host): an NVIDIA GPU
    /// there that NVML does not list is reported lost.
    pub fn with_pci_bus(mut self, sysfs_root: &Path) -> Self {
        self.bus = Some(bus::PciBus::new(sysfs_root));
        self
    }

    /// Lost samples for the GPUs on the bus that this snapshot does not hold.
    fn missing_from_nvml(&mut self, snap: &mut Snapshot, count: u32) {
        let Some(pci) = self.bus.as_mut() else { return };
        for g in &snap.gpus {
            let Some(id) = g.pci_bus_id.value() else {
                continue;
            };
            // Remembered once per GPU: the sampling path allocates only when one changes.
            let addr = bus::normalise(id);
            let known = self.seen.get(&addr);
            if known.is_none_or(|(i, u, _)| *i != g.index || *u != g.uuid) {
                self.seen
                    .insert(addr, (g.index, g.uuid.clone(), g.name.clone()));
            }
        }
        // A GPU NVML counts but could not name (lost before its PCI id was ever read) is one
        // of the bus's addresses already; which one is not known, so none is added twice.
        if snap.gpus.iter().any(|g| g.pci_bus_id.value().is_none()) {
            return;
        }
        let on_bus = pci.gpus(count);
        // The common case: NVML lists every GPU the bus has.
        if on_bus.len() <= snap.gpus.len() {
            return;
        }
        let listed: std::collections::BTreeSet<String> = snap
            .gpus
            .iter()
            .filter_map(|g| g.pci_bus_id.value().map(|id| bus::normalise(id)))
            .collect();
        let mut next = count;
        for addr in on_bus {
            if listed.contains(addr) {
                continue;
            }
            let known = self.seen.get(addr);
            let index = match known {
                Some((i, ..)) if snap.gpus.iter().all(|g| g.index != *i) => *i,
                _ => {
                    next += 1;
                    next - 1
                }
            };
            let uuid = known.map_or_else(|| format!("PCI-{addr}"), |(_, u, _)| u.clone());
            let mut lost = GpuSample::lost(index, uuid, Vendor::Nvidia);
            lost.pci_bus_id = Field::Value(addr.clone());
            lost.name = known.map_or(Field::missing(Missing::GpuLost), |(.., n)| n.clone());
            snap.gpus.push(lost);
        }
        snap.gpus.sort_by_key(|g| g.index);
    }

    /// The concrete control handle (the trait object comes from [`Source::control`]).
    pub fn nvml_control(&self) -> NvmlControl {
        NvmlControl::new(Arc::clone(&self.nvml))
    }
}

impl Source for NvmlSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        let nvml = &*self.nvml;
        let count = nvml.device_count().map_err(|e| SourceError::Failed {
            what: "nvml: counting GPUs".into(),
            detail: e.to_string(),
        })?;
        if !read::settled(&self.driver_version) {
            self.driver_version =
                read::classify_global("driver version", nvml.sys_driver_version());
        }
        if self.statics.len() != count as usize {
            // NVML's count changed (a GPU vanished or came back, a driver reload): indices may
            // now name other GPUs, so what was read once per index is read again.
            self.statics.clear();
        }
        self.statics
            .resize_with(count as usize, StaticInfo::default);
        let mut snap = Snapshot::new(at_ms, self.host.clone(), "nvml");
        snap.gpus.reserve(count as usize);
        self.samples += 1;
        if self.samples == 2 && self.pcie.is_none() {
            let seed = std::mem::take(&mut self.inline_pcie);
            self.pcie = pcie::PcieReader::start(Arc::clone(&self.nvml), seed);
        }
        for (index, statics) in (0..count).zip(self.statics.iter_mut()) {
            let reader = DeviceReader::new(nvml, index, statics);
            // The reader's values, unless it has none worth keeping for this GPU (it was lost
            // or new at the reader's last round): then once more inline, so a GPU that came
            // back never shows a stale `gpu_lost`.
            let rates = self
                .pcie
                .as_ref()
                .map(|p| p.rates(index))
                .filter(|r| read::settled(&r.rx) && read::settled(&r.tx));
            let inline = rates.is_none();
            let g = reader.sample(
                statics,
                &self.driver_version,
                &mut self.processes,
                rates,
                self.cadence,
            );
            if inline {
                self.inline_pcie.insert(
                    index,
                    pcie::PcieRates {
                        rx: g.pcie_rx_bytes_per_s.clone(),
                        tx: g.pcie_tx_bytes_per_s.clone(),
                    },
                );
            }
            snap.gpus.push(g);
        }
        self.processes.end_sample();
        self.missing_from_nvml(&mut snap, count);
        Ok(snap)
    }

    fn control(&self) -> Option<Box<dyn GpuControl>> {
        Some(Box::new(self.nvml_control()))
    }
}
