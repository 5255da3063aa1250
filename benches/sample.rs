//! What one sample costs: a full sample of 8 GPUs through NVML (the fake library built from
//! `tests/fake_nvml/`), and one sysfs card of each other vendor — AMD and Intel side by side,
//! from the recorded trees in `tests/fixtures/` — in time and heap allocations. Results go to
//! BENCHMARKS.md.
//!
//! The fake answers from memory, so this measures gpuwarden's own work per sample (the
//! wrapper, the model, `/proc` lookups for GPU processes), not the driver's ioctls — except
//! `nvml_8_gpus_driver_like_delays`, where the fake costs what a real driver does. The
//! sysfs cards read real files (page cache), with `/proc` pointed at an empty directory so
//! the figure is the card's, not this host's process count.

#[path = "../tests/support/fake_nvml.rs"]
mod fake_nvml;

use fake_nvml::{FakeNvml, FakeState};
use gpuwarden::gpu::Source;
use gpuwarden::gpu::amd::{AmdConfig, AmdSource};
use gpuwarden::gpu::intel::{IntelConfig, IntelSource};
use gpuwarden::gpu::nvml::NvmlSource;
use std::path::{Path, PathBuf};
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

/// One full sample of 8 GPUs on a driver that costs what a real one does: every call spins
/// 2 µs and PCIe throughput waits 20 ms inside the call. Read inline that would be ~320 ms a
/// sample (RX and TX on 8 GPUs); off the sample path the target is under 5 ms.
#[divan::bench]
fn nvml_8_gpus_driver_like_delays(bencher: divan::Bencher) {
    let mut state = FakeState::with_gpus(8);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("opening the fake NVML");
    source.sample(0).expect("first sample");
    state.call_cost_us = 2;
    state.pcie_throughput_ms = 20;
    fake.set(&state);
    source
        .sample(0)
        .expect("second sample: PCIe moves to its own thread");
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

fn fixture(vendor: &str, card: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{vendor}-sysfs"))
        .join(card)
}

/// One AMD card (for comparison with Intel's in the same run).
#[divan::bench(args = ["rx6900xt", "rx7900xtx"])]
fn amd_card(bencher: divan::Bencher, card: &str) {
    let empty = tempfile::tempdir().expect("temp dir");
    let mut source = AmdSource::open(AmdConfig {
        sysfs_root: fixture("amd", card),
        proc_root: empty.path().to_path_buf(),
    })
    .expect("fixture has a card");
    source.sample(0).expect("first sample");
    bencher.bench_local(|| source.sample(1).expect("sample"));
}

/// One Intel card: i915 (A380), xe (B580, 17 sensors and 3 fans), an xe iGPU (Tiger Lake).
#[divan::bench(args = ["a380-i915", "b580", "tigerlake"])]
fn intel_card(bencher: divan::Bencher, card: &str) {
    let empty = tempfile::tempdir().expect("temp dir");
    let mut source = IntelSource::open(IntelConfig {
        sysfs_root: fixture("intel", card),
        proc_root: empty.path().to_path_buf(),
    })
    .expect("fixture has a card");
    source.sample(0).expect("first sample");
    let mut at = 0;
    bencher.bench_local(|| {
        // Time moves on, so every sample computes power from the energy counter.
        at += 1000;
        source.sample(at).expect("sample")
    });
}
