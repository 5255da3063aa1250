//! A wall-clock jump neither fires a rule nor runs a ladder step: the daemon runs under
//! libfaketime (wall time faked from a file the test rewrites, `CLOCK_MONOTONIC` left alone).
//! Two hours forward, a rule with `for = "1h"` does not fire and a step `after = "1h"` does
//! not run, while the daemon keeps sampling (its snapshots carry the jumped time); two hours
//! back, a rule with `for = "2s"` still fires after about two seconds.

use crate::daemon::{Daemon, fleet, set_temp, setter_lines, story};
use crate::fake_nvml::FakeNvml;
use crate::prom::{free_port, get_json};
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const HOUR_MS: i64 = 3_600_000;

const POLICY: &str = r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
listen = "127.0.0.1:@PORT@"

[clock_cap]
sm_clock_mhz = [210, 1200]

[[rule]]
name = "hot-for-an-hour"
metric = "temperature_c"
above = 85
for = "1h"
clear_below = 75
severity = "warning"
steps = [{ after = "0s", do = "cap_clocks" }]

[[rule]]
name = "hot-ladder"
metric = "temperature_c"
above = 85
for = "1s"
clear_below = 75
severity = "warning"
steps = [{ after = "1h", do = "cap_clocks" }]

[[rule]]
name = "very-hot"
metric = "temperature_c"
above = 92
for = "2s"
clear_below = 75
severity = "critical"
steps = [{ after = "0s", do = "notify" }]
"#;

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The wall time of the daemon's newest sample, and how many it took.
fn sampled(port: u16) -> Option<(i64, u64)> {
    let snap = get_json(&format!("http://127.0.0.1:{port}/api/v1/snapshot"))?;
    let health = get_json(&format!("http://127.0.0.1:{port}/healthz"))?;
    Some((snap["at_ms"].as_i64()?, health["samples_total"].as_u64()?))
}

/// Sets the daemon's wall clock `offset` (libfaketime syntax, `+2h`) from the real one.
fn set_offset(file: &Path, offset: &str) {
    std::fs::write(file, format!("{offset}\n")).unwrap();
}

fn fired(d: &Daemon, rule: &str) -> bool {
    d.events()
        .iter()
        .any(|e| e["kind"] == "rule_fired" && e["rule"] == rule)
}

#[test]
fn a_wall_clock_jump_neither_fires_a_rule_nor_runs_a_step_and_a_jump_back_delays_nothing() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "{LIBFAKETIME} is missing (tests/peers/install.sh installs faketime)"
    );
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeNvml::new(&fleet(88));
    let offset = dir.path().join("faketime.rc");
    set_offset(&offset, "+0");
    let port = free_port();
    let mut envs = fake.envs();
    envs.extend([
        ("LD_PRELOAD", OsString::from(LIBFAKETIME)),
        ("FAKETIME_TIMESTAMP_FILE", offset.clone().into_os_string()),
        ("FAKETIME_NO_CACHE", "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ]);
    let config = POLICY.replace("@PORT@", &port.to_string());
    let mut d = Daemon::start(dir.path(), &config, &[], envs);
    d.wait_event(15, "hot-ladder to fire", 0, |e| {
        e["kind"] == "rule_fired" && e["rule"] == "hot-ladder"
    });

    // Two hours forward: hot-ladder has fired an hour ago and hot-for-an-hour has held for
    // two hours, by the wall clock.
    set_offset(&offset, "+2h");
    let (jumped, samples) = d.wait(10, "a sample at the jumped wall time", || {
        sampled(port).filter(|(at, _)| *at > wall_ms() + HOUR_MS)
    });
    std::thread::sleep(Duration::from_secs(4));
    d.assert_alive("after the wall clock jumped forward");
    let (later, more) = sampled(port).expect("the endpoint stopped answering");
    assert!(
        later > jumped && more > samples,
        "sampling stopped after the jump: {:?}",
        story(&d.events())
    );
    assert!(
        !fired(&d, "hot-for-an-hour"),
        "a `for = 1h` rule fired on a jump: {:?}",
        story(&d.events())
    );
    assert!(
        setter_lines(&fake, "SetGpuLockedClocks").is_empty()
            && !story(&d.events())
                .iter()
                .any(|k| k.starts_with("clock_cap")),
        "an `after = 1h` step ran on a jump: {:?} {:?}",
        story(&d.events()),
        fake.setter_log()
    );

    // Two hours back from the real time: a short `for` still fires on time.
    set_offset(&offset, "-2h");
    d.wait(10, "a sample at the wall time jumped back", || {
        sampled(port).filter(|(at, _)| *at < wall_ms() - HOUR_MS)
    });
    let hot = Instant::now();
    set_temp(&fake, 95);
    d.wait_event(15, "very-hot to fire", 0, |e| {
        e["kind"] == "rule_fired" && e["rule"] == "very-hot"
    });
    let took = hot.elapsed();
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(8),
        "very-hot (for = 2s) fired after {took:?}"
    );
    assert!(
        !fired(&d, "hot-for-an-hour") && setter_lines(&fake, "SetGpuLockedClocks").is_empty(),
        "{:?}",
        story(&d.events())
    );
    let status = d.stop();
    assert!(status.success(), "{status}");
}
