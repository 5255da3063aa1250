//! Whole-process measurements for BENCHMARKS.md "Metrics and fleet":
//! 1. sampling cadence with and without ~100 scrapes/s of `/metrics` against loopback;
//! 2. one fleet refresh of 1,000 GPUs (125 local gpuwarden endpoints × 8 GPUs), read as
//!    agents and through a real Prometheus scraping all 125.
//!
//! Run: `cargo bench --bench fleet` (needs `prometheus` on PATH for the second half).

use gpuwarden::fleet::agents::AgentsSource;
use gpuwarden::fleet::prometheus::PrometheusSource;
use gpuwarden::fleet::{Fleet, FleetSource};
use gpuwarden::gpu::sampler::{self, now_ms};
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::gpu::{Snapshot, Source};
use gpuwarden::serve::{ServeState, bind};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INTERVAL: Duration = Duration::from_millis(100);

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    scrape_load(&rt);
    fleet_refresh(&rt);
}

fn sim(gpus: u32, seed: u64) -> SimSource {
    SimSource::new(&SimConfig {
        gpus,
        seed,
        scenario: Scenario::Mixed,
    })
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

fn serve(rt: &tokio::runtime::Runtime, state: Arc<ServeState>) -> SocketAddr {
    rt.block_on(async {
        let (addr, server) = bind("127.0.0.1:0".parse().unwrap(), state)
            .await
            .expect("bind");
        tokio::spawn(server);
        addr
    })
}

/// Sampling at 100 ms, published into the endpoint, while a client scrapes `/metrics`.
fn scrape_load(rt: &tokio::runtime::Runtime) {
    let state = ServeState::new(Duration::from_secs(5), None);
    let addr = serve(rt, state.clone());
    let arrivals: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let (st, arr) = (state.clone(), arrivals.clone());
    rt.spawn(async move {
        let mut rx = sampler::spawn(Box::new(sim(8, 1)), INTERVAL);
        while let Some(Ok(snap)) = rx.recv().await {
            arr.lock().unwrap().push((snap.at_ms, Instant::now()));
            st.publish(snap, Duration::ZERO);
        }
    });
    std::thread::sleep(Duration::from_secs(1));
    let phase = |load: bool| {
        arrivals.lock().unwrap().clear();
        let start = Instant::now();
        let mut latencies = Vec::new();
        let mut bytes = 0;
        if load {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(2)))
                .build()
                .into();
            let url = format!("http://{addr}/metrics");
            let mut next = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                let t = Instant::now();
                let body = agent
                    .get(&url)
                    .call()
                    .expect("scrape")
                    .into_body()
                    .read_to_string()
                    .expect("body");
                bytes = body.len();
                latencies.push(t.elapsed().as_secs_f64() * 1e3);
                next += Duration::from_millis(10);
                if let Some(d) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(d);
                }
            }
        } else {
            std::thread::sleep(Duration::from_secs(10));
        }
        let took = start.elapsed().as_secs_f64();
        let a = arrivals.lock().unwrap().clone();
        let mut cadence: Vec<f64> = a
            .windows(2)
            .map(|w| (w[1].0 as f64 - w[0].0 as f64 - INTERVAL.as_millis() as f64).abs())
            .collect();
        let mut delivery: Vec<f64> = a
            .windows(2)
            .map(|w| {
                (w[1].1.duration_since(w[0].1).as_secs_f64() * 1e3 - INTERVAL.as_millis() as f64)
                    .abs()
            })
            .collect();
        let label = if load { "100 scrapes/s" } else { "no scrapes" };
        println!(
            "{label}: {} samples in {took:.1}s; sample-start jitter p50 {:.1} ms p99 {:.1} ms max {:.1} ms; \
             arrival jitter p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            a.len(),
            percentile(&mut cadence, 0.5),
            percentile(&mut cadence, 0.99),
            percentile(&mut cadence, 1.0),
            percentile(&mut delivery, 0.5),
            percentile(&mut delivery, 0.99),
            percentile(&mut delivery, 1.0),
        );
        if load {
            println!(
                "  {} scrapes ({:.0}/s) of {bytes} bytes: latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
                latencies.len(),
                latencies.len() as f64 / took,
                percentile(&mut latencies, 0.5),
                percentile(&mut latencies, 0.99),
                percentile(&mut latencies, 1.0),
            );
        }
    };
    phase(false);
    phase(true);
}

/// 125 endpoints × 8 GPUs in this process, read as agents and through Prometheus.
fn fleet_refresh(rt: &tokio::runtime::Runtime) {
    let mut addrs = Vec::new();
    for h in 0..125u64 {
        let state = ServeState::new(Duration::from_secs(3600), None);
        let mut snap: Snapshot = sim(8, h + 1).sample(now_ms()).expect("sample");
        snap.host = format!("node{h:03}");
        state.publish(snap, Duration::ZERO);
        addrs.push(serve(rt, state).to_string());
    }
    let mut agents = AgentsSource::new(addrs.clone(), Duration::from_secs(5), None);
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let mut fleet = Fleet::default();
        fleet.update(agents.fetch(now_ms()), now_ms());
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(fleet.gpu_count(), 1000);
    }
    println!(
        "agents, 125 hosts x 8 GPUs: fetch + build median {:.1} ms (min {:.1}, max {:.1})",
        percentile(&mut times, 0.5),
        percentile(&mut times, 0.0),
        percentile(&mut times, 1.0)
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let targets: Vec<String> = addrs.iter().map(|a| format!("\"{a}\"")).collect();
    let cfg = dir.path().join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global: {{ scrape_interval: 2s }}\nscrape_configs:\n- job_name: gpu\n  static_configs: [ {{ targets: [ {} ] }} ]\n",
            targets.join(", ")
        ),
    )
    .expect("config");
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus on PATH");
    let url = format!("http://127.0.0.1:{port}");
    let mut source = PrometheusSource::new(&url, Duration::from_secs(10));
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let mut fleet = Fleet::default();
        fleet.update(source.fetch(now_ms()), now_ms());
        if fleet.gpu_count() == 1000 && fleet.hosts.iter().all(|h| h.reachable) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never saw all 1000 GPUs"
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let mut fleet = Fleet::default();
        fleet.update(source.fetch(now_ms()), now_ms());
        times.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!(
        "prometheus, 125 hosts x 8 GPUs: 5 parallel queries + build median {:.1} ms (min {:.1}, max {:.1})",
        percentile(&mut times, 0.5),
        percentile(&mut times, 0.0),
        percentile(&mut times, 1.0)
    );
    let _ = prom.kill();
    let _ = prom.wait();
}
