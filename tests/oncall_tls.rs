//! Alerts over HTTPS to a receiver on 127.0.0.1 whose certificate comes from a CA made here
//! with openssl: PagerDuty (Events API v2) and Slack (incoming webhook) each get the alert
//! firing then resolved, with the documented payload and headers, after answering 429 and 5xx
//! first; a CA that did not sign the server's certificate fails with the host named, and a
//! server that wants a client certificate gets one from `client_cert`/`client_key`. With real
//! peers over HTTPS: `serve --tls-cert` is scraped by a Prometheus that itself serves HTTPS,
//! whose fleet view the Prometheus source reads, and a real Alertmanager behind TLS shows and
//! resolves an alert.

#[path = "harness/https.rs"]
mod https;
#[path = "harness/prom.rs"]
mod prom;

use gpuwarden::act::alert::deliver::{SendError, Sink};
use gpuwarden::act::alert::dispatch::SinkSpec;
use gpuwarden::act::alert::pagerduty::PagerDutySink;
use gpuwarden::act::alert::slack::SlackSink;
use gpuwarden::act::alert::webhook::WebhookSink;
use gpuwarden::act::alert::{Alert, Alerts, Severity};
use gpuwarden::gpu::sampler::now_ms;
use gpuwarden::http_client::ClientTls;
use gpuwarden::policy::alerts::Backoff;
use https::{HttpsReceiver, TestCa};
use prom::wait_for;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const FAST: Backoff = Backoff {
    initial: Duration::from_millis(50),
    max: Duration::from_millis(400),
};
const TIMEOUT: Duration = Duration::from_secs(5);

fn trusting(ca: &TestCa) -> ClientTls {
    ClientTls {
        ca_file: Some(ca.file("ca.pem")),
        ..Default::default()
    }
}

fn hot_alert(uuid: &str) -> Alert {
    Alert::firing(
        "gpu-hot",
        "node7",
        uuid,
        now_ms(),
        "temperature 91.0 °C above 85 for 30s",
    )
    .gpu(3)
    .severity(Severity::Critical)
    .unit("vllm.service")
    .annotation("actions", "locked SM clock to 1400 MHz")
}

/// Fires then resolves `alert` through `sink` and waits for both to be accepted.
fn fire_and_resolve(sink: Box<dyn Sink>, alert: &Alert, rx: &HttpsReceiver) -> Vec<https::Request> {
    let tmp = tempfile::tempdir().unwrap();
    let spec = SinkSpec { sink, resend: None };
    let mut alerts = Alerts::with_sinks(tmp.path(), 100, FAST, "node7", vec![spec]).unwrap();
    alerts.fire(alert.clone(), now_ms()).unwrap();
    alerts.resolve(&alert.identity(), now_ms()).unwrap();
    wait_for("both changes accepted", Duration::from_secs(20), || {
        (rx.accepted().len() >= 2).then_some(())
    });
    wait_for("an empty outbox", Duration::from_secs(5), || {
        let s = &alerts.stats()[0];
        (s.pending == 0).then_some(())
    });
    let s = &alerts.stats()[0];
    assert_eq!((s.delivered, s.rejected), (2, 0));
    alerts.shutdown();
    rx.got()
}

fn is_json_post(r: &https::Request, path: &str) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.path, path);
    assert!(
        r.headers["content-type"].starts_with("application/json"),
        "{:?}",
        r.headers
    );
}

