//! `-i/--gpus` through the real binary: GPUs named by UUID (`GPU-…`, and `MIG-…` for the GPU
//! holding that MIG device) and by PCI bus id in every form nvidia-smi knows, mixed with
//! indices and ranges, for snapshot (table, JSON, CSV, `--loop`), record, check, bench and
//! top — on the fake NVML and on `--demo` — and the exit 2 naming what there is when an
//! entry matches no GPU.

use crate::cli::{gpuwarden, json_of};
use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState};
use serde_json::Value;

const MIG: &str = "MIG-5d2c1b0a-0000-4000-8000-0000000000c2";

/// Four fake GPUs at PCI 17, 18, 19 and 1A; GPU 2 in MIG mode with one device.
fn fake() -> (FakeState, FakeNvml) {
    let mut state = FakeState::with_gpus(4);
    state.gpus[2] = state.gpus[2].clone().mig(true);
    state.mig_devices = vec![(2, FakeGpu::mig_device(MIG, "3g.40gb", 1 << 30, 40 << 30))];
    let fake = FakeNvml::new(&state);
    (state, fake)
}

fn indices(json: &Value) -> Vec<u64> {
    json["gpus"]
        .as_array()
        .expect("gpus")
        .iter()
        .map(|g| g["index"].as_u64().unwrap())
        .collect()
}

#[test]
fn snapshot_takes_uuids_and_every_pci_form_mixed_with_indices() {
    let (state, fake) = fake();
    let uuid = |i: usize| state.gpus[i].uuid.clone();
    assert_eq!(state.gpus[3].pci_bus_id, "00000000:1A:00.0");
    for (list, want) in [
        (uuid(1), vec![1]),
        (uuid(1).to_ascii_lowercase(), vec![1]),
        ("00000000:1A:00.0".into(), vec![3]),
        ("0000:1a:00.0".into(), vec![3]),
        ("1a:00.0".into(), vec![3]),
        ("18:00.0".into(), vec![1]),
        (MIG.into(), vec![2]),
        (format!("3,{},18:00.0", uuid(0)), vec![0, 1, 3]),
        (format!("0-1,0000:19:00.0,{}", uuid(1)), vec![0, 1, 2]),
    ] {
        let json = json_of(
            gpuwarden()
                .args(["snapshot", "--json", "-i", &list])
                .envs(fake.envs()),
        );
        assert_eq!(indices(&json), want, "-i {list}");
    }
    // The same list in the long form, the table and the CSV.
    let out = gpuwarden()
        .args(["snapshot", "--csv=index,uuid", "--gpus"])
        .arg(format!("{},19:00.0", uuid(3)))
        .envs(fake.envs())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let csv = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(
        csv,
        format!("index,uuid\n2,{}\n3,{}\n", uuid(2), uuid(3)),
        "{csv}"
    );
    let out = gpuwarden()
        .args(["snapshot", "-i", "17:00.0"])
        .envs(fake.envs())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let table = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(
        table.lines().filter(|l| l.contains("NVIDIA H100")).count(),
        1,
        "{table}"
    );
}

#[test]
fn snapshot_loop_keeps_the_gpus_named_by_uuid() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let (state, fake) = fake();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .args(["snapshot", "--json", "--loop", "100ms", "-i"])
        .arg(format!("{},1a:00.0", state.gpus[1].uuid))
        .envs(fake.envs())
        .env_remove("GPUWARDEN_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..3 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let json: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert_eq!(indices(&json), [1, 3], "{line}");
    }
    drop(reader);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out);
}

#[test]
fn record_and_check_take_uuids_and_pci_bus_ids() {
    let (state, fake) = fake();
    let list = format!("{},0000:17:00.0", state.gpus[2].uuid);
    let out = gpuwarden()
        .args(["record", "--duration", "100ms", "--interval", "100ms", "-i"])
        .arg(&list)
        .envs(fake.envs())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&out).into_owned();
    let first = text.lines().next().expect("one sample recorded");
    let json: Value = serde_json::from_str(first).unwrap();
    assert_eq!(indices(&json), [0, 2], "{text}");

    let out = gpuwarden()
        .args(["check", "--json", "-i"])
        .arg(&list)
        .envs(fake.envs())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(2), "{stdout}");
    let json: Value = serde_json::from_str(&stdout).expect("check --json prints JSON");
    assert_eq!(json["gpus"], 2, "{stdout}");
}

