//! A driver that stops answering: the sampler thread is stuck inside NVML, so the watch loop
//! looks at it from outside.
//!
//! Once a sample has run past `[watchdog] driver_timeout` the driver is *not answering*: one
//! `driver_not_answering` event, `gpuwarden_driver_answering 0` and a `driver-not-answering`
//! alert for the host. The loop itself goes on — heartbeat (`WATCHDOG=1`), the HTTP endpoint,
//! restarts in flight, alert re-sends — and when the sample returns, `driver_answering` and
//! the alert resolves.

use crate::gpu::sampler::SampleWatch;
use std::time::Duration;

/// What changed since the last look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The sample in progress has run this long, past the bound.
    NotAnswering(Duration),
    /// The driver answered again.
    Answering,
}

/// The loop's view of the sampler thread.
pub struct DriverWatch {
    watch: SampleWatch,
    bound: Duration,
    hung: bool,
}

impl DriverWatch {
    pub fn new(watch: SampleWatch, bound: Duration) -> Self {
        DriverWatch {
            watch,
            bound,
            hung: false,
        }
    }

    /// A reload may change `driver_timeout`.
    pub fn set_bound(&mut self, bound: Duration) {
        self.bound = bound;
    }

    pub fn answering(&self) -> bool {
        !self.hung
    }

    /// Looks once; reports a change of state, never the same state twice.
    pub fn check(&mut self) -> Option<Change> {
        let stuck = self.watch.busy_for().filter(|d| *d >= self.bound);
        match (self.hung, stuck) {
            (false, Some(d)) => {
                self.hung = true;
                Some(Change::NotAnswering(d))
            }
            (true, None) => {
                self.hung = false;
                Some(Change::Answering)
            }
            _ => None,
        }
    }
}
