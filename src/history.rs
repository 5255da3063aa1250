//! Recent history of the charted metrics, per GPU, in bounded ring buffers.
//!
//! The dashboard's charts read from here; snapshots write to it. Each GPU (keyed by UUID,
//! never by index or name) keeps one slot per snapshot for utilization, memory used %,
//! temperature and power. A missing value — a field the driver did not give, a lost GPU, a
//! GPU absent from a snapshot, a failed sample — is stored as a gap (`None`), never as 0, so
//! a chart shows a hole rather than a fake drop to zero. Memory is bounded: every series holds
//! at most `capacity` slots, and a GPU unseen for a whole window is forgotten.

use crate::gpu::{GpuSample, Snapshot, UnixMs};
use std::collections::{HashMap, VecDeque};

/// How many samples a series keeps by default: five minutes at the default 1 s interval.
pub const DEFAULT_CAPACITY: usize = 300;

/// The metrics the dashboard charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// GPU utilization, percent.
    Utilization,
    /// Memory used, percent of total.
    MemoryUsed,
    /// Temperature, °C.
    Temperature,
    /// Power draw, W.
    Power,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::Utilization,
        Metric::MemoryUsed,
        Metric::Temperature,
        Metric::Power,
    ];

    /// This metric's value in a sample, or `None` when the sample does not have it.
    pub fn of(self, gpu: &GpuSample) -> Option<f64> {
        match self {
            Metric::Utilization => gpu.utilization_gpu_pct.get().map(f64::from),
            Metric::MemoryUsed => gpu.memory_used_pct(),
            Metric::Temperature => gpu.temperature_c.get(),
            Metric::Power => gpu.power_w.get(),
        }
    }
}

/// A fixed-capacity series where a slot is a value or a gap.
#[derive(Clone, Debug, Default)]
pub struct Series {
    capacity: usize,
    slots: VecDeque<Option<f32>>,
}

impl Series {
    pub fn new(capacity: usize) -> Self {
        Series {
            capacity: capacity.max(1),
            slots: VecDeque::with_capacity(capacity.max(1)),
        }
    }

    /// Appends a value (or a gap), dropping the oldest slot when full.
    pub fn push(&mut self, value: Option<f64>) {
        if self.slots.len() == self.capacity {
            self.slots.pop_front();
        }
        self.slots
            .push_back(value.filter(|v| v.is_finite()).map(|v| v as f32));
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Slots from oldest to newest.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Option<f64>> + ExactSizeIterator + '_ {
        self.slots.iter().map(|v| v.map(f64::from))
    }

    /// The newest value, if the newest slot is not a gap.
    pub fn last(&self) -> Option<f64> {
        self.slots.back().copied().flatten().map(f64::from)
    }

    /// Largest value in the series (gaps ignored).
    pub fn max(&self) -> Option<f64> {
        self.iter().flatten().reduce(f64::max)
    }

    /// Smallest value in the series (gaps ignored).
    pub fn min(&self) -> Option<f64> {
        self.iter().flatten().reduce(f64::min)
    }

    /// Contiguous runs of values as `(slots_ago, value)` points, newest at 0; each run is one
    /// line on a chart, and the breaks between runs are the gaps.
    pub fn runs(&self) -> Vec<Vec<(f64, f64)>> {
        let newest = self.slots.len().saturating_sub(1);
        let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
        let mut current: Vec<(f64, f64)> = Vec::new();
        for (i, slot) in self.iter().enumerate() {
            match slot {
                Some(v) => current.push((-((newest - i) as f64), v)),
                None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
                None => {}
            }
        }
        if !current.is_empty() {
            runs.push(current);
        }
        runs
    }
}

/// The history of one GPU.
#[derive(Clone, Debug)]
pub struct GpuHistory {
    pub index: u32,
    series: [Series; 4],
    /// Consecutive snapshots this GPU was absent from.
    absent: usize,
}

impl GpuHistory {
    fn new(index: u32, capacity: usize, already: usize) -> Self {
        let mut h = GpuHistory {
            index,
            series: std::array::from_fn(|_| Series::new(capacity)),
            absent: 0,
        };
        // A GPU that appears later starts with gaps, so all series stay aligned in time.
        for _ in 0..already.min(capacity) {
            h.push_gap();
        }
        h
    }

    pub fn series(&self, metric: Metric) -> &Series {
        &self.series[metric as usize]
    }

    fn push(&mut self, gpu: &GpuSample) {
        for m in Metric::ALL {
            self.series[m as usize].push(m.of(gpu));
        }
    }

    fn push_gap(&mut self) {
        for s in &mut self.series {
            s.push(None);
        }
    }
}

/// Per-GPU histories, one slot per snapshot (or per failed sample).
#[derive(Clone, Debug)]
pub struct History {
    capacity: usize,
    gpus: HashMap<String, GpuHistory>,
    /// Slots written so far, capped at `capacity` (the aligned length of every series).
    filled: usize,
    last_at_ms: Option<UnixMs>,
}

impl Default for History {
    fn default() -> Self {
        History::new(DEFAULT_CAPACITY)
    }
}

