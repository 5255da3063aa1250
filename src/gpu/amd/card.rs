//! Reading one AMD card into a [`GpuSample`] plus what only AMD cards have ([`AmdCard`]).
//!
//! Where each model field comes from (every file may be missing; the field then says why):
//!
//! | field | sysfs |
//! |---|---|
//! | `name` | `product_name`, else the PCI id table in `names`, else `AMD GPU 1002:XXXX` |
//! | `utilization_gpu_pct` / `utilization_memory_pct` | `gpu_busy_percent` / `mem_busy_percent` |
//! | `memory_used_bytes` / `memory_total_bytes` | `mem_info_vram_used` / `mem_info_vram_total` |
//! | `temperature_c` | hwmon `edge` (else `junction`), °C |
//! | `temperature_slowdown_c` / `_shutdown_c` | that sensor's `_crit` / `_emergency` |
//! | `power_w` / `power_limit_w` | hwmon `power1_average` (else `power1_input`) / `power1_cap` |
//! | `clock_sm_mhz` / `clock_mem_mhz` | hwmon `freq` labelled `sclk` / `mclk`, else the `*` line of `pp_dpm_sclk` / `pp_dpm_mclk` |
//! | `clock_sm_max_mhz` / `clock_mem_max_mhz` | highest level of `pp_dpm_sclk` / `pp_dpm_mclk` |
//! | `fan_pct` | `pwm1` of `pwm1_max`, else `fan1_input` of `fan1_max` |
//! | `pcie_link` | `current_link_speed` (GT/s → generation), `current_link_width` |
//! | `ecc_uncorrected` | sum of `ue:` in `ras/*_err_count` (Instinct cards) |
//!
//! Not offered by amdgpu sysfs, so `not_supported`: `pstate` (AMD has DPM levels and a
//! performance level, kept in [`AmdCard::performance_level`]), `throttle`, encoder/decoder
//! use, PCIe throughput (`pcie_bw` blocks for a second per read). GTT (system memory the
//! GPU maps) is not VRAM pressure, so it stays out of the shared memory fields and lives
//! in [`AmdCard`] next to the junction and memory temperatures.

use super::discover::{AMD_VENDOR_ID, FoundCard, uuid_for};
use super::dpm::{self, DpmLevel};
use super::hwmon::{Hwmon, Temperature, main_sensor};
use super::names::card_name;
use super::sysfs::{Sysfs, read_parsed, read_text, read_u64};
use crate::gpu::field::{Field, Missing};
use crate::gpu::model::{GpuSample, GpuStatus, PcieLink, Vendor};
use serde::Serialize;
use std::path::Path;

/// One AMD card: the shared sample plus what only AMD cards report.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AmdCard {
    pub sample: GpuSample,
    /// The DRM node, `card0`.
    pub card: String,
    /// `vendor:device`, e.g. `1002:73bf`.
    pub pci_id: Field<String>,
    /// `power_dpm_force_performance_level`: `auto`, `low`, `high`, `manual`, `profile_*`.
    pub performance_level: Field<String>,
    pub gtt_used_bytes: Field<u64>,
    pub gtt_total_bytes: Field<u64>,
    /// Every hwmon temperature sensor (edge, junction, mem) with its thresholds.
    pub temperatures: Vec<Temperature>,
    pub fan_rpm: Field<u64>,
    pub power_cap_default_w: Field<f64>,
    pub power_cap_min_w: Field<f64>,
    pub power_cap_max_w: Field<f64>,
    pub vbios_version: Field<String>,
}

