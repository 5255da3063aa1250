//! What an Intel card's hwmon directory (`device/hwmon/hwmonN`, named `i915` or `xe`)
//! tells, in the model's units, and power from its energy counter.
//!
//! | reading | i915 | xe |
//! |---|---|---|
//! | power | `energy1_input` (µJ) between two samples | `energy1_input` (the one labelled `card`) between two samples |
//! | power cap | `power1_max` (PL1, µW) | `power1_cap` (µW) |
//! | critical power | `power1_crit` where present | `power1_crit` |
//! | temperatures | `temp1_input` (the package, unlabelled) | `tempN_input` by label (`pkg`, `vram`, `mctrl`, `pcie`, `vram_ch_N`), with `_crit` / `_emergency` |
//! | fans | `fanN_input` (RPM) | `fanN_input` of `fanN_max` (RPM) |
//!
//! Neither driver offers an instant power reading on these cards (`power1_input` is read
//! when present): power is Δenergy / Δt between this sample and the one before, so the first
//! sample's `power_w` is `warming_up`. A counter that went backwards (driver reload, wrap)
//! starts over. A cap of 0 means the card does not say (i915 `power1_rated_max` is often 0).

use crate::gpu::amd::hwmon::{Hwmon, Temperature};
use crate::gpu::amd::sysfs::{Sysfs, read_text, read_u64};
use crate::gpu::field::{Field, Missing};
use crate::gpu::model::UnixMs;
use serde::Serialize;

/// One fan.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fan {
    pub label: String,
    pub rpm: Field<u64>,
    pub max_rpm: Field<u64>,
}

/// The card's hwmon attributes, read through the shared AMD/Intel hwmon finder.
pub struct IntelHwmon<'a> {
    fs: &'a dyn Sysfs,
    hwmon: Hwmon<'a>,
}

impl<'a> IntelHwmon<'a> {
    pub fn find(fs: &'a dyn Sysfs, device_dir: &std::path::Path) -> Self {
        IntelHwmon {
            fs,
            hwmon: Hwmon::find(fs, device_dir),
        }
    }

    pub fn exists(&self) -> bool {
        self.hwmon.path("name").is_some()
    }

    fn u64(&self, name: &str) -> Field<u64> {
        match self.hwmon.path(name) {
            Some(p) => read_u64(self.fs, &p),
            None => Field::missing(Missing::NotSupported),
        }
    }

    /// A µW attribute in watts; 0 is "not said".
    pub fn watts(&self, name: &str) -> Field<f64> {
        match self.u64(name) {
            Field::Value(0) => Field::missing(Missing::NotSupported),
            other => other.map(|uw| uw as f64 / 1e6),
        }
    }

    /// The enforced cap: xe's `power1_cap`, else i915's `power1_max`.
    pub fn power_cap_w(&self) -> Field<f64> {
        let cap = self.watts("power1_cap");
        if cap.why() == Some(Missing::NotSupported) {
            return self.watts("power1_max");
        }
        cap
    }

    /// The file the cap lives in (the one [`power_cap_w`](Self::power_cap_w) read).
    pub fn power_cap_file(&self) -> Option<std::path::PathBuf> {
        ["power1_cap", "power1_max"]
            .iter()
            .filter_map(|n| self.hwmon.path(n))
            .find(|p| self.fs.read(p).is_ok())
    }

    /// An instant reading, where the driver has one.
    pub fn power_input_w(&self) -> Field<f64> {
        self.u64("power1_input").map(|uw| uw as f64 / 1e6)
    }

    /// The card's energy counter in µJ: the `energyN` labelled `card`, else `energy1`.
    pub fn energy_uj(&self) -> Field<u64> {
        let labelled = (1..=4).find(|n| {
            self.hwmon
                .path(&format!("energy{n}_label"))
                .and_then(|p| read_text(self.fs, &p).value().cloned())
                .is_some_and(|l| l == "card")
        });
        self.u64(&format!("energy{}_input", labelled.unwrap_or(1)))
    }

    /// Temperatures; an unlabelled `temp1` (i915) is the package, `pkg`.
    pub fn temperatures(&self) -> Vec<Temperature> {
        let mut temps = self.hwmon.temperatures();
        for t in &mut temps {
            if t.label == "edge"
                && self
                    .hwmon
                    .path("temp1_label")
                    .is_some_and(|p| self.fs.read(&p).is_err())
            {
                t.label = "pkg".into();
            }
        }
        temps
    }

    /// Every `fanN_input`, in number order.
    pub fn fans(&self) -> Vec<Fan> {
        (1..=8)
            .filter_map(|n| {
                let rpm = self.u64(&format!("fan{n}_input"));
                if rpm.why() == Some(Missing::NotSupported) {
                    return None;
                }
                Some(Fan {
                    label: format!("fan{n}"),
                    rpm,
                    max_rpm: self.u64(&format!("fan{n}_max")),
                })
            })
            .collect()
    }
}

/// The sensor behind the model's temperature: `pkg`, else the first.
pub fn main_sensor(temps: &[Temperature]) -> Option<&Temperature> {
    temps
        .iter()
        .find(|t| t.label == "pkg")
        .or_else(|| temps.first())
}

/// Fan speed in percent of its maximum; a fan without a maximum has no percentage.
pub fn fan_pct(fan: Option<&Fan>) -> Field<u32> {
    let Some(fan) = fan else {
        return Field::missing(Missing::NotSupported);
    };
    match (&fan.rpm, &fan.max_rpm) {
        (Field::Value(rpm), Field::Value(max)) if *max > 0 => {
            Field::Value(((*rpm as f64 * 100.0 / *max as f64).round() as u32).min(100))
        }
        (Field::Value(_), Field::Value(_)) => Field::missing(Missing::NotSupported),
        (Field::Missing { missing }, _) | (_, Field::Missing { missing }) => {
            Field::missing(*missing)
        }
    }
}

/// The last energy reading of one card.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnergyMark {
    pub at_ms: UnixMs,
    pub uj: u64,
}

/// Power in watts from the counter now and the mark before it (`None`: the first sample).
pub fn power_from_energy(before: Option<EnergyMark>, now: EnergyMark) -> Field<f64> {
    match before {
        Some(b) if now.at_ms > b.at_ms && now.uj >= b.uj => {
            let joules = (now.uj - b.uj) as f64 / 1e6;
            let seconds = (now.at_ms - b.at_ms) as f64 / 1e3;
            Field::Value(joules / seconds)
        }
        _ => Field::missing(Missing::WarmingUp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn power_is_energy_over_time_and_the_first_sample_warms_up() {
        let a = EnergyMark {
            at_ms: 1_000,
            uj: 5_000_000,
        };
        let b = EnergyMark {
            at_ms: 3_000,
            uj: 65_000_000,
        };
        assert_eq!(power_from_energy(None, a).why(), Some(Missing::WarmingUp));
        assert_eq!(power_from_energy(Some(a), b).get(), Some(30.0));
        // Backwards (driver reloaded) or no time passed: start over.
        assert_eq!(
            power_from_energy(Some(b), a).why(),
            Some(Missing::WarmingUp)
        );
        assert_eq!(
            power_from_energy(Some(b), b).why(),
            Some(Missing::WarmingUp)
        );
    }
}
