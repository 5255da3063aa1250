//! `gpuwarden check` on the fake NVML: exit 0/1/2, one line per finding naming the GPU,
//! `--require`, the `--json` schema and the `--brief` line.

use crate::fake_nvml::FakeNvml;
use crate::{gpuwarden, healthy, output};
use serde_json::Value;

#[test]
fn eight_healthy_gpus_exit_0() {
    let fake = FakeNvml::new(&healthy(8));
    let (code, stdout, stderr) = output(gpuwarden().arg("check").envs(fake.envs()));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with(
            "healthy: 8 GPUs (checks: lost, ecc, memory, throttle, temperature, pcie, xid)"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("not checked"), "{stdout}");
}

#[test]
fn a_lost_gpu_exits_1_naming_gpu_1() {
    let mut state = healthy(8);
    let fake = FakeNvml::new(&state);
    state.gpus[1] = state.gpus[1].clone().lost();
    fake.set(&state);
    let (code, stdout, stderr) = output(gpuwarden().arg("check").envs(fake.envs()));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let first = stdout.lines().next().unwrap_or_default();
    assert_eq!(
        first,
        "GPU 1 (UUID unknown, PCI bus id unknown): lost: the GPU stopped answering NVML — \
         drain the node and reset or replace the GPU"
    );
    assert!(
        stdout.contains("unhealthy: 1 findings on 8 GPUs"),
        "{stdout}"
    );
}

#[test]
fn ecc_errors_and_a_hot_gpu_name_uuid_and_pci_bus_id() {
    let mut state = healthy(4);
    state.gpus[2] = state.gpus[2].clone().with("ecc_uncorrected_volatile", 2);
    state.gpus[3] = state.gpus[3].clone().with("temperature_c", 90);
    let fake = FakeNvml::new(&state);
    let (code, stdout, _) = output(gpuwarden().arg("check").envs(fake.envs()));
    assert_eq!(code, 1, "{stdout}");
    let want = format!(
        "GPU 2 ({}, {}): ecc: 2 uncorrected ECC errors since the driver loaded — ",
        state.gpus[2].uuid, state.gpus[2].pci_bus_id
    );
    assert!(
        stdout.lines().next().unwrap_or_default().starts_with(&want),
        "{stdout}"
    );
    assert!(
        stdout.contains("): temperature: 90°C, at or above its slowdown temperature of 87°C"),
        "{stdout}"
    );
}

#[test]
fn no_nvml_library_exits_2_naming_the_library_and_what_to_try() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("libnvidia-ml.so.1");
    let (code, stdout, stderr) = output(gpuwarden().arg("check").arg("--nvml-lib").arg(&missing));
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("hint:") && stderr.contains("--demo"),
        "{stderr}"
    );
    // An empty LD_LIBRARY_PATH dir: the loader finds nothing either.
    let (code, stdout, stderr) = output(
        gpuwarden()
            .args(["check", "--brief"])
            .env("LD_LIBRARY_PATH", dir.path()),
    );
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(stderr.contains("libnvidia-ml.so.1"), "{stderr}");
    assert!(
        stdout.starts_with("unknown: could not load libnvidia-ml.so.1"),
        "{stdout}"
    );
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

#[test]
fn require_gpus_9_fails_naming_the_requirement() {
    let fake = FakeNvml::new(&healthy(8));
    let (code, stdout, _) = output(
        gpuwarden()
            .args(["check", "--require", "gpus=9,memory=80GiB,driver>=550"])
            .envs(fake.envs()),
    );
    assert_eq!(code, 1, "{stdout}");
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("node:")).count(),
        1,
        "{stdout}"
    );
    assert!(
        stdout.starts_with("node: require:gpus: requires gpus=9, found 8 GPUs — "),
        "{stdout}"
    );
    let (code, stdout, _) = output(
        gpuwarden()
            .args([
                "check",
                "--require",
                "gpus=8,memory=80GiB,driver>=550,pcie=x16",
            ])
            .envs(fake.envs()),
    );
    assert_eq!(code, 0, "{stdout}");
}

