//! The bench report: per GPU throughput, faults, temperatures, power, clocks, throttling and
//! the verdict, as a table for people or JSON (`--json`) for scripts.

use super::replay::PolicyReplay;
use super::tally::Tally;
use super::verdict::{self, Finding, GpuFacts, Judging, Status};
use super::watch::{GpuWatch, ThrottleSeen, Watch};
use super::{Part, Workload};
use crate::gpu::ThrottleReason;
use serde::Serialize;
use std::fmt::Write;

/// Version of the bench report's JSON; bumped on any incompatible change.
pub const REPORT_SCHEMA: u32 = 1;

/// One benchmarked GPU as the bench loop knows it at the end.
#[derive(Clone, Debug)]
pub struct GpuRun {
    pub index: u32,
    pub name: String,
    pub tally: Tally,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub schema: u32,
    pub host: String,
    /// `cuda` or `sim`.
    pub source: String,
    pub workload: Workload,
    pub duration_s: f64,
    /// The temperature rule the time-to-threshold is measured against.
    pub threshold_c: f64,
    /// Why there are no temperatures/power numbers, when the sampling core could not run.
    pub telemetry_missing: Option<String>,
    /// The worst verdict of all GPUs.
    pub status: Status,
    pub gpus: Vec<GpuReport>,
    /// What the watchdog would have done during the burn (`--with-policy`, dry run).
    pub watchdog: Option<PolicyReplay>,
}

#[derive(Clone, Debug, Serialize)]
pub struct GpuReport {
    pub index: u32,
    pub uuid: Option<String>,
    pub name: String,
    pub pci_bus_id: Option<String>,
    pub verdict: Status,
    pub findings: Vec<Finding>,
    pub throughput: Vec<PartReport>,
    pub wrong_results: u64,
    pub non_finite: u64,
    pub pattern_errors: u64,
    /// Seconds from the start until the first fault was seen.
    pub first_fault_s: Option<f64>,
    /// Seconds from the start until the GPU was seen lost: its throughput is from before.
    pub lost_after_s: Option<f64>,
    pub errors: Vec<String>,
    pub temperature_peak_c: Option<f64>,
    pub temperature_final_c: Option<f64>,
    pub seconds_to_threshold: Option<f64>,
    pub power_avg_w: Option<f64>,
    pub power_peak_w: Option<f64>,
    pub power_limit_w: Option<f64>,
    pub power_avg_pct_of_limit: Option<f64>,
    pub power_peak_pct_of_limit: Option<f64>,
    /// Seconds until power first reached 95 % of the enforced limit.
    pub seconds_to_95pct_power: Option<f64>,
    pub clock_sm_mhz: Option<(u32, u32)>,
    pub clock_mem_mhz: Option<(u32, u32)>,
    pub utilization_avg_pct: Option<f64>,
    pub throttle: Vec<ThrottleSeen>,
}

#[derive(Clone, Debug, Serialize)]
pub struct PartReport {
    pub part: Part,
    pub unit: &'static str,
    /// Median rate after the warm-up; `None`: never ran.
    pub steady: Option<f64>,
    pub launches: usize,
}

/// What the report needs besides the GPUs.
pub struct ReportInput<'a> {
    pub host: String,
    pub source: &'a str,
    pub workload: Workload,
    pub duration_s: f64,
    pub judging: Judging,
    pub telemetry_missing: Option<String>,
}

fn round1(v: Option<f64>) -> Option<f64> {
    v.map(|x| (x * 10.0).round() / 10.0)
}

