//! The shipped systemd files: `systemd-analyze verify` of the unit (with its unprivileged
//! and kmsg drop-ins) is clean, and the polkit rule, run by node with polkit's API stubbed, grants the
//! `gpuwarden` user restarts of allowlisted units and nothing else.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// The unit and drop-in laid out as systemd would find them, with ExecStart= pointing at
/// `binary` (verify checks that every Exec binary exists).
fn install_unit(dir: &Path, binary: &str) -> PathBuf {
    let unit = std::fs::read_to_string(repo("systemd/gpuwarden.service")).unwrap();
    let unit_path = dir.join("gpuwarden.service");
    std::fs::write(&unit_path, unit.replace("/usr/bin/gpuwarden", binary)).unwrap();
    let dropins = dir.join("gpuwarden.service.d");
    std::fs::create_dir(&dropins).unwrap();
    std::fs::copy(
        repo("systemd/gpuwarden-unprivileged.conf"),
        dropins.join("unprivileged.conf"),
    )
    .unwrap();
    std::fs::copy(
        repo("systemd/gpuwarden-kmsg.conf"),
        dropins.join("kmsg.conf"),
    )
    .unwrap();
    unit_path
}

fn verify(unit: &Path) -> (bool, String) {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .expect("systemd-analyze runs (package systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn systemd_analyze_verify_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let unit = install_unit(dir.path(), env!("CARGO_BIN_EXE_gpuwarden"));
    let (ok, text) = verify(&unit);
    assert!(
        ok && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );

    // The check is live: a unit whose binary is missing does not pass.
    let broken = tempfile::tempdir().unwrap();
    let unit = install_unit(broken.path(), "/nonexistent/gpuwarden");
    let (ok, text) = verify(&unit);
    assert!(!ok && text.contains("/nonexistent/gpuwarden"), "{text}");
}

#[test]
fn the_unit_leaves_the_daemon_room_for_open_files() {
    let unit = std::fs::read_to_string(repo("systemd/gpuwarden.service")).unwrap();
    let limit = unit
        .lines()
        .find_map(|l| l.strip_prefix("LimitNOFILE="))
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Far above the endpoint's 128 connections plus what restarts and state files need.
    assert!(
        limit.is_some_and(|n| n >= 4096),
        "LimitNOFILE= is {limit:?}"
    );
}

const POLKIT_HARNESS: &str = r#"
const fs = require("fs");
const vm = require("vm");
let rule = null;
const polkit = {
    Result: { YES: "yes", NO: "no", AUTH_ADMIN: "auth_admin", NOT_HANDLED: null },
    addRule(f) { rule = f; },
    log() {},
};
vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), { polkit }, { filename: process.argv[1] });
const answers = JSON.parse(process.argv[2]).map(([user, id, unit, verb]) =>
    rule({ id, lookup: (key) => ({ unit, verb })[key] }, { user }));
console.log(JSON.stringify(answers));
"#;

#[test]
fn polkit_rule_grants_restarts_of_allowlisted_units_only() {
    let manage = "org.freedesktop.systemd1.manage-units";
    let cases: &[(&str, &str, &str, &str, Option<&str>)] = &[
        (
            "gpuwarden",
            manage,
            "vllm@0.service",
            "restart",
            Some("yes"),
        ),
        (
            "gpuwarden",
            manage,
            "vllm@12.service",
            "restart",
            Some("yes"),
        ),
        ("gpuwarden", manage, "vllm.service", "restart", Some("yes")),
        ("gpuwarden", manage, "vllm@0.service", "stop", Some("no")),
        ("gpuwarden", manage, "vllm@0.service", "start", Some("no")),
        (
            "gpuwarden",
            manage,
            "bystander.service",
            "restart",
            Some("no"),
        ),
        ("gpuwarden", manage, "xvllm.service", "restart", Some("no")),
        (
            "gpuwarden",
            manage,
            "vllm.service.bak",
            "restart",
            Some("no"),
        ),
        ("gpuwarden", manage, "vllmXservice", "restart", Some("no")),
        ("alice", manage, "vllm@0.service", "restart", None),
        ("gpuwarden", "org.freedesktop.login1.reboot", "", "", None),
    ];
    let questions: Vec<[&str; 4]> = cases.iter().map(|c| [c.0, c.1, c.2, c.3]).collect();
    let out = Command::new("node")
        .arg("-e")
        .arg(POLKIT_HARNESS)
        .arg(repo("systemd/gpuwarden-restart.rules"))
        .arg(serde_json::to_string(&questions).unwrap())
        .output()
        .expect("node runs (package nodejs)");
    assert!(
        out.status.success(),
        "node failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answers: Vec<Option<String>> = serde_json::from_slice(&out.stdout).unwrap();
    for (case, answer) in cases.iter().zip(&answers) {
        assert_eq!(answer.as_deref(), case.4, "{case:?}");
    }
    assert_eq!(answers.len(), cases.len());
}