/// Seed 001's "stage 0": `ecc=on,mig=off` against what each GPU reports. GPU 1 with MIG on
/// fails naming it; a GPU that cannot say its ECC mode is not checked, not passed.
#[test]
fn require_ecc_on_and_mig_off_judges_each_gpus_mode() {
    let mut state = healthy(3);
    let fake = FakeNvml::new(&state);
    let require = ["check", "--require", "ecc=on,mig=off"];
    let (code, stdout, stderr) = output(gpuwarden().args(require).envs(fake.envs()));
    assert_eq!(code, 0, "{stdout}{stderr}");

    state.gpus[1] = state.gpus[1].clone().mig(true);
    state.gpus[2] = state.gpus[2]
        .clone()
        .fail("GetEccMode", crate::fake_nvml::NOT_SUPPORTED);
    fake.set(&state);
    let (code, stdout, stderr) = output(gpuwarden().args(require).envs(fake.envs()));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let findings: Vec<&str> = stdout.lines().filter(|l| l.starts_with("GPU ")).collect();
    assert_eq!(findings.len(), 1, "{stdout}");
    assert!(
        findings[0].starts_with("GPU 1 (GPU-")
            && findings[0].contains("require:mig: requires mig=off, MIG is on — drain the node"),
        "{stdout}"
    );
    let (_, json, _) = output(
        gpuwarden()
            .args(["check", "--json", "--require", "ecc=on,mig=off"])
            .envs(fake.envs()),
    );
    let json: Value = serde_json::from_str(&json).unwrap();
    let skipped: Vec<_> = json["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["check"] == "require:ecc")
        .collect();
    assert_eq!(skipped.len(), 1, "{json}");
    assert_eq!(skipped[0]["gpu"], 2);
    assert_eq!(skipped[0]["reason"], "ECC mode: not supported", "{json}");
    assert_eq!(json["health"][1]["state"], "failed", "{json}");
    assert_eq!(json["health"][0]["state"], "ok", "{json}");
}

#[test]
fn bad_or_unknown_require_items_exit_2_naming_the_item() {
    let fake = FakeNvml::new(&healthy(1));
    for (list, want) in [
        (
            "gpus=8,colour=blue",
            "unknown item \"colour\" (known items: gpus, memory, driver, pcie, ecc, mig)",
        ),
        ("ecc=yes", "\"ecc=yes\": expected on or off"),
        ("memory=80", "\"memory=80\": a size needs a unit"),
    ] {
        let (code, _, stderr) = output(
            gpuwarden()
                .args(["check", "--require", list])
                .envs(fake.envs()),
        );
        assert_eq!(code, 2, "{list}: {stderr}");
        assert!(stderr.contains(want), "{list}: {stderr}");
    }
}

#[test]
fn json_lists_checks_findings_and_not_checked() {
    let mut state = healthy(3);
    for i in [0, 2] {
        state.gpus[i] = state.gpus[i]
            .clone()
            .fail("GetMaxPcieLinkWidth", crate::fake_nvml::NOT_SUPPORTED);
    }
    let fake = FakeNvml::new(&state);
    state.gpus[1] = state.gpus[1].clone().lost();
    fake.set(&state);
    let (code, stdout, stderr) = output(
        gpuwarden()
            .args(["check", "--json", "--require", "gpus=3"])
            .envs(fake.envs()),
    );
    assert_eq!(code, 1, "{stderr}");
    let json: Value = serde_json::from_str(&stdout).expect("check --json prints JSON");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["status"], "unhealthy");
    assert_eq!(json["source"], "nvml");
    assert_eq!(json["gpus"], 3);
    assert_eq!(
        json["checks"],
        serde_json::json!([
            "lost",
            "ecc",
            "memory",
            "throttle",
            "temperature",
            "pcie",
            "require:gpus",
            "xid"
        ])
    );
    let findings = json["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1);
    let f = &findings[0];
    let mut keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "action", "check", "gpu", "message", "pci", "severity", "uuid"
        ]
    );
    assert_eq!(
        (f["gpu"].as_u64(), f["check"].as_str()),
        (Some(1), Some("lost"))
    );
    assert_eq!(f["severity"], "critical");
    assert!(f["uuid"].is_null() && f["pci"].is_null(), "{f}");
    let skipped = json["not_checked"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(skipped[0]["check"], "pcie");
    assert_eq!(skipped[0]["uuid"], state.gpus[0].uuid.as_str());
    assert_eq!(skipped[0]["pci"], state.gpus[0].pci_bus_id.as_str());
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("maximum PCIe link: not supported")
    );
    assert!(json["error"].is_null() && json["slurm"].is_null(), "{json}");

    // Without a driver: status unknown, the error, exit 2.
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, _) = output(
        gpuwarden()
            .args(["check", "--json", "--nvml-lib"])
            .arg(dir.path().join("x.so")),
    );
    assert_eq!(code, 2);
    let json: Value = serde_json::from_str(&stdout).expect("JSON even without a driver");
    assert_eq!(json["status"], "unknown");
    assert!(
        json["error"].as_str().unwrap().contains("could not load"),
        "{json}"
    );
}

