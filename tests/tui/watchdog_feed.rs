//! `top --config`: a watchdog config's thresholds color the bars and the daemon's event log
//! (written here as the daemon writes it, through `act::EventLog`) fills the watchdog panel —
//! active rules folded from fired/cleared events, newest events listed. With a daemon to
//! ask, its own state wins: a real dry-run daemon is shown as one, its caps as dry runs, and
//! once it is gone nothing is shown as firing. An invalid explicit config stops `top` with
//! the file and line.

use super::{app_after, draw, text};
use gpuwarden::events::{Event, EventKind, EventLog, EventResult};
use gpuwarden::gpu::sim::Scenario;
use gpuwarden::policy;
use gpuwarden::tui::watchdog_feed::WatchdogFeed;
use std::path::Path;
use std::time::{Duration, Instant};

const T: u64 = 1_767_225_600_000;

/// `listen` on port 0 cannot be asked: the panel folds rules from the log, as it did before
/// the daemon could be asked.
fn config(dir: &Path) -> String {
    config_on(dir, "127.0.0.1:0")
}

fn config_on(dir: &Path, listen: &str) -> String {
    format!(
        r#"
[watchdog]
state_dir = "{}"
listen = "{listen}"

[[rule]]
name = "warm"
metric = "temperature_c"
above = 60
clear_below = 55
for = "10s"
severity = "critical"
steps = [{{ after = "0s", do = "notify" }}]

[[rule]]
name = "full"
metric = "memory_used_pct"
above = 90
clear_below = 80
for = "30s"
steps = [{{ after = "0s", do = "notify" }}]
"#,
        dir.display()
    )
}

fn event(at: u64, kind: EventKind, gpu: u32, rule: &str, action: &str) -> Event {
    let mut e = Event::new(T + at, kind, action);
    e.gpu_index = Some(gpu);
    e.gpu = Some(format!("GPU-{gpu}"));
    e.rule = Some(rule.into());
    e
}

#[test]
fn config_thresholds_and_the_event_log_fill_the_dashboard() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchdog.toml");
    std::fs::write(&path, config(dir.path())).unwrap();
    let mut log = EventLog::open(dir.path()).expect("event log");
    log.append(&event(1000, EventKind::Fired, 0, "warm", "rule fired"))
        .unwrap();
    log.append(&event(2000, EventKind::Fired, 2, "warm", "rule fired"))
        .unwrap();
    let mut failed = event(
        3000,
        EventKind::RestartUnit,
        2,
        "warm",
        "restart vllm@2.service",
    );
    failed.result = EventResult::Refused;
    failed.detail = Some("not in units.allow".into());
    log.append(&failed).unwrap();
    log.append(&event(4000, EventKind::Cleared, 0, "warm", "rule cleared"))
        .unwrap();

    let mut feed = WatchdogFeed::open(Some(&path)).unwrap().expect("a feed");
    let (mut app, _) = app_after(Scenario::Mixed, 4, 10, false);
    feed.refresh(&mut app);
    assert_eq!(app.thresholds.temperature_c, 60.0, "from the rule `warm`");
    assert_eq!(app.thresholds.memory_pct, 90.0, "from the rule `full`");
    let dog = app.watchdog.clone().expect("the panel is filled");
    assert_eq!(dog.rules[0].name, "warm");
    assert_eq!(
        dog.rules[0].active_on,
        vec![2],
        "fired on 0 and 2, cleared on 0"
    );
    assert!(dog.rules[1].active_on.is_empty());
    assert_eq!(dog.events.len(), 4);
    assert!(dog.events[2].failed && dog.events[2].text.contains("refused"));

    let terminal = draw(&app, 120, 40);
    let screen = text(&terminal);
    assert!(screen.contains("on GPU 2"), "{screen}");
    assert!(screen.contains("restart vllm@2.service"), "{screen}");
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_snapshot!("watchdog_from_config_120x40", terminal.backend());
    });

    // A new line in the log shows up with the next sample.
    log.append(&event(5000, EventKind::Cleared, 2, "warm", "rule cleared"))
        .unwrap();
    feed.refresh(&mut app);
    let dog = app.watchdog.clone().unwrap();
    assert!(dog.rules[0].active_on.is_empty());
    assert_eq!(dog.events.len(), 5);
}

#[test]
fn an_invalid_explicit_config_names_file_and_line_and_a_missing_one_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchdog.toml");
    std::fs::write(&path, "[watchdog]\ninterval = \"soon\"\n").unwrap();
    let err = format!("{:#}", WatchdogFeed::open(Some(&path)).unwrap_err());
    assert!(err.contains(&format!("{}:2", path.display())), "{err}");
    assert!(policy::load(&path).is_err());

    let out = assert_cmd::Command::cargo_bin("gpuwarden")
        .unwrap()
        .args(["--demo", "top", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:2", path.display())),
        "{stderr}"
    );

    let missing = dir.path().join("nope.toml");
    assert!(WatchdogFeed::open(Some(&missing)).is_err());
}

