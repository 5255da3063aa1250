//! What one sample costs: a full sample of 8 GPUs through NVML (the fake library built from
//! `tests/fake_nvml/`), in time and heap allocations. Results go to BENCHMARKS.md.
//!
//! The fake answers from memory, so this measures gpuwarden's own work per sample (the
//! wrapper, the model, `/proc` lookups for GPU processes), not the driver's ioctls.

#[path = "../tests/support/fake_nvml.rs"]
mod fake_nvml;

use fake_nvml::{FakeNvml, FakeState};
use gpuwarden::gpu::Source;
use gpuwarden::gpu::nvml::NvmlSource;
use std::process::{Child, Command};

#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

/// 8 H100-like GPUs; with `procs`, two real processes on each (this one and a `sleep`).
fn fleet(procs: Option<&Child>) -> (FakeNvml, NvmlSource) {
    let mut state = FakeState::with_gpus(8);
    if let Some(child) = procs {
        for g in &mut state.gpus {
            *g = g.clone().compute(&[
                (std::process::id(), Some(1 << 30)),
                (child.id(), Some(2 << 30)),
            ]);
        }
    }
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("opening the fake NVML");
    // The first sample fills the cache of static values; measure the steady state.
    source.sample(0).expect("first sample");
    (fake, source)
}

/// One full sample of 8 GPUs, no processes on them.
#[divan::bench]
fn nvml_8_gpus_idle(bencher: divan::Bencher) {
    let (_fake, mut source) = fleet(None);
    bencher.bench_local(|| source.sample(1).expect("sample"));
}

/// One full sample of 8 GPUs with 2 processes each, described from `/proc`.
#[divan::bench]
fn nvml_8_gpus_16_processes(bencher: divan::Bencher) {
    let mut child = Command::new("sleep")
        .arg("600")
        .spawn()
        .expect("starting sleep");
    let (_fake, mut source) = fleet(Some(&child));
    bencher.bench_local(|| source.sample(1).expect("sample"));
    let _ = child.kill();
    let _ = child.wait();
}
