//! Reload and shutdown on the simulated fleet (no systemd needed).

use crate::daemon::{Daemon, story, wait_for};

const GOOD: &str = r#"
[watchdog]
interval = "200ms"
state_dir = "@STATE@"
listen = "127.0.0.1:0"

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
severity = "warning"
steps = [{ after = "0s", do = "notify" }]
"#;

#[test]
fn sighup_with_a_broken_config_keeps_the_old_policy_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), GOOD, &["--demo", "--dry-run"], vec![]);
    let log = || format!("events: {:?}", story(&d.events()));
    wait_for(
        10,
        "the start",
        || {
            story(&d.events())
                .contains(&"started".to_string())
                .then_some(())
        },
        log,
    );

    std::fs::write(
        dir.path().join("watchdog.toml"),
        GOOD.replace("above = 85", "abve = 85"),
    )
    .unwrap();
    d.signal("HUP");
    let rejected = wait_for(
        10,
        "config_rejected",
        || {
            d.events()
                .into_iter()
                .find(|e| e["kind"] == "config_rejected")
        },
        log,
    );
    let detail = rejected["detail"].as_str().unwrap();
    assert!(detail.contains("watchdog.toml:"), "{detail}");
    assert!(detail.contains("abve"), "{detail}");

    std::fs::write(
        dir.path().join("watchdog.toml"),
        GOOD.replace("@STATE@", &d.state_dir.display().to_string()),
    )
    .unwrap();
    d.signal("HUP");
    wait_for(
        10,
        "config_reloaded",
        || {
            d.events()
                .into_iter()
                .find(|e| e["kind"] == "config_reloaded")
        },
        log,
    );
    let status = d.stop();
    assert!(status.success(), "{status}");
    assert_eq!(
        story(&crate::daemon::events(&dir.path().join("state")))
            .last()
            .map(String::as_str),
        Some("stopped")
    );
}

#[test]
fn an_invalid_config_stops_the_daemon_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchdog.toml");
    std::fs::write(&path, "[watchdog]\ninterval = \"soon\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .args(["watch", "--demo", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("watchdog.toml:2:"), "{err}");
}

#[test]
fn watch_demo_overheat_dry_run_fires_the_ladder_without_touching_anything() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
listen = "127.0.0.1:0"

[units]
allow = ["train@*.service"]
auto = true

[clock_cap]
sm_clock_mhz = [210, 1200]

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
severity = "critical"
steps = [{ after = "0s", do = "cap_clocks" }, { after = "0s", do = "restart_units" }]
"#;
    let d = Daemon::start(
        dir.path(),
        config,
        &["--demo", "--scenario", "overheat", "--dry-run"],
        vec![],
    );
    let log = || format!("events: {:?}", story(&d.events()));
    // The simulated card passes 85 °C within about a minute of simulated load.
    let restart = wait_for(
        90,
        "a dry-run restart",
        || d.events().into_iter().find(|e| e["kind"] == "restart_unit"),
        log,
    );
    assert_eq!(restart["result"], "dry_run");
    assert_eq!(restart["action"], "restart train@0.service");
    let told = story(&d.events());
    assert!(told.contains(&"cap_clocks/dry_run".to_string()), "{told:?}");
    drop(d);
}
