//! What the sampling core saw of each GPU while it burned: temperature, power against the
//! enforced limit, clocks, throttle reasons and utilization, folded into the report's
//! numbers as samples arrive (the samples themselves are kept by the bench loop).

use crate::gpu::{GpuSample, Snapshot, ThrottleReason};
use serde::Serialize;
use std::collections::BTreeMap;

/// Running statistics of one GPU's samples.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GpuWatch {
    pub uuid: String,
    pub name: Option<String>,
    pub pci_bus_id: Option<String>,
    pub samples: u64,
    pub lost: bool,
    /// Seconds from the start until the GPU was first seen lost.
    pub lost_at_s: Option<f64>,
    pub temp_peak_c: Option<f64>,
    pub temp_final_c: Option<f64>,
    /// Seconds from the start until the temperature first reached the threshold.
    pub secs_to_threshold: Option<f64>,
    power_sum_w: f64,
    power_n: u64,
    pub power_peak_w: Option<f64>,
    pub power_limit_w: Option<f64>,
    pct_sum: f64,
    pct_n: u64,
    pub power_peak_pct: Option<f64>,
    /// Seconds from the start until power first reached 95 % of the enforced limit.
    pub secs_to_95pct_power: Option<f64>,
    pub sm_mhz: Option<(u32, u32)>,
    pub mem_mhz: Option<(u32, u32)>,
    util_sum: f64,
    util_n: u64,
    /// Seconds each throttle reason was active (sample interval attributed to the reason
    /// seen at its end).
    pub throttle_s: BTreeMap<ThrottleReason, f64>,
    last_t_s: Option<f64>,
}

fn widen(range: &mut Option<(u32, u32)>, v: u32) {
    *range = Some(match *range {
        None => (v, v),
        Some((lo, hi)) => (lo.min(v), hi.max(v)),
    });
}

impl GpuWatch {
    fn observe(&mut self, g: &GpuSample, t_s: f64, threshold_c: f64) {
        let dt = self.last_t_s.map_or(0.0, |last| (t_s - last).max(0.0));
        self.last_t_s = Some(t_s);
        self.samples += 1;
        if g.is_lost() {
            self.lost = true;
            self.lost_at_s.get_or_insert(t_s);
            return;
        }
        if let Some(n) = g.name.value() {
            self.name = Some(n.clone());
        }
        if let Some(p) = g.pci_bus_id.value() {
            self.pci_bus_id = Some(p.clone());
        }
        if let Some(t) = g.temperature_c.get() {
            self.temp_peak_c = Some(self.temp_peak_c.map_or(t, |p| p.max(t)));
            self.temp_final_c = Some(t);
            if t >= threshold_c && self.secs_to_threshold.is_none() {
                self.secs_to_threshold = Some(t_s);
            }
        }
        if let Some(p) = g.power_w.get() {
            self.power_sum_w += p;
            self.power_n += 1;
            self.power_peak_w = Some(self.power_peak_w.map_or(p, |x| x.max(p)));
        }
        if let Some(l) = g.power_limit_w.get() {
            self.power_limit_w = Some(l);
        }
        if let Some(pct) = g.power_pct_of_limit() {
            self.pct_sum += pct;
            self.pct_n += 1;
            self.power_peak_pct = Some(self.power_peak_pct.map_or(pct, |x| x.max(pct)));
            if pct >= 95.0 && self.secs_to_95pct_power.is_none() {
                self.secs_to_95pct_power = Some(t_s);
            }
        }
        if let Some(f) = g.clock_sm_mhz.get() {
            widen(&mut self.sm_mhz, f);
        }
        if let Some(f) = g.clock_mem_mhz.get() {
            widen(&mut self.mem_mhz, f);
        }
        if let Some(u) = g.utilization_gpu_pct.get() {
            self.util_sum += f64::from(u);
            self.util_n += 1;
        }
        if let Some(reasons) = g.throttle.get() {
            for r in reasons.iter() {
                *self.throttle_s.entry(r).or_default() += dt;
            }
        }
    }

    pub fn power_avg_w(&self) -> Option<f64> {
        (self.power_n > 0).then(|| self.power_sum_w / self.power_n as f64)
    }

