//! `bench --demo`: the whole bench on the simulated fleet, whose thermal model heats the
//! cards under load; simulated time runs fast so a minute takes a fraction of a second.

use super::support::{findings, gpu, report};
use assert_cmd::Command;

fn demo(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("gpuwarden").expect("binary");
    cmd.env_remove("NO_COLOR")
        .args(["bench", "--demo", "--demo-speed", "100"])
        .args(args);
    cmd
}

#[test]
fn healthy_simulated_gpus_pass_with_a_full_report() {
    let r = report(
        &mut demo(&["--duration", "30s", "--json", "--scenario", "training"]),
        0,
    );
    assert_eq!(r["schema"], 1);
    assert_eq!(r["source"], "sim");
    assert_eq!(r["workload"], "mixed");
    assert_eq!(r["status"], "PASS");
    assert_eq!(r["threshold_c"], 85.0);
    let g = gpu(&r, 2);
    assert_eq!(g["verdict"], "PASS", "{g:#}");
    let parts: Vec<&str> = g["throughput"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["part"].as_str())
        .collect();
    assert_eq!(parts, ["tensor", "copy", "pattern"]);
    let tensor = g["throughput"][0]["steady"].as_f64().unwrap_or_default();
    assert!((550.0..700.0).contains(&tensor), "{g:#}");
    for key in [
        "temperature_peak_c",
        "temperature_final_c",
        "power_avg_w",
        "power_peak_w",
        "power_limit_w",
        "power_avg_pct_of_limit",
        "power_peak_pct_of_limit",
        "utilization_avg_pct",
    ] {
        assert!(g[key].as_f64().is_some(), "{key} missing: {g:#}");
    }
    assert!(g["power_avg_pct_of_limit"].as_f64() > Some(90.0), "{g:#}");
    assert!(g["seconds_to_95pct_power"].as_f64() < Some(30.0), "{g:#}");
    assert!(g["clock_sm_mhz"].as_array().is_some(), "{g:#}");
}

#[test]
fn an_overheating_gpu_is_flagged_and_its_time_to_85c_reported() {
    let r = report(
        &mut demo(&["--duration", "40s", "--json", "--scenario", "overheat"]),
        1,
    );
    let hot = gpu(&r, 0);
    assert_eq!(hot["verdict"], "WARN", "{hot:#}");
    let secs = hot["seconds_to_threshold"].as_f64().unwrap_or(-1.0);
    assert!((1.0..20.0).contains(&secs), "{hot:#}");
    assert!(hot["temperature_peak_c"].as_f64() >= Some(85.0));
    assert!(
        hot["throttle"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| t["reason"] == "sw-thermal"),
        "{hot:#}"
    );
    assert!(
        findings(hot).iter().any(|t| t.contains("below the best")),
        "{hot:#}"
    );
    assert_eq!(gpu(&r, 1)["verdict"], "PASS", "{r:#}");
    assert_eq!(gpu(&r, 1)["seconds_to_threshold"], serde_json::Value::Null);
    // The same run judged strictly fails the hot card.
    let strict = report(
        &mut demo(&[
            "--duration",
            "40s",
            "--json",
            "--scenario",
            "overheat",
            "--degraded",
            "fail",
        ]),
        1,
    );
    assert_eq!(gpu(&strict, 0)["verdict"], "FAIL");
}

#[test]
fn a_gpu_lost_mid_run_fails() {
    let r = report(
        &mut demo(&["--duration", "20s", "--json", "--scenario", "lost"]),
        1,
    );
    let last = gpu(&r, 3);
    assert_eq!(last["verdict"], "FAIL", "{last:#}");
    // One finding says it, not two that say the same thing.
    assert_eq!(findings(last).len(), 1, "{last:#}");
    assert!(findings(last)[0].contains("GPU lost"), "{last:#}");
    let lost_after = last["lost_after_s"].as_f64().expect("lost_after_s");
    assert!(lost_after > 0.0 && lost_after < 20.0, "{last:#}");
    assert!(gpu(&r, 0)["lost_after_s"].is_null());
    assert_eq!(gpu(&r, 0)["verdict"], "PASS");

    // The table never shows the lost GPU's numbers as a plain result.
    let out = demo(&["--duration", "20s", "--scenario", "lost"])
        .assert()
        .code(1);
    let text = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let gpu3 = text.split("GPU 3 ").nth(1).expect("GPU 3's section");
    let throughput = gpu3.lines().nth(1).unwrap_or_default();
    assert!(
        throughput.starts_with("  throughput   lost after "),
        "{throughput}\n{text}"
    );
}

