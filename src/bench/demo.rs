//! Simulated kernels for `bench --demo`: the simulated fleet burns (its thermal model heats
//! the cards) and each "kernel" yields throughput from the card's current clocks, so thermal
//! throttling and a lost card show up in the numbers and the verdicts exactly as they would
//! on real GPUs.

use super::peaks::{self, Peaks};
use super::tally::{Launch, SharedTally};
use super::{Part, Workload};
use crate::gpu::{GpuSample, Snapshot};

/// Fraction of the model's peak each simulated part reaches at full clock: what the real
/// kernels are expected to reach (mma.sync stays well below Hopper's wgmma peak).
fn efficiency(part: Part, workload: Workload) -> f64 {
    match (part, workload) {
        (Part::Fp32, _) => 0.93,
        (Part::Tensor, _) => 0.62,
        (Part::Copy, Workload::Mixed) => 0.78,
        (Part::Copy, _) => 0.90,
        (Part::Pattern, _) => 0.42,
    }
}

/// Peaks of the simulated card when its name is not in the table.
const FALLBACK: Peaks = Peaks {
    label: "simulated",
    fp32_tflops: 66.9,
    bf16_tflops: Some(989.0),
    memory_gbps: 3350.0,
};

fn ratio(now: Option<u32>, max: Option<u32>) -> f64 {
    match (now, max) {
        (Some(n), Some(m)) if m > 0 => f64::from(n) / f64::from(m),
        _ => 1.0,
    }
}

/// The rate (in the part's unit) a simulated kernel reaches on this sample.
pub fn rate(g: &GpuSample, part: Part, workload: Workload) -> f64 {
    let peaks = g
        .name
        .value()
        .and_then(|n| peaks::lookup(n))
        .unwrap_or(FALLBACK);
    let sm = ratio(g.clock_sm_mhz.get(), g.clock_sm_max_mhz.get());
    let mem = ratio(g.clock_mem_mhz.get(), g.clock_mem_max_mhz.get());
    let (peak, clock) = match part {
        Part::Fp32 | Part::Tensor => (part.peak(&peaks).unwrap_or(0.0), sm),
        Part::Copy | Part::Pattern => (peaks.memory_gbps, mem),
    };
    peak * efficiency(part, workload) * clock
}

/// Adds `dt_s` seconds of simulated work, ending at `t_s`, to each GPU's tally.
pub fn advance(
    snap: &Snapshot,
    t_s: f64,
    dt_s: f64,
    workload: Workload,
    gpus: &[(u32, SharedTally)],
) {
    if dt_s <= 0.0 {
        return;
    }
    for (index, tally) in gpus {
        let mut t = tally.lock();
        if t.finished {
            continue;
        }
        let Some(g) = snap.gpus.iter().find(|g| g.index == *index) else {
            continue;
        };
        if g.is_lost() {
            // The verdict says it once ("GPU lost during the bench").
            t.lost = true;
            t.finished = true;
            continue;
        }
        for part in workload.parts() {
            let r = rate(g, *part, workload);
            t.launches.push(Launch {
                part: *part,
                end_s: t_s,
                work: r * part.scale() * dt_s,
                secs: dt_s,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Field;

    fn h100(sm: u32) -> GpuSample {
        GpuSample {
            name: Field::Value("NVIDIA H100 80GB HBM3".into()),
            clock_sm_mhz: Field::Value(sm),
            clock_sm_max_mhz: Field::Value(1980),
            clock_mem_mhz: Field::Value(2619),
            clock_mem_max_mhz: Field::Value(2619),
            ..GpuSample::default()
        }
    }

    #[test]
    fn simulated_throughput_follows_the_sm_clock() {
        let full = rate(&h100(1980), Part::Tensor, Workload::Tensor);
        let half = rate(&h100(990), Part::Tensor, Workload::Tensor);
        assert!((full - 989.0 * 0.62).abs() < 1e-9, "{full}");
        assert!((half - full / 2.0).abs() < 1e-9);
        let copy = rate(&h100(990), Part::Copy, Workload::Memory);
        assert!((copy - 3350.0 * 0.90).abs() < 1e-9, "{copy}");
    }
}
