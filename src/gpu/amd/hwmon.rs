//! The card's hwmon directory (`device/hwmon/hwmonN`): temperatures by label, power,
//! power cap, fan and the current clocks, converted from hwmon units (millidegrees,
//! microwatts, Hz) into the model's (°C, W, MHz).
//!
//! Temperatures are found by label (`edge`, `junction`, `mem`), not by number. Each has a
//! `_crit` (the driver starts slowing the card down) and an `_emergency` (it shuts down)
//! threshold. An unlabelled `temp1` (the `radeon` driver) is the edge sensor.

use super::sysfs::{Sysfs, read_i64, read_text, read_u64};
use crate::gpu::field::{Field, Missing};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One temperature sensor with its thresholds, in °C.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Temperature {
    pub label: String,
    pub c: Field<f64>,
    /// `tempN_crit`: where the driver throttles (the model's slowdown temperature).
    pub crit_c: Field<f64>,
    /// `tempN_emergency`: where the card shuts down (the model's shutdown temperature).
    pub emergency_c: Field<f64>,
}

/// The hwmon directory of a card, if it has one.
pub struct Hwmon<'a> {
    fs: &'a dyn Sysfs,
    dir: Option<PathBuf>,
}

impl<'a> Hwmon<'a> {
    /// Finds `device/hwmon/hwmon*` (one per card).
    pub fn find(fs: &'a dyn Sysfs, device_dir: &Path) -> Self {
        let dir = fs.list(&device_dir.join("hwmon")).ok().and_then(|entries| {
            entries.into_iter().find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("hwmon"))
            })
        });
        Hwmon { fs, dir }
    }

    /// The path of attribute `name`, when the card has a hwmon directory.
    pub fn path(&self, name: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(name))
    }

    fn u64(&self, name: &str) -> Field<u64> {
        match self.path(name) {
            Some(p) => read_u64(self.fs, &p),
            None => Field::missing(Missing::NotSupported),
        }
    }

    /// A microwatt attribute in watts.
    pub fn watts(&self, name: &str) -> Field<f64> {
        self.u64(name).map(|uw| uw as f64 / 1e6)
    }

    /// Power draw: `power1_average`, or `power1_input` where the card has no average.
    pub fn power_w(&self) -> Field<f64> {
        let average = self.watts("power1_average");
        if average.why() == Some(Missing::NotSupported) {
            return self.watts("power1_input");
        }
        average
    }

    /// Fan speed in percent of full: `pwm1` of `pwm1_max`, or `fan1_input` of `fan1_max`.
    pub fn fan_pct(&self) -> Field<u32> {
        let pct = |value: u64, max: u64| {
            (max > 0).then(|| ((value as f64 * 100.0 / max as f64).round() as u32).min(100))
        };
        match self.u64("pwm1") {
            Field::Value(pwm) => {
                let max = self.u64("pwm1_max").get().unwrap_or(255);
                pct(pwm, max).map_or(Field::missing(Missing::Error), Field::Value)
            }
            Field::Missing {
                missing: Missing::NotSupported,
            } => match (self.u64("fan1_input"), self.u64("fan1_max")) {
                (Field::Value(rpm), Field::Value(max)) => {
                    pct(rpm, max).map_or(Field::missing(Missing::Error), Field::Value)
                }
                (Field::Missing { missing }, _) | (_, Field::Missing { missing }) => {
                    Field::missing(missing)
                }
            },
            Field::Missing { missing } => Field::missing(missing),
        }
    }

    /// Fan speed in RPM.
    pub fn fan_rpm(&self) -> Field<u64> {
        self.u64("fan1_input")
    }

    /// The clock labelled `label` (`sclk`, `mclk`) in MHz, from `freqN_input` (Hz). Without
    /// labels (the `radeon` driver) `freq1` is `sclk` and `freq2` is `mclk`, as in amdgpu.
    pub fn clock_mhz(&self, label: &str) -> Field<u32> {
        let n = self.numbered("freq", label).or_else(|| {
            let n = match label {
                "sclk" => 1,
                "mclk" => 2,
                _ => return None,
            };
            let unlabelled = self
                .path(&format!("freq{n}_label"))
                .is_some_and(|p| self.fs.read(&p).is_err());
            unlabelled.then_some(n)
        });
        match n {
            Some(n) => self
                .u64(&format!("freq{n}_input"))
                .map(|hz| (hz / 1_000_000) as u32),
            None => Field::missing(Missing::NotSupported),
        }
    }

    /// Every temperature sensor, in sensor order.
    pub fn temperatures(&self) -> Vec<Temperature> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let mut numbers: Vec<u32> = self
            .fs
            .list(dir)
            .unwrap_or_default()
            .iter()
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?;
                name.strip_prefix("temp")?
                    .strip_suffix("_input")?
                    .parse()
                    .ok()
            })
            .collect();
        numbers.sort_unstable();
        numbers
            .into_iter()
            .map(|n| {
                let label = self
                    .path(&format!("temp{n}_label"))
                    .and_then(|p| read_text(self.fs, &p).value().cloned())
                    .unwrap_or_else(|| if n == 1 { "edge" } else { "temp" }.to_string());
                let c = |suffix: &str| match self.path(&format!("temp{n}_{suffix}")) {
                    Some(p) => read_i64(self.fs, &p).map(|m| m as f64 / 1000.0),
                    None => Field::missing(Missing::NotSupported),
                };
                Temperature {
                    label,
                    c: c("input"),
                    crit_c: c("crit"),
                    emergency_c: c("emergency"),
                }
            })
            .collect()
    }

    /// The N of the `{prefix}N_label` file that says `label`.
    fn numbered(&self, prefix: &str, label: &str) -> Option<u32> {
        let dir = self.dir.as_ref()?;
        self.fs.list(dir).ok()?.iter().find_map(|p| {
            let name = p.file_name()?.to_str()?;
            let n: u32 = name
                .strip_prefix(prefix)?
                .strip_suffix("_label")?
                .parse()
                .ok()?;
            (read_text(self.fs, p).value()? == label).then_some(n)
        })
    }
}

/// The sensor the model's `temperature_c` shows: `edge` (what every tool calls "the GPU
/// temperature", comparable with NVIDIA's), else `junction`, else the first one.
pub fn main_sensor(temps: &[Temperature]) -> Option<&Temperature> {
    temps
        .iter()
        .find(|t| t.label == "edge")
        .or_else(|| temps.iter().find(|t| t.label == "junction"))
        .or_else(|| temps.first())
}