/// Refreshes until `ok` holds (the daemon is asked on a thread of its own, once a second).
fn refresh_until(
    feed: &mut WatchdogFeed,
    app: &mut gpuwarden::tui::App,
    what: &str,
    ok: impl Fn(&gpuwarden::tui::watchdog::WatchdogView) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        feed.refresh(app);
        let dog = app.watchdog.clone().expect("the panel is filled");
        if ok(&dog) {
            return;
        }
        assert!(Instant::now() < deadline, "never saw {what}: {dog:#?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn with_no_daemon_running_nothing_is_shown_firing_and_what_would_fire_is_said() {
    use gpuwarden::tui::watchdog::DaemonLine;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("watchdog.toml");
    let listen = format!("127.0.0.1:{}", closed_port());
    std::fs::write(&path, config_on(dir.path(), &listen)).unwrap();
    // The log of a daemon that died while `warm` fired on GPU 2.
    let mut log = EventLog::open(dir.path()).expect("event log");
    log.append(&event(1000, EventKind::Fired, 2, "warm", "rule fired"))
        .unwrap();
    let mut feed = WatchdogFeed::open(Some(&path)).unwrap().expect("a feed");
    let (mut app, _) = app_after(Scenario::Mixed, 4, 10, false);
    refresh_until(&mut feed, &mut app, "the daemon seen stopped", |d| {
        matches!(d.daemon, DaemonLine::Stopped(_))
    });
    let dog = app.watchdog.clone().unwrap();
    assert!(dog.rules.iter().all(|r| r.active_on.is_empty()), "{dog:#?}");
    let hot: Vec<u32> = app
        .gpus()
        .iter()
        .filter(|g| g.temperature_c.get().is_some_and(|t| t > 60.0))
        .map(|g| g.index)
        .collect();
    assert!(!hot.is_empty(), "the mixed fleet has a GPU above 60 °C");
    assert_eq!(dog.rules[0].would_fire_on, hot);
    let screen = text(&draw(&app, 120, 40));
    // The panel is narrow: its lines wrap.
    assert!(
        screen.contains("daemon NOT RUNNING: no answer on"),
        "{screen}"
    );
    assert_eq!(dog.address, listen);
    assert!(screen.contains("would fire on"), "{screen}");
    assert!(!screen.contains("firing on"), "{screen}");
}

#[test]
fn a_real_dry_run_daemon_is_shown_as_one_and_stops_being_shown_firing_when_it_stops() {
    use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState};
    use gpuwarden::tui::watchdog::DaemonLine;
    let dir = tempfile::tempdir().unwrap();
    let state_dir = dir.path().join("state");
    let port = closed_port();
    let config = format!(
        r#"
[watchdog]
interval = "200ms"
state_dir = "{}"
listen = "127.0.0.1:{port}"

[clock_cap]
sm_clock_mhz = [210, 1200]

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
clear_below = 75
steps = [{{ do = "cap_clocks" }}]
"#,
        state_dir.display()
    );
    let path = dir.path().join("watchdog.toml");
    std::fs::write(&path, config).unwrap();
    let mut state = FakeState::with_gpus(2);
    state.gpus[1] = FakeGpu::h100(1).with("temperature_c", 91);
    let fake = FakeNvml::new(&state);
    let mut daemon = std::process::Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .args(["watch", "--dry-run", "--config"])
        .arg(&path)
        .envs(fake.envs())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("starting the daemon");
    struct Kill<'a>(&'a mut std::process::Child);
    impl Drop for Kill<'_> {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let guard = Kill(&mut daemon);

    let mut feed = WatchdogFeed::open(Some(&path)).unwrap().expect("a feed");
    let (mut app, _) = app_after(Scenario::Idle, 2, 3, false);
    refresh_until(
        &mut feed,
        &mut app,
        "a dry-run daemon firing on GPU 1",
        |d| {
            d.daemon == DaemonLine::DryRun
                && d.rules[0].active_on == [1]
                && d.events.iter().any(|e| e.text.contains("— dry_run"))
        },
    );
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("· DRY RUN:"), "{screen}");
    let cap = app
        .watchdog
        .as_ref()
        .unwrap()
        .events
        .iter()
        .find(|e| e.text.starts_with("GPU 1: lock SM clocks"))
        .cloned()
        .expect("the cap event");
    assert!(cap.text.ends_with("— dry_run"), "{cap:?}");
    assert!(fake.setter_log().is_empty(), "a dry run changed the GPU");

    drop(guard);
    refresh_until(&mut feed, &mut app, "the daemon seen stopped", |d| {
        matches!(d.daemon, DaemonLine::Stopped(_)) && d.rules[0].active_on.is_empty()
    });
}