/// Judges every GPU and assembles the report.
pub fn build(input: ReportInput<'_>, runs: &[GpuRun], watch: &Watch) -> BenchReport {
    let warmup = input.duration_s * 0.2;
    let empty = GpuWatch::default();
    let facts: Vec<GpuFacts> = runs
        .iter()
        .map(|r| {
            let w = watch.gpus.get(&r.index).unwrap_or(&empty);
            GpuFacts {
                index: r.index,
                model: r.name.clone(),
                errors: r.tally.errors.clone(),
                lost: r.tally.lost || w.lost,
                wrong_results: r.tally.wrong_results,
                non_finite: r.tally.non_finite,
                pattern_errors: r.tally.pattern_errors,
                throughput: input
                    .workload
                    .parts()
                    .iter()
                    .map(|p| (*p, r.tally.steady_rate(*p, warmup)))
                    .collect(),
                hw_thermal_s: w.throttle_secs(ThrottleReason::HwThermal),
                hw_power_brake_s: w.throttle_secs(ThrottleReason::HwPowerBrake),
                hw_slowdown_s: w.throttle_secs(ThrottleReason::HwSlowdown),
            }
        })
        .collect();
    let verdicts = verdict::judge_all(&facts, &input.judging);
    let gpus: Vec<GpuReport> = runs
        .iter()
        .zip(verdicts)
        .map(|(r, v)| {
            let w = watch.gpus.get(&r.index).unwrap_or(&empty);
            GpuReport {
                index: r.index,
                uuid: (!w.uuid.is_empty()).then(|| w.uuid.clone()),
                name: r.name.clone(),
                pci_bus_id: w.pci_bus_id.clone(),
                verdict: v.status,
                findings: v.findings,
                throughput: input
                    .workload
                    .parts()
                    .iter()
                    .map(|p| PartReport {
                        part: *p,
                        unit: p.unit(),
                        steady: round1(r.tally.steady_rate(*p, warmup)),
                        launches: r.tally.launches.iter().filter(|l| l.part == *p).count(),
                    })
                    .collect(),
                wrong_results: r.tally.wrong_results,
                non_finite: r.tally.non_finite,
                pattern_errors: r.tally.pattern_errors,
                first_fault_s: r.tally.first_fault_s.map(|s| (s * 1000.0).round() / 1000.0),
                lost_after_s: if r.tally.lost || w.lost {
                    round1(w.lost_at_s.or(Some(0.0)))
                } else {
                    None
                },
                errors: r.tally.errors.clone(),
                temperature_peak_c: w.temp_peak_c,
                temperature_final_c: w.temp_final_c,
                seconds_to_threshold: round1(w.secs_to_threshold),
                power_avg_w: round1(w.power_avg_w()),
                power_peak_w: round1(w.power_peak_w),
                power_limit_w: w.power_limit_w,
                power_avg_pct_of_limit: round1(w.power_avg_pct()),
                power_peak_pct_of_limit: round1(w.power_peak_pct),
                seconds_to_95pct_power: round1(w.secs_to_95pct_power),
                clock_sm_mhz: w.sm_mhz,
                clock_mem_mhz: w.mem_mhz,
                utilization_avg_pct: round1(w.util_avg_pct()),
                throttle: w.throttle_list(),
            }
        })
        .collect();
    BenchReport {
        schema: REPORT_SCHEMA,
        host: input.host,
        source: input.source.to_string(),
        workload: input.workload,
        duration_s: input.duration_s,
        threshold_c: watch.threshold_c,
        telemetry_missing: input.telemetry_missing,
        status: gpus.iter().map(|g| g.verdict).max().unwrap_or(Status::Fail),
        gpus,
        watchdog: None,
    }
}

fn opt(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-".to_string(), |x| format!("{x:.0}{unit}"))
}

