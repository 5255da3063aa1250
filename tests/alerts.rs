//! Alerts against real peers: a real Alertmanager shows, re-receives and resolves gpuwarden's
//! alerts; an alert raised while Alertmanager is down survives a killed process and arrives
//! exactly once; a webhook that fails its first posts still gets every alert.

#[path = "harness/prom.rs"]
mod prom;

use gpuwarden::act::alert::alertmanager::AlertmanagerSink;
use gpuwarden::act::alert::dispatch::SinkSpec;
use gpuwarden::act::alert::outbox::Outbox;
use gpuwarden::act::alert::webhook::WebhookSink;
use gpuwarden::act::alert::{Alert, Alerts, Severity};
use gpuwarden::gpu::sampler::now_ms;
use gpuwarden::http_client::ClientTls;
use gpuwarden::policy::alerts::Backoff;
use prom::{Alertmanager, Proc, run_tool, wait_for};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const FAST: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_millis(400),
};

fn am_sink(am: &Alertmanager) -> SinkSpec {
    SinkSpec {
        sink: Box::new(
            AlertmanagerSink::new(
                &am.url(),
                Duration::from_secs(2),
                Duration::from_secs(60),
                None,
                &ClientTls::default(),
            )
            .unwrap(),
        ),
        resend: Some(Duration::from_secs(60)),
    }
}

fn hot_alert(uuid: &str) -> Alert {
    Alert::firing("gpu-hot", "node7", uuid, now_ms(), "GPU 3 at 91 °C for 30s")
        .gpu(3)
        .severity(Severity::Critical)
        .unit("vllm.service")
        .annotation("temperature_celsius", "91")
        .annotation(
            "actions",
            "locked SM clock to 1400 MHz; restarted vllm.service",
        )
}

fn ours<'a>(alerts: &'a [Value], uuid: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["labels"]["uuid"] == uuid)
        .collect()
}

fn pending(dir: &Path, sink: &str) -> usize {
    Outbox::open(dir, sink, 100)
        .expect("reopening the outbox")
        .pending()
        .len()
}

#[test]
fn alertmanager_shows_the_alert_with_its_labels_then_resolves_it() {
    let tmp = tempfile::tempdir().unwrap();
    let mut am = Alertmanager::new(&tmp.path().join("am"));
    am.up();
    let outbox = tmp.path().join("outbox");
    let mut alerts = Alerts::with_sinks(&outbox, 100, FAST, "node7", vec![am_sink(&am)]).unwrap();
    let alert = hot_alert("GPU-aaaa");
    alerts.fire(alert.clone(), now_ms()).unwrap();

    let shown = wait_for("the alert in alertmanager", Duration::from_secs(15), || {
        let all = am.alerts();
        ours(&all, "GPU-aaaa").first().map(|a| (*a).clone())
    });
    let labels = &shown["labels"];
    assert_eq!(labels["alertname"], "GpuwardenGpuHot");
    assert_eq!(labels["host"], "node7");
    assert_eq!(labels["gpu"], "3");
    assert_eq!(labels["rule"], "gpu-hot");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["unit"], "vllm.service");
    assert_eq!(shown["annotations"]["temperature_celsius"], "91");
    assert!(
        shown["annotations"]["actions"]
            .as_str()
            .unwrap()
            .contains("restarted vllm.service")
    );
    assert_eq!(shown["status"]["state"], "active");

    // amtool, the on-call engineer's view, sees it too.
    let listed = run_tool(Command::new("amtool").args([
        "--alertmanager.url",
        &am.url(),
        "alert",
        "query",
        "uuid=GPU-aaaa",
    ]));
    assert!(listed.contains("GpuwardenGpuHot"), "{listed}");

    assert!(alerts.resolve(&alert.identity(), now_ms()).unwrap());
    wait_for("the alert to resolve", Duration::from_secs(15), || {
        let all = am.alerts();
        let mine = ours(&all, "GPU-aaaa");
        let resolved = mine.is_empty()
            || mine.iter().all(|a| {
                a["endsAt"]
                    .as_str()
                    .is_some_and(|e| e <= now_iso().as_str())
            });
        resolved.then_some(())
    });
    let active = prom::get_json(&format!(
        "{}/api/v2/alerts?active=true&silenced=false&inhibited=false",
        am.url()
    ))
    .unwrap();
    assert!(
        ours(active.as_array().unwrap(), "GPU-aaaa").is_empty(),
        "{active}"
    );
    wait_for("an empty outbox", Duration::from_secs(5), || {
        let s = &alerts.stats()[0];
        (s.pending == 0 && s.delivered == 2).then_some(())
    });
}

fn now_iso() -> String {
    gpuwarden::act::alert::time::rfc3339(now_ms() + 1000)
}

/// Process A of the restart test: raises the alert while Alertmanager is down and keeps
/// retrying until the parent kills it. Run only by `an_alert_raised_while_..._arrives_once`.
#[test]
#[ignore = "a child process of the restart test, started by it"]
fn child_raises_an_alert_while_alertmanager_is_down() {
    let dir = std::env::var("GPUWARDEN_TEST_OUTBOX").expect("started by the restart test");
    let url = std::env::var("GPUWARDEN_TEST_AM").expect("started by the restart test");
    let sink = SinkSpec {
        sink: Box::new(
            AlertmanagerSink::new(
                &url,
                Duration::from_secs(1),
                Duration::from_secs(60),
                None,
                &ClientTls::default(),
            )
            .unwrap(),
        ),
        resend: Some(Duration::from_secs(60)),
    };
    let mut alerts = Alerts::with_sinks(Path::new(&dir), 100, FAST, "node7", vec![sink]).unwrap();
    alerts.fire(hot_alert("GPU-restart"), now_ms()).unwrap();
    println!("QUEUED");
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(120));
}

