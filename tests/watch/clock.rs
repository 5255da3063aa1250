//! A wall-clock jump neither fires a rule nor runs a ladder step: the daemon runs under
//! libfaketime (wall time faked from a file the test rewrites, `CLOCK_MONOTONIC` left alone).
//! Two hours forward, a rule with `for = "1h"` does not fire and a step `after = "1h"` does
//! not run, while the daemon keeps sampling (its snapshots carry the jumped time); two hours
//! back, a rule with `for = "2s"` still fires after about two seconds. A page sent after a
//! jump is re-sent to Alertmanager every `resend_interval`, whichever way the clock jumped.
//! A daemon restarted after a jump carries on the engine's clock of the one before.

use crate::daemon::{Daemon, fleet, set_temp, setter_lines, story};
use crate::fake_nvml::FakeNvml;
use crate::prom::{free_port, get_json};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Debian's libfaketime (package faketime), in the multiarch directory of any architecture.
fn libfaketime() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists())
        .expect(
            "no /usr/lib/*/faketime/libfaketime.so.1 (tests/peers/install.sh installs faketime)",
        )
}
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

/// The environment that runs the daemon on the wall clock in `file`.
fn faked(fake: &FakeNvml, file: &Path) -> Vec<(&'static str, OsString)> {
    set_offset(file, "+0");
    let mut envs = fake.envs();
    envs.extend([
        ("LD_PRELOAD", libfaketime().into_os_string()),
        (
            "FAKETIME_TIMESTAMP_FILE",
            file.to_path_buf().into_os_string(),
        ),
        ("FAKETIME_NO_CACHE", "1".into()),
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".into()),
    ]);
    envs
}

/// Jumps the daemon's wall clock to `offset` and waits for a sample taken after the jump.
fn jump(d: &mut Daemon, file: &Path, port: u16, offset: &str, ahead: bool) -> (i64, u64) {
    set_offset(file, offset);
    d.wait(10, &format!("a sample at the wall time {offset}"), || {
        sampled(port).filter(|(at, _)| {
            if ahead {
                *at > wall_ms() + HOUR_MS
            } else {
                *at < wall_ms() - HOUR_MS
            }
        })
    })
}

/// A stand-in for Alertmanager's `POST /api/v2/alerts` on 127.0.0.1 that answers 200 and
/// keeps each body with when it came (the real one is on the real clock, which the daemon's
/// faked `endsAt` would confuse).
struct Receiver {
    url: String,
    posts: Arc<Mutex<Vec<(Instant, String)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let posts = Arc::new(Mutex::new(Vec::new()));
        let keep = Arc::clone(&posts);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if let Some(v) = lower.strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    continue;
                }
                let body = String::from_utf8_lossy(&body).into_owned();
                keep.lock().unwrap().push((Instant::now(), body));
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Receiver { url, posts }
    }

    /// How many posts carried a firing `rule` since `since`.
    fn firing_since(&self, rule: &str, since: Instant) -> usize {
        let firing = |body: &str| {
            let alerts: Vec<serde_json::Value> = serde_json::from_str(body).unwrap_or_default();
            alerts.iter().any(|a| a["labels"]["rule"] == rule)
        };
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, body)| *at >= since && firing(body))
            .count()
    }
}

fn fired(d: &Daemon, rule: &str) -> bool {
    d.events()
        .iter()
        .any(|e| e["kind"] == "fired" && e["rule"] == rule)
}