#[test]
fn the_table_and_plain_progress_carry_no_escape_codes_off_a_terminal() {
    let out = demo(&["--duration", "12s", "-i", "1,2", "--scenario", "training"])
        .output()
        .expect("running gpuwarden");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains('\x1b'), "escape codes in:\n{stdout}");
    // Progress: one line per GPU every 5 simulated seconds (0, 5, 10), then the report.
    let progress = stdout.lines().filter(|l| l.starts_with("GPU  1 ")).count();
    assert_eq!(progress, 3, "{stdout}");
    assert!(
        stdout.contains("GPU 2  NVIDIA H100 80GB HBM3  PASS"),
        "{stdout}"
    );
    assert!(stdout.contains("result: PASS"), "{stdout}");
    assert!(!stdout.contains("GPU 0 "), "{stdout}");
}

#[test]
fn with_json_stdout_is_only_the_report() {
    let out = demo(&[
        "--duration",
        "6s",
        "--json",
        "--workload",
        "fp32",
        "--scenario",
        "training",
    ])
    .output()
    .expect("running gpuwarden");
    let r: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(r["workload"], "fp32");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("GPU  0"),
        "progress goes to stderr"
    );
}

#[test]
fn with_policy_lists_what_the_watchdog_would_have_done_and_times_its_threshold() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/watchdog.toml");
    let r = report(
        &mut demo(&[
            "--duration",
            "60s",
            "--json",
            "--scenario",
            "overheat",
            "-i",
            "0,1",
            "--with-policy",
            config,
        ]),
        1,
    );
    let w = &r["watchdog"];
    assert_eq!(w["config"], config);
    let actions = w["actions"].as_array().cloned().unwrap_or_default();
    let fired: Vec<(u64, &str)> = actions
        .iter()
        .filter(|a| a["action"] == "fired")
        .filter_map(|a| Some((a["gpu"].as_u64()?, a["rule"].as_str()?)))
        .collect();
    assert!(fired.contains(&(0, "gpu-hot")), "{w:#}");
    assert!(
        fired.iter().all(|(gpu, _)| *gpu == 0),
        "the healthy GPU fires nothing: {w:#}"
    );
    // A dry run: the cap is listed, and the hot card stays hot (nothing was applied).
    assert!(actions.iter().any(|a| a["action"] == "cap_clocks"), "{w:#}");
    assert!(
        gpu(&r, 0)["temperature_final_c"].as_f64() > Some(85.0),
        "{r:#}"
    );
}

#[test]
fn with_policy_takes_the_temperature_threshold_from_its_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("watchdog.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"warm\"\nmetric = \"temperature_c\"\nabove = 71\nfor = \"5s\"\nseverity = \"warning\"\nsteps = [{ after = \"0s\", do = \"notify\" }]\n",
    )
    .expect("writing the config");
    let path = path.to_string_lossy().to_string();
    let r = report(
        &mut demo(&[
            "--duration",
            "30s",
            "--json",
            "--scenario",
            "training",
            "--with-policy",
            &path,
        ]),
        0,
    );
    assert_eq!(r["threshold_c"], 71.0, "{r:#}");
    // --threshold still wins.
    let r = report(
        &mut demo(&[
            "--duration",
            "5s",
            "--json",
            "--with-policy",
            &path,
            "--threshold",
            "90",
        ]),
        0,
    );
    assert_eq!(r["threshold_c"], 90.0);
}

#[test]
fn an_invalid_policy_stops_the_bench_before_it_starts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        "[[rule]]\nname = \"x\"\nmetric = \"temprature_c\"\nabove = 1\n",
    )
    .expect("write");
    demo(&["--duration", "5s", "--with-policy", &path.to_string_lossy()])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicates::str::contains("bad.toml:3"));
}
