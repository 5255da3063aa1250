//! How often a source reads again what a person cannot see change from one sample to the
//! next. The watchdog and every other command read everything on every sample (the default);
//! the dashboard asks for [`Cadence::DASHBOARD`].

use std::time::Duration;

/// Minimum times between two reads of the fields that may wait; zero reads them on every
/// sample.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cadence {
    /// The slow fields: health counters, the enforced power limit, MIG mode, the fan, the
    /// memory clock and the PCIe link (see `NvmlSource::with_cadence`).
    pub slow: Duration,
    /// The process table: the driver's process lists, each process's share of the GPU and
    /// its host CPU % and RSS. CPU % from clock ticks (10 ms each) over a 100 ms span moves
    /// in 10 % steps, and a table re-sorted every sample cannot be read.
    pub processes: Duration,
}

impl Cadence {
    /// Everything on every sample.
    pub const EVERY_SAMPLE: Cadence = Cadence {
        slow: Duration::ZERO,
        processes: Duration::ZERO,
    };

    /// The dashboard's: health counters every few seconds, the process table every 2 s like
    /// the header's host CPU and RAM; GPU utilization, memory, temperature, power and clocks
    /// on every sample.
    pub const DASHBOARD: Cadence = Cadence {
        slow: Duration::from_secs(5),
        // A little under 2 s, so a 1 s interval reads it every other sample, not every third.
        processes: Duration::from_millis(1950),
    };
}
