//! The daemon as the `Type=notify` unit it ships as (systemd/gpuwarden.service), run by a
//! real `systemd --user`: `systemctl start` returns once it said READY=1, and
//! `systemctl reload` (`ExecReload=/bin/kill -HUP $MAINPID`) succeeds and leaves the unit
//! `active` again — for a good file and for a refused one. Without READY=1 after RELOADING=1
//! systemd would keep the unit `reloading`.

use crate::daemon::{fleet, story};
use crate::fake_nvml::FakeNvml;
use crate::prom::free_port;
use crate::reload::{File, dir, kind_is};
use crate::sandbox::{Sandbox, env};
use crate::test_path;
use std::path::Path;

/// `systemctl --user` in the sandbox; its exit status and stdout.
fn systemctl(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("timeout")
        .arg("30")
        .arg("systemctl")
        .arg("--user")
        .args(args)
        .output()
        .expect("systemctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text.trim().to_string())
}

fn active_state(unit: &str) -> String {
    systemctl(&["show", "-p", "ActiveState", "--value", unit]).1
}

#[test]
fn systemctl_reload_of_the_notify_unit_succeeds_and_the_unit_stays_active() {
    Sandbox::systemd().run(
        test_path!(systemctl_reload_of_the_notify_unit_succeeds_and_the_unit_stays_active),
        || {
            let dir = dir();
            let fake = FakeNvml::new(&fleet(60));
            let state_dir = dir.join("state");
            let config = dir.join("watchdog.toml");
            let mut file = File {
                listen: "127.0.0.1:0",
                dry_run: true,
                allow: r#""fake-infer@*.service""#,
                tail: "",
            };
            let write = |f: &File| {
                let text = f
                    .render()
                    .replace("@STATE@", &state_dir.display().to_string());
                std::fs::write(&config, text).unwrap();
            };
            write(&file);
            // The shipped unit's service protocol (systemd/gpuwarden.service), without the
            // hardening a user manager cannot apply.
            let mut unit = format!(
                "[Service]\nType=notify\nNotifyAccess=main\nWatchdogSec=30s\n\
                 ExecStart={} watch --config {}\nExecReload=/bin/kill -HUP $MAINPID\n",
                env!("CARGO_BIN_EXE_gpuwarden"),
                config.display()
            );
            for (k, v) in fake.envs() {
                unit.push_str(&format!("Environment=\"{k}={}\"\n", v.to_string_lossy()));
            }
            let name = "gpuwarden-test.service";
            std::fs::write(Path::new(&env("SANDBOX_UNIT_DIR")).join(name), unit).unwrap();
            let events = || format!("events: {:?}", story(&crate::daemon::events(&state_dir)));
            let (ok, out) = systemctl(&["daemon-reload"]);
            assert!(ok, "{out}");
            // A Type=notify start returns once the daemon said READY=1.
            let (ok, out) = systemctl(&["start", name]);
            assert!(ok, "start: {out}\n{}", events());
            assert_eq!(active_state(name), "active", "{}", events());

            let wait_active = |why: &str| {
                crate::daemon::wait_for(
                    10,
                    why,
                    || (active_state(name) == "active").then_some(()),
                    || format!("ActiveState {}; {}", active_state(name), events()),
                )
            };
            // A good file: RELOADING=1, then READY=1 (without it systemd keeps the unit
            // `reloading`).
            file.dry_run = false;
            write(&file);
            let (ok, out) = systemctl(&["reload", name]);
            assert!(ok, "reload: {out}\n{}", events());
            crate::daemon::wait_for(
                10,
                "config_reloaded",
                || {
                    crate::daemon::events(&state_dir)
                        .into_iter()
                        .find(|e| kind_is(e, "config_reloaded"))
                },
                events,
            );
            wait_active("active after the reload");

            // A refused file ends the same way.
            let other = format!("127.0.0.1:{}", free_port());
            file.listen = &other;
            write(&file);
            let (ok, out) = systemctl(&["reload", name]);
            assert!(ok, "reload: {out}\n{}", events());
            crate::daemon::wait_for(
                10,
                "config_rejected",
                || {
                    crate::daemon::events(&state_dir)
                        .into_iter()
                        .find(|e| kind_is(e, "config_rejected"))
                },
                events,
            );
            wait_active("active after the refused reload");
            let pid = systemctl(&["show", "-p", "MainPID", "--value", name]).1;
            assert_ne!(pid, "0", "the daemon is gone: {}", events());

            let (ok, out) = systemctl(&["stop", name]);
            assert!(ok, "stop: {out}");
            let told = story(&crate::daemon::events(&state_dir));
            assert_eq!(told.last().map(String::as_str), Some("stopped"), "{told:?}");
        },
    );
}
