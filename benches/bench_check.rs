//! Host-side cost of checking a burn: the reference values and the bit-for-bit comparison
//! of every thread's result. Both must stay far below a launch (~50 ms) so the GPU is
//! never waiting on the host. Results: BENCHMARKS.md, bench section.

use gpuwarden::bench::reference;

fn main() {
    divan::main();
}

/// The longest FP32 launch's reference (131072 trips x 4 FMAs x 8 chains); computed once
/// per launch length and cached by the worker.
#[divan::bench]
fn fp32_reference_longest_launch() -> f32 {
    reference::fp32_expected(divan::black_box(1 << 17))
}

/// Checking one H100-sized launch: 132 SMs x 2048 threads = 270,336 results.
#[divan::bench]
fn verify_h100_launch(b: divan::Bencher) {
    let want = reference::fp32_expected(64);
    let values = vec![want; 132 * 2048];
    b.bench(|| reference::verify(divan::black_box(&values), want));
}
