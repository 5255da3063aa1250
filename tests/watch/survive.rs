//! A page outlives the daemon that sent it: a real Alertmanager holds the alert of a hot GPU
//! across a `kill -9` (and a SIGTERM) of the daemon, because the next daemon on the same state
//! dir re-sends it — the same alert, not a new firing — for longer than the `endsAt` the dead
//! one gave it; cooling the GPU then resolves it in Alertmanager before that `endsAt` would
//! have expired it. A GPU that cooled while no daemon ran gets its alert resolved by the next,
//! also when the dead daemon's page went out but its firing never reached `state.json`; the
//! alert of a driver that hung for a dead daemon is resolved once the next one samples.

use crate::daemon::{Daemon, fleet, set_temp, story};
use crate::fake_nvml::FakeNvml;
use crate::prom::Alertmanager;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

fn config(dir: &Path, am: &Alertmanager, resend: &str) -> String {
    format!(
        r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
listen = "127.0.0.1:0"

[alerts]
outbox_dir = "{outbox}"

[alerts.alertmanager]
url = "{am}"
resend_interval = "{resend}"

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
clear_below = 75
clear_for = "1s"
severity = "critical"
steps = [{{ after = "0s", do = "page" }}]
"#,
        outbox = dir.join("outbox").display(),
        am = am.url(),
    )
}

/// gpu-hot as Alertmanager holds it now, if it is active.
fn hot_alert(am: &Alertmanager) -> Option<Value> {
    am.alerts()
        .into_iter()
        .find(|a| a["labels"]["rule"] == "gpu-hot")
}

fn time(alert: &Value, field: &str) -> SystemTime {
    let text = alert[field].as_str().unwrap_or_else(|| panic!("{alert}"));
    humantime::parse_rfc3339_weak(text).unwrap_or_else(|e| panic!("{field} {text}: {e}"))
}

/// Waits until `state.json` holds gpu-hot firing: the page is queued (and may reach
/// Alertmanager) before the state of the same decision is written, and a daemon killed in
/// between comes back without the firing (see the `state.json` test below).
fn wait_saved(d: &mut Daemon) {
    let path = d.state_dir.join("state.json");
    d.wait(10, "gpu-hot firing in state.json", || {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).ok()?).ok()?;
        let gpus = v["policy"]["gpus"].as_object()?;
        gpus.values()
            .any(|g| !g["rules"]["gpu-hot"]["firing"].is_null())
            .then_some(())
    });
}