#[test]
fn pagerduty_gets_a_trigger_then_a_resolve_with_one_dedup_key_after_429_and_503() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), "pd");
    let rx = HttpsReceiver::start(
        &ca,
        &[429, 503],
        202,
        r#"{"status":"success","message":"Event processed"}"#,
        None,
    );
    let sink = PagerDutySink::new(
        &rx.url("/v2/enqueue"),
        "R0UTING-KEY".into(),
        TIMEOUT,
        &trusting(&ca),
    )
    .unwrap();
    let alert = hot_alert("GPU-pd");
    let got = fire_and_resolve(Box::new(sink), &alert, &rx);

    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [429, 503, 202, 202],
        "retried, then both accepted"
    );
    for r in &got {
        is_json_post(r, "/v2/enqueue");
        assert_eq!(r.body["routing_key"], "R0UTING-KEY");
        assert_eq!(r.body["dedup_key"], "node7/GPU-pd/gpu-hot");
    }
    // The refused attempts carried the same trigger: PagerDuty dedupes a re-sent one.
    assert_eq!(got[0].body, got[2].body);
    let trigger = &got[2].body;
    assert_eq!(trigger["event_action"], "trigger");
    let p = &trigger["payload"];
    assert_eq!(p["severity"], "critical");
    assert_eq!(p["source"], "node7");
    assert_eq!(p["component"], "GPU 3 (GPU-pd)");
    assert_eq!(p["class"], "gpu-hot");
    assert_eq!(p["group"], "vllm.service");
    assert!(p["summary"].as_str().unwrap().contains("91.0 °C"), "{p}");
    assert!(p["timestamp"].as_str().unwrap().ends_with('Z'), "{p}");
    assert_eq!(
        p["custom_details"]["actions"],
        "locked SM clock to 1400 MHz"
    );
    let resolve = &got[3].body;
    assert_eq!(resolve["event_action"], "resolve");
    assert!(resolve.get("payload").is_none(), "{resolve}");
}

#[test]
fn slack_gets_a_readable_message_then_a_resolved_follow_up_after_500_and_429() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), "slack");
    let rx = HttpsReceiver::start(&ca, &[500, 429], 200, "ok", None);
    let sink = SlackSink::new(&rx.url("/services/T0/B0/X"), TIMEOUT, &trusting(&ca)).unwrap();
    let alert = hot_alert("GPU-sl");
    let got = fire_and_resolve(Box::new(sink), &alert, &rx);

    let statuses: Vec<u16> = got.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 429, 200, 200]);
    for r in &got {
        is_json_post(r, "/services/T0/B0/X");
    }
    let fired = &got[2].body;
    assert!(
        fired["text"]
            .as_str()
            .unwrap()
            .starts_with("[FIRING] gpu-hot on node7 gpu 3"),
        "{fired}"
    );
    let all = fired["blocks"].to_string();
    for needle in [
        "*FIRING* (critical)",
        "*GPU*\\n3 (GPU-sl)",
        "*Rule*\\ngpu-hot",
        "*Reading*\\ntemperature 91.0 °C above 85 for 30s",
        "*Action*\\nlocked SM clock to 1400 MHz",
        "*Host*\\nnode7",
        "*Unit*\\nvllm.service",
    ] {
        assert!(all.contains(needle), "no {needle} in {all}");
    }
    let resolved = &got[3].body;
    assert!(
        resolved["text"]
            .as_str()
            .unwrap()
            .starts_with("[RESOLVED] gpu-hot on node7"),
        "{resolved}"
    );
    assert!(resolved["blocks"].to_string().contains("*RESOLVED*"));
}

#[test]
fn the_webhook_gets_the_alert_firing_then_resolved_with_its_token_after_a_503() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), "hook");
    let rx = HttpsReceiver::start(&ca, &[503], 200, "", None);
    let sink = WebhookSink::new(
        &rx.url("/hooks/gpu"),
        TIMEOUT,
        Some("t0ken".into()),
        &trusting(&ca),
    )
    .unwrap();
    let got = fire_and_resolve(Box::new(sink), &hot_alert("GPU-hook"), &rx);
    let seen: Vec<(u16, &str)> = got
        .iter()
        .map(|r| (r.status, r.body["status"].as_str().unwrap()))
        .collect();
    assert_eq!(seen, [(503, "firing"), (200, "firing"), (200, "resolved")]);
    for r in &got {
        is_json_post(r, "/hooks/gpu");
        assert_eq!(r.headers["authorization"], "Bearer t0ken");
        assert_eq!(r.body["identity"], "node7/GPU-hook/gpu-hot");
    }
}