    pub fn power_avg_pct(&self) -> Option<f64> {
        (self.pct_n > 0).then(|| self.pct_sum / self.pct_n as f64)
    }

    pub fn util_avg_pct(&self) -> Option<f64> {
        (self.util_n > 0).then(|| self.util_sum / self.util_n as f64)
    }

    pub fn throttle_secs(&self, r: ThrottleReason) -> f64 {
        self.throttle_s.get(&r).copied().unwrap_or(0.0)
    }

    /// The throttle reasons seen, with seconds, for the report.
    pub fn throttle_list(&self) -> Vec<ThrottleSeen> {
        self.throttle_s
            .iter()
            .map(|(r, s)| ThrottleSeen {
                reason: r.name(),
                seconds: (s * 10.0).round() / 10.0,
            })
            .collect()
    }
}

/// A throttle reason and how long it was active.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ThrottleSeen {
    pub reason: &'static str,
    pub seconds: f64,
}

/// Statistics of every watched GPU, keyed by index.
#[derive(Clone, Debug, Default)]
pub struct Watch {
    pub threshold_c: f64,
    pub gpus: BTreeMap<u32, GpuWatch>,
}

impl Watch {
    pub fn new(threshold_c: f64) -> Self {
        Watch {
            threshold_c,
            gpus: BTreeMap::new(),
        }
    }

    /// Folds in one snapshot taken `t_s` seconds after the start, for the GPUs in `indices`.
    pub fn observe(&mut self, snap: &Snapshot, t_s: f64, indices: &[u32]) {
        for g in snap.gpus.iter().filter(|g| indices.contains(&g.index)) {
            let w = self.gpus.entry(g.index).or_default();
            if w.uuid.is_empty() {
                w.uuid = g.uuid.clone();
            }
            w.observe(g, t_s, self.threshold_c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::{Field, ThrottleReasons};

    fn sample(temp: f64, power: f64, sm: u32, reasons: ThrottleReasons) -> Snapshot {
        let mut s = Snapshot::new(0, "h", "test");
        s.gpus.push(GpuSample {
            index: 0,
            uuid: "GPU-a".into(),
            temperature_c: Field::Value(temp),
            power_w: Field::Value(power),
            power_limit_w: Field::Value(700.0),
            clock_sm_mhz: Field::Value(sm),
            throttle: Field::Value(reasons),
            ..GpuSample::default()
        });
        s
    }

    #[test]
    fn folds_samples_into_peaks_averages_ranges_and_durations() {
        let mut w = Watch::new(85.0);
        let hot = ThrottleReasons::NONE.with(ThrottleReason::HwThermal);
        let seq = [
            (0.0, sample(60.0, 600.0, 1980, ThrottleReasons::NONE)),
            (0.25, sample(86.0, 700.0, 1900, ThrottleReasons::NONE)),
            (0.5, sample(91.0, 650.0, 990, hot)),
            (0.75, sample(88.0, 500.0, 1200, hot)),
        ];
        for (t, s) in &seq {
            w.observe(s, *t, &[0]);
        }
        let g = &w.gpus[&0];
        assert_eq!(g.temp_peak_c, Some(91.0));
        assert_eq!(g.temp_final_c, Some(88.0));
        assert_eq!(g.secs_to_threshold, Some(0.25));
        assert_eq!(g.power_avg_w(), Some(612.5));
        assert_eq!(g.power_peak_w, Some(700.0));
        assert_eq!(g.power_peak_pct, Some(100.0));
        assert_eq!(g.secs_to_95pct_power, Some(0.25));
        assert_eq!(g.sm_mhz, Some((990, 1980)));
        assert_eq!(g.throttle_secs(ThrottleReason::HwThermal), 0.5);
        assert_eq!(g.throttle_list()[0].reason, "hw-thermal");
    }

    #[test]
    fn unselected_gpus_are_ignored_and_lost_is_remembered() {
        let mut w = Watch::new(85.0);
        let mut s = sample(50.0, 100.0, 1000, ThrottleReasons::NONE);
        s.gpus
            .push(GpuSample::lost(1, "GPU-b", crate::gpu::Vendor::Nvidia));
        w.observe(&s, 0.0, &[1]);
        assert!(!w.gpus.contains_key(&0));
        assert!(w.gpus[&1].lost);
    }
}