/// The daemon dies by `signal` while gpu-hot fires; the next one keeps the alert alive.
fn survives(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut am = Alertmanager::new(&dir.path().join("am"));
    am.up();
    let fake = FakeNvml::new(&fleet(60));
    // endsAt 6 s after each send: room for a SIGTERM that waits on a desktop notification (2 s).
    let config = config(dir.path(), &am, "2s");
    let mut first = Daemon::start(dir.path(), &config, &[], fake.envs());
    set_temp(&fake, 95);
    let fired = first.wait(20, "gpu-hot in Alertmanager", || hot_alert(&am));
    wait_saved(&mut first);

    first.signal(signal);
    let deadline = Instant::now() + Duration::from_secs(15);
    while first.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the daemon outlived SIG{signal}");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(first);
    // The last endsAt the dead daemon gave the alert: without a re-send it expires then.
    let left = hot_alert(&am).expect("gpu-hot expired already");
    let expires = time(&left, "endsAt");

    let mut second = Daemon::start(dir.path(), &config, &[], fake.envs());
    let resent = second.wait(20, "gpu-hot re-sent by the new daemon", || {
        hot_alert(&am).filter(|a| time(a, "endsAt") > expires)
    });
    assert_eq!(
        resent["startsAt"], fired["startsAt"],
        "a new alert, not the one firing: {resent}"
    );
    // Still active past the dead daemon's endsAt.
    while SystemTime::now() < expires + Duration::from_millis(500) {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        hot_alert(&am).is_some(),
        "gpu-hot expired in Alertmanager after the restart: {:?}",
        story(&second.events())
    );
    let told = story(&second.events());
    assert_eq!(
        told.iter().filter(|k| *k == "fired").count(),
        1,
        "the firing did not carry over: {told:?}"
    );

    // Cooling resolves it: gone from Alertmanager before its last endsAt.
    set_temp(&fake, 60);
    let mut last_ends = expires;
    second.wait(20, "gpu-hot resolved in Alertmanager", || {
        match hot_alert(&am) {
            Some(a) => {
                last_ends = last_ends.max(time(&a, "endsAt"));
                None
            }
            None => Some(()),
        }
    });
    assert!(
        SystemTime::now() < last_ends,
        "gpu-hot expired instead of being resolved: {:?}",
        story(&second.events())
    );
    let resolve = second
        .events()
        .into_iter()
        .find(|e| e["kind"] == "resolve")
        .unwrap_or_else(|| panic!("no resolve event: {:?}", story(&second.events())));
    assert_eq!(resolve["result"], "queued", "{resolve}");
    let status = second.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn a_firing_alert_survives_kill_9_of_the_daemon_and_resolves_when_cool() {
    survives("KILL");
}

#[test]
fn a_firing_alert_survives_sigterm_of_the_daemon_and_resolves_when_cool() {
    survives("TERM");
}

/// gpu-hot pages, the daemon dies by `kill -9`, `lose` runs on its state dir and the GPU
/// cools; the next daemon must resolve the alert before the `endsAt` the dead one gave it.
fn cooled_while_down(lose: impl FnOnce(&Path)) {
    let dir = tempfile::tempdir().unwrap();
    let mut am = Alertmanager::new(&dir.path().join("am"));
    am.up();
    let fake = FakeNvml::new(&fleet(95));
    // endsAt 15 s after each send: an expiry cannot pass for the resolve.
    let config = config(dir.path(), &am, "5s");
    let mut first = Daemon::start(dir.path(), &config, &[], fake.envs());
    first.wait(20, "gpu-hot in Alertmanager", || hot_alert(&am));
    wait_saved(&mut first);
    first.signal("KILL");
    drop(first);
    let expires = time(&hot_alert(&am).expect("gpu-hot expired already"), "endsAt");
    lose(&dir.path().join("state"));

    set_temp(&fake, 60);
    let mut second = Daemon::start(dir.path(), &config, &[], fake.envs());
    second.wait(20, "gpu-hot resolved in Alertmanager", || {
        hot_alert(&am).is_none().then_some(())
    });
    assert!(
        SystemTime::now() < expires,
        "gpu-hot expired instead of being resolved: {:?}",
        story(&second.events())
    );
    let status = second.stop();
    assert!(status.success(), "{status}");
}

#[test]
fn an_alert_of_a_gpu_that_cooled_while_no_daemon_ran_is_resolved_by_the_next() {
    cooled_while_down(|_| {});
}

#[test]
fn a_page_whose_firing_never_reached_state_json_is_resolved_by_the_next_daemon() {
    // The page is queued before the state is written: a crash in between leaves an alert
    // that no firing rule will ever clear.
    cooled_while_down(|state| std::fs::remove_file(state.join("state.json")).unwrap());
}

#[test]
fn a_hung_driver_alert_of_a_dead_daemon_is_resolved_once_the_next_one_samples() {
    let dir = tempfile::tempdir().unwrap();
    let mut am = Alertmanager::new(&dir.path().join("am"));
    am.up();
    let mut state = fleet(60);
    let fake = FakeNvml::new(&state);
    let config = config(dir.path(), &am, "5s").replace(
        r#"interval = "100ms""#,
        "interval = \"100ms\"\ndriver_timeout = \"1s\"",
    );
    let driver_alert = |am: &Alertmanager| {
        am.alerts()
            .into_iter()
            .find(|a| a["labels"]["rule"] == "driver-not-answering")
    };
    let mut first = Daemon::start(dir.path(), &config, &[], fake.envs());
    first.wait_event(15, "the start", 0, |e| e["kind"] == "started");
    state.hang_ms = 600_000;
    fake.set(&state);
    first.wait(20, "driver-not-answering in Alertmanager", || {
        driver_alert(&am)
    });
    let kept = dir.path().join("state/alerts.json");
    first.wait(10, "the alert in alerts.json", || {
        std::fs::read_to_string(&kept)
            .ok()
            .filter(|t| t.contains("driver-not-answering"))
    });
    // Stuck in the driver, the daemon is killed (kill -9, as a person or systemd would).
    first.signal("KILL");
    drop(first);
    let expires = time(&driver_alert(&am).expect("expired already"), "endsAt");

    state.hang_ms = 0;
    fake.set(&state);
    let mut second = Daemon::start(dir.path(), &config, &[], fake.envs());
    second.wait(20, "driver-not-answering resolved in Alertmanager", || {
        driver_alert(&am).is_none().then_some(())
    });
    assert!(
        SystemTime::now() < expires,
        "expired instead of being resolved: {:?}",
        story(&second.events())
    );
    let status = second.stop();
    assert!(status.success(), "{status}");
}
