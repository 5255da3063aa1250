//! Table tests of the verdict rules.

use super::*;

fn healthy(index: u32, tensor: f64) -> GpuFacts {
    GpuFacts {
        index,
        model: "NVIDIA H100 80GB HBM3".into(),
        throughput: vec![
            (Part::Tensor, Some(tensor)),
            (Part::Copy, Some(2900.0)),
            (Part::Pattern, Some(1400.0)),
        ],
        ..GpuFacts::default()
    }
}

fn one(g: GpuFacts, how: &Judging) -> Verdict {
    judge_all(&[g], how).remove(0)
}

#[test]
fn a_healthy_gpu_passes_with_no_findings() {
    let v = one(healthy(0, 650.0), &Judging::default());
    assert_eq!(v.status, Status::Pass);
    assert!(v.findings.is_empty(), "{:?}", v.findings);
}

#[test]
fn hard_failures_fail_whatever_the_degraded_setting() {
    type Case = (&'static str, fn(&mut GpuFacts), &'static str);
    let cases: [Case; 6] = [
        (
            "wrong result",
            |g| g.wrong_results = 1,
            "1 results differed",
        ),
        (
            "nan",
            |g| {
                g.wrong_results = 4;
                g.non_finite = 4
            },
            "(4 NaN/Inf)",
        ),
        ("pattern", |g| g.pattern_errors = 3, "3 memory words"),
        ("lost", |g| g.lost = true, "GPU lost"),
        (
            "launch error",
            |g| {
                g.errors
                    .push("launching burn_tensor: CUDA_ERROR_LAUNCH_FAILED".into())
            },
            "CUDA_ERROR_LAUNCH_FAILED",
        ),
        (
            "never ran",
            |g| g.throughput[0].1 = None,
            "tensor kernel did not run",
        ),
    ];
    for (name, edit, text) in cases {
        let mut g = healthy(0, 650.0);
        edit(&mut g);
        let v = one(g, &Judging::default());
        assert_eq!(v.status, Status::Fail, "{name}");
        assert!(
            v.findings.iter().any(|f| f.text.contains(text)),
            "{name}: {:?}",
            v.findings
        );
    }
}

#[test]
fn zero_throughput_is_a_failure_not_a_pass() {
    // gpu-fryer once judged a GPU doing 0 Gflop/s healthy.
    let mut g = healthy(0, 650.0);
    g.throughput[1].1 = Some(0.0);
    let v = one(g, &Judging::default());
    assert_eq!(v.status, Status::Fail);
    assert!(
        v.findings[0].text.contains("did no work"),
        "{:?}",
        v.findings
    );
}

#[test]
fn throttling_is_degraded_warn_by_default_fail_when_asked() {
    let mut g = healthy(0, 650.0);
    g.hw_thermal_s = 12.5;
    assert_eq!(one(g.clone(), &Judging::default()).status, Status::Warn);
    let strict = Judging {
        degraded: Status::Fail,
        ..Judging::default()
    };
    let v = one(g.clone(), &strict);
    assert_eq!(v.status, Status::Fail);
    assert_eq!(
        v.findings[0].text,
        "hardware thermal slowdown (hw-thermal) for 12.5 s"
    );
    g.hw_thermal_s = 0.0;
    g.hw_power_brake_s = 1.0;
    assert_eq!(one(g, &Judging::default()).status, Status::Warn);
}

#[test]
fn a_gpu_slower_than_its_peers_beyond_tolerance_is_degraded() {
    let fleet = [healthy(0, 500.0), healthy(1, 650.0), healthy(2, 600.0)];
    let v = judge_all(&fleet, &Judging::default());
    // 500 is 23 % below 650: degraded; 600 is 7.7 % below: within 10 %.
    assert_eq!(v[0].status, Status::Warn);
    assert!(
        v[0].findings[0].text.contains("23 % below the best"),
        "{:?}",
        v[0]
    );
    assert_eq!(v[1].status, Status::Pass);
    assert_eq!(v[2].status, Status::Pass);
    let loose = Judging {
        tolerance_pct: 25.0,
        ..Judging::default()
    };
    assert_eq!(judge_all(&fleet, &loose)[0].status, Status::Pass);
}

#[test]
fn peers_are_only_gpus_of_the_same_model() {
    let mut other = healthy(1, 900.0);
    other.model = "NVIDIA H200".into();
    let v = judge_all(&[healthy(0, 650.0), other], &Judging::default());
    assert_eq!(v[0].status, Status::Pass, "{:?}", v[0]);
}

#[test]
fn far_below_the_known_peak_is_degraded_even_alone() {
    // 989 * 0.35 = 346 TFLOP/s is the floor for an H100's BF16.
    let v = one(healthy(0, 300.0), &Judging::default());
    assert_eq!(v.status, Status::Warn);
    assert!(
        v.findings[0].text.contains("far below the H100 SXM peak"),
        "{:?}",
        v
    );
    // An unknown model has no peak to compare with.
    let mut g = healthy(0, 300.0);
    g.model = "Some Future GPU".into();
    assert_eq!(one(g, &Judging::default()).status, Status::Pass);
}

#[test]
fn the_worst_finding_sets_the_status() {
    let mut g = healthy(0, 300.0);
    g.wrong_results = 1;
    let v = one(g, &Judging::default());
    assert_eq!(v.status, Status::Fail);
    assert_eq!(v.findings.len(), 2);
}
