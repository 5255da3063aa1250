//! SIGHUP applies the whole new file to a running daemon, against a real `systemd --user` and a
//! real Alertmanager: a unit added to `[units] allow` gets restarted where it was refused;
//! `dry_run = true` undoes the real cap and turns the next cap and restart into `dry_run`
//! events; `[alerts]` added at runtime gets the next page, and changed sinks keep the alerts
//! firing; a file that changes `listen` is refused whole (its `dry_run` flip does not happen
//! either); a paging rule dropped from the file gets its alert resolved; a shorter
//! `[restarts] job_timeout` reaches the systemd actuator.

use crate::daemon::{Daemon, fleet, main_pid, set_temp, setter_lines, story};
use crate::fake_nvml::FakeNvml;
use crate::prom::{Alertmanager, free_port};
use crate::sandbox::{Sandbox, env};
use crate::test_path;
use serde_json::Value;
use std::path::{Path, PathBuf};

const GPU0: &str = "GPU-fa4e0000-0000-4000-8000-000000000000";

/// One version of the file: fake-infer@0 pinned to GPU 0, capped then restarted when hot.
pub struct File<'a> {
    pub listen: &'a str,
    pub dry_run: bool,
    pub allow: &'a str,
    /// Appended at the end: more rules, `[alerts]`.
    pub tail: &'a str,
}

impl File<'_> {
    pub fn render(&self) -> String {
        format!(
            r#"
[watchdog]
interval = "200ms"
state_dir = "@STATE@"
listen = "{listen}"
dry_run = {dry_run}

[restarts]
budget = 5
window = "1h"
cooldown = "1s"
job_timeout = "20s"
verify = "1m"

[units]
allow = [{allow}]

[[units.map]]
gpu = 0
units = ["fake-infer@0.service"]

[clock_cap]
sm_clock_mhz = [210, 1200]

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
clear_below = 75
clear_for = "1s"
severity = "critical"
steps = [{{ after = "0s", do = "cap_clocks" }}, {{ after = "0s", do = "restart_units" }}]
{tail}
"#,
            listen = self.listen,
            dry_run = self.dry_run,
            allow = self.allow,
            tail = self.tail,
        )
    }
}

pub fn dir() -> PathBuf {
    PathBuf::from(env("SANDBOX_DIR"))
}

/// Writes `file` over the daemon's config and sends SIGHUP; returns the event log's length
/// before the signal.
fn reload(d: &Daemon, dir: &Path, file: &File) -> usize {
    let at = d.events().len();
    let text = file
        .render()
        .replace("@STATE@", &d.state_dir.display().to_string());
    std::fs::write(dir.join("watchdog.toml"), text).unwrap();
    d.signal("HUP");
    at
}

pub fn kind_is(e: &Value, kind: &str) -> bool {
    e["kind"] == kind
}

fn detail(e: &Value) -> &str {
    e["detail"].as_str().unwrap_or("")
}