/// Reads every field of `found`. Never fails: what cannot be read is missing with a reason.
pub fn read_card(
    fs: &dyn Sysfs,
    found: &FoundCard,
    index: u32,
    driver_version: Field<String>,
) -> AmdCard {
    let dev = found.device_dir.as_path();
    let file = |name: &str| dev.join(name);
    let hwmon = Hwmon::find(fs, dev);
    let temps = hwmon.temperatures();
    let main = main_sensor(&temps);
    let from_main = |f: fn(&Temperature) -> &Field<f64>| {
        main.map_or(Field::missing(Missing::NotSupported), |t| f(t).clone())
    };
    let sclk = levels(fs, &file("pp_dpm_sclk"));
    let mclk = levels(fs, &file("pp_dpm_mclk"));
    let product = read_text(fs, &file("product_name"));
    let vendor_id = found.vendor_id.unwrap_or(AMD_VENDOR_ID);

    let sample = GpuSample {
        index,
        uuid: uuid_for(&found.pci_address),
        vendor: Vendor::Amd,
        status: GpuStatus::Ok,
        name: Field::Value(card_name(
            product.value().map(String::as_str),
            vendor_id,
            found.device_id,
        )),
        pci_bus_id: Field::Value(found.pci_address.clone()),
        driver_version,
        utilization_gpu_pct: percent(fs, &file("gpu_busy_percent")),
        utilization_memory_pct: percent(fs, &file("mem_busy_percent")),
        memory_used_bytes: read_u64(fs, &file("mem_info_vram_used")),
        memory_total_bytes: read_u64(fs, &file("mem_info_vram_total")),
        temperature_c: from_main(|t| &t.c),
        temperature_slowdown_c: from_main(|t| &t.crit_c),
        temperature_shutdown_c: from_main(|t| &t.emergency_c),
        power_w: hwmon.power_w(),
        power_limit_w: hwmon.watts("power1_cap"),
        clock_sm_mhz: clock(hwmon.clock_mhz("sclk"), &sclk),
        clock_sm_max_mhz: table_max(&sclk),
        clock_mem_mhz: clock(hwmon.clock_mhz("mclk"), &mclk),
        clock_mem_max_mhz: table_max(&mclk),
        fan_pct: hwmon.fan_pct(),
        pstate: Field::missing(Missing::NotSupported),
        throttle: Field::missing(Missing::NotSupported),
        encoder_pct: Field::missing(Missing::NotSupported),
        decoder_pct: Field::missing(Missing::NotSupported),
        pcie_link: pcie_link(fs, dev),
        pcie_link_max: Field::missing(Missing::NotSupported),
        pcie_replays: Field::missing(Missing::NotSupported),
        pcie_rx_bytes_per_s: Field::missing(Missing::NotSupported),
        pcie_tx_bytes_per_s: Field::missing(Missing::NotSupported),
        ecc_uncorrected: ras_uncorrected(fs, dev),
        // amdgpu has no lifetime ECC count, row remapping or pending page retirement in sysfs.
        ecc_uncorrected_aggregate: Field::missing(Missing::NotSupported),
        row_remap: Field::missing(Missing::NotSupported),
        retired_pages_pending: Field::missing(Missing::NotSupported),
        // amdgpu has no ECC mode switch in sysfs, and MIG is NVIDIA's.
        ecc_enabled: Field::missing(Missing::NotSupported),
        mig_enabled: Field::missing(Missing::NotSupported),
        processes: Field::missing(Missing::NotRecorded),
        // MIG is NVIDIA's.
        mig: Field::missing(Missing::NotSupported),
    };
    AmdCard {
        sample,
        card: found.card.clone(),
        pci_id: found
            .device_id
            .map_or(Field::missing(Missing::NotSupported), |d| {
                Field::Value(format!("{vendor_id:04x}:{d:04x}"))
            }),
        performance_level: read_text(fs, &file("power_dpm_force_performance_level")),
        gtt_used_bytes: read_u64(fs, &file("mem_info_gtt_used")),
        gtt_total_bytes: read_u64(fs, &file("mem_info_gtt_total")),
        fan_rpm: hwmon.fan_rpm(),
        power_cap_default_w: hwmon.watts("power1_cap_default"),
        power_cap_min_w: hwmon.watts("power1_cap_min"),
        power_cap_max_w: hwmon.watts("power1_cap_max"),
        vbios_version: read_text(fs, &file("vbios_version")),
        temperatures: temps,
    }
}

/// A DPM table; an empty file means DPM is off (`not_supported`).
pub fn levels(fs: &dyn Sysfs, path: &Path) -> Field<Vec<DpmLevel>> {
    match read_parsed(fs, path, dpm::parse_levels) {
        Field::Value(l) if l.is_empty() => Field::missing(Missing::NotSupported),
        other => other,
    }
}

fn percent(fs: &dyn Sysfs, path: &Path) -> Field<u32> {
    read_parsed(fs, path, |s| s.parse().ok().filter(|p| *p <= 100))
}

/// The hwmon clock when there is one, else the active DPM level.
fn clock(hwmon: Field<u32>, table: &Field<Vec<DpmLevel>>) -> Field<u32> {
    if hwmon.value().is_some() {
        return hwmon;
    }
    match table {
        Field::Value(levels) => {
            dpm::current_mhz(levels).map_or(Field::missing(Missing::NotSupported), Field::Value)
        }
        Field::Missing { missing } => Field::missing(*missing),
    }
}

fn table_max(table: &Field<Vec<DpmLevel>>) -> Field<u32> {
    match table {
        Field::Value(levels) => {
            dpm::max_mhz(levels).map_or(Field::missing(Missing::NotSupported), Field::Value)
        }
        Field::Missing { missing } => Field::missing(*missing),
    }
}

fn pcie_link(fs: &dyn Sysfs, dev: &Path) -> Field<PcieLink> {
    let generation = read_parsed(fs, &dev.join("current_link_speed"), dpm::pcie_generation);
    let width = read_parsed(fs, &dev.join("current_link_width"), |s| s.parse().ok());
    match (generation, width) {
        (Field::Value(generation), Field::Value(width)) => {
            Field::Value(PcieLink { generation, width })
        }
        (Field::Missing { missing }, _) | (_, Field::Missing { missing }) => {
            Field::missing(missing)
        }
    }
}

/// Uncorrected errors since driver load, summed over the RAS blocks (`ue: N` lines).
fn ras_uncorrected(fs: &dyn Sysfs, dev: &Path) -> Field<u64> {
    let Ok(entries) = fs.list(&dev.join("ras")) else {
        return Field::missing(Missing::NotSupported);
    };
    let mut total = 0;
    for path in entries.iter().filter(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with("_err_count"))
    }) {
        let counted = read_parsed(fs, path, |text| {
            text.lines()
                .find_map(|l| l.strip_prefix("ue:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        });
        match counted {
            Field::Value(n) => total += n,
            Field::Missing { missing } => return Field::missing(missing),
        }
    }
    Field::Value(total)
}