#[test]
fn a_429_hands_its_retry_after_to_the_delivery_thread() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), "limit");
    let rx = HttpsReceiver::start(&ca, &[429, 503], 202, "{}", None);
    let mut sink = PagerDutySink::new(
        &rx.url("/v2/enqueue"),
        "key".into(),
        TIMEOUT,
        &trusting(&ca),
    )
    .unwrap();
    let alert = hot_alert("GPU-429");
    match sink.send(&[&alert], now_ms()) {
        Err(SendError::RetryAfter(why, after)) => {
            assert_eq!(after, Duration::from_secs(7));
            assert!(why.contains("HTTP 429"), "{why}");
        }
        other => panic!("expected a retry after 7 s, got {other:?}"),
    }
    match sink.send(&[&alert], now_ms()) {
        Err(SendError::Retry(why)) => assert!(why.contains("HTTP 503"), "{why}"),
        other => panic!("expected a plain retry, got {other:?}"),
    }
    sink.send(&[&alert], now_ms()).unwrap();
}

#[test]
fn a_ca_that_did_not_sign_the_server_fails_naming_the_host_and_why() {
    let tmp = tempfile::tempdir().unwrap();
    let right = TestCa::new(tmp.path(), "right");
    let wrong = TestCa::new(tmp.path(), "wrong");
    let rx = HttpsReceiver::start(&right, &[], 200, "ok", None);
    let alert = hot_alert("GPU-ca");

    let mut sink = SlackSink::new(&rx.url("/hook"), TIMEOUT, &trusting(&wrong)).unwrap();
    match sink.send(&[&alert], now_ms()) {
        Err(SendError::Retry(why)) => {
            assert!(why.contains(&format!("TLS to {}", rx.host())), "{why}");
            assert!(why.contains("not trusted here"), "{why}");
            assert!(why.contains("ca_file"), "{why}");
        }
        other => panic!("expected a retryable TLS failure, got {other:?}"),
    }
    // Without ca_file the system's roots do not know the test CA either.
    let mut sink = SlackSink::new(&rx.url("/hook"), TIMEOUT, &ClientTls::default()).unwrap();
    let why = sink.send(&[&alert], now_ms()).unwrap_err().to_string();
    assert!(
        why.contains(&rx.host()) && why.contains("not trusted"),
        "{why}"
    );
    assert!(rx.got().is_empty(), "no request got through the handshake");

    let mut sink = SlackSink::new(&rx.url("/hook"), TIMEOUT, &trusting(&right)).unwrap();
    sink.send(&[&alert], now_ms()).unwrap();
    assert_eq!(rx.accepted().len(), 1);
}

#[test]
fn a_server_that_wants_a_client_certificate_gets_the_configured_one() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), "mtls");
    let rx = HttpsReceiver::start(&ca, &[], 200, "", Some(&ca));
    let alert = hot_alert("GPU-mtls");

    let mut anonymous = WebhookSink::new(&rx.url("/hook"), TIMEOUT, None, &trusting(&ca)).unwrap();
    let why = anonymous.send(&[&alert], now_ms()).unwrap_err().to_string();
    assert!(why.contains(&rx.host()), "{why}");
    assert!(rx.got().is_empty());

    let tls = ClientTls {
        ca_file: Some(ca.file("ca.pem")),
        client_cert: Some(ca.file("client.pem")),
        client_key: Some(ca.file("client.key")),
    };
    let mut sink = WebhookSink::new(&rx.url("/hook"), TIMEOUT, Some("t0ken".into()), &tls).unwrap();
    sink.send(&[&alert], now_ms()).unwrap();
    let got = rx.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].headers["authorization"], "Bearer t0ken");
    assert_eq!(got[0].body["identity"], "node7/GPU-mtls/gpu-hot");
}

/// A child killed and reaped however the test ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(name: &str, cmd: &mut Command) -> Kill {
    Kill(
        cmd.spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e} (tests/peers/install.sh)")),
    )
}

