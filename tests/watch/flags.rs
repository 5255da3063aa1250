//! Command-line behaviour of `watch` seen from outside: `--interval` beats the config's, and
//! log lines written to a pipe carry no colour codes.

use crate::daemon::{Daemon, story, wait_for};
use crate::prom::{free_port, get};
use std::process::{Command, Stdio};

fn policy(interval: &str, port: u16) -> String {
    format!(
        r#"
[watchdog]
interval = "{interval}"
state_dir = "@STATE@"
listen = "127.0.0.1:{port}"

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
clear_below = 80
steps = [{{ do = "notify" }}]
"#
    )
}

/// The `stale_after_seconds` of `/healthz`: three intervals, at least 5 s.
fn stale_after(extra: &[&str]) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut args = vec!["--demo", "--dry-run"];
    args.extend_from_slice(extra);
    let mut d = Daemon::start(dir.path(), &policy("3s", port), &args, vec![]);
    let url = format!("http://127.0.0.1:{port}/healthz");
    let log = || format!("events: {:?}", story(&events(dir.path())));
    let body = wait_for(20, "/healthz", || get(&url).map(|(_, body)| body), log);
    d.assert_alive("after answering /healthz");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    let status = d.stop();
    assert!(status.success(), "exit status {status}");
    health["stale_after_seconds"]
        .as_f64()
        .unwrap_or_else(|| panic!("{health}"))
}

fn events(dir: &std::path::Path) -> Vec<serde_json::Value> {
    crate::daemon::events(&dir.join("state"))
}

#[test]
fn interval_on_the_command_line_beats_the_config() {
    // [watchdog] interval = "3s" applies when --interval is not given…
    assert_eq!(stale_after(&[]), 9.0);
    // …and --interval, before or after the subcommand, overrides it.
    assert_eq!(stale_after(&["--interval", "4s"]), 12.0);
}

#[test]
fn log_lines_written_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchdog.toml");
    let state = dir.path().join("state");
    let config = policy("100ms", 0).replace("@STATE@", &state.display().to_string());
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .args(["watch", "--demo", "--dry-run", "--once", "--config"])
        .arg(&path)
        .env("GPUWARDEN_LOG", "info")
        .env_remove("NO_COLOR")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}: {stderr}", out.status);
    assert!(stderr.contains("INFO serving /metrics"), "{stderr}");
    assert!(!stderr.contains("\x1b["), "{stderr:?}");
}
