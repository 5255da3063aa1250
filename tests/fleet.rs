//! The metrics endpoint and the fleet sources against real peers: promtool lints what
//! `gpuwarden serve` serves and checks and tests the shipped rules; a real Prometheus scrapes
//! two gpuwarden exporters and a dcgm-exporter-shaped target, and the Prometheus fleet source
//! reads every host's GPUs back with the values the exporters reported.

#[path = "harness/prom.rs"]
mod prom;

use gpuwarden::fleet::agents::AgentsSource;
use gpuwarden::fleet::prometheus::PrometheusSource;
use gpuwarden::fleet::{Fleet, FleetSource};
use gpuwarden::gpu::Snapshot;
use gpuwarden::gpu::sampler::now_ms;
use prom::{Exporter, Prometheus, free_port, get, get_json, run_tool, wait_for};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

fn promtool_check_metrics(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (tests/peers/install.sh installs prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics complained:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn promtool_accepts_the_metrics_of_a_running_exporter() {
    for scenario in ["mixed", "lost"] {
        let exp = Exporter::start(&[
            "--demo",
            "--demo-gpus",
            "8",
            "--scenario",
            scenario,
            "--interval",
            "200ms",
        ]);
        let (status, body) = get(&exp.url("/metrics")).expect("/metrics answers");
        assert_eq!(status, 200);
        assert!(body.contains("gpuwarden_gpu_temperature_celsius{gpu=\"7\""));
        promtool_check_metrics(&body);
    }
}

#[test]
fn promtool_accepts_the_watchdog_families_too() {
    use gpuwarden::metrics::*;
    let snap: Snapshot = {
        use gpuwarden::gpu::Source;
        let mut sim = gpuwarden::gpu::sim::SimSource::new(&Default::default());
        sim.sample(1_700_000_000_000).unwrap()
    };
    let w = WatchdogMetrics {
        rules: vec![RuleState {
            gpu: 0,
            uuid: snap.gpus[0].uuid.clone(),
            rule: "gpu-hot".into(),
            status: RuleStatus::Pending,
        }],
        actions: vec![ActionCount {
            kind: "restart_unit".into(),
            result: "failed".into(),
            count: 1,
        }],
        restart_budget: vec![("vllm.service".into(), 0)],
        xids: vec![XidCount {
            gpu: 0,
            uuid: snap.gpus[0].uuid.clone(),
            code: 79,
            count: 3,
        }],
        outboxes: vec![OutboxStats {
            sink: "webhook".into(),
            pending: 2,
            delivered: 5,
            rejected: 0,
            dropped: 1,
        }],
        driver_answering: Some(false),
        dry_run: None,
    };
    let text = render(Some(&snap), &SamplingMetrics::default(), Some(&w));
    assert!(text.contains("gpuwarden_watchdog_restart_budget_remaining{unit=\"vllm.service\"} 0"));
    assert!(text.contains("\ngpuwarden_driver_answering 0\n"), "{text}");
    promtool_check_metrics(&text);
}

#[test]
fn the_endpoint_is_read_only_and_honours_its_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let exp = Exporter::start_with(&["--demo"], &["--token-file", token.to_str().unwrap()]);
    assert_eq!(get(&exp.url("/metrics")).unwrap().0, 401);
    assert_eq!(get(&exp.url("/api/v1/snapshot")).unwrap().0, 401);
    let health = get_json(&exp.url("/healthz")).expect("/healthz needs no token");
    assert_eq!(health["status"], "ok");
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build(),
    );
    let ok = agent
        .get(&exp.url("/api/v1/snapshot"))
        .header("Authorization", "Bearer s3cret")
        .call()
        .unwrap();
    assert_eq!(ok.status().as_u16(), 200);
    let post = agent.post(&exp.url("/metrics")).send("").unwrap();
    assert_eq!(
        post.status().as_u16(),
        405,
        "nothing on the endpoint takes writes"
    );
}

