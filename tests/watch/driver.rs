//! A driver that stops answering: the fake NVML blocks a sample (`hang_ms`, holding its lock
//! as a stuck ioctl would). The daemon says so within `driver_timeout` — an event and
//! `gpuwarden_driver_answering 0` on an endpoint that keeps answering — stays alive, and says
//! so again when the driver answers.

use crate::daemon::{Daemon, story, wait_for};
use crate::fake_nvml::{FakeNvml, FakeState};
use crate::prom::{free_port, get};

fn policy(port: u16) -> String {
    format!(
        r#"
[watchdog]
interval = "200ms"
driver_timeout = "1s"
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

#[test]
fn a_hung_driver_is_reported_while_the_daemon_keeps_answering_and_its_return_too() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut state = FakeState::with_gpus(2);
    let fake = FakeNvml::new(&state);
    let mut d = Daemon::start(dir.path(), &policy(port), &[], fake.envs());
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let state_dir = d.state_dir.clone();
    let log = || format!("events: {:?}", story(&crate::daemon::events(&state_dir)));
    let answering = |v: u8| {
        let line = format!("\ngpuwarden_driver_answering {v}\n");
        let url = metrics.clone();
        move || {
            get(&url)
                .filter(|(_, body)| body.contains(&line))
                .map(|_| ())
        }
    };
    wait_for(
        20,
        "a first sample, the driver answering",
        answering(1),
        log,
    );

    state.hang_ms = 600_000;
    fake.set(&state);
    let hung = wait_for(
        15,
        "driver_not_answering",
        || {
            d.events()
                .into_iter()
                .find(|e| e["kind"] == "driver_not_answering")
        },
        log,
    );
    assert_eq!(hung["result"], "timed_out", "{hung}");
    // the endpoint answers from its own thread while the sampler is stuck in the driver
    wait_for(10, "gpuwarden_driver_answering 0", answering(0), log);
    d.assert_alive("while the driver hangs");

    state.hang_ms = 0;
    fake.set(&state);
    wait_for(
        15,
        "driver_answering",
        || {
            d.events()
                .into_iter()
                .find(|e| e["kind"] == "driver_answering")
        },
        log,
    );
    wait_for(10, "gpuwarden_driver_answering 1", answering(1), log);
    let told = story(&d.events());
    assert_eq!(
        told.iter()
            .filter(|k| k.starts_with("driver_not_answering"))
            .count(),
        1,
        "reported once, not once per look: {told:?}"
    );
    let status = d.stop();
    assert!(status.success(), "exit status {status}");
}
