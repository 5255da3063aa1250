//! The watchdog's clock and power actions on AMD cards, as sysfs writes.
//!
//! | action | writes |
//! |---|---|
//! | lock SM clocks to `[min, max]` | `power_dpm_force_performance_level` ← `manual`, then `pp_dpm_sclk` ← the levels in range (`0 1 2`); a card without a DPM table gets `low` instead |
//! | reset SM clocks | `power_dpm_force_performance_level` ← the level it had before the first lock (`auto` when gpuwarden never locked it); a card that was in `manual` gets every level back, since sysfs does not show the mask it had |
//! | set power limit | hwmon `power1_cap` ← µW, refused outside `power1_cap_min..=power1_cap_max` |
//! | reset power limit | `power1_cap` ← the value before the first change, else `power1_cap_default` |
//!
//! The values before the first change are remembered per card (shared by every handle of one
//! source) so a reset restores what the operator had, not a guess. A file that is missing is
//! [`ControlError::NotSupported`], one that refuses the write (not root) is
//! [`ControlError::NoPermission`]; the watchdog reports it and moves on to its next step. A
//! half-done lock (level set, mask refused) puts the level back before it reports.

use super::discover::find_cards;
use super::dpm;
use super::hwmon::Hwmon;
use super::sysfs::{Sysfs, control_error};
use crate::gpu::source::{ControlError, GpuControl};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

const LEVEL: &str = "power_dpm_force_performance_level";
const SCLK: &str = "pp_dpm_sclk";

/// What the AMD source and its control handles share.
#[derive(Debug, Default)]
pub struct Shared {
    /// Every UUID the source has seen (to tell a lost card from an unknown one).
    pub seen: BTreeSet<String>,
    /// Performance level before gpuwarden first changed it, by UUID.
    pub original_level: BTreeMap<String, String>,
    /// `power1_cap` (µW text) before gpuwarden first changed it, by UUID.
    pub original_cap: BTreeMap<String, String>,
}

/// Locks the shared state, surviving a panic elsewhere (it holds plain values).
pub fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Clock and power control of the AMD cards under one sysfs root.
pub struct AmdControl {
    fs: Arc<dyn Sysfs>,
    root: PathBuf,
    shared: Arc<Mutex<Shared>>,
}

impl AmdControl {
    pub fn new(fs: Arc<dyn Sysfs>, root: PathBuf, shared: Arc<Mutex<Shared>>) -> Self {
        AmdControl { fs, root, shared }
    }

    /// The `device` directory of the card with this UUID.
    fn device(&self, uuid: &str) -> Result<PathBuf, ControlError> {
        if let Some(card) = find_cards(&*self.fs, &self.root)
            .into_iter()
            .find(|c| c.uuid() == uuid)
        {
            return Ok(card.device_dir);
        }
        if lock(&self.shared).seen.contains(uuid) {
            Err(ControlError::GpuLost)
        } else {
            Err(ControlError::UnknownGpu(uuid.to_string()))
        }
    }

    fn read(&self, path: &Path) -> Result<String, ControlError> {
        self.fs
            .read(path)
            .map(|s| s.trim().to_string())
            .map_err(|e| control_error(&e, path, None))
    }

    fn write(&self, path: &Path, value: &str) -> Result<(), ControlError> {
        self.fs
            .write(path, value)
            .map_err(|e| control_error(&e, path, Some(value)))
    }

    fn cap_path(&self, dev: &Path) -> Result<(Hwmon<'_>, PathBuf), ControlError> {
        let hwmon = Hwmon::find(&*self.fs, dev);
        let path = hwmon.path("power1_cap").ok_or(ControlError::NotSupported)?;
        Ok((hwmon, path))
    }

    /// Writes every level of the DPM table back into the mask.
    fn allow_all_levels(&self, dev: &Path) -> Result<(), ControlError> {
        let table = self.read(&dev.join(SCLK))?;
        let levels = dpm::parse_levels(&table).unwrap_or_default();
        let all: Vec<u32> = levels.iter().filter_map(|l| l.index).collect();
        if all.is_empty() {
            return Ok(());
        }
        self.write(&dev.join(SCLK), &dpm::mask_text(&all))
    }
}

impl GpuControl for AmdControl {
    fn lock_sm_clocks(
        &mut self,
        uuid: &str,
        min_mhz: u32,
        max_mhz: u32,
    ) -> Result<(), ControlError> {
        let dev = self.device(uuid)?;
        let level_path = dev.join(LEVEL);
        let before = self.read(&level_path)?;
        let mask = self
            .fs
            .read(&dev.join(SCLK))
            .ok()
            .and_then(|t| dpm::parse_levels(&t))
            .and_then(|levels| dpm::cap_mask(&levels, min_mhz, max_mhz));
        match mask {
            Some(mask) => {
                self.write(&level_path, "manual")?;
                if let Err(e) = self.write(&dev.join(SCLK), &dpm::mask_text(&mask)) {
                    // Do not leave the card in manual with its old mask.
                    let _ = self.write(&level_path, &before);
                    return Err(e);
                }
            }
            None => self.write(&level_path, "low")?,
        }
        lock(&self.shared)
            .original_level
            .entry(uuid.to_string())
            .or_insert(before);
        Ok(())
    }

    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
        let dev = self.device(uuid)?;
        let original = lock(&self.shared).original_level.get(uuid).cloned();
        let level = original.clone().unwrap_or_else(|| "auto".to_string());
        self.write(&dev.join(LEVEL), &level)?;
        if level == "manual" {
            self.allow_all_levels(&dev)?;
        }
        if original.is_some() {
            lock(&self.shared).original_level.remove(uuid);
        }
        Ok(())
    }

    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError> {
        let dev = self.device(uuid)?;
        let (hwmon, cap) = self.cap_path(&dev)?;
        let before = self.read(&cap)?;
        if !watts.is_finite() || watts <= 0.0 {
            return Err(ControlError::Other(format!(
                "power limit {watts} W is not positive"
            )));
        }
        let uw = (watts * 1e6).round() as u64;
        let bound = |name: &str| hwmon.watts(name).get().filter(|w| *w > 0.0);
        let (min, max) = (bound("power1_cap_min"), bound("power1_cap_max"));
        if min.is_some_and(|m| watts < m) || max.is_some_and(|m| watts > m) {
            return Err(ControlError::Other(format!(
                "power limit {watts} W outside the card's range {}..={} W",
                min.map_or("?".to_string(), |m| m.to_string()),
                max.map_or("?".to_string(), |m| m.to_string()),
            )));
        }
        self.write(&cap, &uw.to_string())?;
        lock(&self.shared)
            .original_cap
            .entry(uuid.to_string())
            .or_insert(before);
        Ok(())
    }

    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
        let dev = self.device(uuid)?;
        let (hwmon, cap) = self.cap_path(&dev)?;
        let original = lock(&self.shared).original_cap.get(uuid).cloned();
        let value = match &original {
            Some(v) => v.clone(),
            None => {
                let default = hwmon
                    .path("power1_cap_default")
                    .ok_or(ControlError::NotSupported)?;
                self.read(&default)?
            }
        };
        self.write(&cap, &value)?;
        if original.is_some() {
            lock(&self.shared).original_cap.remove(uuid);
        }
        Ok(())
    }
}
