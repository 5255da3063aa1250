//! `gpuwarden record` and `gpuwarden replay` as users run them.

use super::support::fixture;
use assert_cmd::Command;
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::gpu::{Snapshot, Source};
use gpuwarden::policy::{self, Action, State};
use std::path::{Path, PathBuf};

fn gpuwarden() -> Command {
    let mut cmd = Command::cargo_bin("gpuwarden").unwrap();
    cmd.env_remove("GPUWARDEN_LOG").env("NO_COLOR", "1");
    cmd
}

/// `gpuwarden replay` against the repository's reference policy, whatever /etc holds.
fn replay() -> Command {
    let mut cmd = gpuwarden();
    cmd.arg("replay").arg("--config").arg(repo("watchdog.toml"));
    cmd
}

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn replay_of_an_nvidia_smi_log_prints_the_timeline() {
    let out = stdout(
        gpuwarden()
            .current_dir(repo("tests/fixtures/nvidia-smi"))
            .args([
                "replay",
                "--trace",
                "overheat.csv",
                "--config",
                "watchdog-replay.toml",
            ]),
    );
    let expected = "\
replaying overheat.csv (nvidia-smi-csv) against watchdog-replay.toml; nothing is actuated

2024-05-13 14:00:50.117  GPU 0  gpu-hot              critical fired: gpu-hot fired on GPU 0: temperature 88.0 °C (above 85.0 °C) for 10s
2024-05-13 14:00:50.117  GPU 0  gpu-hot              critical notify: GPU 0: temperature 88.0 °C (above 85.0 °C) (gpu-hot)
2024-05-13 14:01:00.117  GPU 0  gpu-sw-thermal       warning fired: gpu-sw-thermal fired on GPU 0: throttle reason sw-thermal active for 5s
2024-05-13 14:01:00.117  GPU 0  gpu-sw-thermal       warning notify: GPU 0: throttle reason sw-thermal active (gpu-sw-thermal)
2024-05-13 14:01:20.117  GPU 0  gpu-hot              critical cap_clocks: capping GPU 0: SM clock locked to 210-1200 MHz (gpu-hot: temperature 90.0 °C (above 85.0 °C))
2024-05-13 14:01:50.117  GPU 0  gpu-hot              critical restart_unit: restarting vllm@0.service on GPU 0: temperature 90.0 °C (above 85.0 °C), firing for 1m (gpu-hot; restart 1 of 1 in this firing, 1 of 1 per 1h)
2024-05-13 14:02:05.117  GPU 0  gpu-hot              critical restarts_stopped: GPU 0: restarting vllm@0.service did not help: temperature 90.0 °C (above 85.0 °C) 15s after the restart; no more restarts until gpu-hot clears or a person runs `gpuwarden reset gpu-hot` (firing for 1m 15s)
2024-05-13 14:02:05.117  GPU 0  gpu-hot              critical page: GPU 0: restarting vllm@0.service did not help: temperature 90.0 °C (above 85.0 °C) 15s after the restart; no more restarts until gpu-hot clears or a person runs `gpuwarden reset gpu-hot` (firing for 1m 15s); needs a person (gpu-hot)
2024-05-13 14:02:20.117  GPU 0  gpu-hot              critical reapply_cap: re-applying the cap on GPU 0: SM clock locked to 210-1200 MHz (every 1m)
2024-05-13 14:02:32.117  GPU 0  gpu-sw-thermal       warning cleared: gpu-sw-thermal cleared on GPU 0: throttle reason sw-thermal no longer active for 10s
2024-05-13 14:02:50.117  GPU 0  gpu-hot              critical cleared: gpu-hot cleared on GPU 0: temperature 75.0 °C (at or below 80.0 °C) for 20s
2024-05-13 14:02:50.117  GPU 0  gpu-hot              critical resolve: gpu-hot on GPU 0 resolved (recovered)
2024-05-13 14:02:50.117  GPU 0  gpu-hot              critical undo_cap: undoing the cap on GPU 0: SM clock locked to 210-1200 MHz (gpu-hot cleared)

200 samples of 2 GPUs from 2024-05-13 14:00:00.117 to 2024-05-13 14:03:19.117 (3m 19s); 13 actions; 0 lines skipped

RULE                 GPU FIRED FIRING FOR NOTIFY CAPS RESTARTS REFUSED NO-BUDGET PAGES  AT END
gpu-hot                0     1         2m      1    1        1       0         0     1  clear
gpu-sw-thermal         0     1     1m 32s      1    0        0       0         0     0  clear
";
    assert_eq!(out, expected);
}

#[test]
fn replay_json_has_the_timeline_and_the_summary() {
    let out = stdout(gpuwarden().args([
        "replay",
        "--json",
        "--trace",
        fixture("overheat.csv").to_str().unwrap(),
        "--config",
        fixture("watchdog-replay.toml").to_str().unwrap(),
    ]));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["format"], "nvidia-smi-csv");
    let timeline: Vec<Action> = serde_json::from_value(doc["timeline"].clone()).unwrap();
    let kinds: Vec<&str> = timeline.iter().map(|a| a.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "fired",
            "notify",
            "fired",
            "notify",
            "cap_clocks",
            "restart_unit",
            "restarts_stopped",
            "page",
            "reapply_cap",
            "cleared",
            "cleared",
            "resolve",
            "undo_cap"
        ]
    );
    let hot = &doc["summary"]["rules"][0];
    assert_eq!(hot["rule"], "gpu-hot");
    assert_eq!(hot["gpu_uuid"], "GPU-5f2c7a8e-1b3d-4e6f-9a0b-c1d2e3f4a5b6");
    assert_eq!(hot["budget_exhausted"], 0);
    assert_eq!(hot["restarts_stopped"], 1);
    assert_eq!(hot["firing_ms"], 120_000);
    assert_eq!(doc["summary"]["samples"], 200);
    assert_eq!(doc["skipped_lines"], 0);
}