#[test]
fn promtool_checks_and_tests_the_shipped_alerting_rules() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/prometheus");
    let out = run_tool(
        Command::new("promtool")
            .args(["check", "rules", "gpuwarden-rules.yml"])
            .current_dir(dir),
    );
    assert!(out.contains("SUCCESS: 11 rules found"), "{out}");
    let out = run_tool(
        Command::new("promtool")
            .args(["test", "rules", "gpuwarden-rules.test.yml"])
            .current_dir(dir),
    );
    assert!(out.contains("SUCCESS"), "{out}");
}

/// A dcgm-exporter stand-in: serves a fixed exposition in dcgm-exporter's shape.
fn dcgm_exporter() -> String {
    const BODY: &str = include_str!("fleet/dcgm-exporter.prom");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{BODY}",
                BODY.len()
            );
        }
    });
    addr
}

fn snapshot_of(exp: &Exporter) -> Snapshot {
    let v = get_json(&exp.url("/api/v1/snapshot")).expect("snapshot");
    serde_json::from_value(v).expect("snapshot schema")
}

#[test]
fn prometheus_scraping_two_exporters_and_dcgm_gives_every_host_with_its_values() {
    let tmp = tempfile::tempdir().unwrap();
    // A 1 h interval: each exporter takes one sample at start, so what Prometheus scraped
    // and what the exporter's JSON says are the very same numbers.
    let a = Exporter::start(&[
        "--demo",
        "--demo-gpus",
        "8",
        "--seed",
        "1",
        "--interval",
        "1h",
    ]);
    let b = Exporter::start(&[
        "--demo",
        "--demo-gpus",
        "4",
        "--seed",
        "2",
        "--scenario",
        "training",
        "--interval",
        "1h",
    ]);
    let dcgm = dcgm_exporter();
    let targets = vec![a.addr.clone(), b.addr.clone(), dcgm.clone()];
    let prom = Prometheus::start(&tmp.path().join("prom"), &targets);
    prom.wait_all_up(3);

    let mut source = PrometheusSource::new(&prom.url(), Duration::from_secs(5));
    let mut fleet = Fleet::default();
    fleet.update(source.fetch(now_ms()), now_ms());
    assert_eq!(
        fleet.hosts.len(),
        3,
        "{:#?}",
        fleet.hosts.iter().map(|h| &h.address).collect::<Vec<_>>()
    );
    assert_eq!(fleet.gpu_count(), 8 + 4 + 2);

    for exp in [&a, &b] {
        let want = snapshot_of(exp);
        let host = fleet.host(&exp.addr).expect("host in the fleet");
        assert!(host.reachable, "{:?}", host.error);
        let got = host.snapshot.as_ref().unwrap();
        assert_eq!(got.gpus.len(), want.gpus.len());
        for (g, w) in got.gpus.iter().zip(&want.gpus) {
            assert_eq!((g.index, &g.uuid), (w.index, &w.uuid));
            assert_eq!(g.name, w.name);
            assert_eq!(g.temperature_c, w.temperature_c, "gpu {}", w.index);
            assert_eq!(g.memory_used_bytes, w.memory_used_bytes);
            assert_eq!(g.memory_total_bytes, w.memory_total_bytes);
            assert_eq!(g.power_w, w.power_w);
            assert_eq!(g.power_limit_w, w.power_limit_w);
            assert_eq!(g.utilization_gpu_pct, w.utilization_gpu_pct);
            assert_eq!(g.clock_sm_mhz, w.clock_sm_mhz);
            assert_eq!(g.throttle, w.throttle);
            assert_eq!(g.status, w.status);
        }
    }

    let d = fleet.host(&dcgm).expect("the dcgm-exporter host");
    assert_eq!(d.name(), "dgx-a");
    let g1 = &d.snapshot.as_ref().unwrap().gpus[1];
    assert_eq!(g1.uuid, "GPU-dcgm-1");
    assert_eq!(g1.temperature_c.get(), Some(84.0));
    assert_eq!(g1.memory_used_bytes.get(), Some(70_000 << 20));
    assert_eq!(g1.memory_total_bytes.get(), Some(81_920 << 20));
    assert_eq!(g1.utilization_gpu_pct.get(), Some(100));
    assert_eq!(g1.power_w.get(), Some(398.25));
    assert_eq!(g1.clock_sm_mhz.get(), Some(1410));
    assert_eq!(d.xids.len(), 1);
    assert_eq!(d.xids[0].code, 79);

    // One exporter dies: its host stays, marked unreachable, with its last numbers.
    let b_addr = b.addr.clone();
    drop(b);
    wait_for(
        "prometheus to see the exporter down",
        Duration::from_secs(30),
        || {
            fleet.update(source.fetch(now_ms()), now_ms());
            let h = fleet.host(&b_addr)?;
            (!h.reachable).then_some(())
        },
    );
    let h = fleet.host(&b_addr).unwrap();
    assert_eq!(h.gpu_count(), 4, "the last numbers are kept");
    assert!(h.error.as_deref().unwrap().contains("down"));
    assert_eq!(fleet.hosts.len(), 3);
}