#[test]
fn sighup_applies_allowlist_dry_run_and_alerts_and_refuses_a_new_listen_whole() {
    Sandbox::systemd().run(
        test_path!(sighup_applies_allowlist_dry_run_and_alerts_and_refuses_a_new_listen_whole),
        || {
            let dir = dir();
            let mut am = Alertmanager::new(&dir.join("am"));
            am.up();
            let fake = FakeNvml::new(&fleet(60));
            let mut file = File {
                listen: "127.0.0.1:0",
                dry_run: false,
                allow: r#""fake-infer@1.service""#,
                tail: "",
            };
            let mut d = Daemon::start(&dir, &file.render(), &[], fake.envs());
            let before = main_pid("fake-infer@0.service");
            set_temp(&fake, 95);

            // 1. fake-infer@0 is outside the allowlist: refused, and the cap is real.
            let refused = d.wait_event(20, "the refusal", 0, |e| {
                e["result"] == "refused"
                    && e["action"].as_str().unwrap_or("").contains("fake-infer@0")
            });
            assert!(detail(&refused).contains("not_allowlisted"), "{refused}");
            let lock = format!("SetGpuLockedClocks {GPU0} 210 1200");
            d.wait(10, "the real cap", || {
                setter_lines(&fake, &lock).first().cloned()
            });
            assert_eq!(
                main_pid("fake-infer@0.service"),
                before,
                "restarted while refused"
            );

            // 2. Allowlisted by a reload: restarted on the next sample.
            file.allow = r#""fake-infer@*.service""#;
            let at = reload(&d, &dir, &file);
            let reloaded =
                d.wait_event(10, "config_reloaded", at, |e| kind_is(e, "config_reloaded"));
            assert!(detail(&reloaded).contains("units.allow"), "{reloaded}");
            let restarted = d.wait(20, "fake-infer@0 to be restarted", || {
                let pid = main_pid("fake-infer@0.service");
                (pid != 0 && pid != before).then_some(pid)
            });
            d.wait_event(10, "the restart's event", at, |e| {
                kind_is(e, "restart_unit") && e["result"] == "ok"
            });

            // 3. dry_run on: the real cap is undone; the next firing only pretends.
            file.dry_run = true;
            let at = reload(&d, &dir, &file);
            let reloaded =
                d.wait_event(10, "config_reloaded", at, |e| kind_is(e, "config_reloaded"));
            assert!(detail(&reloaded).contains("watchdog.dry_run"), "{reloaded}");
            d.wait(10, "the real cap to be undone", || {
                setter_lines(&fake, &format!("ResetGpuLockedClocks {GPU0}"))
                    .first()
                    .cloned()
            });
            let locks = setter_lines(&fake, "SetGpuLockedClocks").len();
            set_temp(&fake, 60);
            d.wait_event(15, "gpu-hot to clear", at, |e| kind_is(e, "cleared"));
            let at = d.events().len();
            set_temp(&fake, 95);
            let cap = d.wait_event(15, "a dry-run cap", at, |e| kind_is(e, "cap_clocks"));
            assert_eq!(cap["result"], "dry_run", "{cap}");
            let restart = d.wait_event(15, "a dry-run restart", at, |e| kind_is(e, "restart_unit"));
            assert_eq!(restart["result"], "dry_run", "{restart}");
            assert_eq!(
                main_pid("fake-infer@0.service"),
                restarted,
                "restarted in a dry run"
            );
            assert_eq!(
                setter_lines(&fake, "SetGpuLockedClocks").len(),
                locks,
                "capped in a dry run: {:?}",
                fake.setter_log()
            );

            // 4. [alerts] from none to an Alertmanager: the next page reaches it.
            let alerts = format!(
                r#"
[[rule]]
name = "gpu-warm"
metric = "temperature_c"
above = 80
for = "1s"
clear_below = 70
severity = "warning"
steps = [{{ after = "0s", do = "page" }}]

[alerts]
outbox_dir = "{outbox}"

[alerts.alertmanager]
url = "{am}"
resend_interval = "2s"
"#,
                outbox = dir.join("outbox").display(),
                am = am.url(),
            );
            file.tail = &alerts;
            let at = reload(&d, &dir, &file);
            let reloaded =
                d.wait_event(10, "config_reloaded", at, |e| kind_is(e, "config_reloaded"));
            assert!(detail(&reloaded).contains("alerts"), "{reloaded}");
            let page = d.wait_event(15, "the page", at, |e| {
                kind_is(e, "page") && e["rule"] == "gpu-warm"
            });
            assert_eq!(page["result"], "queued", "{page}");
            d.wait(20, "the page in Alertmanager", || {
                am.alerts()
                    .into_iter()
                    .find(|a| a["labels"]["rule"] == "gpu-warm")
            });

            // 5. A new listen refuses the whole file: its dry_run = false does not apply.
            let other = format!("127.0.0.1:{}", free_port());
            let refused = File {
                listen: &other,
                dry_run: false,
                ..file
            };
            let at = reload(&d, &dir, &refused);
            let rejected =
                d.wait_event(10, "config_rejected", at, |e| kind_is(e, "config_rejected"));
            assert!(detail(&rejected).contains("watchdog.listen"), "{rejected}");
            // Were dry_run off now, the firing gpu-hot's cap would be applied for real within a
            // sample or two.
            std::thread::sleep(std::time::Duration::from_secs(3));
            d.assert_alive("after a refused reload");
            assert_eq!(
                setter_lines(&fake, "SetGpuLockedClocks").len(),
                locks,
                "part of a refused file applied: {:?}",
                story(&d.events())
            );
            let after: Vec<String> = story(&d.events()[at..]);
            assert!(!after.contains(&"config_reloaded".to_string()), "{after:?}");

            // The same flip without the new listen applies: the cap is real again.
            file.dry_run = false;
            let at = reload(&d, &dir, &file);
            d.wait_event(10, "config_reloaded", at, |e| kind_is(e, "config_reloaded"));
            d.wait(10, "the cap to be applied for real again", || {
                (setter_lines(&fake, "SetGpuLockedClocks").len() > locks).then_some(())
            });

            // 6. New sinks (another resend_interval) take the firing alert over: re-sent, the
            // same alert.
            let warm = |am: &Alertmanager| {
                am.alerts()
                    .into_iter()
                    .find(|a| a["labels"]["rule"] == "gpu-warm")
            };
            let faster = alerts.replace(r#"resend_interval = "2s""#, r#"resend_interval = "1s""#);
            file.tail = &faster;
            let at = reload(&d, &dir, &file);
            let reloaded =
                d.wait_event(10, "config_reloaded", at, |e| kind_is(e, "config_reloaded"));
            assert!(detail(&reloaded).contains("alerts"), "{reloaded}");
            // The old sinks are stopped by now; one send they left queued may still go out,
            // a second change of endsAt is the new sinks' re-send.
            let mut seen = warm(&am).expect("gpu-warm left Alertmanager");
            let starts = seen["startsAt"].clone();
            for n in 1..=2 {
                let last = seen["endsAt"].clone();
                seen = d.wait(10, &format!("re-send {n} by the new sinks"), || {
                    warm(&am).filter(|a| a["endsAt"] != last)
                });
                assert_eq!(seen["startsAt"], starts, "{seen}");
            }

            // 7. gpu-warm dropped from the file: its page is resolved (else re-sent forever).
            let sinks_only = faster[faster.find("[alerts]").unwrap()..].to_string();
            file.tail = &sinks_only;
            let at = reload(&d, &dir, &file);
            d.wait_event(10, "config_reloaded", at, |e| kind_is(e, "config_reloaded"));
            d.wait(15, "gpu-warm resolved in Alertmanager", || {
                am.alerts()
                    .iter()
                    .all(|a| a["labels"]["rule"] != "gpu-warm")
                    .then_some(())
            });
            let status = d.stop();
            assert!(status.success(), "{status}");
        },
    );
}

#[test]
fn sighup_hands_a_new_job_timeout_to_the_systemd_actuator() {
    Sandbox::systemd().run(
        test_path!(sighup_hands_a_new_job_timeout_to_the_systemd_actuator),
        || {
            let dir = dir();
            let fake = FakeNvml::new(&fleet(60));
            // slow-start.service takes 30 s to start: only the job timeout ends the wait.
            let file = File {
                listen: "127.0.0.1:0",
                dry_run: false,
                allow: r#""slow-start.service""#,
                tail: "",
            };
            let text = |timeout: &str| {
                file.render()
                    .replace(r#"["fake-infer@0.service"]"#, r#"["slow-start.service"]"#)
                    .replace(
                        r#"job_timeout = "20s""#,
                        &format!(r#"job_timeout = "{timeout}""#),
                    )
            };
            let mut d = Daemon::start(&dir, &text("20s"), &[], fake.envs());
            d.wait_event(10, "the start", 0, |e| kind_is(e, "started"));
            let at = d.events().len();
            let new = text("2s").replace("@STATE@", &d.state_dir.display().to_string());
            std::fs::write(dir.join("watchdog.toml"), new).unwrap();
            d.signal("HUP");
            let reloaded =
                d.wait_event(10, "config_reloaded", at, |e| kind_is(e, "config_reloaded"));
            assert!(detail(&reloaded).contains("restarts"), "{reloaded}");

            set_temp(&fake, 95);
            d.wait_event(10, "gpu-hot to fire", at, |e| kind_is(e, "fired"));
            // With the old 20 s it would still be waiting.
            let restart = d.wait_event(10, "the restart to time out", at, |e| {
                kind_is(e, "restart_unit")
            });
            assert_eq!(restart["result"], "timed_out", "{restart}");
            drop(d);
        },
    );
}
