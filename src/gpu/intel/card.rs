//! Reading one Intel card into a [`GpuSample`] plus what only Intel cards report
//! ([`IntelCard`]).
//!
//! | field | from |
//! |---|---|
//! | `name` | the PCI id table in `names`, else `Intel GPU 8086:XXXX` |
//! | `clock_sm_mhz` / `clock_sm_max_mhz` | the main GT's `act` / `RP0` frequency (see `freq`) |
//! | `power_w` | hwmon `power1_input`, else Δ`energy1_input` / Δt (the first sample: `warming_up`) |
//! | `power_limit_w` | hwmon `power1_cap` (xe), else `power1_max` (i915) |
//! | `temperature_c`, `_slowdown_c`, `_shutdown_c` | hwmon `pkg` sensor (i915's unlabelled `temp1`), its `_crit` / `_emergency` |
//! | `fan_pct` | `fan1_input` of `fan1_max` |
//! | `throttle` | the main GT's throttle files (see `throttle`) |
//! | `pcie_link` / `pcie_link_max` | `current_link_*` / `max_link_*` (`Unknown` on an integrated GPU: `not_supported`) |
//! | `utilization_gpu_pct`, `processes` | DRM fdinfo (see `fdinfo`) |
//!
//! Not offered by i915 or xe sysfs, so `not_supported`: memory use and size (per-process
//! memory is in `processes`), memory utilization, the memory clock, pstate,
//! encoder/decoder use, PCIe throughput and replays, ECC and row remapping.

use super::discover::FoundCard;
use super::fdinfo::IntelClient;
use super::freq::{self, GtClocks};
use super::hwmon::{Fan, IntelHwmon, main_sensor};
use super::names::card_name;
use crate::gpu::amd::dpm;
use crate::gpu::amd::hwmon::Temperature;
use crate::gpu::amd::sysfs::{Sysfs, read_parsed, read_text};
use crate::gpu::field::{Field, Missing};
use crate::gpu::model::{GpuProcess, GpuSample, GpuStatus, PcieLink, Vendor};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One Intel card: the shared sample plus what only Intel cards report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntelCard {
    pub sample: GpuSample,
    /// The DRM node, `card1`.
    pub card: String,
    /// `i915` or `xe`.
    pub driver: &'static str,
    /// `vendor:device`, e.g. `8086:56a5`.
    pub pci_id: Field<String>,
    /// Every clock domain with all its frequencies.
    pub gts: Vec<GtClocks>,
    pub temperatures: Vec<Temperature>,
    pub fans: Vec<Fan>,
    /// hwmon `power1_crit`: where the card cuts power hard.
    pub power_crit_w: Field<f64>,
    /// i915 `power1_rated_max`: the card's rated maximum.
    pub power_rated_max_w: Field<f64>,
    /// The energy counter behind `power_w`, in µJ.
    pub energy_uj: Field<u64>,
    /// Each client's engine busy percent since the sample before, by pid.
    pub clients: Field<Vec<ClientBusy>>,
}

/// One DRM client's engines, busy percent by engine class.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClientBusy {
    pub pid: u32,
    pub client_id: String,
    pub busy_pct: Field<BTreeMap<String, f64>>,
    pub memory_bytes: Option<u64>,
}

/// What the source measured over time for this card (rates need the sample before).
pub struct Rates {
    pub power_w: Field<f64>,
    pub energy_uj: Field<u64>,
    pub utilization_pct: Field<u32>,
    pub clients: Field<Vec<ClientBusy>>,
    pub processes: Field<Vec<GpuProcess>>,
}