#[test]
fn agents_source_reads_live_hosts_and_keeps_a_dead_one() {
    let a = Exporter::start(&["--demo", "--demo-gpus", "8", "--interval", "1h"]);
    let dead = format!("127.0.0.1:{}", free_port());
    let mut source = AgentsSource::new(
        vec![a.addr.clone(), dead.clone()],
        Duration::from_secs(2),
        None,
    );
    let mut fleet = Fleet::default();
    fleet.update(source.fetch(now_ms()), now_ms());
    assert_eq!(fleet.hosts.len(), 2);
    let live = fleet.host(&a.addr).unwrap();
    assert!(live.reachable);
    assert_eq!(live.snapshot.as_ref().unwrap(), &snapshot_of(&a));
    let d = fleet.host(&dead).unwrap();
    assert!(!d.reachable && d.snapshot.is_none());
    assert!(d.error.as_deref().unwrap().contains(&dead));
}

/// The code blocks of the README's fleet section, by language, in order.
fn readme_blocks(lang: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme.find("<!-- fleet -->").expect("fleet marker");
    let end = readme[start..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + e);
    let mut blocks = Vec::new();
    let mut rest = &readme[start..end];
    let fence = format!("```{lang}\n");
    while let Some(i) = rest.find(&fence) {
        let body = &rest[i + fence.len()..];
        let j = body.find("```").expect("closed code block");
        blocks.push(body[..j].to_string());
        rest = &body[j..];
    }
    blocks
}

#[test]
fn the_readme_fleet_examples_are_accepted_by_prometheus_alertmanager_and_gpuwarden() {
    let tmp = tempfile::tempdir().unwrap();
    let yaml = readme_blocks("yaml");
    assert_eq!(yaml.len(), 2, "a scrape config and an Alertmanager route");
    let token = tmp.path().join("gpuwarden.token");
    std::fs::write(&token, "s3cret").unwrap();
    let rules = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/prometheus/gpuwarden-rules.yml"
    );
    let prom = yaml[0]
        .replace("/etc/prometheus/gpuwarden-rules.yml", rules)
        .replace("/etc/prometheus/gpuwarden.token", token.to_str().unwrap());
    std::fs::write(tmp.path().join("prometheus.yml"), prom).unwrap();
    run_tool(
        Command::new("promtool")
            .args(["check", "config"])
            .arg(tmp.path().join("prometheus.yml")),
    );
    std::fs::write(tmp.path().join("am.yml"), &yaml[1]).unwrap();
    run_tool(
        Command::new("amtool")
            .args(["check-config"])
            .arg(tmp.path().join("am.yml")),
    );

    let toml_blocks = readme_blocks("toml");
    assert_eq!(toml_blocks.len(), 1);
    #[derive(serde::Deserialize)]
    struct File {
        alerts: gpuwarden::act::alert::RawAlertsConfig,
    }
    let f: File = toml::from_str(&toml_blocks[0]).expect("README [alerts] example parses");
    let c = f
        .alerts
        .validate()
        .expect("README [alerts] example is valid");
    assert_eq!(c.alertmanager.unwrap().url, "http://alertmanager:9093");
    assert_eq!(c.outbox_max, 10_000);
}

