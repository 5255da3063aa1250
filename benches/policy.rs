//! Cost of the watchdog policy: one engine step over a snapshot of 8 GPUs with the reference
//! `watchdog.toml` (all quiet, the common case; and all hot, mid-ladder with caps held and
//! restarts refused), and loading + validating `watchdog.toml` (startup and SIGHUP).

use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::gpu::{Field, Snapshot, Source};
use gpuwarden::policy::{self, Config, State};
use std::path::Path;

fn main() {
    divan::main();
}

fn reference() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("watchdog.toml");
    policy::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn fleet(scenario: Scenario) -> Snapshot {
    let mut sim = SimSource::new(&SimConfig {
        gpus: 8,
        seed: 1,
        scenario,
    });
    sim.sample(1_700_000_000_000)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One step of 8 quiet GPUs: every rule evaluated, nothing to do.
#[divan::bench]
fn step_8_gpus_quiet(bencher: divan::Bencher) {
    let config = reference();
    let snap = fleet(Scenario::Training);
    let mut state = State::default();
    let mut now = snap.at_ms;
    bencher.bench_local(|| {
        now += 1000;
        policy::step(&config, &mut state, divan::black_box(&snap), now)
    });
}

/// One step of 8 GPUs at 95 °C, an hour into their ladders: caps held and re-applied,
/// restart budgets spent, pages open.
#[divan::bench]
fn step_8_gpus_hot(bencher: divan::Bencher) {
    let config = reference();
    let mut snap = fleet(Scenario::Leak);
    for g in &mut snap.gpus {
        g.temperature_c = Field::Value(95.0);
    }
    let mut state = State::default();
    let mut now = snap.at_ms;
    for _ in 0..3600 {
        now += 1000;
        policy::step(&config, &mut state, &snap, now);
    }
    bencher.bench_local(|| {
        now += 1000;
        policy::step(&config, &mut state, divan::black_box(&snap), now)
    });
}

/// Reading and validating the reference config.
#[divan::bench]
fn load_reference_config() -> Config {
    reference()
}

/// Persisting the state of the hot fleet (the daemon writes it after each step that acted).
#[divan::bench]
fn serialize_hot_state(bencher: divan::Bencher) {
    let config = reference();
    let mut snap = fleet(Scenario::Leak);
    for g in &mut snap.gpus {
        g.temperature_c = Field::Value(95.0);
    }
    let mut state = State::default();
    for t in 0..600 {
        policy::step(&config, &mut state, &snap, snap.at_ms + t * 1000);
    }
    bencher.bench_local(|| serde_json::to_vec(divan::black_box(&state)));
}