#[test]
fn a_wall_clock_jump_neither_fires_a_rule_nor_runs_a_step_and_a_jump_back_delays_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeNvml::new(&fleet(88));
    let offset = dir.path().join("faketime.rc");
    let envs = faked(&fake, &offset);
    let port = free_port();
    let config = POLICY.replace("@PORT@", &port.to_string());
    let mut d = Daemon::start(dir.path(), &config, &[], envs);
    d.wait_event(15, "hot-ladder to fire", 0, |e| {
        e["kind"] == "fired" && e["rule"] == "hot-ladder"
    });

    // Two hours forward: hot-ladder has fired an hour ago and hot-for-an-hour has held for
    // two hours, by the wall clock.
    let (jumped, samples) = jump(&mut d, &offset, port, "+2h", true);
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
                .any(|k| k.starts_with("cap_clocks")),
        "an `after = 1h` step ran on a jump: {:?} {:?}",
        story(&d.events()),
        fake.setter_log()
    );

    // Two hours back from the real time: a short `for` still fires on time.
    jump(&mut d, &offset, port, "-2h", false);
    let hot = Instant::now();
    set_temp(&fake, 95);
    d.wait_event(15, "very-hot to fire", 0, |e| {
        e["kind"] == "fired" && e["rule"] == "very-hot"
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

#[test]
fn a_page_after_a_wall_clock_jump_is_re_sent_every_resend_interval() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeNvml::new(&fleet(60));
    let offset = dir.path().join("faketime.rc");
    let envs = faked(&fake, &offset);
    let port = free_port();
    let am = Receiver::start();
    let config = format!(
        r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
listen = "127.0.0.1:{port}"

[alerts]
outbox_dir = "{outbox}"

[alerts.alertmanager]
url = "{url}"
resend_interval = "1s"

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
clear_below = 75
severity = "critical"
steps = [{{ after = "0s", do = "page" }}]
"#,
        outbox = dir.path().join("outbox").display(),
        url = am.url,
    );
    let mut d = Daemon::start(dir.path(), &config, &[], envs);
    // The engine's clock starts on the wall clock…
    d.wait(10, "a first sample", || {
        sampled(port).filter(|(at, _)| (*at - wall_ms()).abs() < HOUR_MS)
    });
    // …and now runs two hours behind the wall clock, as after an NTP step.
    jump(&mut d, &offset, port, "+2h", true);
    let start = Instant::now();
    set_temp(&fake, 95);
    d.wait(15, "the page", || {
        (am.firing_since("gpu-hot", start) > 0).then_some(())
    });
    let counted = |d: &mut Daemon, why: &str| {
        let since = Instant::now();
        std::thread::sleep(Duration::from_millis(3500));
        d.assert_alive(why);
        let n = am.firing_since("gpu-hot", since);
        // resend_interval = "1s": about three; none would let Alertmanager expire the alert,
        // one per sample would flood it.
        assert!(
            (2..=6).contains(&n),
            "{n} re-sends in 3.5 s {why}: {:?}",
            story(&d.events())
        );
    };
    counted(&mut d, "after the wall clock jumped forward");
    // Four hours back: now the engine's clock is ahead of the wall clock.
    jump(&mut d, &offset, port, "-2h", false);
    counted(&mut d, "after the wall clock jumped back");
    let status = d.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn a_daemon_restarted_after_a_wall_clock_jump_goes_on_with_the_same_engine_clock() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeNvml::new(&fleet(88));
    let offset = dir.path().join("faketime.rc");
    let envs = faked(&fake, &offset);
    let port = free_port();
    let config = POLICY.replace("@PORT@", &port.to_string());
    let mut first = Daemon::start(dir.path(), &config, &[], envs.clone());
    // hot-ladder fired; hot-for-an-hour is pending since the same sample, in state.json.
    first.wait_event(15, "hot-ladder to fire", 0, |e| {
        e["kind"] == "fired" && e["rule"] == "hot-ladder"
    });
    jump(&mut first, &offset, port, "+2h", true);
    let status = first.stop();
    assert!(status.success(), "{status}");

    // Taken afresh from the wall clock, the engine's time would be two hours on: both rules
    // would act at once.
    let mut second = Daemon::start(dir.path(), &config, &[], envs);
    jump(&mut second, &offset, port, "+2h", true);
    std::thread::sleep(Duration::from_secs(3));
    second.assert_alive("after a restart on a jumped wall clock");
    assert!(
        !fired(&second, "hot-for-an-hour") && setter_lines(&fake, "SetGpuLockedClocks").is_empty(),
        "{:?}",
        story(&second.events())
    );
    let status = second.stop();
    assert!(status.success(), "{status}");
}