/// `top --prometheus` end to end: two real exporters, a real
/// Prometheus scraping them, the dashboard's own fetcher thread reading Prometheus, and the
/// hosts view and each host's GPU view drawn on a `TestBackend` with the exporters' values.
#[test]
fn top_prometheus_shows_both_hosts_and_their_gpus_with_the_exporters_values() {
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
    use gpuwarden::tui::fleet_run::spawn_fetcher;
    use gpuwarden::tui::{FleetApp, Theme, input};
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    let tmp = tempfile::tempdir().unwrap();
    let demo = |seed: &str, gpus: &str, scenario: &str| {
        let args = ["--demo", "--demo-gpus", gpus, "--seed", seed, "--scenario"];
        let mut args = args.to_vec();
        args.extend([scenario, "--interval", "1h"]);
        Exporter::start(&args)
    };
    let a = demo("3", "8", "mixed");
    let b = demo("4", "2", "overheat");
    let prom = Prometheus::start(&tmp.path().join("prom"), &[a.addr.clone(), b.addr.clone()]);
    prom.wait_all_up(2);

    let source = PrometheusSource::new(&prom.url(), Duration::from_secs(5));
    let mut fetches = spawn_fetcher(Box::new(source), Duration::from_millis(500));
    let mut app = FleetApp::new(Theme::new(false), format!("prometheus {}", prom.url()));
    let (reports, at) = fetches.blocking_recv().expect("the fetcher thread answers");
    app.on_fetch(reports, at);

    let draw = |app: &FleetApp| {
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        terminal.draw(|f| f.render_widget(app, f.area())).unwrap();
        terminal.backend().to_string()
    };
    let screen = draw(&app);
    assert!(screen.contains("2 hosts, 10 GPUs"), "{screen}");
    for exp in [&a, &b] {
        let name = exp.addr.as_str();
        let want = snapshot_of(exp);
        let (i, c) = want
            .gpus
            .iter()
            .filter_map(|g| Some((g.index, g.temperature_c.get()?)))
            .max_by(|x, y| x.1.total_cmp(&y.1))
            .unwrap();
        let line = screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name} has a line: {screen}"));
        assert!(line.contains(&format!("{c:.0}°C gpu{i}")), "{line}");
        assert!(line.contains(&format!(" {} ", want.gpus.len())), "{line}");
    }

    // Drill into each host: its GPU table is the exporter's GPUs with the exporter's values.
    let press = |app: &mut FleetApp, code: KeyCode| {
        let event = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
        if let Some(msg) = input::message(&event) {
            app.update(msg);
        }
    };
    let mut visited = Vec::new();
    for _ in 0..2 {
        let selected = app
            .selected_host()
            .expect("a host is selected")
            .address
            .clone();
        let exp = if selected == a.addr { &a } else { &b };
        visited.push(selected);
        press(&mut app, KeyCode::Enter);
        let host = app.drilled().expect("Enter opens the selected host");
        let want = snapshot_of(exp);
        assert_eq!(host.gpus().len(), want.gpus.len());
        for (g, w) in host.gpus().iter().zip(&want.gpus) {
            assert_eq!((g.index, &g.uuid), (w.index, &w.uuid));
            assert_eq!(g.temperature_c, w.temperature_c);
            assert_eq!(g.memory_used_bytes, w.memory_used_bytes);
            assert_eq!(g.utilization_gpu_pct, w.utilization_gpu_pct);
        }
        let screen = draw(&app);
        let t = want.gpus[0].temperature_c.get().unwrap();
        assert!(screen.contains(&format!("{t:.0}°C")), "{screen}");
        press(&mut app, KeyCode::Esc);
        press(&mut app, KeyCode::Down);
    }
    visited.sort();
    let mut both = vec![a.addr.clone(), b.addr.clone()];
    both.sort();
    assert_eq!(visited, both, "Down moves to the other host");
    assert!(app.drilled().is_none() && !app.quit);
}