/// `gpuwarden --demo serve` over HTTPS with the server certificate of `ca`; its address.
fn serve_https(ca: &TestCa, gpus: &str) -> (Kill, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpuwarden"));
    cmd.args(["--demo", "--demo-gpus", gpus, "--interval", "1h"])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(ca.file("server.pem"))
        .arg("--tls-key")
        .arg(ca.file("server.key"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut serve = spawn("gpuwarden serve", &mut cmd);
    let stderr = serve.0.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("gpuwarden serve exited before listening")
            .unwrap();
        if let Some(a) = line.split("listening on https://").nth(1) {
            break a.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (serve, addr)
}

/// The `--web.config.file` of a Prometheus or Alertmanager serving HTTPS with `ca`'s server
/// certificate.
fn web_config(dir: &Path, ca: &TestCa) -> std::path::PathBuf {
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
            ca.file("server.pem").display(),
            ca.file("server.key").display()
        ),
    )
    .unwrap();
    path
}

fn get_ok(agent: &ureq::Agent, url: &str) -> Option<String> {
    let mut r = agent.get(url).call().ok()?;
    (r.status() == 200).then(|| r.body_mut().read_to_string().unwrap())
}

#[test]
fn serve_with_a_certificate_speaks_https_only_and_the_fleet_view_reads_it() {
    use gpuwarden::fleet::FleetSource;
    use gpuwarden::fleet::agents::AgentsSource;

    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(tmp.path(), "serve");
    let (serve, addr) = serve_https(&ca, "2");
    let agent = trusting(&ca).agent(TIMEOUT, TIMEOUT).unwrap();
    let metrics = wait_for("/metrics over https", Duration::from_secs(10), || {
        get_ok(&agent, &format!("https://{addr}/metrics"))
    });
    assert!(metrics.contains("gpuwarden_"), "{metrics}");
    // Plain http gets no answer from a TLS endpoint.
    let plain = gpuwarden::http_client::system_agent(TIMEOUT, TIMEOUT)
        .get(&format!("http://{addr}/metrics"))
        .call();
    assert!(plain.is_err(), "plain http was answered: {plain:?}");

    let url = format!("https://{addr}");
    let mut fleet = AgentsSource::new(vec![url.clone()], TIMEOUT, None)
        .with_tls(&trusting(&ca))
        .unwrap();
    let reports = fleet.fetch(now_ms());
    let data = reports[0].result.as_ref().unwrap();
    assert_eq!(data.snapshot.gpus.len(), 2);
    // The system's roots do not know the test CA: the host is named with the reason.
    let mut untrusting = AgentsSource::new(vec![url], TIMEOUT, None);
    let why = untrusting.fetch(now_ms())[0].result.clone().unwrap_err();
    assert!(
        why.contains(&format!("TLS to {addr}")) && why.contains("not trusted"),
        "{why}"
    );
    drop(serve);
}

#[test]
fn prometheus_over_https_scrapes_serve_over_https_and_the_fleet_view_reads_it() {
    use gpuwarden::fleet::FleetSource;
    use gpuwarden::fleet::prometheus::PrometheusSource;

    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&tmp.path().join("pki"), "prom");
    let (_serve, target) = serve_https(&ca, "3");
    let dir = tmp.path().join("prom");
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             scrape_configs:\n\
             - job_name: gpu\n  scheme: https\n  tls_config: {{ ca_file: {} }}\n  \
             static_configs: [ {{ targets: [ \"{target}\" ] }} ]\n",
            ca.file("ca.pem").display()
        ),
    )
    .unwrap();
    let port = prom::free_port();
    let mut cmd = Command::new("prometheus");
    cmd.arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--web.config.file={}",
            web_config(&dir, &ca).display()
        ))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap());
    let _prom = spawn("prometheus", &mut cmd);
    let url = format!("https://127.0.0.1:{port}");
    let agent = trusting(&ca).agent(TIMEOUT, TIMEOUT).unwrap();
    wait_for("prometheus over https", Duration::from_secs(30), || {
        get_ok(&agent, &format!("{url}/-/ready"))
    });

    let mut source = PrometheusSource::new(&url, TIMEOUT)
        .with_tls(&trusting(&ca))
        .unwrap();
    let data = wait_for(
        "the https target in the fleet",
        Duration::from_secs(30),
        || {
            source
                .fetch(now_ms())
                .into_iter()
                .find(|r| r.address == target)
                .and_then(|r| r.result.ok())
                .filter(|d| d.snapshot.gpus.len() == 3)
        },
    );
    assert_eq!(data.snapshot.gpus.len(), 3);
    // Without the CA, the source says which host and why instead of showing an empty fleet.
    let reports = PrometheusSource::new(&url, TIMEOUT).fetch(now_ms());
    let why = format!("{reports:?}");
    assert!(
        why.contains(&format!("TLS to 127.0.0.1:{port}")) && why.contains("not trusted"),
        "{why}"
    );
}

