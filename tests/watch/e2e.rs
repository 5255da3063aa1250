//! The watchdog's whole story against real peers: fake NVML + real `systemd --user`.

use crate::daemon::{Daemon, fleet, main_pid, set_temp, setter_lines, story, wait_for};
use crate::fake_nvml::{FakeGpu, FakeNvml};
use crate::sandbox::{Sandbox, env};
use crate::test_path;
use std::path::PathBuf;

const GPU0: &str = "GPU-fa4e0000-0000-4000-8000-000000000000";

/// A policy for tests: fast samples, short sustain times, fake-infer@* allowlisted, and
/// bystander.service pinned to GPU 0 but outside the allowlist.
pub fn policy(rule: &str, budget: u32, cooldown: &str, auto: bool) -> String {
    format!(
        r#"
[watchdog]
interval = "200ms"
state_dir = "@STATE@"
listen = "127.0.0.1:0"

[restarts]
budget = {budget}
window = "1h"
cooldown = "{cooldown}"
job_timeout = "20s"
verify = "1s"

[units]
allow = ["fake-infer@*.service"]
auto = {auto}

[[units.map]]
gpu = 0
units = ["fake-infer@0.service", "bystander.service"]

[clock_cap]
sm_clock_mhz = [210, 1200]
undo_on_clear = true
reapply_every = "1m"

{rule}
"#
    )
}