/// The report as a table for people.
pub fn table(r: &BenchReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "gpuwarden bench on {} ({}): workload {}, {:.0} s, temperature rule {:.0} °C",
        r.host, r.source, r.workload, r.duration_s, r.threshold_c
    );
    if let Some(why) = &r.telemetry_missing {
        let _ = writeln!(s, "no temperatures or power: {why}");
    }
    for g in &r.gpus {
        let _ = writeln!(s);
        let _ = writeln!(s, "GPU {}  {}  {}", g.index, g.name, g.verdict.name());
        let rates: Vec<String> = g
            .throughput
            .iter()
            .map(|p| match p.steady {
                Some(v) => format!("{} {v:.1} {}", p.part.name(), p.unit),
                None => format!("{} did not run", p.part.name()),
            })
            .collect();
        match g.lost_after_s {
            // Numbers from before the GPU was lost must not read as a healthy result.
            Some(t) if rates.is_empty() || g.throughput.iter().all(|p| p.steady.is_none()) => {
                let _ = writeln!(s, "  throughput   none: lost after {t:.1} s");
            }
            Some(t) => {
                let _ = writeln!(
                    s,
                    "  throughput   lost after {t:.1} s; before that {}",
                    rates.join(", ")
                );
            }
            None => {
                let _ = writeln!(s, "  throughput   {}", rates.join(", "));
            }
        }
        let _ = writeln!(
            s,
            "  faults       {} wrong results ({} NaN/Inf), {} memory words",
            g.wrong_results, g.non_finite, g.pattern_errors
        );
        let to_threshold = g.seconds_to_threshold.map_or_else(
            || "not reached".to_string(),
            |t| format!("reached after {t:.1} s"),
        );
        let _ = writeln!(
            s,
            "  temperature  peak {}, final {}, {:.0} °C {}",
            opt(g.temperature_peak_c, " °C"),
            opt(g.temperature_final_c, " °C"),
            r.threshold_c,
            to_threshold
        );
        let to_95 = g
            .seconds_to_95pct_power
            .map_or_else(|| "never".to_string(), |t| format!("after {t:.1} s"));
        let _ = writeln!(
            s,
            "  power        avg {} ({} of limit), peak {} ({}), limit {}, 95 % {}",
            opt(g.power_avg_w, " W"),
            opt(g.power_avg_pct_of_limit, " %"),
            opt(g.power_peak_w, " W"),
            opt(g.power_peak_pct_of_limit, " %"),
            opt(g.power_limit_w, " W"),
            to_95
        );
        let range =
            |r: Option<(u32, u32)>| r.map_or("-".to_string(), |(a, b)| format!("{a}-{b} MHz"));
        let _ = writeln!(
            s,
            "  clocks       SM {}, memory {}",
            range(g.clock_sm_mhz),
            range(g.clock_mem_mhz)
        );
        let throttle: Vec<String> = g
            .throttle
            .iter()
            .map(|t| format!("{} {:.1} s", t.reason, t.seconds))
            .collect();
        let throttle = if throttle.is_empty() {
            "none".to_string()
        } else {
            throttle.join(", ")
        };
        let _ = writeln!(s, "  throttle     {throttle}");
        for f in &g.findings {
            let _ = writeln!(s, "  {}: {}", f.status.name(), f.text);
        }
    }
    if let Some(w) = &r.watchdog {
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "watchdog (dry run of {}): {} actions",
            w.config,
            w.actions.len()
        );
        for a in &w.actions {
            let _ = writeln!(
                s,
                "  {:>6.1} s  GPU {}  {} {}: {}",
                a.at_s, a.gpu, a.severity, a.action, a.summary
            );
        }
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "result: {}", r.status.name());
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tally::Launch;

    fn run(index: u32, wrong: u64) -> GpuRun {
        let mut tally = Tally::default();
        tally.launches.push(Launch {
            part: Part::Fp32,
            end_s: 5.0,
            work: 30e12,
            secs: 0.5,
        });
        tally.wrong_results = wrong;
        GpuRun {
            index,
            name: "NVIDIA A100-SXM4-80GB".into(),
            tally,
        }
    }

    #[test]
    fn a_report_without_telemetry_says_why_and_judges_the_kernels() {
        let input = ReportInput {
            host: "node7".into(),
            source: "cuda",
            workload: Workload::Fp32,
            duration_s: 10.0,
            judging: Judging::default(),
            telemetry_missing: Some("could not load libnvidia-ml.so.1".into()),
        };
        let r = build(input, &[run(0, 0), run(1, 2)], &Watch::new(85.0));
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.gpus[0].verdict, Status::Pass);
        assert_eq!(r.gpus[0].throughput[0].steady, Some(60.0));
        assert_eq!(r.gpus[1].verdict, Status::Fail);
        let t = table(&r);
        for line in [
            "gpuwarden bench on node7 (cuda): workload fp32, 10 s, temperature rule 85 °C",
            "no temperatures or power: could not load libnvidia-ml.so.1",
            "GPU 1  NVIDIA A100-SXM4-80GB  FAIL",
            "  throughput   fp32 60.0 TFLOP/s",
            "  temperature  peak -, final -, 85 °C not reached",
            "  FAIL: 2 results differed from the host reference (0 NaN/Inf)",
            "result: FAIL",
        ] {
            assert!(t.contains(line), "missing {line:?} in\n{t}");
        }
    }
}