#[test]
fn a_real_alertmanager_behind_tls_shows_the_alert_and_resolves_it() {
    use gpuwarden::act::alert::alertmanager::AlertmanagerSink;

    let tmp = tempfile::tempdir().unwrap();
    let ca = TestCa::new(&tmp.path().join("pki"), "am");
    let dir = tmp.path().join("am");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("am.yml"),
        "route: { receiver: null-receiver, group_wait: 0s, group_interval: 1s, repeat_interval: 1h }\n\
         receivers: [ { name: null-receiver } ]\n",
    )
    .unwrap();
    let port = prom::free_port();
    let mut cmd = Command::new("prometheus-alertmanager");
    cmd.arg(format!("--config.file={}", dir.join("am.yml").display()))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--web.config.file={}",
            web_config(&dir, &ca).display()
        ))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("am.log")).unwrap());
    let _am = spawn("prometheus-alertmanager", &mut cmd);
    let url = format!("https://127.0.0.1:{port}");
    let agent = trusting(&ca).agent(TIMEOUT, TIMEOUT).unwrap();
    wait_for("alertmanager over https", Duration::from_secs(30), || {
        get_ok(&agent, &format!("{url}/-/ready"))
    });

    let sink = AlertmanagerSink::new(&url, TIMEOUT, Duration::from_secs(60), None, &trusting(&ca))
        .unwrap();
    let spec = SinkSpec {
        sink: Box::new(sink),
        resend: Some(Duration::from_secs(60)),
    };
    let outbox = tmp.path().join("outbox");
    let mut alerts = Alerts::with_sinks(&outbox, 100, FAST, "node7", vec![spec]).unwrap();
    let alert = hot_alert("GPU-am-tls");
    alerts.fire(alert.clone(), now_ms()).unwrap();
    let listed = |active: bool| {
        let body = get_ok(
            &agent,
            &format!("{url}/api/v2/alerts?active={active}&silenced=false&inhibited=false"),
        )?;
        let all: Vec<serde_json::Value> = serde_json::from_str(&body).ok()?;
        Some(
            all.into_iter()
                .filter(|a| a["labels"]["uuid"] == "GPU-am-tls")
                .collect::<Vec<_>>(),
        )
    };
    let shown = wait_for("the alert in alertmanager", Duration::from_secs(20), || {
        listed(true).and_then(|l| l.into_iter().next())
    });
    assert_eq!(shown["labels"]["alertname"], "GpuwardenGpuHot");
    assert_eq!(shown["labels"]["severity"], "critical");
    alerts.resolve(&alert.identity(), now_ms()).unwrap();
    wait_for("the alert to resolve", Duration::from_secs(20), || {
        listed(true).filter(|l| l.is_empty())
    });
    wait_for("both changes delivered", Duration::from_secs(5), || {
        let s = &alerts.stats()[0];
        (s.pending == 0 && s.delivered == 2 && s.rejected == 0).then_some(())
    });
    alerts.shutdown();
}