#[test]
fn brief_prints_exactly_one_line() {
    let mut state = healthy(2);
    let fake = FakeNvml::new(&state);
    let (code, stdout, _) = output(gpuwarden().args(["check", "--brief"]).envs(fake.envs()));
    assert_eq!((code, stdout.as_str()), (0, "OK: 2 GPUs healthy\n"));
    state.gpus[0] = state.gpus[0]
        .clone()
        .with("clocks_event_reasons", 0x1 | 0x40);
    state.gpus[1] = state.gpus[1].clone().lost();
    fake.set(&state);
    let (code, stdout, _) = output(gpuwarden().args(["check", "--brief"]).envs(fake.envs()));
    assert_eq!(code, 1);
    assert_eq!(
        stdout,
        "GPU 1 lost: the GPU stopped answering NVML (+1 more)\n"
    );
}

/// The README's Health section: its command lines parse, its JSON blocks are JSON, the
/// `--json` example has the keys the real output has, and the NPD rule runs a valid check.
#[test]
fn readme_health_section_examples_are_valid() {
    use clap::Parser;
    let readme = include_str!("../../README.md");
    let start = readme
        .find("## Health: `gpuwarden check`")
        .expect("the health section");
    let section = &readme[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let section = &section[..end];
    let parse = |args: Vec<String>| {
        if let Err(e) = gpuwarden::cli::Cli::try_parse_from(&args) {
            panic!("README example {args:?} does not parse: {e}");
        }
    };
    let mut commands = 0;
    for line in section.lines() {
        let line = line.trim_start_matches("exec /usr/local/bin/");
        if !line.starts_with("gpuwarden check") {
            continue;
        }
        let line = line.split(" #").next().unwrap_or(line).replace('\'', "");
        parse(line.split_whitespace().map(str::to_string).collect());
        commands += 1;
    }
    assert!(commands >= 7, "{commands} command lines found");

    let blocks: Vec<Value> = section
        .split("```json\n")
        .skip(1)
        .map(|b| {
            let body = &b[..b.find("```").expect("a closed block")];
            serde_json::from_str(body).unwrap_or_else(|e| panic!("README JSON: {e}\n{body}"))
        })
        .collect();
    assert_eq!(blocks.len(), 2, "the --json example and the NPD config");

    let mut state = healthy(2);
    // As in the example: a GPU whose maximum PCIe link is not supported is not checked.
    state.gpus[0] = state.gpus[0]
        .clone()
        .fail("GetMaxPcieLinkWidth", crate::fake_nvml::NOT_SUPPORTED);
    let fake = FakeNvml::new(&state);
    state.gpus[1] = state.gpus[1].clone().lost();
    fake.set(&state);
    let (_, stdout, _) = output(gpuwarden().args(["check", "--json"]).envs(fake.envs()));
    let real: Value = serde_json::from_str(&stdout).unwrap();
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort_unstable();
        k
    };
    assert_eq!(keys(&blocks[0]), keys(&real));
    assert_eq!(keys(&blocks[0]["findings"][0]), keys(&real["findings"][0]));
    assert_eq!(
        keys(&blocks[0]["not_checked"][0]),
        keys(&real["not_checked"][0])
    );

    let rule = &blocks[1]["rules"][0];
    assert_eq!(rule["path"], "/usr/local/bin/gpuwarden");
    let mut args = vec!["gpuwarden".to_string()];
    args.extend(
        rule["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap().to_string()),
    );
    assert!(args.contains(&"--brief".to_string()));
    parse(args);
}

#[test]
fn a_driver_that_lists_no_gpu_is_a_finding() {
    let fake = FakeNvml::new(&healthy(0));
    let (code, stdout, stderr) = output(
        gpuwarden()
            .args(["check", "--vendor", "nvidia"])
            .envs(fake.envs()),
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.starts_with("node: lost: no GPU found"), "{stdout}");
}