#[test]
fn an_entry_matching_no_gpu_exits_2_naming_what_there_is() {
    let (state, fake) = fake();
    let uuids: Vec<String> = (0..4)
        .map(|i| format!("{i} {}", state.gpus[i].uuid))
        .collect();
    let uuid_err = format!(
        "no GPU with UUID GPU-0bad (found: {}, 2 {MIG})",
        uuids.join(", ")
    );
    let pci_err = "no GPU with PCI bus id 3b:00.0 (found: 0 00000000:17:00.0, \
                   1 00000000:18:00.0, 2 00000000:19:00.0, 3 00000000:1A:00.0)";
    for (list, said) in [
        ("1,GPU-0bad", uuid_err.as_str()),
        ("17:00.0,3b:00.0", pci_err),
    ] {
        for command in [
            &["snapshot"][..],
            &["snapshot", "--json"],
            &["snapshot", "--csv", "--loop", "1s"],
            &["top"],
            &["record", "--duration", "1s"],
            &["check"],
        ] {
            let out = gpuwarden()
                .args(command)
                .args(["-i", list])
                .envs(fake.envs())
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{command:?} -i {list}: {err}");
            assert!(err.contains(said), "{command:?} -i {list}: {err}");
        }
    }
    for (bad, why) in [
        (
            "17:00",
            "\"17:00\" is not a PCI bus id like 00000000:17:00.0",
        ),
        ("zz:00.0", "is not a PCI bus id"),
        ("GPU-", "\"GPU-\" is not a GPU UUID"),
    ] {
        let out = gpuwarden()
            .args(["snapshot", "-i", bad])
            .envs(fake.envs())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// The demo fleet's GPUs have UUIDs and PCI bus ids too (18, 28, 38, 48 for four).
#[test]
fn the_demo_fleet_is_selected_by_uuid_and_pci_bus_id_in_every_command() {
    let all = json_of(gpuwarden().args(["snapshot", "--demo", "--json"]));
    let uuid = |i: usize| all["gpus"][i]["uuid"].as_str().unwrap().to_string();
    assert_eq!(all["gpus"][2]["pci_bus_id"], "00000000:38:00.0");
    let list = format!("{},38:00.0", uuid(1));
    let json = json_of(
        gpuwarden()
            .args(["snapshot", "--demo", "--json", "-i"])
            .arg(&list),
    );
    assert_eq!(indices(&json), [1, 2]);

    let out = gpuwarden()
        .args([
            "record",
            "--demo",
            "--duration",
            "2s",
            "--simulated-time",
            "-i",
        ])
        .arg(&list)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8_lossy(&out).into_owned();
    assert_eq!(text.lines().count(), 2, "{text}");
    for line in text.lines() {
        let json: Value = serde_json::from_str(line).unwrap();
        assert_eq!(indices(&json), [1, 2], "{line}");
    }

    let out = gpuwarden()
        .args(["bench", "--demo", "--demo-speed", "100", "--duration", "5s"])
        .args(["--json", "--scenario", "training", "-i"])
        .arg(format!("0000:48:00.0,{}", uuid(0)))
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(indices(&report), [0, 3], "{report:#}");

    // A recorded trace is selected from too, and checked before the terminal is taken.
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("demo.jsonl");
    gpuwarden()
        .args([
            "record",
            "--demo",
            "--duration",
            "2s",
            "--simulated-time",
            "-o",
        ])
        .arg(&trace)
        .assert()
        .success();
    let top_trace = ["top", "--trace", trace.to_str().unwrap()];
    for command in [
        &["snapshot"][..],
        &["top"],
        &["bench", "--duration", "1s"],
        &top_trace,
    ] {
        let out = gpuwarden()
            .args(command)
            .args(["--demo", "-i", "GPU-0bad"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{command:?}: {err}");
        assert!(
            err.contains(&format!(
                "no GPU with UUID GPU-0bad (found: 0 {}, ",
                uuid(0)
            )),
            "{command:?}: {err}"
        );
    }
}
