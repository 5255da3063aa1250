//! The real binary on the fake CUDA driver: results pass verification, each injected error
//! gives the verdict and exit code a user must see.

use super::support::{bench_on_fake, empty_dir, fake_cuda_dir_without, findings, gpu, report};
use assert_cmd::Command;
use predicates::str::contains;

/// A short run; `--tolerance 100%` turns the peer comparison off, since the fake's launch
/// times are at the mercy of a busy test machine (the slow-twin test covers tolerance).
const SHORT: [&str; 5] = ["--duration", "1s", "--json", "--tolerance", "100%"];

#[test]
fn without_libcuda_the_bench_says_what_is_missing_and_exits_2() {
    Command::cargo_bin("gpuwarden")
        .expect("binary")
        .env("LD_LIBRARY_PATH", empty_dir())
        .args(["bench", "--duration", "1s"])
        .assert()
        .code(2)
        .stderr(contains("libcuda.so.1"))
        .stderr(contains("gpuwarden bench --demo"));
}

#[test]
fn healthy_gpus_pass_every_workload_with_results_checked_against_the_host() {
    for workload in ["mixed", "fp32", "tensor", "memory"] {
        let r = report(
            bench_on_fake(None)
                .args(SHORT)
                .args(["--workload", workload]),
            0,
        );
        assert_eq!(r["status"], "PASS", "{workload}: {r:#}");
        assert_eq!(r["source"], "cuda");
        assert_eq!(r["gpus"].as_array().map(Vec::len), Some(2), "{r:#}");
        for g in r["gpus"].as_array().into_iter().flatten() {
            assert_eq!(g["wrong_results"], 0, "{workload}: {g:#}");
            assert_eq!(g["pattern_errors"], 0, "{workload}: {g:#}");
            for part in g["throughput"].as_array().into_iter().flatten() {
                assert!(part["launches"].as_u64() > Some(0), "{workload}: {part:#}");
                assert!(part["steady"].as_f64() > Some(0.0), "{workload}: {part:#}");
            }
        }
        // No NVML here: the report says why temperatures are missing instead of inventing them.
        assert!(
            r["telemetry_missing"]
                .as_str()
                .is_some_and(|s| s.contains("libnvidia-ml.so.1")),
            "{r:#}"
        );
    }
}

#[test]
fn indices_follow_pci_order_not_cuda_ordinals() {
    // The fake lists its GPUs in reverse PCI order (like CUDA's fastest-first); breaking
    // CUDA ordinal 0 must fail GPU 1, the card nvidia-smi would call 1.
    let r = report(
        bench_on_fake(Some("invalid-ptx"))
            .env("FAKE_CUDA_FAIL_ORDINAL", "0")
            .args(SHORT),
        1,
    );
    assert_eq!(gpu(&r, 0)["verdict"], "PASS", "{r:#}");
    assert_eq!(gpu(&r, 1)["verdict"], "FAIL", "{r:#}");
    let f = findings(gpu(&r, 1));
    assert!(
        f.iter()
            .any(|t| t.contains("loading tensor.ptx: CUDA_ERROR_INVALID_PTX")),
        "{f:?}"
    );
    assert!(f.iter().any(|t| t.contains("kernel did not run")), "{f:?}");
}

#[test]
fn no_device_means_the_bench_could_not_run() {
    bench_on_fake(Some("no-device"))
        .args(SHORT)
        .assert()
        .code(2)
        .stdout("")
        .stderr(contains("CUDA_ERROR_NO_DEVICE"));
}

#[test]
fn a_launch_failure_fails_the_gpu() {
    let r = report(bench_on_fake(Some("launch")).args(SHORT), 1);
    for i in [0, 1] {
        let g = gpu(&r, i);
        assert_eq!(g["verdict"], "FAIL");
        assert!(
            findings(g)
                .iter()
                .any(|t| t.contains("launching tensor: CUDA_ERROR_LAUNCH_FAILED")),
            "{g:#}"
        );
    }
}

