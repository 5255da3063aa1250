//! `gpuwarden snapshot --json` on each recorded tree: every value its files hold, and the
//! reason for each field they do not; `--vendor intel`; the message when no card is found.
//! (Utilization and processes come from this machine's `/proc` here, so `processes.rs`
//! tests them against a fake one.)

use crate::support::{CARDS, fixture};
use assert_cmd::Command;
use serde_json::{Value, json};

fn gpuwarden() -> Command {
    let mut cmd = Command::cargo_bin("gpuwarden").expect("binary");
    cmd.env_remove("GPUWARDEN_SYSFS_ROOT")
        .env_remove("GPUWARDEN_NVML_LIB")
        .env("NO_COLOR", "1");
    cmd
}

fn snapshot_json(args: &[&str]) -> Value {
    let out = gpuwarden()
        .args(["snapshot", "--json"])
        .args(args)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("snapshot JSON")
}

const NS: Value = Value::Null;

/// `{"missing": "not_supported"}` and friends.
fn missing(why: &str) -> Value {
    json!({ "missing": why })
}

/// What each card's files say, read by hand (°C, W, MHz); `NS` is `not_supported`.
fn expected(card: &str) -> Value {
    match card {
        // i915: card-wide gt_act 600 / RP0 2450, hwmon power1_max 55 W, unlabelled temp1
        // 55 °C without thresholds, fan1_input without fan1_max, PCIe 2.5 GT/s x1.
        "a380-i915" => json!({
            "uuid": "intel-0000:0b:00.0",
            "name": "Intel Arc A380",
            "pci_bus_id": "0000:0b:00.0",
            "temperature_c": 55.0,
            "temperature_slowdown_c": NS,
            "temperature_shutdown_c": NS,
            "power_w": missing("warming_up"),
            "power_limit_w": 55.0,
            "clock_sm_mhz": 600,
            "clock_sm_max_mhz": 2450,
            "clock_mem_mhz": NS,
            "fan_pct": NS,
            "pcie_link": { "generation": 1, "width": 1 },
            "pcie_link_max": NS,
            "memory_used_bytes": NS,
            "throttle": [],
        }),
        // xe: tile0/gt0 act 0 (asleep) / rp0 2850, power1_cap 190 W, pkg 54 °C with crit 100
        // and emergency 125, fan1 1116 of 2160 RPM.
        "b580" => json!({
            "uuid": "intel-0000:09:00.0",
            "name": "Intel Arc B580",
            "pci_bus_id": "0000:09:00.0",
            "temperature_c": 54.0,
            "temperature_slowdown_c": 100.0,
            "temperature_shutdown_c": 125.0,
            "power_w": missing("warming_up"),
            "power_limit_w": 190.0,
            "clock_sm_mhz": 0,
            "clock_sm_max_mhz": 2850,
            "clock_mem_mhz": NS,
            "fan_pct": 52,
            "pcie_link": { "generation": 1, "width": 1 },
            "pcie_link_max": { "generation": 1, "width": 1 },
            "memory_used_bytes": NS,
            "throttle": [],
        }),
        // xe iGPU: tile0/gt0 act 0 / rp0 1300, no hwmon at all, link "Unknown" x0.
        "tigerlake" => json!({
            "uuid": "intel-0000:00:02.0",
            "name": "Intel Iris Xe Graphics (Tiger Lake)",
            "pci_bus_id": "0000:00:02.0",
            "temperature_c": NS,
            "temperature_slowdown_c": NS,
            "temperature_shutdown_c": NS,
            "power_w": NS,
            "power_limit_w": NS,
            "clock_sm_mhz": 0,
            "clock_sm_max_mhz": 1300,
            "clock_mem_mhz": NS,
            "fan_pct": NS,
            "pcie_link": NS,
            "pcie_link_max": NS,
            "memory_used_bytes": NS,
            "throttle": [],
        }),
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn snapshot_json_shows_each_recorded_card_and_why_a_field_is_missing() {
    for card in CARDS {
        let root = fixture(card);
        let snap = snapshot_json(&["--vendor", "intel", "--sysfs-root", root.to_str().unwrap()]);
        assert_eq!(snap["source"], "intel", "{card}");
        let gpus = snap["gpus"].as_array().unwrap();
        assert_eq!(gpus.len(), 1, "{card}");
        let gpu = &gpus[0];
        assert_eq!(gpu["index"], 0, "{card}");
        assert_eq!(gpu["vendor"], "intel", "{card}");
        assert_eq!(gpu["status"], "ok", "{card}");
        for (key, want) in expected(card).as_object().unwrap() {
            let want = if want.is_null() {
                missing("not_supported")
            } else {
                want.clone()
            };
            assert_eq!(gpu[key], want, "{card} {key}");
        }
        // The driver is versioned with the kernel: a release string, never missing here.
        assert!(gpu["driver_version"].is_string(), "{card}: {gpu}");
    }
}

#[test]
fn all_vendors_finds_the_intel_card_without_nvidia() {
    let out = gpuwarden()
        .args([
            "snapshot",
            "--csv",
            "--nvml-lib",
            "/nonexistent/libnvidia-ml.so.1",
        ])
        .env("GPUWARDEN_SYSFS_ROOT", fixture("b580"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let row = csv.lines().nth(1).expect("one GPU row");
    assert!(
        row.contains(",intel-0000:09:00.0,intel,ok,Intel Arc B580,0000:09:00.0,"),
        "{row}"
    );
}

#[test]
fn no_intel_card_is_an_environment_error_that_says_where_it_looked() {
    let empty = tempfile::tempdir().unwrap();
    gpuwarden()
        .args(["snapshot", "--vendor", "intel", "--sysfs-root"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no Intel GPU under"))
        .stderr(predicates::str::contains(empty.path().to_str().unwrap()));
}

#[test]
fn no_vendor_at_all_names_every_vendor_looked_for() {
    let empty = tempfile::tempdir().unwrap();
    gpuwarden()
        .args([
            "snapshot",
            "--nvml-lib",
            "/nonexistent/libnvidia-ml.so.1",
            "--sysfs-root",
        ])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("could not load"))
        .stderr(predicates::str::contains("no AMD GPU under"))
        .stderr(predicates::str::contains("no Intel GPU under"))
        .stderr(predicates::str::contains("i915 or xe driver"))
        .stderr(predicates::str::contains("--vendor nvidia|amd|intel"));
}

/// The `gpuwarden` lines of the README's Intel section.
fn readme_commands() -> Vec<String> {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .expect("README.md");
    let section = readme
        .split("<!-- intel -->")
        .nth(1)
        .expect("README has an <!-- intel --> section");
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter_map(|l| l.strip_prefix("gpuwarden "))
        .map(str::to_string)
        .collect()
}

#[test]
fn the_readme_examples_run() {
    let commands = readme_commands();
    assert!(commands.len() >= 3, "{commands:?}");
    for line in commands {
        let args: Vec<&str> = line.split_whitespace().collect();
        // Lines without --sysfs-root read /sys; point them at a recorded card instead.
        let out = gpuwarden()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("GPUWARDEN_SYSFS_ROOT", fixture("b580"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpuwarden {line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("Intel Arc"), "{line}: {stdout}");
    }
}
