//! The bench on the fake CUDA driver with the fake NVML beside it: GPU numbers come from
//! NVML by PCI bus id (not from CUDA's order), and the report carries the telemetry and
//! throttle reasons NVML served while the kernels ran.

use super::fake_nvml::{FakeGpu, FakeNvml, FakeState};
use super::support::{bench_on_fake, findings, gpu, report};

const NAME: &str = "Fake GPU (gpuwarden test double)";

/// Two NVML GPUs on the fake CUDA driver's buses: NVML 0 is CUDA ordinal 0 (bus 0x28),
/// NVML 1 is ordinal 1 (bus 0x18) — the opposite of plain PCI order.
fn fleet() -> FakeState {
    let mut state = FakeState::with_gpus(2);
    for (i, bus) in [(0, 0x28), (1, 0x18)] {
        let mut g = FakeGpu::h100(i);
        g.name = NAME.into();
        g.pci_bus_id = format!("00000000:{bus:02X}:00.0");
        state.gpus[i as usize] = g;
    }
    state.gpus[1] = state.gpus[1]
        .clone()
        .with("temperature_c", 88)
        .with("clocks_event_reasons", 0x40);
    state
}

#[test]
fn nvml_numbers_the_gpus_and_its_samples_fill_the_report() {
    let nvml = FakeNvml::new(&fleet());
    let mut cmd = bench_on_fake(Some("flip-bit"));
    cmd.env("FAKE_CUDA_FAIL_ORDINAL", "0")
        .env("GPUWARDEN_NVML_LIB", nvml.lib_path())
        .env("FAKE_NVML_STATE", nvml.state_path())
        .env("FAKE_NVML_LOG", nvml.log_path())
        .args(["--duration", "2s", "--json", "--tolerance", "100%"]);
    let r = report(&mut cmd, 1);
    assert_eq!(r["telemetry_missing"], serde_json::Value::Null, "{r:#}");
    // CUDA ordinal 0 sits at NVML index 0 here; PCI order alone would have called it 1.
    let broken = gpu(&r, 0);
    assert_eq!(broken["verdict"], "FAIL", "{r:#}");
    assert!(broken["wrong_results"].as_u64() > Some(0));
    assert_eq!(broken["uuid"], "GPU-fa4e0000-0000-4000-8000-000000000000");
    assert_eq!(broken["temperature_peak_c"], 50.0);
    assert_eq!(broken["power_limit_w"], 700.0);
    assert_eq!(broken["clock_sm_mhz"], serde_json::json!([1710, 1710]));
    // GPU 1 computes correctly but NVML reports hardware thermal slowdown all along.
    let hot = gpu(&r, 1);
    assert_eq!(hot["wrong_results"], 0, "{hot:#}");
    assert_eq!(hot["verdict"], "WARN", "{hot:#}");
    assert_eq!(
        hot["seconds_to_threshold"], 0.0,
        "88 °C from the first sample: {hot:#}"
    );
    assert!(
        findings(hot)
            .iter()
            .any(|t| t.starts_with("hardware thermal slowdown (hw-thermal) for")),
        "{hot:#}"
    );
    let reasons: Vec<&str> = hot["throttle"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["reason"].as_str())
        .collect();
    assert_eq!(reasons, ["hw-thermal"], "{hot:#}");
    assert!(
        nvml.setter_log().is_empty(),
        "the bench never changes clocks or limits"
    );
}
