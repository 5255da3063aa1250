//! The Intel source: every card the `i915` or `xe` kernel driver exposes in sysfs (Arc,
//! Data Center Flex/Max, integrated Xe), read without any vendor library.
//!
//! - `discover` finds the cards (identity: the PCI address, UUID `intel-0000:03:00.0`);
//! - `card` reads one card into a [`GpuSample`] plus Intel-only readings ([`IntelCard`]),
//!   with `freq` (the GTs' clocks), `throttle` (why the clock is held down), `hwmon`
//!   (power, energy, sensors, fans) and `names`;
//! - `fdinfo` reads the DRM clients in `/proc/*/fdinfo` (found as for AMD, through
//!   [`DrmClients`](super::drm_clients)): processes, their memory and busy time, and from it
//!   the card's utilization;
//! - `control` is the watchdog's clock cap and power cap as sysfs writes.
//!
//! Files are read and written through the AMD source's [`Sysfs`] trait, so the same test
//! recorder sees every write.
//!
//! Rates (power from the energy counter, busy time) need the sample before: the source keeps
//! each card's last energy reading and each client's last counters, keyed by the time passed
//! to [`Source::sample`]. Indices and lost cards work as for AMD: cards present at open in
//! PCI address order, a new card gets the next number, a card that disappears stays `lost`.

pub mod card;
pub mod control;
pub mod discover;
pub mod fdinfo;
pub mod freq;
pub mod hwmon;
pub mod names;
pub mod throttle;

pub use card::IntelCard;
pub use control::IntelControl;

use super::amd::sysfs::{self, RealSysfs, Sysfs};
use super::drm_clients::DrmClients;
use super::field::{Field, Missing};
use super::model::{GpuSample, Snapshot, UnixMs, Vendor};
use super::source::{GpuControl, Source, SourceError};
use card::{ClientBusy, Rates};
use control::Shared;
use discover::{FoundCard, find_cards};
use fdinfo::{Busy, busy_pct};
use hwmon::{EnergyMark, IntelHwmon, power_from_energy};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where the Intel source looks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntelConfig {
    /// `/sys`, or a recorded tree (`--sysfs-root`, `GPUWARDEN_SYSFS_ROOT`).
    pub sysfs_root: PathBuf,
    /// `/proc`, for DRM clients and the kernel release.
    pub proc_root: PathBuf,
}

impl Default for IntelConfig {
    fn default() -> Self {
        IntelConfig {
            sysfs_root: PathBuf::from("/sys"),
            proc_root: PathBuf::from("/proc"),
        }
    }
}

/// A client's counters at one sample.
struct ClientMark {
    at_ms: UnixMs,
    engines: BTreeMap<String, Busy>,
}

/// Intel GPUs through sysfs.
pub struct IntelSource {
    config: IntelConfig,
    fs: Arc<dyn Sysfs>,
    host: String,
    /// UUIDs in index order.
    indexed: Vec<String>,
    last_names: BTreeMap<String, String>,
    /// Each card's last energy reading, by UUID.
    energy: HashMap<String, EnergyMark>,
    /// Each client's last counters, by (PCI address, pid, client id).
    clients: HashMap<(String, u32, String), ClientMark>,
    shared: Arc<Mutex<Shared>>,
    /// The DRM clients and their processes' descriptions, kept between samples.
    drm: DrmClients,
}

impl IntelSource {
    /// Opens the cards under `config.sysfs_root`; an error when there is none.
    pub fn open(config: IntelConfig) -> Result<Self, SourceError> {
        Self::with_sysfs(config, Arc::new(RealSysfs))
    }

    /// Like [`open`](Self::open), reading and writing through `fs`.
    pub fn with_sysfs(config: IntelConfig, fs: Arc<dyn Sysfs>) -> Result<Self, SourceError> {
        let found = find_cards(&*fs, &config.sysfs_root);
        if found.is_empty() {
            return Err(SourceError::Failed {
                what: "intel".into(),
                detail: format!(
                    "no Intel GPU under {} (looked for class/drm/card*/device, or \
                     card*/device, of the i915 or xe driver)\n  hint: is the i915 or xe \
                     module loaded (`lsmod | grep -E 'i915|xe'`)? --sysfs-root points at \
                     another tree",
                    config.sysfs_root.display()
                ),
            });
        }
        let mut source = IntelSource {
            drm: DrmClients::new(&config.proc_root),
            config,
            fs,
            host: crate::host::hostname(),
            indexed: Vec::new(),
            last_names: BTreeMap::new(),
            energy: HashMap::new(),
            clients: HashMap::new(),
            shared: Arc::new(Mutex::new(Shared::default())),
        };
        source.register(&found);
        Ok(source)
    }

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

    /// Reads every card present at `at_ms`, with the Intel-only readings.
    pub fn read_cards(&mut self, at_ms: UnixMs) -> Vec<IntelCard> {
        let found = find_cards(&*self.fs, &self.config.sysfs_root);
        self.register(&found);
        let scanned = fdinfo::clients(&mut self.drm, at_ms);
        let mut seen_clients = HashMap::new();
        let mut cards = Vec::new();
        for f in &found {
            let uuid = f.uuid();
            let index = self.index_of(&uuid);
            let rates = self.rates(f, at_ms, &scanned, &mut seen_clients);
            let driver = self.driver_version(f);
            let mut card = card::read_card(&*self.fs, f, index, driver, rates);
            if self.fs.list(&f.device_dir).is_err() {
                card.sample = lost_sample(index, &uuid, self.last_names.get(&uuid));
            } else if let Some(name) = card.sample.name.value() {
                self.last_names.insert(uuid, name.clone());
            }
            cards.push(card);
        }
        // Clients that closed are forgotten, and so are the processes that held them.
        self.clients = seen_clients;
        self.drm.end_sample();
        cards
    }