/// `top --agents A,B` on the hosts view: two real agents sampling every 100 ms, fetched
/// `N` times by the dashboard's own source, each fetch waiting until both agents have
/// sampled again. Opening B then shows `N` slots of history, the very numbers B served;
/// going back and in again keeps them.
#[test]
fn top_agents_opens_a_host_on_the_history_of_every_fetch() {
    use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
    use gpuwarden::history::Metric;
    use gpuwarden::tui::{FleetApp, Theme, input};
    use std::collections::HashMap;

    const N: usize = 12;
    let demo = |seed: &str| {
        let args = ["--demo", "--demo-gpus", "4", "--seed", seed];
        let mut args = args.to_vec();
        args.extend(["--scenario", "mixed", "--interval", "100ms"]);
        Exporter::start(&args)
    };
    let (a, b) = (demo("5"), demo("6"));
    let mut source = AgentsSource::new(
        vec![a.addr.clone(), b.addr.clone()],
        Duration::from_secs(5),
        None,
    );
    let mut app = FleetApp::new(Theme::new(false), "2 agents");
    let mut newest: HashMap<String, u64> = HashMap::new();
    let mut b_gave: Vec<Snapshot> = Vec::new();
    let mut fetched_at = 0;
    for _ in 0..N {
        let reports = wait_for(
            "both agents to sample again",
            Duration::from_secs(10),
            || {
                let reports = source.fetch(now_ms());
                let fresh = reports.iter().all(|r| {
                    r.result.as_ref().is_ok_and(|d| {
                        newest
                            .get(&r.address)
                            .is_none_or(|&at| d.snapshot.at_ms > at)
                    })
                });
                fresh.then_some(reports)
            },
        );
        for r in &reports {
            let d = r.result.as_ref().unwrap();
            newest.insert(r.address.clone(), d.snapshot.at_ms);
            if r.address == b.addr {
                b_gave.push(d.snapshot.clone());
            }
        }
        fetched_at = now_ms().max(fetched_at + 1);
        app.on_fetch(reports, fetched_at);
    }
    assert!(app.drilled().is_none(), "all fetches on the hosts view");

    let press = |app: &mut FleetApp, code: KeyCode| {
        let event = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
        if let Some(msg) = input::message(&event) {
            app.update(msg);
        }
    };
    let open_b = |app: &mut FleetApp| {
        for _ in 0..2 {
            if app.selected_host().map(|h| h.address.as_str()) == Some(b.addr.as_str()) {
                break;
            }
            press(app, KeyCode::Down);
        }
        press(app, KeyCode::Enter);
    };
    let check = |app: &FleetApp| {
        let host = app.drilled().expect("Enter opens B");

        for g in host.gpus() {
            let series = host.history().gpu(&g.uuid).expect("a history per GPU");
            for m in Metric::ALL {
                let want: Vec<Option<f64>> = b_gave
                    .iter()
                    .map(|s| m.of(s.gpu(&g.uuid).unwrap()).map(|v| f64::from(v as f32)))
                    .collect();
                let got: Vec<Option<f64>> = series.series(m).iter().collect();
                assert_eq!(got, want, "GPU {} {m:?}", g.index);
            }
        }
    };
    open_b(&mut app);
    check(&app);
    press(&mut app, KeyCode::Esc);
    assert!(app.drilled().is_none());
    open_b(&mut app);
    check(&app);
}
