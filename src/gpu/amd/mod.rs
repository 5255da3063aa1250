//! The AMD source: every card the `amdgpu` (or older `radeon`) kernel driver exposes in
//! sysfs, read without any vendor library.
//!
//! - `discover` finds the cards under the sysfs root and names their identity (the PCI
//!   address: UUID `amd-0000:03:00.0`);
//! - `card` reads one card into a [`GpuSample`] plus AMD-only readings ([`AmdCard`]), with
//!   `hwmon` (sensors), `dpm` (clock tables, PCIe link) and `names` (PCI id → name);
//! - `fdinfo` finds the processes using each card in `/proc/*/fdinfo` (the known clients
//!   every sample, every process every [`FULL_RESCAN_EVERY`](super::drm_clients));
//! - `control` is the watchdog's clock and power actions as sysfs writes;
//! - `sysfs` is the one trait every read and write goes through.
//!
//! Indices: cards present at open are numbered in PCI address order; a card that appears
//! later gets the next number. A card that disappears (hot-unplug, driver unbound, fell off
//! the bus) stays in every snapshot with `status: lost` and its identity and index, until
//! it comes back at the same address (then it is `ok` again, same index) or gpuwarden
//! restarts. Keeping it lost rather than dropping it means an alert about it does not
//! resolve itself just because the card is gone for good.
//!
//! Driver version: `ROOT/module/<driver>/version` where a packaged driver has one, else the
//! kernel release (`/proc/sys/kernel/osrelease`), since the in-tree driver is versioned
//! with the kernel.

pub mod card;
pub mod control;
pub mod discover;
pub mod dpm;
pub mod fdinfo;
pub mod hwmon;
pub mod names;
pub mod sysfs;

pub use card::AmdCard;
pub use control::AmdControl;
pub use sysfs::{RealSysfs, Sysfs};

use super::drm_clients::DrmClients;
use super::field::{Field, Missing};
use super::model::{GpuSample, Snapshot, UnixMs, Vendor};
use super::source::{GpuControl, Source, SourceError};
use control::Shared;
use discover::{FoundCard, find_cards};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where the AMD source looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmdConfig {
    /// `/sys`, or a recorded tree (`--sysfs-root`, `GPUWARDEN_SYSFS_ROOT`).
    pub sysfs_root: PathBuf,
    /// `/proc`, for processes and the kernel release.
    pub proc_root: PathBuf,
}

