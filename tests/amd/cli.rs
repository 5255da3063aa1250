//! `gpuwarden snapshot` on recorded trees: the values of every card, the `/sys` layout,
//! `--vendor`, `GPUWARDEN_SYSFS_ROOT`, and the messages when nothing is found.

use crate::cards::check;
use crate::expected::EXPECTED;
use crate::support::{copy_tree, fixture};
use assert_cmd::Command;
use serde_json::Value;
use std::path::Path;

const NO_NVML: &str = "/nonexistent/libnvidia-ml.so.1";

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

#[test]
fn snapshot_json_prints_the_right_values_for_every_recorded_card() {
    for e in &EXPECTED {
        let root = fixture(e.card);
        let snap = snapshot_json(&["--vendor", "amd", "--sysfs-root", root.to_str().unwrap()]);
        assert_eq!(snap["source"], "amd", "{}", e.card);
        let gpus = snap["gpus"].as_array().unwrap();
        assert_eq!(gpus.len(), 1, "{}", e.card);
        assert_eq!(gpus[0]["index"], 0);
        check(&gpus[0], e);
    }
}

#[test]
fn the_environment_names_the_root_and_all_vendors_is_the_default() {
    let out = gpuwarden()
        .args(["snapshot", "--csv", "--nvml-lib", NO_NVML])
        .env("GPUWARDEN_SYSFS_ROOT", fixture("rx9070"))
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
        row.contains(",amd-0000:03:00.0,amd,ok,AMD Radeon RX 9070/9070 XT,0000:03:00.0,"),
        "{row}"
    );
}

/// A `/sys`-shaped tree: class/drm with an NVIDIA card, an AMD card and a connector.
fn sys_tree(dir: &Path) {
    let drm = dir.join("class/drm");
    std::fs::create_dir_all(drm.join("card0/device")).unwrap();
    std::fs::write(drm.join("card0/device/vendor"), "0x10de\n").unwrap();
    std::fs::write(
        drm.join("card0/device/uevent"),
        "DRIVER=nvidia\nPCI_ID=10DE:2330\nPCI_SLOT_NAME=0000:01:00.0\n",
    )
    .unwrap();
    std::fs::create_dir_all(drm.join("card1-DP-1")).unwrap();
    std::fs::rename(dir.join("tree/card1"), drm.join("card1")).unwrap();
}

#[test]
fn a_sys_layout_keeps_only_amd_cards() {
    let dir = copy_tree("rx6600");
    sys_tree(dir.path());
    let snap = snapshot_json(&[
        "--vendor",
        "amd",
        "--sysfs-root",
        dir.path().to_str().unwrap(),
    ]);
    let uuids: Vec<&str> = snap["gpus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["uuid"].as_str().unwrap())
        .collect();
    assert_eq!(uuids, ["amd-0000:12:00.0"]);
}

#[test]
fn no_amd_card_is_an_environment_error_that_says_where_it_looked() {
    let empty = tempfile::tempdir().unwrap();
    gpuwarden()
        .args(["snapshot", "--vendor", "amd", "--sysfs-root"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no AMD GPU under"))
        .stderr(predicates::str::contains(empty.path().to_str().unwrap()));
}

#[test]
fn no_vendor_at_all_keeps_the_nvml_message_and_mentions_amd() {
    let empty = tempfile::tempdir().unwrap();
    gpuwarden()
        .args(["snapshot", "--nvml-lib", NO_NVML, "--sysfs-root"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(predicates::str::contains("could not load"))
        .stderr(predicates::str::contains("no AMD GPU under"))
        .stderr(predicates::str::contains("--vendor nvidia|amd"));
}

#[test]
fn an_unknown_vendor_is_a_usage_error() {
    gpuwarden()
        .args(["snapshot", "--vendor", "matrox"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("nvidia, amd, intel, all"));
}

/// The `gpuwarden` lines of the README's AMD section.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let section = readme
        .split("<!-- amd -->")
        .nth(1)
        .expect("README has an <!-- amd --> section");
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
            .env("GPUWARDEN_SYSFS_ROOT", fixture("rx6600"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "gpuwarden {line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("Radeon") || stdout.contains("Steam Deck"),
            "{line}: {stdout}"
        );
    }
}
