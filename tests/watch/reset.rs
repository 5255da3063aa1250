//! `gpuwarden reset` end to end, against a real `systemd --user`: a rule that gave up (its
//! restart did not help) restarts its unit again after `gpuwarden reset gpu-hot` — even within
//! the unit's cooldown — and judges that restart afresh; a rule that is not firing resets
//! nothing (exit 1; so does another GPU), and with no daemon on the state dir the command
//! exits 2 naming the socket.

use crate::daemon::{Daemon, fleet, main_pid, story};
use crate::fake_nvml::FakeNvml;
use crate::sandbox::{Sandbox, env};
use crate::test_path;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const GPU0: &str = "GPU-fa4e0000-0000-4000-8000-000000000000";

const POLICY: &str = r#"
[watchdog]
interval = "200ms"
state_dir = "@STATE@"
listen = "127.0.0.1:0"

[restarts]
budget = 3
window = "1h"
cooldown = "10m"
job_timeout = "20s"
verify = "1s"

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
clear_below = 75
severity = "critical"
steps = [{ after = "0s", do = "restart_units" }]
"#;

fn reset(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .arg("reset")
        .args(args)
        .output()
        .expect("running gpuwarden reset")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn count(state_dir: &Path, kind: &str) -> usize {
    crate::daemon::events(state_dir)
        .iter()
        .filter(|e| e["kind"] == kind)
        .count()
}

#[test]
fn reset_restarts_a_unit_the_rule_gave_up_on_and_says_when_nothing_or_nobody_is_there() {
    Sandbox::systemd().run(
        test_path!(
            reset_restarts_a_unit_the_rule_gave_up_on_and_says_when_nothing_or_nobody_is_there
        ),
        || {
            let dir = PathBuf::from(env("SANDBOX_DIR"));
            let fake = FakeNvml::new(&fleet(95));
            let before = main_pid("fake-infer@0.service");
            let mut d = Daemon::start(&dir, POLICY, &[], fake.envs());
            let state_dir = d.state_dir.clone();
            let state = state_dir.display().to_string();

            // Still 95 °C a second after the restart: the rule gives up.
            let stopped = d.wait_event(30, "restarts_stopped", 0, |e| {
                e["kind"] == "restarts_stopped"
            });
            assert!(
                stopped["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("did_not_help"),
                "{stopped}"
            );
            let gave_up = main_pid("fake-infer@0.service");
            assert_ne!(gave_up, before, "never restarted: {:?}", story(&d.events()));

            let out = reset(&["gpu-hot", "--state-dir", &state]);
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains(&format!("reset gpu-hot on GPU 0 ({GPU0})")),
                "{}",
                text(&out)
            );
            let logged = d.wait_event(5, "the reset event", 0, |e| e["kind"] == "reset");
            assert_eq!(logged["rule"], "gpu-hot", "{logged}");
            assert_eq!(logged["gpu"], GPU0, "{logged}");
            // The unit's history went with the verdict: restarted within its 10 min cooldown.
            d.wait(20, "fake-infer@0 to be restarted after the reset", || {
                let pid = main_pid("fake-infer@0.service");
                (pid != 0 && pid != gave_up).then_some(())
            });
            // …and that restart is judged afresh.
            d.wait(20, "a second restarts_stopped", || {
                (count(&state_dir, "restarts_stopped") == 2).then_some(())
            });

            // Nothing matches: exit 1, found through the config's state_dir this time.
            let config = dir.join("watchdog.toml").display().to_string();
            for args in [&["nosuchrule"][..], &["gpu-hot", "--gpu", "1"]] {
                let out = reset(&[args, &["--config", &config]].concat());
                assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("nothing to reset"),
                    "{args:?}: {}",
                    text(&out)
                );
            }
            let status = d.stop();
            assert!(status.success(), "{status}");

            // Nobody answers: exit 2, naming the socket.
            let out = reset(&["--state-dir", &state]);
            assert_eq!(out.status.code(), Some(2), "{}", text(&out));
            let socket = Path::new(&state).join("control.sock");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(&socket.display().to_string()),
                "{}",
                text(&out)
            );
        },
    );
}
