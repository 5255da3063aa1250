//! The real `gpuwarden` binary: `snapshot` without a driver, through the fake via
//! `LD_LIBRARY_PATH` and `--nvml-lib`, and `--demo --json` with every field.

use crate::fake_nvml::{FakeNvml, FakeState};
use assert_cmd::Command;
use gpuwarden::gpu::GpuSample;
use serde_json::Value;

/// The binary with an environment that cannot reach a fake or a driver by accident.
pub(crate) fn gpuwarden() -> Command {
    let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("gpuwarden");
    for var in [
        "GPUWARDEN_NVML_LIB",
        "FAKE_NVML_STATE",
        "FAKE_NVML_LOG",
        "LD_LIBRARY_PATH",
        "GPUWARDEN_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

pub(crate) fn json_of(cmd: &mut Command) -> Value {
    json_exiting(cmd, 0)
}

/// The JSON of a snapshot that must exit with `code` (1: a GPU is lost).
fn json_exiting(cmd: &mut Command, code: i32) -> Value {
    let out = cmd.assert().code(code).get_output().stdout.clone();
    serde_json::from_slice(&out).expect("snapshot --json prints valid JSON")
}

/// Every key a serialized `GpuSample` has (the fields of the schema).
fn sample_keys() -> Vec<String> {
    let v = serde_json::to_value(GpuSample::default()).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

fn check_gpu_json(gpu: &Value, want: &crate::fake_nvml::FakeGpu, driver: &str) {
    let v = |k| want.value(k);
    assert_eq!(gpu["uuid"], want.uuid.as_str());
    assert_eq!(gpu["name"], want.name.as_str());
    assert_eq!(gpu["pci_bus_id"], want.pci_bus_id.as_str());
    assert_eq!(gpu["driver_version"], driver);
    assert_eq!(gpu["status"], "ok");
    assert_eq!(gpu["vendor"], "nvidia");
    assert_eq!(gpu["utilization_gpu_pct"], v("utilization_gpu_pct"));
    assert_eq!(gpu["memory_used_bytes"], v("memory_used_bytes"));
    assert_eq!(gpu["memory_total_bytes"], v("memory_total_bytes"));
    assert_eq!(gpu["temperature_c"], v("temperature_c") as f64);
    assert_eq!(gpu["power_w"], v("power_mw") as f64 / 1000.0);
    assert_eq!(gpu["clock_sm_mhz"], v("clock_sm_mhz"));
    assert_eq!(gpu["fan_pct"], v("fan_pct"));
    assert_eq!(gpu["pcie_link"]["generation"], v("pcie_link_gen"));
    assert_eq!(gpu["pcie_link_max"]["generation"], v("pcie_link_gen_max"));
    assert_eq!(gpu["pcie_link_max"]["width"], v("pcie_link_width_max"));
    assert_eq!(gpu["pcie_replays"], v("pcie_replay_counter"));
    assert_eq!(gpu["pcie_rx_bytes_per_s"], v("pcie_rx_kbps") * 1024);
    assert_eq!(gpu["ecc_uncorrected"], v("ecc_uncorrected_volatile"));
    assert_eq!(
        gpu["ecc_uncorrected_aggregate"],
        v("ecc_uncorrected_aggregate")
    );
    assert_eq!(
        gpu["row_remap"],
        serde_json::json!({
            "correctable": v("remapped_rows_correctable"),
            "uncorrectable": v("remapped_rows_uncorrectable"),
            "pending": v("remapped_rows_pending") == 1,
            "failure": v("remapped_rows_failure") == 1,
        })
    );
    assert_eq!(
        gpu["retired_pages_pending"],
        v("retired_pages_pending") == 1
    );
    assert_eq!(gpu["throttle"], serde_json::json!(["sw-power-cap"]));
    for key in sample_keys() {
        assert!(gpu.get(&key).is_some(), "missing {key} in {gpu}");
    }
}

/// Needs a machine without NVIDIA's driver (as CI is): with one, the real library loads.
#[test]
fn snapshot_without_a_driver_exits_2_naming_the_library_and_demo() {
    let out = gpuwarden().arg("snapshot").assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("libnvidia-ml.so.1"), "{stderr}");
    assert!(stderr.contains("--demo"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn snapshot_with_a_wrong_nvml_lib_path_exits_2_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libnvidia-ml.so.1");
    let out = gpuwarden()
        .arg("snapshot")
        .arg("--nvml-lib")
        .arg(&path)
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("--demo"), "{stderr}");
}

#[test]
fn snapshot_json_through_ld_library_path_shows_the_fakes_gpus() {
    let state = FakeState::with_gpus(2);
    let fake = FakeNvml::new(&state);
    let json = json_of(gpuwarden().args(["snapshot", "--json"]).envs(fake.envs()));
    assert_eq!(json["schema"], 1);
    assert_eq!(json["source"], "nvml");
    let gpus = json["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 2);
    for (gpu, want) in gpus.iter().zip(&state.gpus) {
        check_gpu_json(gpu, want, &state.driver_version);
    }
}

#[test]
fn snapshot_json_through_nvml_lib_and_its_env_var() {
    let mut state = FakeState::with_gpus(3);
    state.gpus[2] = state.gpus[2].clone().lost();
    let fake = FakeNvml::new(&state);
    // The fake finds its state next to the library, so no other variable is needed. A lost
    // GPU is printed like the others, and makes the exit code 1.
    let by_flag = json_exiting(
        gpuwarden()
            .args(["snapshot", "--json", "--nvml-lib"])
            .arg(fake.lib_path()),
        1,
    );
    let by_env = json_exiting(
        gpuwarden()
            .args(["snapshot", "--json"])
            .env("GPUWARDEN_NVML_LIB", fake.lib_path()),
        1,
    );
    for json in [by_flag, by_env] {
        let gpus = json["gpus"].as_array().unwrap();
        assert_eq!(gpus.len(), 3);
        check_gpu_json(&gpus[0], &state.gpus[0], &state.driver_version);
        assert_eq!(gpus[2]["status"], "lost");
        assert_eq!(gpus[2]["uuid"], "unknown-2");
        assert_eq!(gpus[2]["temperature_c"]["missing"], "gpu_lost");
    }
}

#[test]
fn snapshot_selects_gpus_and_prints_table_and_csv_from_the_fake() {
    let state = FakeState::with_gpus(3);
    let fake = FakeNvml::new(&state);
    let json = json_of(
        gpuwarden()
            .args(["snapshot", "--json", "-i", "0,2"])
            .envs(fake.envs()),
    );
    let uuids: Vec<&str> = json["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids, [&state.gpus[0].uuid, &state.gpus[2].uuid]);

    let out = gpuwarden()
        .args(["snapshot", "--csv"])
        .envs(fake.envs())
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains(&state.gpus[1].uuid), "{csv}");

    let out = gpuwarden()
        .arg("snapshot")
        .envs(fake.envs())
        .assert()
        .success();
    let table = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(table.contains("NVIDIA H100 80GB HBM3"), "{table}");
    assert!(table.contains("300/700 W"), "{table}");
}

#[test]
fn snapshot_demo_json_is_valid_with_every_field_for_every_gpu() {
    let json = json_of(gpuwarden().args(["snapshot", "--demo", "--demo-gpus", "8", "--json"]));
    assert_eq!(json["schema"], 1);
    assert_eq!(json["source"], "sim");
    let gpus = json["gpus"].as_array().unwrap();
    assert_eq!(gpus.len(), 8);
    let keys = sample_keys();
    for gpu in gpus {
        for key in &keys {
            assert!(gpu.get(key).is_some(), "missing {key} in {gpu}");
        }
        assert!(gpu["uuid"].as_str().is_some_and(|u| !u.is_empty()));
        assert_eq!(gpu["health"]["state"], "ok", "{gpu}");
        // Round-trips into the model: the documented shape is the real one (the health is
        // derived from the rest, never read back).
        let back: GpuSample = serde_json::from_value(gpu.clone()).expect("schema round trip");
        let mut stored = gpu.clone();
        stored.as_object_mut().unwrap().remove("health");
        assert_eq!(serde_json::to_value(&back).unwrap(), stored);
    }
}

#[test]
fn snapshot_of_a_gpu_that_does_not_exist_exits_2_naming_those_that_do() {
    let fake = FakeNvml::new(&FakeState::with_gpus(4));
    for format in [None, Some("--json"), Some("--csv")] {
        let mut cmd = gpuwarden();
        cmd.arg("snapshot")
            .args(format)
            .args(["-i", "1,9"])
            .envs(fake.envs());
        let out = cmd.assert().code(2).get_output().clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no GPU with index 9 (found: 0, 1, 2, 3)"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    // The dashboard says it too, before it would take the terminal (and on the demo fleet).
    for args in [&["top"][..], &["top", "--demo"][..], &["--demo"][..]] {
        let out = gpuwarden()
            .args(args)
            .args(["-i", "1,9"])
            .envs(fake.envs())
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("no GPU with index 9 (found: 0, 1, 2, 3)"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn snapshot_into_a_pipe_closed_early_ends_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    // more JSON than a pipe holds (64 KiB), so the write is still going when the pipe closes
    let fake = FakeNvml::new(&FakeState::with_gpus(64));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .args(["snapshot", "--json"])
        .envs(fake.envs())
        .env_remove("GPUWARDEN_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // read one byte, then close the pipe before the rest is written (like `| head -c1`)
    let mut first = [0u8; 1];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("Broken pipe") && !err.contains("error"),
        "{err}"
    );
    assert_ne!(out.status.code(), Some(2), "{err}");
}

#[test]
fn dash_i_takes_ranges_and_names_a_bad_item() {
    let out = gpuwarden()
        .args([
            "snapshot",
            "--demo",
            "--demo-gpus",
            "8",
            "--csv",
            "-i",
            "2-4,0,3",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let indices: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap())
        .collect();
    assert_eq!(indices, ["0", "2", "3", "4"], "{csv}");
    for (bad, why) in [
        ("4-2", "a range goes up"),
        (
            "one",
            "\"one\" is not a GPU index, a range like 0-3, a UUID",
        ),
    ] {
        let out = gpuwarden()
            .args(["snapshot", "--demo", "-i", bad])
            .assert()
            .code(2)
            .get_output()
            .clone();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// `snapshot --loop` is `nvidia-smi -l`: JSON one snapshot per line, CSV with one header,
/// until the reader goes away — which ends it quietly with exit 0.
#[test]
fn snapshot_loop_repeats_until_the_reader_goes_away() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let run = |format: &str, lines: usize| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
            .args([
                "snapshot",
                "--demo",
                "--demo-gpus",
                "2",
                format,
                "--loop",
                "100ms",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut got = Vec::new();
        for _ in 0..lines {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            got.push(line);
        }
        drop(reader);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{format}: {:?}", out.status);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("Broken pipe"), "{err}");
        got
    };
    let json = run("--json", 3);
    let times: Vec<u64> = json
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["at_ms"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]), "{times:?}");
    let csv = run("--csv", 7);
    assert!(csv[0].starts_with("timestamp_ms,index"), "{csv:?}");
    assert_eq!(
        csv.iter().filter(|l| l.starts_with("timestamp_ms")).count(),
        1,
        "one header: {csv:?}"
    );
}

/// `--csv=FIELDS` picks the columns and their order; an unknown one is named with the list.
#[test]
fn csv_takes_a_field_list() {
    let out = gpuwarden()
        .args([
            "snapshot",
            "--demo",
            "--demo-gpus",
            "2",
            "--csv=index,power_w,temperature_c",
        ])
        .assert()
        .success()
        .get_output()
        .clone();
    let csv = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "index,power_w,temperature_c", "{csv}");
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(
        lines[1].starts_with("0,") && lines[1].split(',').count() == 3,
        "{csv}"
    );
    let out = gpuwarden()
        .args(["snapshot", "--demo", "--csv=index,temp"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no CSV column \"temp\" (columns: timestamp_ms,index,"),
        "{err}"
    );
}
