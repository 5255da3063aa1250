//! Clocks-event (throttle) reasons: NVML's bitmask decoded into names users know.
//!
//! The bit values are NVML's `nvmlClocksEventReason*` constants; AMD and trace sources map
//! their own signals onto the same set so rules and the dashboard speak one language.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// One reason the clocks are held below their maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ThrottleReason {
    GpuIdle,
    AppClocks,
    SwPowerCap,
    HwSlowdown,
    SyncBoost,
    SwThermal,
    HwThermal,
    HwPowerBrake,
    DisplayClocks,
}

impl ThrottleReason {
    pub const ALL: [ThrottleReason; 9] = [
        ThrottleReason::GpuIdle,
        ThrottleReason::AppClocks,
        ThrottleReason::SwPowerCap,
        ThrottleReason::HwSlowdown,
        ThrottleReason::SyncBoost,
        ThrottleReason::SwThermal,
        ThrottleReason::HwThermal,
        ThrottleReason::HwPowerBrake,
        ThrottleReason::DisplayClocks,
    ];

    /// NVML's bit for this reason.
    pub const fn bit(self) -> u64 {
        match self {
            ThrottleReason::GpuIdle => 0x1,
            ThrottleReason::AppClocks => 0x2,
            ThrottleReason::SwPowerCap => 0x4,
            ThrottleReason::HwSlowdown => 0x8,
            ThrottleReason::SyncBoost => 0x10,
            ThrottleReason::SwThermal => 0x20,
            ThrottleReason::HwThermal => 0x40,
            ThrottleReason::HwPowerBrake => 0x80,
            ThrottleReason::DisplayClocks => 0x100,
        }
    }

    /// The name used in JSON, config files, metrics labels and the dashboard.
    pub const fn name(self) -> &'static str {
        match self {
            ThrottleReason::GpuIdle => "gpu-idle",
            ThrottleReason::AppClocks => "app-clocks",
            ThrottleReason::SwPowerCap => "sw-power-cap",
            ThrottleReason::HwSlowdown => "hw-slowdown",
            ThrottleReason::SyncBoost => "sync-boost",
            ThrottleReason::SwThermal => "sw-thermal",
            ThrottleReason::HwThermal => "hw-thermal",
            ThrottleReason::HwPowerBrake => "hw-power-brake",
            ThrottleReason::DisplayClocks => "display-clocks",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// Reasons that mean the card is being slowed down against its will (worth a color).
    pub const fn is_slowdown(self) -> bool {
        matches!(
            self,
            ThrottleReason::HwSlowdown
                | ThrottleReason::SwThermal
                | ThrottleReason::HwThermal
                | ThrottleReason::HwPowerBrake
        )
    }
}

impl fmt::Display for ThrottleReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of active reasons, stored as NVML's bitmask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ThrottleReasons(pub u64);

impl ThrottleReasons {
    pub const NONE: ThrottleReasons = ThrottleReasons(0);

    pub fn contains(self, r: ThrottleReason) -> bool {
        self.0 & r.bit() != 0
    }

    pub fn with(self, r: ThrottleReason) -> Self {
        ThrottleReasons(self.0 | r.bit())
    }

    pub fn iter(self) -> impl Iterator<Item = ThrottleReason> {
        ThrottleReason::ALL
            .into_iter()
            .filter(move |r| self.contains(*r))
    }

    /// Active reasons other than "idle", which is the normal state of an unused card.
    pub fn notable(self) -> impl Iterator<Item = ThrottleReason> {
        self.iter().filter(|r| *r != ThrottleReason::GpuIdle)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for ThrottleReasons {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for r in self.iter() {
            if !first {
                f.write_str(",")?;
            }
            f.write_str(r.name())?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl Serialize for ThrottleReasons {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(|r| r.name()))
    }
}

impl<'de> Deserialize<'de> for ThrottleReasons {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        let mut set = ThrottleReasons::NONE;
        for n in names {
            let r = ThrottleReason::from_name(&n).ok_or_else(|| {
                serde::de::Error::custom(format!("unknown throttle reason {n:?}"))
            })?;
            set = set.with(r);
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_nvml_bits_into_names() {
        let set = ThrottleReasons(0x4 | 0x40);
        assert_eq!(set.to_string(), "sw-power-cap,hw-thermal");
        let json = serde_json::to_string(&set).unwrap();
        assert_eq!(json, r#"["sw-power-cap","hw-thermal"]"#);
        let back: ThrottleReasons = serde_json::from_str(&json).unwrap();
        assert_eq!(back, set);
        assert!(serde_json::from_str::<ThrottleReasons>(r#"["warp-drive"]"#).is_err());
    }
}
