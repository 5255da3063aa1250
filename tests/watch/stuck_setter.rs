//! A clock setter stuck in the driver must not hold back the rest of the watchdog: the fake
//! NVML blocks every setter (`setter_hang_ms`, holding its library lock as a stuck ioctl
//! would). The cap on GPU 0 times out after `driver_timeout`; GPU 1's unit is restarted
//! and the endpoint answers while the setter is still stuck; once the driver answers, the
//! late cap is not left behind.

use crate::daemon::{Daemon, main_pid, setter_lines, story, wait_for};
use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState};
use crate::prom::{free_port, get};
use crate::sandbox::{Sandbox, env};
use crate::test_path;
use std::path::PathBuf;

const GPU0: &str = "GPU-fa4e0000-0000-4000-8000-000000000000";
const TOTAL: u64 = 85_520_809_984;

fn policy(port: u16) -> String {
    format!(
        r#"
[watchdog]
interval = "200ms"
driver_timeout = "1s"
state_dir = "@STATE@"
listen = "127.0.0.1:{port}"

[restarts]
budget = 3
window = "1h"
cooldown = "10m"
job_timeout = "20s"
verify = "1m"

[units]
allow = ["fake-infer@*.service"]
auto = true

[clock_cap]
sm_clock_mhz = [210, 1200]
undo_on_clear = true

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
clear_below = 75
steps = [{{ do = "cap_clocks" }}]

[[rule]]
name = "gpu-memory-full"
metric = "memory_used_pct"
above = 85
clear_below = 75
steps = [{{ do = "restart_units" }}]
"#
    )
}

/// GPU 0 at `temp0` °C; GPU 1 holding a process of `owner` and `used` bytes.
fn state(temp0: u64, owner: u32, used: u64, setter_hang_ms: u64) -> FakeState {
    let mut s = FakeState::with_gpus(2);
    s.gpus[0] = FakeGpu::h100(0).with("temperature_c", temp0);
    s.gpus[1] = FakeGpu::h100(1)
        .with("memory_used_bytes", used)
        .compute(&[(owner, Some(used))]);
    s.setter_hang_ms = setter_hang_ms;
    s
}

#[test]
fn a_stuck_clock_setter_times_out_and_other_gpus_actions_go_on() {
    Sandbox::systemd().run(
        test_path!(a_stuck_clock_setter_times_out_and_other_gpus_actions_go_on),
        || {
            let dir = PathBuf::from(env("SANDBOX_DIR"));
            let owner = main_pid("fake-infer@1.service");
            let fake = FakeNvml::new(&state(50, owner, 1 << 30, 0));
            let port = free_port();
            let mut d = Daemon::start(&dir, &policy(port), &[], fake.envs());
            let healthz = format!("http://127.0.0.1:{port}/healthz");
            let log = |d: &Daemon| {
                format!(
                    "events: {:?}\nsetters: {:?}",
                    story(&d.events()),
                    fake.setter_log()
                )
            };
            d.wait(20, "the first sample", || {
                get(&healthz).filter(|(code, _)| *code == 200)
            });

            // Every setter now blocks until the key is gone; both rules fire on one sample.
            fake.set(&state(91, owner, TOTAL * 9 / 10, 600_000));
            let cap = d.wait(20, "the stuck cap to time out", || {
                d_events(&dir)
                    .into_iter()
                    .find(|e| e["kind"] == "cap_clocks" && e["gpu_index"] == 0)
            });
            assert_eq!(cap["result"], "timed_out", "{}", log(&d));
            assert!(
                cap["detail"]
                    .as_str()
                    .is_some_and(|t| t.contains("did not answer within 1s")),
                "{cap}"
            );
            let restarted = d.wait(30, "GPU 1's unit to restart", || {
                let pid = main_pid("fake-infer@1.service");
                (pid != 0 && pid != owner).then_some(pid)
            });
            assert_ne!(restarted, owner);
            // All of that while the setter is still stuck: it has not logged its call yet.
            assert!(
                setter_lines(&fake, "SetGpuLockedClocks").is_empty(),
                "the setter returned early: {}",
                log(&d)
            );
            // The new MainPID may show before the daemon logged the job's result.
            let restart = d.wait(15, "the logged restart", || {
                d_events(&dir)
                    .into_iter()
                    .find(|e| e["kind"] == "restart_unit" && e["result"] == "ok")
            });
            assert_eq!(restart["gpu_index"], 1, "{restart}");
            assert!(get(&healthz).is_some(), "the endpoint stopped answering");
            d.assert_alive("while a setter is stuck in the driver");

            // The driver answers: the late lock lands, and cooling undoes it — no cap leaks.
            fake.set(&state(50, restarted, 1 << 30, 0));
            wait_for(
                30,
                "the late cap to be undone",
                || {
                    setter_lines(&fake, &format!("ResetGpuLockedClocks {GPU0}"))
                        .first()
                        .cloned()
                },
                || log(&d),
            );
            let status = d.stop();
            assert!(status.success(), "exit status {status}");
        },
    );
}

fn d_events(dir: &std::path::Path) -> Vec<serde_json::Value> {
    crate::daemon::events(&dir.join("state"))
}
