//! Each recorded card parsed into its sample (insta snapshot of the JSON, AMD-only readings
//! included) and checked against the values read by hand from its files.

use crate::expected::{EXPECTED, Expected};
use crate::support::{CARDS, fake_proc, fixture, source};
use gpuwarden::gpu::amd::RealSysfs;
use serde_json::Value;
use std::sync::Arc;

/// A field of a GPU in snapshot JSON, `None` when it is `{"missing": …}`.
pub fn field<'a>(gpu: &'a Value, key: &str) -> Option<&'a Value> {
    let v = gpu
        .get(key)
        .unwrap_or_else(|| panic!("no key {key} in {gpu}"));
    (v.get("missing").is_none()).then_some(v)
}

/// Checks one GPU of snapshot JSON against what its fixture holds.
pub fn check(gpu: &Value, e: &Expected) {
    let ctx = e.card;
    assert_eq!(gpu["uuid"], e.uuid, "{ctx}");
    assert_eq!(gpu["vendor"], "amd", "{ctx}");
    assert_eq!(gpu["status"], "ok", "{ctx}");
    assert_eq!(gpu["name"], e.name, "{ctx}");
    let uint = |k: &str| field(gpu, k).map(|v| v.as_u64().unwrap_or_else(|| panic!("{k}")));
    let float = |k: &str| field(gpu, k).map(|v| v.as_f64().unwrap_or_else(|| panic!("{k}")));
    assert_eq!(
        uint("utilization_gpu_pct"),
        e.util_pct.map(u64::from),
        "{ctx} util"
    );
    assert_eq!(float("temperature_c"), e.temp_c, "{ctx} temp");
    assert_eq!(
        float("temperature_slowdown_c"),
        e.slowdown_c,
        "{ctx} slowdown"
    );
    assert_eq!(float("power_w"), e.power_w, "{ctx} power");
    assert_eq!(float("power_limit_w"), e.power_limit_w, "{ctx} limit");
    assert_eq!(
        uint("clock_sm_mhz"),
        e.sclk_mhz.map(u64::from),
        "{ctx} sclk"
    );
    assert_eq!(
        uint("clock_sm_max_mhz"),
        e.sclk_max_mhz.map(u64::from),
        "{ctx} sclk max"
    );
    assert_eq!(
        uint("clock_mem_mhz"),
        e.mclk_mhz.map(u64::from),
        "{ctx} mclk"
    );
    assert_eq!(uint("memory_used_bytes"), e.vram_used_bytes, "{ctx} vram");
    assert_eq!(uint("fan_pct"), e.fan_pct.map(u64::from), "{ctx} fan");
    let pcie = field(gpu, "pcie_link").map(|l| {
        (
            l["generation"].as_u64().unwrap_or(0) as u32,
            l["width"].as_u64().unwrap_or(0) as u32,
        )
    });
    assert_eq!(pcie, e.pcie, "{ctx} pcie");
}

#[test]
fn every_recorded_card_parses_to_its_snapshot() {
    let proc = fake_proc();
    for name in CARDS {
        let mut src = source(&fixture(name), proc.path(), Arc::new(RealSysfs));
        let cards = src.read_cards(1);
        assert_eq!(cards.len(), 1, "{name}: one card per tree");
        let json = serde_json::to_string_pretty(&cards[0]).unwrap();
        insta::assert_snapshot!(format!("card_{name}"), json);
    }
}

#[test]
fn every_recorded_card_reads_the_values_in_its_files() {
    let proc = fake_proc();
    for e in &EXPECTED {
        let mut src = source(&fixture(e.card), proc.path(), Arc::new(RealSysfs));
        let card = src.read_cards(1).remove(0);
        let gpu = serde_json::to_value(&card.sample).unwrap();
        check(&gpu, e);
        assert_eq!(card.sample.driver_version.value().unwrap(), "6.8.0-test");
    }
}

#[test]
fn amd_only_readings_keep_junction_memory_temperature_and_gtt() {
    let proc = fake_proc();
    let mut src = source(&fixture("rx7900xtx"), proc.path(), Arc::new(RealSysfs));
    let card = src.read_cards(1).remove(0);
    type Reading<'a> = (&'a str, Option<f64>, Option<f64>, Option<f64>);
    let temps: Vec<Reading> = card
        .temperatures
        .iter()
        .map(|t| {
            (
                t.label.as_str(),
                t.c.get(),
                t.crit_c.get(),
                t.emergency_c.get(),
            )
        })
        .collect();
    assert_eq!(
        temps,
        [
            ("edge", Some(53.0), Some(100.0), Some(105.0)),
            ("junction", Some(61.0), Some(110.0), Some(115.0)),
            ("mem", Some(68.0), Some(108.0), Some(113.0)),
        ]
    );
    assert_eq!(card.sample.temperature_shutdown_c.get(), Some(105.0));
    assert_eq!(card.performance_level.value().unwrap(), "auto");
    assert_eq!(card.power_cap_min_w.get(), Some(261.0));

    let mut src = source(&fixture("vega56"), proc.path(), Arc::new(RealSysfs));
    let card = src.read_cards(1).remove(0);
    assert_eq!(card.gtt_used_bytes.get(), Some(12_337_152));
    assert_eq!(card.gtt_total_bytes.get(), Some(8_342_863_872));
    assert_eq!(card.sample.memory_total_bytes.get(), Some(8_573_157_376));
    assert_eq!(card.pci_id.value().unwrap(), "1002:687f");
}
