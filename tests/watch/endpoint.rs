//! The daemon's HTTP endpoint against the watchdog's own needs: a flood of idle connections
//! starves neither a unit restart nor the state file (real `systemd --user`, fake NVML), and
//! `[watchdog] token_file` guards every route but `/healthz`.

use crate::daemon::{Daemon, fleet, main_pid, set_temp, story};
use crate::fake_nvml::FakeNvml;
use crate::prom::free_port;
use crate::sandbox::{Sandbox, env};
use crate::test_path;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// More idle connections than the 1024 descriptors a service starts with.
const IDLE: usize = 1100;

const FLOOD_POLICY: &str = r#"
[watchdog]
interval = "200ms"
state_dir = "@STATE@"
listen = "127.0.0.1:@PORT@"

[restarts]
budget = 3
window = "1h"
cooldown = "10m"
job_timeout = "20s"

[units]
allow = ["fake-infer@*.service"]

[[units.map]]
gpu = 0
units = ["fake-infer@0.service"]

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
severity = "critical"
steps = [{ after = "0s", do = "restart_units" }]
"#;

/// GET over a fresh connection, with an optional bearer token: status and body, or `None`
/// when nobody answers (refused, or closed before a response).
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some((status, body.to_string()))
}

/// Polls `check` every 100 ms for at most `secs`, failing as soon as the daemon has exited:
/// a dead daemon never passes for a slow one.
fn wait_alive<T>(d: &mut Daemon, secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        let told = format!("waiting for {what}; events: {:?}", story(&d.events()));
        d.assert_alive(&told);
        assert!(Instant::now() < deadline, "timed out {told}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

/// Raises this process's soft open-file limit to its hard one (it holds every idle client
/// socket) and returns the hard limit.
fn raise_own_nofile(need: u64) -> u64 {
    let mut lim = nofile();
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: setrlimit reads the struct we own.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    assert!(
        lim.rlim_max >= need,
        "the hard open-file limit {} is below the {need} this test needs",
        lim.rlim_max
    );
    lim.rlim_max
}

/// Starts the child with a soft open-file limit of `soft`, as systemd starts services.
fn soft_nofile(cmd: &mut Command, soft: u64, hard: u64) {
    // SAFETY: the hook only calls setrlimit, which is async-signal-safe, on a struct it owns.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn metric(page: &str, name: &str) -> Option<f64> {
    page.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_flood_of_idle_connections_starves_neither_a_restart_nor_the_state_file() {
    Sandbox::systemd().run(
        test_path!(a_flood_of_idle_connections_starves_neither_a_restart_nor_the_state_file),
        || {
            let hard = raise_own_nofile(IDLE as u64 + 256);
            let fake = FakeNvml::new(&fleet(60));
            let before = main_pid("fake-infer@0.service");
            let dir = PathBuf::from(env("SANDBOX_DIR"));
            let port = free_port();
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let config = FLOOD_POLICY.replace("@PORT@", &port.to_string());
            let mut d = Daemon::start_with(&dir, &config, &[], fake.envs(), |cmd| {
                soft_nofile(cmd, 1024, hard);
            });
            let state_file = d.state_dir.join("state.json");
            // Any answer will do: /healthz is 503 until the first sample.
            wait_alive(&mut d, 20, "the endpoint", || get(addr, "/healthz", None));

            let idle: Vec<TcpStream> = (0..IDLE)
                .map(|i| {
                    TcpStream::connect_timeout(&addr, Duration::from_secs(5))
                        .unwrap_or_else(|e| panic!("idle connection {i}: {e}"))
                })
                .collect();
            d.assert_alive("after the idle connections opened");

            set_temp(&fake, 91);
            let after = wait_alive(&mut d, 30, "fake-infer@0 to be restarted", || {
                let pid = main_pid("fake-infer@0.service");
                (pid != 0 && pid != before).then_some(pid)
            });
            assert_ne!(after, before);
            // Written after the restart was decided: the rule fired, the unit's restart counted.
            wait_alive(
                &mut d,
                15,
                "state.json to hold the rule and the restart",
                || {
                    std::fs::read_to_string(&state_file)
                        .ok()
                        .filter(|t| t.contains("gpu-hot") && t.contains("fake-infer@0.service"))
                },
            );
            // systemd may report the new MainPID before the daemon has taken in the job's
            // result: wait for the logged restart, not only for the unit.
            let state_dir = d.state_dir.clone();
            wait_alive(&mut d, 15, "the logged restart", || {
                crate::daemon::events(&state_dir)
                    .into_iter()
                    .find(|e| e["kind"] == "restart_unit" && e["result"] == "ok")
            });

            // The idle clients go; a fresh scrape is answered, and says how many were refused.
            drop(idle);
            let (_, page) = wait_alive(&mut d, 30, "a fresh /metrics", || {
                get(addr, "/metrics", None).filter(|(status, _)| *status == 200)
            });
            let refused = metric(&page, "gpuwarden_http_connections_refused_total");
            let cap = metric(&page, "gpuwarden_http_connections_max");
            // All but the cap's worth were opened while the cap's worth were held.
            assert!(
                cap.is_some_and(|c| c < IDLE as f64)
                    && refused.is_some_and(|r| r >= (IDLE - 128 - 50) as f64),
                "max {cap:?}, refused {refused:?}"
            );
            let status = d.stop();
            assert!(status.success(), "exit status {status}");
        },
    );
}

fn token_policy(port: u16, token_file: &std::path::Path) -> String {
    format!(
        r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
listen = "127.0.0.1:{port}"
token_file = "{}"

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
clear_below = 80
steps = [{{ do = "notify" }}]
"#,
        token_file.display()
    )
}

#[test]
fn token_file_guards_every_route_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut d = Daemon::start(
        dir.path(),
        &token_policy(port, &token),
        &["--demo", "--dry-run"],
        vec![],
    );
    let health = wait_alive(&mut d, 20, "a fresh /healthz", || {
        get(addr, "/healthz", None).filter(|(status, _)| *status == 200)
    });
    assert!(health.1.contains("\"status\":\"ok\""), "{health:?}");
    for path in [
        "/metrics",
        "/api/v1/snapshot",
        "/api/v1/events",
        "/api/v1/rules",
    ] {
        assert_eq!(get(addr, path, None).map(|r| r.0), Some(401), "{path}");
        assert_eq!(
            get(addr, path, Some("s3cre")).map(|r| r.0),
            Some(401),
            "{path}"
        );
        assert_eq!(
            get(addr, path, Some("s3cret")).map(|r| r.0),
            Some(200),
            "{path}"
        );
    }
    let status = d.stop();
    assert!(status.success(), "exit status {status}");
}

#[test]
fn a_missing_token_file_stops_the_start_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-token");
    let config = token_policy(0, &missing)
        .replace("@STATE@", &dir.path().join("state").display().to_string());
    let path = dir.path().join("watchdog.toml");
    std::fs::write(&path, config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .args(["watch", "--demo", "--dry-run", "--once", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()), "{stderr}");
}
