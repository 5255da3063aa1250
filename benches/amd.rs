//! Cost of one AMD sample: reading a recorded card's sysfs tree, with and without the
//! `/proc/*/fdinfo` process scan (the known clients only, or every process). The sampler runs once per interval (1 s by default), so
//! this is the source's share of the monitor's CPU time.

use gpuwarden::gpu::Source;
use gpuwarden::gpu::amd::{AmdConfig, AmdSource};
use gpuwarden::gpu::drm_clients::FULL_RESCAN_EVERY;
use std::path::{Path, PathBuf};

fn main() {
    divan::main();
}

fn fixture(card: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/amd-sysfs")
        .join(card)
}

fn open(card: &str, proc_root: &Path) -> AmdSource {
    AmdSource::open(AmdConfig {
        sysfs_root: fixture(card),
        proc_root: proc_root.to_path_buf(),
    })
    .expect("fixture has a card")
}

/// Sysfs only: `/proc` points at an empty directory.
#[divan::bench(args = ["rx6900xt", "rx7900xtx", "vangogh"])]
fn sample_card(bencher: divan::Bencher, card: &str) {
    let empty = tempfile::tempdir().expect("temp dir");
    let mut src = open(card, empty.path());
    bencher.bench_local(|| src.sample(1).expect("sample"));
}

/// Sysfs plus this machine's real `/proc`, as most samples are: only the known DRM clients
/// are read again (the first, untimed sample looked at every process).
#[divan::bench]
fn sample_card_with_real_proc(bencher: divan::Bencher) {
    let mut src = open("rx6900xt", Path::new("/proc"));
    src.sample(1).expect("first sample");
    bencher.bench_local(|| src.sample(1).expect("sample"));
}

/// Sysfs plus a look at every process of this machine's real `/proc`, as one sample in
/// every `FULL_RESCAN_EVERY` does (the clock moves on by the period each time).
#[divan::bench]
fn sample_card_with_real_proc_full_rescan(bencher: divan::Bencher) {
    let mut src = open("rx6900xt", Path::new("/proc"));
    let period = FULL_RESCAN_EVERY.as_millis() as u64;
    let mut at = 0;
    bencher.bench_local(|| {
        at += period;
        src.sample(at).expect("sample")
    });
}