    /// Power and busy time since the sample before, and the card's processes.
    fn rates(
        &mut self,
        f: &FoundCard,
        at_ms: UnixMs,
        scanned: &Result<Vec<fdinfo::Seen>, Missing>,
        seen: &mut HashMap<(String, u32, String), ClientMark>,
    ) -> Rates {
        let hwmon = IntelHwmon::find(&*self.fs, &f.device_dir);
        let energy_uj = if hwmon.exists() {
            hwmon.energy_uj()
        } else {
            Field::missing(Missing::NotSupported)
        };
        let input = hwmon.power_input_w();
        let power_w = match (&input, &energy_uj) {
            (Field::Value(_), _) => input,
            (_, Field::Value(uj)) => {
                let now = EnergyMark { at_ms, uj: *uj };
                let before = self.energy.insert(f.uuid(), now);
                power_from_energy(before, now)
            }
            (_, Field::Missing { missing }) => Field::missing(*missing),
        };
        let scanned = match scanned {
            Ok(s) => s,
            Err(why) => {
                return Rates {
                    power_w,
                    energy_uj,
                    utilization_pct: Field::missing(*why),
                    clients: Field::missing(*why),
                    processes: Field::missing(*why),
                };
            }
        };
        let mine: Vec<&fdinfo::Seen> = scanned
            .iter()
            .filter(|s| s.client.pdev == f.pci_address)
            .collect();
        // Busy percent per engine summed over the clients; `None` until a rate exists.
        let mut engine_sum: BTreeMap<String, f64> = BTreeMap::new();
        let mut any_rate = false;
        let mut clients = Vec::new();
        for s in &mine {
            let key = (f.pci_address.clone(), s.pid, s.key.clone());
            let before = self.clients.get(&key);
            let busy = match before {
                Some(b) => {
                    let mut pct = BTreeMap::new();
                    for (engine, now) in &s.client.engines {
                        let capacity = s.client.capacity.get(engine).copied().unwrap_or(1);
                        if let Some(then) = b.engines.get(engine)
                            && let Some(p) =
                                busy_pct(*then, *now, at_ms.saturating_sub(b.at_ms), capacity)
                        {
                            pct.insert(engine.clone(), p);
                            *engine_sum.entry(engine.clone()).or_default() += p;
                        }
                    }
                    any_rate = true;
                    Field::Value(pct)
                }
                None => Field::missing(Missing::WarmingUp),
            };
            clients.push(ClientBusy {
                pid: s.pid,
                client_id: s.key.clone(),
                busy_pct: busy,
                memory_bytes: s.client.memory_bytes(),
            });
            seen.insert(
                key,
                ClientMark {
                    at_ms,
                    engines: s.client.engines.clone(),
                },
            );
        }
        // No client: nothing runs. Clients but none seen before: no rate yet.
        let utilization_pct = if any_rate || mine.is_empty() {
            let busiest = engine_sum.values().copied().fold(0.0, f64::max);
            Field::Value(busiest.min(100.0).round() as u32)
        } else {
            Field::missing(Missing::WarmingUp)
        };
        let pairs: Vec<(u32, &fdinfo::IntelClient)> =
            mine.iter().map(|s| (s.pid, &s.client)).collect();
        let mut processes = card::processes(&pairs);
        for p in &mut processes {
            self.drm.describe(p);
            // The process's busiest engine class, its clients summed: the SM % column of an
            // Intel card (no rate before its second sample).
            let mut per_engine: BTreeMap<&str, f64> = BTreeMap::new();
            for c in clients.iter().filter(|c| c.pid == p.pid) {
                if let Field::Value(pct) = &c.busy_pct {
                    for (engine, v) in pct {
                        *per_engine.entry(engine.as_str()).or_default() += v;
                    }
                }
            }
            if clients
                .iter()
                .any(|c| c.pid == p.pid && c.busy_pct.value().is_some())
            {
                let busiest = per_engine.values().copied().fold(0.0, f64::max);
                p.utilization_sm_pct = Some(busiest.min(100.0).round() as u32);
            }
        }
        Rates {
            power_w,
            energy_uj,
            utilization_pct,
            clients: Field::Value(clients),
            processes: Field::Value(processes),
        }
    }

    fn driver_version(&self, card: &FoundCard) -> Field<String> {
        let module = self
            .config
            .sysfs_root
            .join("module")
            .join(card.driver.name())
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

impl Source for IntelSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        let present = self.read_cards(at_ms);
        let gpus = sysfs::with_lost_cards(
            present.into_iter().map(|c| c.sample).collect(),
            &self.indexed,
            &self.last_names,
            Vendor::Intel,
            discover::pci_address_of,
        );
        let mut snap = Snapshot::new(at_ms, self.host.clone(), "intel");
        snap.gpus = gpus;
        Ok(snap)
    }

    fn control(&self) -> Option<Box<dyn GpuControl>> {
        Some(Box::new(IntelControl::new(
            Arc::clone(&self.fs),
            self.config.sysfs_root.clone(),
            Arc::clone(&self.shared),
        )))
    }
}

/// A lost Intel card (see [`sysfs::lost_card`]).
fn lost_sample(index: u32, uuid: &str, name: Option<&String>) -> GpuSample {
    sysfs::lost_card(index, uuid, name, Vendor::Intel, discover::pci_address_of)
}
