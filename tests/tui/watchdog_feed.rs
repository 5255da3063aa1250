//! `top --config`: a watchdog config's thresholds color the bars and the daemon's event log
//! (written here as the daemon writes it, through `act::EventLog`) fills the watchdog panel —
//! active rules folded from fired/cleared events, newest events listed. An invalid explicit
//! config stops `top` with the file and line.

use super::{app_after, draw, text};
use gpuwarden::events::{Event, EventKind, EventLog, EventResult};
use gpuwarden::gpu::sim::Scenario;
use gpuwarden::policy;
use gpuwarden::tui::watchdog_feed::WatchdogFeed;
use std::path::Path;

const T: u64 = 1_767_225_600_000;

fn config(dir: &Path) -> String {
    format!(
        r#"
[watchdog]
state_dir = "{}"

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
