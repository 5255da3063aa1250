//! Leak detection: how steadily a GPU's used memory (and each unit's share of it) grew over a
//! rule's window (`within`), for `metric = "memory_growth_pct"` rules.
//!
//! A full card is normal for an inference server (vLLM preallocates ~90 % of the memory at
//! start); a card that keeps filling is not. So the reading is not the level but the trend,
//! built to tell a leak from what only looks like growth:
//!
//! - History is bounded: the window is cut into [`BUCKETS`] buckets and each keeps only its
//!   *floor* (lowest reading), so a series holds at most [`BUCKETS`] floors (the current
//!   bucket's included) whatever the sampling interval. Floors ignore spikes and garbage-collection sawtooth peaks: a leak
//!   raises the floor, a busy allocator does not.
//! - The window is cut into [`SEGMENTS`] equal parts (eighths) and the reading is the growth
//!   of the *slowest* part, times [`SEGMENTS`]: the growth of the whole window at its slowest
//!   pace. A steady leak grows in every part and reads its full growth; a jump (a KV cache
//!   preallocated) or a ramp shorter than half the window (weights loading) does not grow in
//!   every part and reads 0. Any pattern that repeats within the window (a sawtooth) cannot
//!   grow in every part either; a leak under a sawtooth is seen when the sawtooth is faster
//!   than a part (each part's floor is then a low point of the sawtooth).
//! - A reading below every floor of the window (a restart, a freed cache) starts the trend
//!   afresh, and a trend younger than the window reads 0: a restarted server gets a whole
//!   window before it is judged again.
//! - A missing reading is a gap, never a zero: it records nothing; a part of the window
//!   without any reading makes the trend unknown (the rule neither fires nor clears).
//!
//! All of it lives in [`GpuState`](super::state::GpuState) (serde-persisted); nothing here
//! reads a clock.

use crate::gpu::{GpuSample, UnixMs};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Buckets per window: each series keeps at most this many floors, the current one included.
pub const BUCKETS: u64 = 32;
/// Parts of the window that must all have grown.
pub const SEGMENTS: u64 = 8;
const PER_SEGMENT: u64 = BUCKETS / SEGMENTS;

/// One rule's memory history on one GPU.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Growth {
    /// Bucket width (window / [`BUCKETS`]); a history kept under another width (the window
    /// changed on a reload) starts afresh.
    pub bucket_ms: u64,
    /// The GPU's used memory.
    pub gpu: Series,
    /// Each unit's share (its processes' memory on this GPU), by unit name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub units: BTreeMap<String, Series>,
}

/// Floors of one memory series.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Bucket of the first reading since the trend last started afresh.
    pub since: u64,
    /// `(bucket, lowest reading in bytes)`, oldest first, within the last window.
    pub floors: Vec<(u64, u64)>,
}

/// What a series grew by over the window, at its slowest part's pace (never below 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grew {
    pub bytes: u64,
    /// Percent of the GPU's total memory.
    pub pct: f64,
}

/// The trend of one sample: the GPU's, and each unit's that could be judged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trend {
    pub gpu: Option<Grew>,
    pub units: BTreeMap<String, Grew>,
}

impl Trend {
    /// Units whose own growth is past `threshold`.
    pub fn culprits(&self, threshold: f64) -> BTreeSet<String> {
        self.units
            .iter()
            .filter(|(_, g)| g.pct > threshold)
            .map(|(u, _)| u.clone())
            .collect()
    }

    /// The growth to report: the fastest unit past `threshold` (named), else the largest.
    pub fn leader(&self, threshold: f64) -> Option<(Option<&str>, Grew)> {
        let unit = self
            .units
            .iter()
            .filter(|(_, g)| g.pct > threshold)
            .max_by(|a, b| a.1.pct.total_cmp(&b.1.pct))
            .map(|(u, g)| (Some(u.as_str()), *g));
        let gpu = self.gpu.map(|g| (None, g));
        let any = self
            .units
            .iter()
            .map(|(u, g)| (Some(u.as_str()), *g))
            .chain(gpu)
            .max_by(|a, b| a.1.pct.total_cmp(&b.1.pct));
        unit.or(any)
    }

