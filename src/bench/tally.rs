//! What the kernels of one GPU did: every timed launch, every wrong result, every error.
//!
//! A tally is shared between the GPU's worker (which writes) and the bench loop (which reads
//! it for progress and the report), behind a mutex that is held only to push or copy.

use super::Part;
use std::sync::{Arc, Mutex, MutexGuard};

/// One timed kernel launch (or simulated slice of work).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Launch {
    pub part: Part,
    /// Seconds since the bench started, when the launch finished.
    pub end_s: f64,
    /// FLOP or bytes done.
    pub work: f64,
    pub secs: f64,
}

impl Launch {
    /// Rate in the part's reporting unit (TFLOP/s, GB/s).
    pub fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.work / self.secs / self.part.scale()
        } else {
            0.0
        }
    }
}

/// Everything a worker records about its GPU.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub launches: Vec<Launch>,
    pub wrong_results: u64,
    pub non_finite: u64,
    pub pattern_errors: u64,
    pub errors: Vec<String>,
    pub lost: bool,
    /// The worker has stopped (finished, or gave up after an error).
    pub finished: bool,
    /// Seconds since start when the first fault was seen.
    pub first_fault_s: Option<f64>,
}

impl Tally {
    /// Steady-state rate of `part`: the median launch after the warm-up (`warmup_s`), or of
    /// all launches when none finished after it. `None` when the part never ran.
    pub fn steady_rate(&self, part: Part, warmup_s: f64) -> Option<f64> {
        let all: Vec<&Launch> = self.launches.iter().filter(|l| l.part == part).collect();
        if all.is_empty() {
            return None;
        }
        let steady: Vec<&Launch> = all
            .iter()
            .copied()
            .filter(|l| l.end_s >= warmup_s)
            .collect();
        let pick = if steady.is_empty() { all } else { steady };
        let mut rates: Vec<f64> = pick.iter().map(|l| l.rate()).collect();
        rates.sort_by(f64::total_cmp);
        Some(rates[rates.len() / 2])
    }

    /// The latest rate of `part` (for the progress line).
    pub fn last_rate(&self, part: Part) -> Option<f64> {
        self.launches
            .iter()
            .rev()
            .find(|l| l.part == part)
            .map(Launch::rate)
    }

    pub fn faults(&self) -> u64 {
        self.wrong_results + self.pattern_errors
    }

    pub fn note_fault(&mut self, at_s: f64) {
        self.first_fault_s.get_or_insert(at_s);
    }
}

/// A tally shared by a worker and the bench loop.
#[derive(Clone, Debug, Default)]
pub struct SharedTally(Arc<Mutex<Tally>>);

impl SharedTally {
    pub fn lock(&self) -> MutexGuard<'_, Tally> {
        // A worker that panicked mid-push leaves plain numbers behind; keep reading them.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn snapshot(&self) -> Tally {
        self.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn launch(part: Part, end_s: f64, tflops: f64) -> Launch {
        Launch {
            part,
            end_s,
            work: tflops * 1e12 * 0.5,
            secs: 0.5,
        }
    }

    #[test]
    fn steady_rate_is_the_median_after_warmup() {
        let mut t = Tally::default();
        for (end, r) in [
            (1.0, 10.0),
            (2.0, 100.0),
            (6.0, 600.0),
            (7.0, 650.0),
            (8.0, 640.0),
        ] {
            t.launches.push(launch(Part::Tensor, end, r));
        }
        t.launches.push(launch(Part::Copy, 7.0, 1.0));
        let r = t.steady_rate(Part::Tensor, 5.0).unwrap_or_default();
        assert!((r - 640.0).abs() < 1e-6, "{r}");
        assert_eq!(t.steady_rate(Part::Fp32, 5.0), None);
        // Nothing after warm-up: all launches count; bytes are reported in GB/s.
        let r = t.steady_rate(Part::Copy, 9.0).unwrap_or_default();
        assert!((r - 1000.0).abs() < 1e-6, "{r}");
    }
}