/// One engine, two drivers: a recorded sim scenario replayed gives the very actions the
/// engine gives when driven live, sample by sample, on the same fleet.
#[test]
fn replay_of_a_recording_gives_the_actions_of_the_live_engine() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("overheat.jsonl");
    gpuwarden()
        .args([
            "record",
            "--demo",
            "--scenario",
            "overheat",
            "--duration",
            "8m",
        ])
        .args(["--simulated-time", "-o"])
        .arg(&trace)
        .assert()
        .success();
    let reference = repo("watchdog.toml");
    let out = stdout(
        gpuwarden()
            .args(["replay", "--json", "--instant", "--trace"])
            .arg(&trace)
            .arg("--config")
            .arg(&reference),
    );
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let replayed: Vec<Action> = serde_json::from_value(doc["timeline"].clone()).unwrap();

    // The live driver: the daemon's loop without actuation, on a fresh simulated fleet.
    let first: Snapshot = serde_json::from_str(
        std::fs::read_to_string(&trace)
            .unwrap()
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    let config = policy::load(&reference).unwrap();
    let mut sim = SimSource::new(&SimConfig {
        gpus: 4,
        seed: 1,
        scenario: Scenario::Overheat,
    });
    let mut state = State::default();
    let mut live = Vec::new();
    for i in 0..480 {
        let now = first.at_ms + i * 1000;
        let snap = sim.sample(now).unwrap();
        // the daemon's loop, systemd answering each restart at once
        let actions = policy::step(&config, &mut state, &snap, now);
        let mut answers = Vec::new();
        for a in &actions {
            if let gpuwarden::policy::ActionKind::RestartUnit { unit } = &a.kind {
                answers.extend(policy::restart_result(
                    &config, &mut state, unit, now, true, now,
                ));
            }
        }
        live.extend(actions);
        live.extend(answers);
    }
    assert!(
        live.iter().any(|a| a.kind.name() == "cap_clocks"),
        "the overheat scenario must make the engine act: {live:#?}"
    );
    assert_eq!(replayed, live);
}

#[test]
fn a_headerless_log_without_columns_is_refused_with_what_to_do() {
    let out = replay()
        .arg("--trace")
        .arg(fixture("noheader-units.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("noheader-units.csv:1: this line is not a header"),
        "{err}"
    );
    assert!(err.contains("pass --columns"), "{err}");
}

#[test]
fn a_log_without_timestamps_needs_the_interval() {
    let out = replay()
        .arg("--trace")
        .arg(fixture("no-timestamp.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --interval"));
    let out = stdout(
        replay()
            .args(["--interval", "2s", "--trace"])
            .arg(fixture("no-timestamp.csv")),
    );
    assert!(
        out.contains("3 samples of 2 GPUs from 1970-01-01 00:00:00.000 to 1970-01-01 00:00:04.000"),
        "{out}"
    );
}

#[test]
fn malformed_lines_are_warned_about_and_strict_stops() {
    let out = replay()
        .arg("--trace")
        .arg(fixture("malformed-lines.csv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.matches("gpuwarden: warning:").count(), 3, "{err}");
    assert!(
        err.contains("malformed-lines.csv:5: column 13 (clocks.current.sm)"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("3 lines skipped"));

    let out = replay()
        .args(["--strict", "--trace"])
        .arg(fixture("malformed-lines.csv"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("malformed-lines.csv:4:"));
}

#[test]
fn an_invalid_policy_is_a_finding_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        "[[rule]]\nname = \"x\"\nmetric = \"temprature_c\"\nabove = 1\n",
    )
    .unwrap();
    let out = gpuwarden()
        .args(["replay", "--trace"])
        .arg(fixture("overheat.csv"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.toml:3"));
}

#[test]
fn a_killed_recorder_leaves_a_valid_trace() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("killed.jsonl");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("gpuwarden"))
        .args(["record", "--demo", "--interval", "100ms", "-o"])
        .arg(&trace)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::fs::read_to_string(&trace).map_or(0, |t| t.lines().count()) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the recorder wrote nothing"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap(); // SIGKILL: no chance to flush anything more
    child.wait().unwrap();
    let (_, stream) =
        gpuwarden::trace::open(&trace, &gpuwarden::trace::TraceOptions::default()).unwrap();
    let snaps: Vec<Snapshot> = stream
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(snaps.len() >= 3);
    assert!(snaps.windows(2).all(|w| w[0].at_ms < w[1].at_ms));
    assert_eq!(snaps[0].source, "sim");
}

#[test]
fn top_trace_names_a_missing_file_before_taking_the_terminal() {
    let out = gpuwarden()
        .args(["top", "--trace", "no-such-trace.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-trace.csv"), "{err}");
    let out = gpuwarden().args(["top", "--speed", "10"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--speed needs --trace");
}

#[test]
fn record_of_a_gpu_that_does_not_exist_exits_2_naming_those_that_do() {
    let out = gpuwarden()
        .args([
            "--demo",
            "-i",
            "1,9",
            "record",
            "--duration",
            "5s",
            "--simulated-time",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no GPU with index 9 (found: 0, 1, 2, 3)"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing recorded");
}