/// Reads every field of `found`. Never fails: what cannot be read is missing with a reason.
pub fn read_card(
    fs: &dyn Sysfs,
    found: &FoundCard,
    index: u32,
    driver_version: Field<String>,
    rates: Rates,
) -> IntelCard {
    let dev = found.device_dir.as_path();
    let hwmon = IntelHwmon::find(fs, dev);
    let temps = hwmon.temperatures();
    let main = main_sensor(&temps);
    let from_main = |f: fn(&Temperature) -> &Field<f64>| {
        main.map_or(Field::missing(Missing::NotSupported), |t| f(t).clone())
    };
    let fans = hwmon.fans();
    let gts = freq::gts(fs, found);
    let main_domain = freq::main_gt(fs, found, &gts);
    let throttle = super::throttle::reasons(fs, main_domain.as_ref());
    let main_gt = main_domain.map(|g| g.clocks(fs));
    let from_gt = |f: fn(&GtClocks) -> &Field<u32>| {
        main_gt
            .as_ref()
            .map_or(Field::missing(Missing::NotSupported), |c| f(c).clone())
    };
    let sample = GpuSample {
        index,
        uuid: found.uuid(),
        vendor: Vendor::Intel,
        status: GpuStatus::Ok,
        name: Field::Value(card_name(found.vendor_id, found.device_id)),
        pci_bus_id: Field::Value(found.pci_address.clone()),
        driver_version,
        utilization_gpu_pct: rates.utilization_pct,
        utilization_memory_pct: Field::missing(Missing::NotSupported),
        memory_used_bytes: Field::missing(Missing::NotSupported),
        memory_total_bytes: Field::missing(Missing::NotSupported),
        temperature_c: from_main(|t| &t.c),
        temperature_slowdown_c: from_main(|t| &t.crit_c),
        temperature_shutdown_c: from_main(|t| &t.emergency_c),
        power_w: rates.power_w,
        power_limit_w: hwmon.power_cap_w(),
        clock_sm_mhz: from_gt(|c| &c.act_mhz),
        clock_sm_max_mhz: from_gt(|c| &c.rp0_mhz),
        clock_mem_mhz: Field::missing(Missing::NotSupported),
        clock_mem_max_mhz: Field::missing(Missing::NotSupported),
        fan_pct: super::hwmon::fan_pct(fans.first()),
        pstate: Field::missing(Missing::NotSupported),
        throttle,
        encoder_pct: Field::missing(Missing::NotSupported),
        decoder_pct: Field::missing(Missing::NotSupported),
        pcie_link: pcie_link(fs, dev, "current"),
        pcie_link_max: pcie_link(fs, dev, "max"),
        pcie_replays: Field::missing(Missing::NotSupported),
        pcie_rx_bytes_per_s: Field::missing(Missing::NotSupported),
        pcie_tx_bytes_per_s: Field::missing(Missing::NotSupported),
        ecc_uncorrected: Field::missing(Missing::NotSupported),
        ecc_uncorrected_aggregate: Field::missing(Missing::NotSupported),
        row_remap: Field::missing(Missing::NotSupported),
        retired_pages_pending: Field::missing(Missing::NotSupported),
        // Neither i915 nor xe has an ECC mode switch in sysfs, and MIG is NVIDIA's.
        ecc_enabled: Field::missing(Missing::NotSupported),
        mig_enabled: Field::missing(Missing::NotSupported),
        processes: rates.processes,
        mig: Field::missing(Missing::NotSupported),
    };
    IntelCard {
        sample,
        card: found.card.clone(),
        driver: found.driver.name(),
        pci_id: found
            .device_id
            .map_or(Field::missing(Missing::NotSupported), |d| {
                Field::Value(format!("{:04x}:{d:04x}", found.vendor_id))
            }),
        gts: gts.iter().map(|g| g.clocks(fs)).collect(),
        temperatures: temps,
        fans,
        power_crit_w: hwmon.watts("power1_crit"),
        power_rated_max_w: hwmon.watts("power1_rated_max"),
        energy_uj: rates.energy_uj,
        clients: rates.clients,
    }
}

/// `{which}_link_speed` / `_width`. An integrated GPU says `Unknown` and width 0: it has no
/// link, which is `not_supported`, not an error.
fn pcie_link(fs: &dyn Sysfs, dev: &Path, which: &str) -> Field<PcieLink> {
    let speed = read_text(fs, &dev.join(format!("{which}_link_speed")));
    if speed.value().is_some_and(|s| s.starts_with("Unknown")) {
        return Field::missing(Missing::NotSupported);
    }
    let generation = match speed {
        Field::Value(s) => {
            dpm::pcie_generation(&s).map_or(Field::missing(Missing::Error), Field::Value)
        }
        Field::Missing { missing } => Field::missing(missing),
    };
    let width = read_parsed(fs, &dev.join(format!("{which}_link_width")), |s| {
        s.parse::<u32>().ok()
    });
    match (generation, width) {
        (Field::Value(_), Field::Value(0)) => Field::missing(Missing::NotSupported),
        (Field::Value(generation), Field::Value(width)) => {
            Field::Value(PcieLink { generation, width })
        }
        (Field::Missing { missing }, _) | (_, Field::Missing { missing }) => {
            Field::missing(missing)
        }
    }
}

/// The processes of one card from its clients: memory summed per pid.
pub fn processes(clients: &[(u32, &IntelClient)]) -> Vec<GpuProcess> {
    let mut by_pid: BTreeMap<u32, Option<u64>> = BTreeMap::new();
    for (pid, client) in clients {
        let entry = by_pid.entry(*pid).or_insert(None);
        if let Some(bytes) = client.memory_bytes() {
            *entry = Some(entry.unwrap_or(0) + bytes);
        }
    }
    by_pid
        .into_iter()
        .map(|(pid, used_memory_bytes)| GpuProcess {
            pid,
            used_memory_bytes,
            ..GpuProcess::default()
        })
        .collect()
}