#[test]
fn an_alert_raised_while_alertmanager_is_down_survives_a_killed_process_and_arrives_once() {
    let tmp = tempfile::tempdir().unwrap();
    let outbox = tmp.path().join("outbox");
    let mut am = Alertmanager::new(&tmp.path().join("am"));

    let mut child = Command::new(std::env::current_exe().unwrap());
    child
        .args([
            "--ignored",
            "--exact",
            "child_raises_an_alert_while_alertmanager_is_down",
            "--nocapture",
        ])
        .env("GPUWARDEN_TEST_OUTBOX", &outbox)
        .env("GPUWARDEN_TEST_AM", am.url())
        .stdout(std::process::Stdio::piped());
    let mut a = Proc::spawn("the first process", &mut child);
    let out = a.take_stdout();
    let mut lines = BufReader::new(out).lines();
    assert!(
        lines.any(|l| l.is_ok_and(|l| l.contains("QUEUED"))),
        "the first process never queued its alert"
    );
    std::thread::sleep(Duration::from_millis(300)); // a few failed attempts
    a.kill();
    assert_eq!(
        pending(&outbox, "alertmanager"),
        1,
        "the alert must be on disk"
    );

    am.up();
    // The restarted process: the rule is still firing, so it raises the same alert again.
    let mut alerts = Alerts::with_sinks(&outbox, 100, FAST, "node7", vec![am_sink(&am)]).unwrap();
    alerts.fire(hot_alert("GPU-restart"), now_ms()).unwrap();
    wait_for("the outbox to empty", Duration::from_secs(20), || {
        (alerts.stats()[0].pending == 0).then_some(())
    });
    let all = am.alerts();
    let mine = ours(&all, "GPU-restart");
    assert_eq!(mine.len(), 1, "exactly one alert per identity: {all:?}");
    assert_eq!(mine[0]["status"]["state"], "active");
    let s = &alerts.stats()[0];
    assert_eq!(
        s.delivered, 1,
        "the queued and the re-raised copy went out as one"
    );
    alerts.shutdown();
    assert_eq!(pending(&outbox, "alertmanager"), 0);
}

/// A webhook receiver on loopback that answers 503 to its first `fail_first` posts.
struct FlakyWebhook {
    url: String,
    received: Arc<Mutex<Vec<Value>>>,
    attempts: Arc<Mutex<usize>>,
}

impl FlakyWebhook {
    fn start(fail_first: usize) -> FlakyWebhook {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let attempts = Arc::new(Mutex::new(0));
        let (r, n) = (received.clone(), attempts.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let Some(body) = read_request(&mut s) else {
                    continue;
                };
                let attempt = {
                    let mut n = n.lock().unwrap();
                    *n += 1;
                    *n
                };
                let status = if attempt <= fail_first {
                    "503 Service Unavailable"
                } else {
                    r.lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    "200 OK"
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                );
            }
        });
        FlakyWebhook {
            url,
            received,
            attempts,
        }
    }
}

fn read_request(s: &mut std::net::TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(s.try_clone().ok()?);
    let mut len = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

#[test]
fn a_webhook_that_fails_its_first_posts_still_gets_every_alert_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let hook = FlakyWebhook::start(4);
    let sink = SinkSpec {
        sink: Box::new(
            WebhookSink::new(
                &hook.url,
                Duration::from_secs(2),
                None,
                &ClientTls::default(),
            )
            .unwrap(),
        ),
        resend: None,
    };
    let mut alerts = Alerts::with_sinks(tmp.path(), 100, FAST, "node7", vec![sink]).unwrap();
    let a = hot_alert("GPU-w1");
    alerts.fire(a.clone(), now_ms()).unwrap();
    alerts.fire(hot_alert("GPU-w2"), now_ms()).unwrap();
    alerts.resolve(&a.identity(), now_ms()).unwrap();
    alerts
        .fire(
            Alert::firing(
                "action-failed",
                "node7",
                "GPU-w3",
                now_ms(),
                "restart of vllm.service failed",
            ),
            now_ms(),
        )
        .unwrap();
    wait_for(
        "every alert at the webhook",
        Duration::from_secs(20),
        || (hook.received.lock().unwrap().len() >= 4).then_some(()),
    );
    let got = hook.received.lock().unwrap().clone();
    let seen: Vec<(String, String)> = got
        .iter()
        .map(|v| {
            (
                v["identity"].as_str().unwrap().to_string(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("node7/GPU-w1/gpu-hot".to_string(), "firing".to_string()),
            ("node7/GPU-w2/gpu-hot".to_string(), "firing".to_string()),
            ("node7/GPU-w1/gpu-hot".to_string(), "resolved".to_string()),
            (
                "node7/GPU-w3/action-failed".to_string(),
                "firing".to_string()
            ),
        ]
    );
    assert!(
        got[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING] gpu-hot on node7 gpu 3")
    );
    assert!(
        *hook.attempts.lock().unwrap() >= 8,
        "the first 4 posts were refused"
    );
    let s = &alerts.stats()[0];
    assert_eq!((s.pending, s.delivered), (0, 4));
}