    /// "vllm@0.service grew 12.4 GiB (15.5 %) in 30m", "memory grew 0.0 GiB (0.0 %) in 30m".
    pub fn words(&self, threshold: f64, window: Duration) -> String {
        let Some((who, g)) = self.leader(threshold) else {
            return "memory growth unknown".into();
        };
        format!(
            "{} grew {:.1} GiB ({:.1} %) in {}",
            who.unwrap_or("memory"),
            g.bytes as f64 / (1u64 << 30) as f64,
            g.pct,
            humantime::format_duration(window)
        )
    }
}

impl Series {
    /// Records `bytes` read in bucket `k`.
    fn record(&mut self, k: u64, bytes: u64) {
        let back_in_time = self.floors.last().is_some_and(|f| k < f.0);
        let oldest = k.saturating_sub(BUCKETS - 1);
        self.floors.retain(|f| f.0 >= oldest);
        let lowest = self.floors.iter().map(|f| f.1).min();
        if back_in_time || lowest.is_none_or(|low| bytes < low) {
            // A drop below every floor of the window (or a clock that went back, or nothing
            // read for a whole window): the trend starts again from here.
            self.since = k;
            self.floors.clear();
        }
        match self.floors.last_mut() {
            Some(last) if last.0 == k => last.1 = last.1.min(bytes),
            _ => self.floors.push((k, bytes)),
        }
    }

    /// Growth over the window ending in bucket `k` (its first bucket `k - BUCKETS + 1`): 0
    /// while the trend did not start before the window did, `None` when a part of the window
    /// has no reading.
    fn grew(&self, k: u64) -> Option<i64> {
        let first = k.saturating_sub(BUCKETS - 1);
        if self.since >= first {
            return Some(0);
        }
        // Each segment's lowest floor, in one pass over the window's floors (a replay calls
        // this for every GPU, unit and leak rule of every sample).
        let mut lowest = [None::<u64>; SEGMENTS as usize];
        for &(bucket, bytes) in &self.floors {
            let Some(offset) = bucket.checked_sub(first) else {
                continue;
            };
            if let Some(floor) = lowest.get_mut((offset / PER_SEGMENT) as usize) {
                *floor = Some(floor.map_or(bytes, |f| f.min(bytes)));
            }
        }
        let mut floors = [0u64; SEGMENTS as usize];
        for (floor, low) in floors.iter_mut().zip(lowest) {
            *floor = low?;
        }
        let slowest = floors.windows(2).map(|w| w[1] as i64 - w[0] as i64).min()?;
        Some(slowest.saturating_mul(SEGMENTS as i64))
    }

    fn last_bucket(&self) -> Option<u64> {
        self.floors.last().map(|f| f.0)
    }
}

/// Memory held by `unit`'s processes on this GPU, or `None` when any of them does not say.
fn unit_bytes(sample: &GpuSample) -> BTreeMap<&str, Option<u64>> {
    let mut out: BTreeMap<&str, Option<u64>> = BTreeMap::new();
    let Some(procs) = sample.processes.value() else {
        return out;
    };
    for p in procs {
        let Some(unit) = &p.unit else { continue };
        let sum = out.entry(unit.as_str()).or_insert(Some(0));
        *sum = sum.zip(p.used_memory_bytes).map(|(a, b)| a + b);
    }
    out
}

impl Growth {
    /// The sum of every series' newest bucket: changes when any of them starts a new one.
    pub fn mark(&self) -> u64 {
        self.units
            .values()
            .chain([&self.gpu])
            .filter_map(Series::last_bucket)
            .fold(0, u64::wrapping_add)
    }

