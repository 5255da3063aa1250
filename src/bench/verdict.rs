//! The judgement of each GPU: PASS, WARN or FAIL, with the reasons in words.
//!
//! Pure: it reads what the bench measured ([`GpuFacts`]) and how strict to be
//! ([`Judging`]), never the clock or the GPU, so every rule has a table test below.
//! - FAIL: any wrong result or NaN, an init or launch error, a lost GPU, a kernel that never
//!   ran or did no work.
//! - degraded (WARN by default, FAIL with `--degraded fail`): hardware thermal slowdown,
//!   power brake or hardware slowdown seen; throughput more than `--tolerance` below the
//!   best GPU of the same model; throughput far below the model's known peak.

use super::Part;
use super::peaks;
use serde::Serialize;

/// PASS < WARN < FAIL.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Pass,
    Warn,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// How strict the judgement is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judging {
    /// What a degraded GPU (throttling, slow) gets: `Warn` or `Fail`.
    pub degraded: Status,
    /// Allowed shortfall against the best GPU of the same model, in percent.
    pub tolerance_pct: f64,
}

impl Default for Judging {
    fn default() -> Self {
        Judging {
            degraded: Status::Warn,
            tolerance_pct: 10.0,
        }
    }
}

/// Fraction of the known peak below which a part counts as "far below": loose on purpose,
/// since the kernels are not vendor-tuned (mma.sync reaches roughly 60-70 % of Hopper's
/// dense BF16 peak, which needs wgmma).
pub fn peak_floor(part: Part) -> f64 {
    match part {
        Part::Fp32 => 0.60,
        Part::Tensor => 0.35,
        Part::Copy => 0.50,
        Part::Pattern => 0.0,
    }
}

/// What the bench saw of one GPU.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuFacts {
    pub index: u32,
    pub model: String,
    /// Init, module load, launch or read-back errors, in words.
    pub errors: Vec<String>,
    pub lost: bool,
    /// Threads whose result differed from the host reference.
    pub wrong_results: u64,
    /// Of those, NaN or infinite.
    pub non_finite: u64,
    /// Memory words that did not read back as written.
    pub pattern_errors: u64,
    /// Steady-state throughput of each part that should have run; `None`: it never ran.
    pub throughput: Vec<(Part, Option<f64>)>,
    /// Seconds with hardware thermal slowdown, power brake, other hardware slowdown.
    pub hw_thermal_s: f64,
    pub hw_power_brake_s: f64,
    pub hw_slowdown_s: f64,
}

/// One reason behind a verdict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub status: Status,
    pub text: String,
}

/// The verdict of one GPU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub status: Status,
    pub findings: Vec<Finding>,
}

/// Judges every GPU; peers are the GPUs of the same model in `all`.
pub fn judge_all(all: &[GpuFacts], how: &Judging) -> Vec<Verdict> {
    all.iter().map(|g| judge(g, all, how)).collect()
}

fn judge(g: &GpuFacts, all: &[GpuFacts], how: &Judging) -> Verdict {
    let mut out = Vec::new();
    let mut fail = |text: String| {
        out.push(Finding {
            status: Status::Fail,
            text,
        })
    };
    for e in &g.errors {
        fail(e.clone());
    }
    if g.lost {
        fail("GPU lost during the bench (fell off the bus or stopped answering)".into());
    }
    if g.wrong_results > 0 {
        fail(format!(
            "{} results differed from the host reference ({} NaN/Inf)",
            g.wrong_results, g.non_finite
        ));
    }
    if g.pattern_errors > 0 {
        fail(format!(
            "{} memory words read back wrong in the pattern check",
            g.pattern_errors
        ));
    }
    for (part, rate) in &g.throughput {
        match rate {
            None => fail(format!("{} kernel did not run", part.name())),
            Some(r) if *r <= 0.0 => fail(format!(
                "{} kernel did no work (0 {})",
                part.name(),
                part.unit()
            )),
            Some(_) => {}
        }
    }
    let mut degraded = |text: String| {
        out.push(Finding {
            status: how.degraded,
            text,
        })
    };
    for (secs, what) in [
        (g.hw_thermal_s, "hardware thermal slowdown (hw-thermal)"),
        (g.hw_power_brake_s, "hardware power brake (hw-power-brake)"),
        (g.hw_slowdown_s, "hardware slowdown (hw-slowdown)"),
    ] {
        if secs > 0.0 {
            degraded(format!("{what} for {secs:.1} s"));
        }
    }
    let known = peaks::lookup(&g.model);
    for (part, rate) in &g.throughput {
        let Some(rate) = rate.filter(|r| *r > 0.0) else {
            continue;
        };
        let best = all
            .iter()
            .filter(|o| o.model == g.model)
            .filter_map(|o| rate_of(o, *part))
            .fold(0.0_f64, f64::max);
        let floor = best * (1.0 - how.tolerance_pct / 100.0);
        if rate < floor {
            degraded(format!(
                "{} {:.1} {} is {:.0} % below the best {} ({:.1}; tolerance {} %)",
                part.name(),
                rate,
                part.unit(),
                (1.0 - rate / best) * 100.0,
                g.model,
                best,
                how.tolerance_pct
            ));
        }
        if let Some(peak) = known.and_then(|k| part.peak(&k)) {
            let min = peak * peak_floor(*part);
            if rate < min {
                degraded(format!(
                    "{} {:.1} {} is far below the {} peak of {:.0} (expected at least {:.0})",
                    part.name(),
                    rate,
                    part.unit(),
                    known.map_or("", |k| k.label),
                    peak,
                    min
                ));
            }
        }
    }
    let status = out.iter().map(|f| f.status).max().unwrap_or(Status::Pass);
    Verdict {
        status,
        findings: out,
    }
}

fn rate_of(g: &GpuFacts, part: Part) -> Option<f64> {
    g.throughput
        .iter()
        .find(|(p, _)| *p == part)
        .and_then(|(_, r)| *r)
}

#[cfg(test)]
mod tests;