impl History {
    pub fn new(capacity: usize) -> Self {
        History {
            capacity: capacity.max(1),
            gpus: HashMap::new(),
            filled: 0,
            last_at_ms: None,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Time of the newest snapshot recorded.
    pub fn last_at_ms(&self) -> Option<UnixMs> {
        self.last_at_ms
    }

    /// Records one snapshot: a slot for every GPU in it, a gap for every known GPU missing.
    pub fn record(&mut self, snapshot: &Snapshot) {
        for gpu in &snapshot.gpus {
            match self.gpus.get_mut(&gpu.uuid) {
                Some(h) => {
                    h.index = gpu.index;
                    h.absent = 0;
                    h.push(gpu);
                }
                None => {
                    let mut h = GpuHistory::new(gpu.index, self.capacity, self.filled);
                    h.push(gpu);
                    self.gpus.insert(gpu.uuid.clone(), h);
                }
            }
        }
        for (uuid, h) in &mut self.gpus {
            if snapshot.gpu(uuid).is_none() {
                h.absent += 1;
                h.push_gap();
            }
        }
        self.forget_departed();
        self.filled = (self.filled + 1).min(self.capacity);
        self.last_at_ms = Some(snapshot.at_ms);
    }

    /// Records a failed sample: a gap for every known GPU.
    pub fn record_gap(&mut self) {
        for h in self.gpus.values_mut() {
            h.absent += 1;
            h.push_gap();
        }
        self.forget_departed();
        self.filled = (self.filled + 1).min(self.capacity);
    }

    fn forget_departed(&mut self) {
        let capacity = self.capacity;
        self.gpus.retain(|_, h| h.absent < capacity);
    }

    pub fn gpu(&self, uuid: &str) -> Option<&GpuHistory> {
        self.gpus.get(uuid)
    }

    /// Number of GPUs with a history.
    pub fn len(&self) -> usize {
        self.gpus.len()
    }

    pub fn is_empty(&self) -> bool {
        self.gpus.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{Field, Missing};

    fn gpu(uuid: &str, util: Option<u32>) -> GpuSample {
        GpuSample {
            uuid: uuid.into(),
            utilization_gpu_pct: match util {
                Some(u) => Field::Value(u),
                None => Field::missing(Missing::NotSupported),
            },
            ..GpuSample::default()
        }
    }

    fn snap(at: u64, gpus: Vec<GpuSample>) -> Snapshot {
        let mut s = Snapshot::new(at, "h", "test");
        s.gpus = gpus;
        s
    }

    #[test]
    fn series_is_bounded_and_keeps_the_newest() {
        let mut s = Series::new(3);
        for v in 0..10 {
            s.push(Some(f64::from(v)));
        }
        assert_eq!(s.len(), 3);
        assert_eq!(
            s.iter().collect::<Vec<_>>(),
            [Some(7.0), Some(8.0), Some(9.0)]
        );
        assert_eq!(
            (s.min(), s.max(), s.last()),
            (Some(7.0), Some(9.0), Some(9.0))
        );
    }

    #[test]
    fn gaps_split_runs_and_are_not_zero() {
        let mut s = Series::new(10);
        for v in [Some(1.0), Some(2.0), None, None, Some(5.0)] {
            s.push(v);
        }
        s.push(Some(f64::NAN));
        assert_eq!(s.last(), None, "NaN is a gap");
        assert_eq!(s.min(), Some(1.0), "gaps do not pull the minimum to 0");
        assert_eq!(
            s.runs(),
            vec![vec![(-5.0, 1.0), (-4.0, 2.0)], vec![(-1.0, 5.0)]]
        );
    }

    #[test]
    fn missing_fields_absent_gpus_and_failed_samples_are_gaps() {
        let mut h = History::new(8);
        h.record(&snap(1000, vec![gpu("A", Some(50)), gpu("B", Some(10))]));
        h.record(&snap(2000, vec![gpu("A", None), gpu("B", Some(20))]));
        h.record_gap();
        h.record(&snap(4000, vec![gpu("A", Some(70))]));
        h.record(&snap(5000, vec![gpu("A", Some(80)), gpu("C", Some(1))]));

        let util = |uuid| {
            h.gpu(uuid)
                .unwrap()
                .series(Metric::Utilization)
                .iter()
                .collect::<Vec<_>>()
        };
        assert_eq!(util("A"), [Some(50.0), None, None, Some(70.0), Some(80.0)]);
        assert_eq!(util("B"), [Some(10.0), Some(20.0), None, None, None]);
        // A GPU that shows up late is aligned with the others by leading gaps.
        assert_eq!(util("C"), [None, None, None, None, Some(1.0)]);
        assert_eq!(h.last_at_ms(), Some(5000));
    }

    #[test]
    fn a_gpu_gone_for_a_whole_window_is_forgotten() {
        let mut h = History::new(4);
        h.record(&snap(0, vec![gpu("A", Some(1)), gpu("B", Some(1))]));
        for t in 1..=4 {
            h.record(&snap(t, vec![gpu("A", Some(1))]));
        }
        assert!(h.gpu("B").is_none());
        assert_eq!(h.len(), 1);
    }
}