    /// Records `sample` at `now_ms` and returns the trend over `window`.
    pub fn observe(&mut self, window: Duration, sample: &GpuSample, now_ms: UnixMs) -> Trend {
        let bucket_ms = (window.as_millis() as u64 / BUCKETS).max(1);
        if self.bucket_ms != bucket_ms {
            *self = Growth {
                bucket_ms,
                ..Growth::default()
            };
        }
        let k = now_ms / bucket_ms;
        let total = sample.memory_total_bytes.get().filter(|t| *t > 0);
        let judge = |s: &Series| -> Option<Grew> {
            let total = total? as f64;
            let bytes = s.grew(k)?.max(0) as u64;
            Some(Grew {
                bytes,
                pct: bytes as f64 * 100.0 / total,
            })
        };
        let mut trend = Trend::default();
        if let Some(used) = sample.memory_used_bytes.get() {
            self.gpu.record(k, used);
            trend.gpu = judge(&self.gpu);
        }
        for (unit, bytes) in unit_bytes(sample) {
            let Some(bytes) = bytes else { continue };
            if !self.units.contains_key(unit) {
                self.units.insert(unit.to_string(), Series::default());
            }
            let Some(s) = self.units.get_mut(unit) else {
                continue;
            };
            s.record(k, bytes);
            if let Some(g) = judge(s) {
                trend.units.insert(unit.to_string(), g);
            }
        }
        // A unit not seen for a whole window is gone; so is its history.
        let oldest = k.saturating_sub(BUCKETS - 1);
        self.units
            .retain(|_, s| s.last_bucket().is_some_and(|b| b >= oldest));
        trend
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grew(points: &[(u64, u64)], k: u64) -> Option<i64> {
        let mut s = Series::default();
        for (at, v) in points {
            s.record(*at, *v);
        }
        s.grew(k)
    }

    #[test]
    fn a_steady_slope_reads_its_growth_over_the_window() {
        let slope: Vec<(u64, u64)> = (0..=40).map(|k| (k, 100 + 10 * k)).collect();
        // 10 per bucket, 32 buckets
        assert_eq!(grew(&slope, 40), Some(320));
    }

    #[test]
    fn a_jump_then_flat_reads_zero() {
        let jump: Vec<(u64, u64)> = (0..=40)
            .map(|k| (k, if k < 20 { 0 } else { 900 }))
            .collect();
        assert_eq!(grew(&jump, 40), Some(0));
    }

    #[test]
    fn a_drop_below_every_floor_starts_the_trend_afresh() {
        let mut points: Vec<(u64, u64)> = (0..=40).map(|k| (k, 100 + 10 * k)).collect();
        points.push((41, 5));
        assert_eq!(grew(&points, 41), Some(0));
        let mut s = Series::default();
        for (at, v) in &points {
            s.record(*at, *v);
        }
        assert_eq!((s.since, s.floors.len()), (41, 1));
    }

    #[test]
    fn a_part_of_the_window_without_readings_is_unknown() {
        let gappy: Vec<(u64, u64)> = (0..=40)
            .filter(|k| !(24..34).contains(k))
            .map(|k| (k, 100 + 10 * k))
            .collect();
        assert_eq!(grew(&gappy, 40), None);
    }

    #[test]
    fn a_new_window_starts_the_history_afresh() {
        let mut sample = GpuSample {
            memory_total_bytes: crate::gpu::Field::Value(1000),
            ..GpuSample::default()
        };
        let mut g = Growth::default();
        for t in 0..100 {
            sample.memory_used_bytes = crate::gpu::Field::Value(100 + t);
            g.observe(Duration::from_secs(320), &sample, t * 1000);
        }
        assert_eq!(g.bucket_ms, 10_000);
        assert_eq!(g.gpu.floors.len(), 10);
        g.observe(Duration::from_secs(640), &sample, 100_000);
        assert_eq!((g.bucket_ms, g.gpu.floors.len()), (20_000, 1));
    }

    #[test]
    fn history_stays_within_one_window() {
        let long: Vec<(u64, u64)> = (0..=1000).map(|k| (k, 100 + k)).collect();
        let mut s = Series::default();
        for (at, v) in &long {
            s.record(*at, *v);
        }
        assert_eq!(s.floors.len() as u64, BUCKETS);
    }
}
