//! `/metrics` render cost for one 8-GPU host (with watchdog families), and the cost of turning
//! a 1,000-GPU Prometheus answer into per-host snapshots. Run: `cargo bench --bench metrics`.

use divan::Bencher;
use gpuwarden::fleet::prometheus::{Answers, build};
use gpuwarden::fleet::promql::Series;
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::gpu::{Snapshot, Source};
use gpuwarden::metrics::{
    ActionCount, OutboxStats, RuleState, RuleStatus, SamplingMetrics, WatchdogMetrics, XidCount,
    render,
};
use std::collections::HashMap;

fn main() {
    let (snap, w) = host(8);
    let text = render(Some(&snap), &SamplingMetrics::default(), Some(&w));
    println!(
        "/metrics for 8 GPUs: {} bytes, {} lines",
        text.len(),
        text.lines().count()
    );
    divan::main();
}

fn host(gpus: u32) -> (Snapshot, WatchdogMetrics) {
    let mut sim = SimSource::new(&SimConfig {
        gpus,
        seed: 1,
        scenario: Scenario::Mixed,
    });
    let snap = sim.sample(1_700_000_000_000).expect("sim sample");
    let mut w = WatchdogMetrics::default();
    for g in &snap.gpus {
        for rule in ["gpu-hot", "memory-full", "margin-low"] {
            w.rules.push(RuleState {
                gpu: g.index,
                uuid: g.uuid.clone(),
                rule: rule.into(),
                status: RuleStatus::Ok,
            });
        }
        w.xids.push(XidCount {
            gpu: g.index,
            uuid: g.uuid.clone(),
            code: 79,
            count: 1,
        });
    }
    for kind in ["lock-clocks", "restart-unit", "notify"] {
        w.actions.push(ActionCount {
            kind: kind.into(),
            result: "ok".into(),
            count: 3,
        });
    }
    w.restart_budget.push(("vllm.service".into(), 2));
    w.outboxes.push(OutboxStats {
        sink: "alertmanager".into(),
        ..Default::default()
    });
    (snap, w)
}

#[divan::bench]
fn render_8_gpus_with_watchdog(b: Bencher) {
    let (snap, w) = host(8);
    let sampling = SamplingMetrics::default();
    b.bench(|| render(Some(&snap), &sampling, Some(&w)).len());
}

/// What Prometheus answers for 125 hosts × 8 GPUs (gpuwarden series), parsed.
fn fleet_series() -> Vec<Series> {
    let (snap, _) = host(8);
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    let mut out = Vec::new();
    for h in 0..125 {
        let instance = format!("node{h:03}:9844");
        let wanted = |l: &&str| {
            l.starts_with("gpuwarden_gpu_")
                && (!l.starts_with("gpuwarden_gpu_throttle_reason") || l.ends_with(" 1"))
        };
        for line in text.lines().filter(wanted) {
            let (head, value) = line.rsplit_once(' ').expect("sample line");
            let (name, labels) = head.split_once('{').unwrap_or((head, "}"));
            let mut map: HashMap<String, String> = labels
                .trim_end_matches('}')
                .split("\",")
                .filter_map(|kv| kv.split_once("=\""))
                .map(|(k, v)| (k.to_string(), v.trim_end_matches('"').to_string()))
                .collect();
            map.insert("__name__".into(), name.into());
            map.insert("instance".into(), instance.clone());
            map.insert("job".into(), "gpu".into());
            out.push(Series {
                labels: map,
                at_s: 1_700_000_000.0,
                value: value.parse().unwrap_or(f64::NAN),
            });
        }
    }
    out
}

#[divan::bench]
fn build_fleet_of_1000_gpus_from_prometheus_series(b: Bencher) {
    let answers = Answers {
        values: fleet_series(),
        ..Answers::default()
    };
    b.bench(|| build(&answers, 1_700_000_000_000).len());
}