impl Default for AmdConfig {
    fn default() -> Self {
        AmdConfig {
            sysfs_root: PathBuf::from("/sys"),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// AMD GPUs through sysfs.
pub struct AmdSource {
    config: AmdConfig,
    fs: Arc<dyn Sysfs>,
    host: String,
    /// UUIDs in index order.
    indexed: Vec<String>,
    /// The last name read for each UUID, kept for the card when it is lost.
    last_names: BTreeMap<String, String>,
    shared: Arc<Mutex<Shared>>,
    /// The DRM clients and their processes' descriptions, kept between samples.
    clients: DrmClients,
}

impl AmdSource {
    /// Opens the cards under `config.sysfs_root`; an error when there is none.
    pub fn open(config: AmdConfig) -> Result<Self, SourceError> {
        Self::with_sysfs(config, Arc::new(RealSysfs))
    }

    /// Like [`open`](Self::open), reading and writing through `fs`.
    pub fn with_sysfs(config: AmdConfig, fs: Arc<dyn Sysfs>) -> Result<Self, SourceError> {
        let found = find_cards(&*fs, &config.sysfs_root);
        if found.is_empty() {
            return Err(SourceError::Failed {
                what: "amd".into(),
                detail: format!(
                    "no AMD GPU under {} (looked for class/drm/card*/device, or card*/device, \
                     of the amdgpu or radeon driver)\n  hint: is the amdgpu module loaded \
                     (`lsmod | grep amdgpu`)? --sysfs-root points at another tree",
                    config.sysfs_root.display()
                ),
            });
        }
        let mut source = AmdSource {
            clients: DrmClients::new(&config.proc_root),
            config,
            fs,
            host: crate::host::hostname(),
            indexed: Vec::new(),
            last_names: BTreeMap::new(),
            shared: Arc::new(Mutex::new(Shared::default())),
        };
        source.register(&found);
        Ok(source)
    }

    /// Gives new cards the next indices and remembers them.
    fn register(&mut self, found: &[FoundCard]) {
        for card in found {
            let uuid = card.uuid();
            if !self.indexed.contains(&uuid) {
                self.indexed.push(uuid.clone());
                control::lock(&self.shared).seen.insert(uuid);
            }
        }
    }

    fn index_of(&self, uuid: &str) -> u32 {
        self.indexed
            .iter()
            .position(|u| u == uuid)
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or(u32::MAX)
    }

    /// Reads every card present at `at_ms`, with the AMD-only readings (what `sample` turns
    /// into the shared model; tests and detail views use the rest).
    pub fn read_cards(&mut self, at_ms: UnixMs) -> Vec<AmdCard> {
        let found = find_cards(&*self.fs, &self.config.sysfs_root);
        self.register(&found);
        let mut processes = fdinfo::processes(&mut self.clients, at_ms);
        let cards: Vec<AmdCard> = found
            .iter()
            .map(|f| {
                let index = self.index_of(&f.uuid());
                let mut card = card::read_card(&*self.fs, f, index, self.driver(f));
                if self.fs.list(&f.device_dir).is_err() {
                    // Gone while it was being read: its fields say "not supported" only
                    // because the files vanished, so report the card lost instead.
                    card.sample = lost_sample(index, &f.uuid(), self.last_names.get(&f.uuid()));
                    return card;
                }
                card.sample.processes = match &mut processes {
                    Ok(by_card) => Field::Value(by_card.remove(&f.pci_address).unwrap_or_default()),
                    Err(why) => Field::missing(*why),
                };
                card
            })
            .collect();
        for card in &cards {
            if let Some(name) = card.sample.name.value() {
                self.last_names
                    .insert(card.sample.uuid.clone(), name.clone());
            }
        }
        cards
    }

    fn driver(&self, card: &FoundCard) -> Field<String> {
        let driver = card.driver.as_deref().unwrap_or("amdgpu");
        let module = self
            .config
            .sysfs_root
            .join("module")
            .join(driver)
            .join("version");
        if let Field::Value(v) = sysfs::read_text(&*self.fs, &module) {
            return Field::Value(v);
        }
        let release = self.config.proc_root.join("sys/kernel/osrelease");
        match std::fs::read_to_string(release) {
            Ok(r) if !r.trim().is_empty() => Field::Value(r.trim().to_string()),
            Ok(_) => Field::missing(Missing::NotSupported),
            Err(e) => Field::missing(sysfs::missing_for(&e)),
        }
    }
}

impl Source for AmdSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        let present = self.read_cards(at_ms);
        let gpus = sysfs::with_lost_cards(
            present.into_iter().map(|c| c.sample).collect(),
            &self.indexed,
            &self.last_names,
            Vendor::Amd,
            discover::pci_address_of,
        );
        let mut snap = Snapshot::new(at_ms, self.host.clone(), "amd");
        snap.gpus = gpus;
        Ok(snap)
    }

    fn control(&self) -> Option<Box<dyn GpuControl>> {
        Some(Box::new(AmdControl::new(
            Arc::clone(&self.fs),
            self.config.sysfs_root.clone(),
            Arc::clone(&self.shared),
        )))
    }
}

/// A lost AMD card (see [`sysfs::lost_card`]).
fn lost_sample(index: u32, uuid: &str, name: Option<&String>) -> GpuSample {
    sysfs::lost_card(index, uuid, name, Vendor::Amd, discover::pci_address_of)
}
