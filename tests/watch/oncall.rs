//! The daemon talks to whoever is on call: a page reaches a real Alertmanager with its
//! labels, and the daemon's own `/metrics` (watchdog families included) passes promtool.

use crate::daemon::{Daemon, story, wait_for};
use crate::prom::{Alertmanager, free_port, get};
use std::process::{Command, Stdio};

#[test]
fn a_page_reaches_alertmanager_and_metrics_pass_promtool() {
    let dir = tempfile::tempdir().unwrap();
    let mut am = Alertmanager::new(&dir.path().join("am"));
    am.up();
    let port = free_port();
    let config = format!(
        r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
listen = "127.0.0.1:{port}"

[alerts]
outbox_dir = "{outbox}"

[alerts.alertmanager]
url = "{am}"
resend_interval = "2s"

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
severity = "critical"
steps = [{{ after = "0s", do = "page" }}]
"#,
        outbox = dir.path().join("outbox").display(),
        am = am.url(),
    );
    let d = Daemon::start(
        dir.path(),
        &config,
        &["--demo", "--scenario", "overheat", "--dry-run"],
        vec![],
    );
    let log = || format!("events: {:?}", story(&d.events()));
    let alert = wait_for(
        90,
        "GpuwardenGpuHot in Alertmanager",
        || {
            am.alerts()
                .into_iter()
                .find(|a| a["labels"]["rule"] == "gpu-hot")
        },
        log,
    );
    let labels = &alert["labels"];
    assert_eq!(labels["gpu"], "0", "{alert}");
    assert_eq!(labels["severity"], "critical", "{alert}");
    assert!(
        labels["uuid"].as_str().unwrap().starts_with("GPU-"),
        "{alert}"
    );
    assert!(
        labels["host"].as_str().is_some_and(|h| !h.is_empty()),
        "{alert}"
    );

    let (status, metrics) = get(&format!("http://127.0.0.1:{port}/metrics")).expect("GET /metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"rule="gpu-hot",state="firing"} 1"#),
        "no firing gpu-hot in /metrics:\n{metrics}"
    );
    let mut promtool = Command::new("promtool");
    promtool
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = promtool.spawn().expect("promtool (tests/peers/install.sh)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    drop(d);
}