#[test]
fn one_flipped_bit_in_one_result_fails_the_gpu() {
    for workload in ["tensor", "fp32"] {
        let r = report(
            bench_on_fake(Some("flip-bit"))
                .env("FAKE_CUDA_FAIL_ORDINAL", "1")
                .args(SHORT)
                .args(["--workload", workload]),
            1,
        );
        let bad = gpu(&r, 0);
        assert_eq!(bad["verdict"], "FAIL", "{r:#}");
        assert!(bad["wrong_results"].as_u64() > Some(0), "{bad:#}");
        assert_eq!(bad["non_finite"], 0);
        assert!(bad["first_fault_s"].as_f64().is_some(), "{bad:#}");
        assert_eq!(gpu(&r, 1)["verdict"], "PASS", "{r:#}");
        assert_eq!(gpu(&r, 1)["wrong_results"], 0);
    }
}

#[test]
fn a_nan_result_is_counted_as_such() {
    let r = report(
        bench_on_fake(Some("nan"))
            .args(SHORT)
            .args(["--workload", "fp32"]),
        1,
    );
    let g = gpu(&r, 0);
    assert!(g["non_finite"].as_u64() > Some(0), "{g:#}");
    assert!(findings(g).iter().any(|t| t.contains("NaN/Inf")), "{g:#}");
}

#[test]
fn a_corrupted_memory_word_fails_the_pattern_check() {
    let r = report(
        bench_on_fake(Some("pattern"))
            .args(SHORT)
            .args(["--workload", "memory"]),
        1,
    );
    let g = gpu(&r, 1);
    assert_eq!(g["verdict"], "FAIL");
    assert!(g["pattern_errors"].as_u64() > Some(0), "{g:#}");
    assert!(
        findings(g)
            .iter()
            .any(|t| t.contains("memory words read back wrong")),
        "{g:#}"
    );
}

#[test]
fn a_gpu_much_slower_than_its_twin_is_degraded() {
    // Ordinal 1 (index 0) takes 20x longer per launch.
    let mut slow = bench_on_fake(None);
    slow.env("FAKE_CUDA_SLOW_ORDINAL", "1").args([
        "--duration",
        "1s",
        "--json",
        "--workload",
        "tensor",
        "--tolerance",
        "50%",
    ]);
    let r = report(&mut slow, 1);
    assert_eq!(gpu(&r, 0)["verdict"], "WARN", "{r:#}");
    assert!(
        findings(gpu(&r, 0))
            .iter()
            .any(|t| t.contains("below the best")),
        "{r:#}"
    );
    assert_eq!(gpu(&r, 1)["verdict"], "PASS", "{r:#}");
    let r = report(slow.args(["--degraded", "fail"]), 1);
    assert_eq!(gpu(&r, 0)["verdict"], "FAIL", "{r:#}");
}

#[test]
fn the_tensor_workload_on_a_pre_ampere_gpu_fails_with_advice() {
    let r = report(bench_on_fake(None).env("FAKE_CUDA_CC", "7").args(SHORT), 1);
    let f = findings(gpu(&r, 0));
    assert!(
        f.iter()
            .any(|t| t.contains("sm_70") && t.contains("--workload fp32")),
        "{f:?}"
    );
}

#[test]
fn selecting_a_gpu_that_does_not_exist_is_a_usage_error() {
    bench_on_fake(None)
        .args(SHORT)
        .args(["-i", "5"])
        .assert()
        .code(2)
        .stderr(contains("no GPU with index 5 (found: 0, 1)"));
}

#[test]
fn selecting_one_gpu_benches_only_that_one() {
    let r = report(bench_on_fake(None).args(SHORT).args(["-i", "1"]), 0);
    let gpus = r["gpus"].as_array().cloned().unwrap_or_default();
    assert_eq!(gpus.len(), 1);
    assert_eq!(gpus[0]["index"], 1);
}

#[test]
fn a_driver_missing_a_symbol_is_reported_not_a_crash() {
    // cudarc panics on a missing symbol; at start that means "could not run" (exit 2) ...
    bench_on_fake(None)
        .env("LD_LIBRARY_PATH", fake_cuda_dir_without("cuDeviceGetCount"))
        .args(SHORT)
        .assert()
        .code(2)
        .stderr(contains("failed to start"))
        .stderr(contains("cuDeviceGetCount"));
    // ... and in a worker, that GPU's failure, reported without waiting out the grace time.
    let r = report(
        bench_on_fake(None)
            .env("LD_LIBRARY_PATH", fake_cuda_dir_without("cuLaunchKernel"))
            .args(SHORT),
        1,
    );
    let f = findings(gpu(&r, 0));
    assert!(
        f.iter()
            .any(|t| t.contains("the CUDA driver library failed") && t.contains("cuLaunchKernel")),
        "{f:?}"
    );
}