const HOT_RULE: &str = r#"
[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
clear_below = 75
clear_for = "1s"
severity = "critical"
steps = [{ after = "0s", do = "cap_clocks" }, { after = "2s", do = "restart_units" }]
"#;

pub fn dir() -> PathBuf {
    PathBuf::from(env("SANDBOX_DIR"))
}

#[test]
fn overheat_caps_clocks_restarts_the_unit_then_undoes_the_cap_when_cool() {
    Sandbox::systemd().run(
        test_path!(overheat_caps_clocks_restarts_the_unit_then_undoes_the_cap_when_cool),
        || {
            let fake = FakeNvml::new(&fleet(60));
            let infer_before = main_pid("fake-infer@0.service");
            let bystander_before = main_pid("bystander.service");
            let other_before = main_pid("fake-infer@1.service");
            let d = Daemon::start(&dir(), &policy(HOT_RULE, 3, "10m", false), &[], fake.envs());
            let log = || {
                format!(
                    "events: {:?}\nsetters: {:?}",
                    story(&d.events()),
                    fake.setter_log()
                )
            };

            set_temp(&fake, 91);
            wait_for(
                15,
                "the clock cap",
                || {
                    setter_lines(&fake, &format!("SetGpuLockedClocks {GPU0} 210 1200"))
                        .first()
                        .cloned()
                },
                log,
            );
            let after = wait_for(
                20,
                "fake-infer@0 to be restarted",
                || {
                    let pid = main_pid("fake-infer@0.service");
                    (pid != 0 && pid != infer_before).then_some(pid)
                },
                log,
            );
            assert_ne!(after, infer_before);

            set_temp(&fake, 60);
            wait_for(
                15,
                "the cap to be undone",
                || {
                    setter_lines(&fake, &format!("ResetGpuLockedClocks {GPU0}"))
                        .first()
                        .cloned()
                },
                log,
            );
            let status = d.stop();
            assert!(status.success(), "exit status {status}");

            // Nobody else was touched.
            assert_eq!(
                main_pid("bystander.service"),
                bystander_before,
                "bystander restarted"
            );
            assert_eq!(
                main_pid("fake-infer@1.service"),
                other_before,
                "GPU 1's unit restarted"
            );
            assert!(
                fake.setter_log().iter().all(|l| l.contains(GPU0)),
                "{:?}",
                fake.setter_log()
            );

            // The event log tells the whole story, in order.
            let events = crate::daemon::events(&dir().join("state"));
            let told = story(&events);
            let order = [
                "started",
                "fired",
                "cap_clocks",
                "restart_unit",
                "cleared",
                "undo_cap",
                "stopped",
            ];
            let mut at = 0;
            for want in order {
                let found = told[at..].iter().position(|k| k == want);
                assert!(found.is_some(), "no {want} after position {at} in {told:?}");
                at += found.unwrap() + 1;
            }
            let refused: Vec<_> = events
                .iter()
                .filter(|e| {
                    e["result"] == "refused"
                        && e["action"].as_str().unwrap_or("").contains("bystander")
                })
                .collect();
            assert_eq!(
                refused.len(),
                1,
                "bystander's refusal must be logged once: {told:?}"
            );
            let restarts: Vec<_> = events
                .iter()
                .filter(|e| e["kind"] == "restart_unit" && e["result"] == "ok")
                .collect();
            assert_eq!(restarts.len(), 1, "{told:?}");
            assert_eq!(restarts[0]["gpu"], GPU0);
            assert_eq!(restarts[0]["rule"], "gpu-hot");
        },
    );
}

#[test]
fn a_flapping_temperature_restarts_the_unit_at_most_once() {
    Sandbox::systemd().run(
        test_path!(a_flapping_temperature_restarts_the_unit_at_most_once),
        || {
            let fake = FakeNvml::new(&fleet(60));
            let before = main_pid("fake-infer@0.service");
            let d = Daemon::start(&dir(), &policy(HOT_RULE, 3, "1s", false), &[], fake.envs());
            let log = || format!("events: {:?}", story(&d.events()));

            // Crossing the threshold every 300 ms never holds for the 1 s sustain time.
            for i in 0..20 {
                set_temp(&fake, if i % 2 == 0 { 88 } else { 82 });
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            assert!(
                !story(&d.events()).contains(&"fired".to_string()),
                "{}",
                log()
            );
            assert_eq!(main_pid("fake-infer@0.service"), before);

            // Once it holds it fires; hovering between the clear level and the threshold keeps it
            // firing — one restart, not one per crossing.
            set_temp(&fake, 88);
            wait_for(
                15,
                "the first restart",
                || (main_pid("fake-infer@0.service") != before).then_some(()),
                log,
            );
            for i in 0..20 {
                set_temp(&fake, if i % 2 == 0 { 88 } else { 80 });
                std::thread::sleep(std::time::Duration::from_millis(300));
            }
            let told = story(&d.events());
            assert_eq!(told.iter().filter(|k| *k == "fired").count(), 1, "{told:?}");
            assert_eq!(
                told.iter().filter(|k| *k == "cleared").count(),
                0,
                "{told:?}"
            );
            drop(d);
        },
    );
}

#[test]
fn a_restart_that_did_not_help_stops_the_restarts_and_says_nobody_was_paged() {
    Sandbox::systemd().run(
        test_path!(a_restart_that_did_not_help_stops_the_restarts_and_says_nobody_was_paged),
        || {
            let fake = FakeNvml::new(&fleet(95));
            let rule = HOT_RULE.replace(
                r#"{ after = "2s", do = "restart_units" }"#,
                r#"{ after = "0s", do = "restart_units" }"#,
            );
            let mut d = Daemon::start(&dir(), &policy(&rule, 2, "1s", false), &[], fake.envs());
            let state_dir = d.state_dir.clone();
            let log = || format!("events: {:?}", story(&crate::daemon::events(&state_dir)));
            // still 95 °C a second after the unit came back: restarting did not help
            let stopped = wait_for(
                30,
                "the restarts to stop",
                || {
                    d.events()
                        .into_iter()
                        .find(|e| e["kind"] == "restarts_stopped")
                },
                log,
            );
            assert_eq!(stopped["rule"], "gpu-hot");
            let detail = stopped["detail"].as_str().unwrap_or("");
            assert!(detail.starts_with("did_not_help: "), "{detail}");
            // the page it sends instead: with no [alerts] sink the log says nobody got it
            let page = wait_for(
                10,
                "a page",
                || {
                    d.events()
                        .into_iter()
                        .find(|e| e["action"].as_str().unwrap_or("").starts_with("page"))
                },
                log,
            );
            assert_eq!(page["result"], "failed", "{page}");
            assert!(
                page["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("nobody was paged"),
                "{page}"
            );
            // Keep it hot (cooldown 1 s, budget 2): no restart loop, within this firing.
            std::thread::sleep(std::time::Duration::from_secs(4));
            d.assert_alive("after the restarts stopped");
            let events = d.events();
            let restarts = events
                .iter()
                .filter(|e| {
                    e["kind"] == "restart_unit"
                        && e["result"] == "ok"
                        && e["action"].as_str().unwrap_or("").contains("fake-infer@0")
                })
                .count();
            assert_eq!(restarts, 1, "{:?}", story(&events));
            drop(d);
        },
    );
}

#[test]
fn memory_at_90_percent_restarts_the_unit_owning_the_gpu_processes() {
    Sandbox::systemd().run(
        test_path!(memory_at_90_percent_restarts_the_unit_owning_the_gpu_processes),
        || {
            let owner = main_pid("fake-infer@1.service");
            let total = 85_520_809_984u64;
            let mut state = fleet(50);
            state.gpus[1] = FakeGpu::h100(1)
                .with("memory_used_bytes", total * 9 / 10)
                .compute(&[(owner, Some(total * 8 / 10))]);
            let fake = FakeNvml::new(&state);
            let rule = r#"
[[rule]]
name = "gpu-memory-full"
metric = "memory_used_pct"
above = 85
for = "1s"
clear_below = 75
severity = "warning"
steps = [{ after = "0s", do = "restart_units" }]
"#;
            let d = Daemon::start(&dir(), &policy(rule, 3, "10m", true), &[], fake.envs());
            let log = || format!("events: {:?}", story(&d.events()));
            let after = wait_for(
                20,
                "fake-infer@1 (the owner of GPU 1's process) to restart",
                || {
                    let pid = main_pid("fake-infer@1.service");
                    (pid != 0 && pid != owner).then_some(pid)
                },
                log,
            );
            // The restarted server frees its memory.
            let mut cool = fleet(50);
            cool.gpus[1] = FakeGpu::h100(1).compute(&[(after, Some(1 << 30))]);
            fake.set(&cool);
            // The unit's new MainPID may show before the daemon logged the job's result.
            let restart = wait_for(
                15,
                "the logged restart",
                || {
                    d.events()
                        .into_iter()
                        .find(|e| e["kind"] == "restart_unit" && e["result"] == "ok")
                },
                log,
            );
            assert_eq!(restart["action"], "restart fake-infer@1.service");
            assert_eq!(restart["gpu_index"], 1);
            drop(d);
        },
    );
}

#[test]
fn a_restarted_daemon_re_applies_its_caps_and_does_not_restart_twice() {
    Sandbox::systemd().run(
        test_path!(a_restarted_daemon_re_applies_its_caps_and_does_not_restart_twice),
        || {
            let fake = FakeNvml::new(&fleet(95));
            let before = main_pid("fake-infer@0.service");
            let rule = HOT_RULE.replace(
                r#"{ after = "2s", do = "restart_units" }"#,
                r#"{ after = "0s", do = "restart_units" }"#,
            );
            let config = policy(&rule, 3, "10m", false);
            let first = Daemon::start(&dir(), &config, &[], fake.envs());
            let log = || format!("setters: {:?}", fake.setter_log());
            wait_for(
                20,
                "the restart",
                || (main_pid("fake-infer@0.service") != before).then_some(()),
                log,
            );
            wait_for(
                10,
                "the cap",
                || setter_lines(&fake, "SetGpuLockedClocks").first().cloned(),
                log,
            );
            // A crash: no chance to undo anything.
            first.signal("KILL");
            drop(first);
            let restarted = main_pid("fake-infer@0.service");

            let second = Daemon::start(&dir(), &config, &[], fake.envs());
            wait_for(
                10,
                "the cap to be applied again",
                || (setter_lines(&fake, "SetGpuLockedClocks").len() >= 2).then_some(()),
                log,
            );
            std::thread::sleep(std::time::Duration::from_secs(3));
            assert_eq!(
                main_pid("fake-infer@0.service"),
                restarted,
                "restarted again within the cooldown"
            );
            let status = second.stop();
            assert!(status.success());
            assert!(
                !setter_lines(&fake, &format!("ResetGpuLockedClocks {GPU0}")).is_empty(),
                "{}",
                log()
            );
        },
    );
}
