//! The daemon talks to whoever is on call: a page reaches a real Alertmanager with its
//! labels, and the daemon's own `/metrics` (watchdog families included) passes promtool; a
//! page to an HTTPS Slack webhook whose certificate the configured CA did not sign waits in
//! the outbox, the log naming the host, and arrives once SIGHUP brings the right `ca_file`;
//! that daemon serves its endpoint over HTTPS (`tls_cert`, `tls_key`).

use crate::daemon::{Daemon, story, wait_for};
use crate::https::{HttpsReceiver, TestCa};
use crate::prom::{Alertmanager, free_port, get};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

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

fn slack_config(outbox: &Path, url: &str, ca_file: &Path, endpoint: &str) -> String {
    format!(
        r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
{endpoint}

[alerts]
outbox_dir = "{outbox}"
retry_initial = "100ms"
retry_max = "500ms"

[alerts.slack]
url = "{url}"
ca_file = "{ca}"

[[rule]]
name = "gpu-hot"
metric = "temperature_c"
above = 85
for = "1s"
severity = "critical"
steps = [{{ after = "0s", do = "page" }}]
"#,
        outbox = outbox.display(),
        ca = ca_file.display(),
    )
}

#[test]
fn a_page_behind_a_wrong_ca_waits_in_the_outbox_and_arrives_after_a_reload_fixes_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let right = TestCa::new(&pki, "right");
    let wrong = TestCa::new(&pki, "wrong");
    let slack = HttpsReceiver::start(&right, &[], 200, "ok", None);
    let outbox = dir.path().join("outbox");
    let url = slack.url("/services/T0/B0/X");
    let stderr = dir.path().join("stderr.log");
    let file = std::fs::File::create(&stderr).unwrap();
    // The daemon's own endpoint serves HTTPS with a certificate from the same CA.
    let port = free_port();
    let endpoint = format!(
        "listen = \"127.0.0.1:{port}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
        right.file("server.pem").display(),
        right.file("server.key").display()
    );
    let d = Daemon::start_with(
        dir.path(),
        &slack_config(&outbox, &url, &wrong.file("ca.pem"), &endpoint),
        &["--demo", "--scenario", "overheat", "--dry-run"],
        vec![],
        |c| {
            c.stderr(file);
        },
    );
    let log = || std::fs::read_to_string(&stderr).unwrap_or_default();
    let refused = format!("TLS to {}", slack.host());
    let line = wait_for(
        90,
        "the TLS failure in the daemon's log",
        || {
            log()
                .lines()
                .find(|l| l.contains(&refused))
                .map(str::to_string)
        },
        log,
    );
    assert!(line.contains("not trusted here"), "{line}");
    assert!(line.contains("kept"), "the alert is kept: {line}");
    assert!(slack.got().is_empty(), "no request passed the handshake");

    let config = slack_config(&outbox, &url, &right.file("ca.pem"), &endpoint)
        .replace("@STATE@", &d.state_dir.display().to_string());
    std::fs::write(dir.path().join("watchdog.toml"), config).unwrap();
    d.signal("HUP");
    let got = wait_for(
        60,
        "the page at Slack after the reload",
        || slack.accepted().into_iter().next(),
        log,
    );
    let text = got.body["text"].as_str().unwrap_or_default().to_string();
    assert!(text.starts_with("[FIRING] gpu-hot on "), "{}", got.body);
    assert!(text.contains("gpu 0"), "{text}");

    let tls = gpuwarden::http_client::ClientTls {
        ca_file: Some(right.file("ca.pem")),
        ..Default::default()
    };
    let agent = tls
        .agent(Duration::from_secs(5), Duration::from_secs(5))
        .unwrap();
    let mut r = agent
        .get(&format!("https://127.0.0.1:{port}/metrics"))
        .call()
        .expect("the daemon's endpoint over https");
    assert_eq!(r.status(), 200);
    let metrics = r.body_mut().read_to_string().unwrap();
    assert!(
        metrics.contains(r#"rule="gpu-hot",state="firing"} 1"#),
        "{metrics}"
    );
    drop(d);
}
