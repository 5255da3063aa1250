//! The watchdog's clock and power actions on Intel cards, as sysfs writes.
//!
//! | action | writes |
//! |---|---|
//! | lock SM clocks to `[min, max]` | i915: `cardN/gt_max_freq_mhz` (and `gt_min_freq_mhz` when it must move); per-GT `gt/gtN/rps_*_freq_mhz` where the card-wide files are missing. xe: every render GT's `freq0/max_freq` (and `min_freq`) |
//! | reset SM clocks | the values before the first lock, else the hardware range (`RP0` / `RPn`) |
//! | set power limit | hwmon `power1_cap` (xe) or `power1_max` (i915) ← µW, refused above `power1_rated_max` where the card says one |
//! | reset power limit | that file ← the value before the first change; `not supported` without one (the drivers show no default cap, so a restarted daemon cannot restore it) |
//!
//! Values are clamped to the hardware range (`RPn..=RP0`). The kernel refuses a maximum
//! below the current minimum and a minimum above the current maximum, so the order of the
//! two writes follows the direction of the change, and a value that is already there is not
//! written again. The media GT (xe `gt1`) is never capped: it does not run compute work.
//! A missing file is [`ControlError::NotSupported`], a refused write (not root)
//! [`ControlError::NoPermission`].

use super::discover::find_cards;
use super::freq::{Gt, cap_targets};
use super::hwmon::IntelHwmon;
use crate::gpu::amd::sysfs::{Sysfs, control_error};
use crate::gpu::source::{ControlError, GpuControl};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the Intel source and its control handles share.
#[derive(Debug, Default)]
pub struct Shared {
    /// Every UUID the source has seen (to tell a lost card from an unknown one).
    pub seen: BTreeSet<String>,
    /// `(min, max)` text of each capped GT's files before the first lock, by file.
    pub original_clocks: BTreeMap<PathBuf, (String, String)>,
    /// The power cap (µW text) before the first change, by UUID.
    pub original_cap: BTreeMap<String, String>,
}

/// Locks the shared state, surviving a panic elsewhere (it holds plain values).
pub fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Clock and power control of the Intel cards under one sysfs root.
pub struct IntelControl {
    fs: Arc<dyn Sysfs>,
    root: PathBuf,
    shared: Arc<Mutex<Shared>>,
}

impl IntelControl {
    pub fn new(fs: Arc<dyn Sysfs>, root: PathBuf, shared: Arc<Mutex<Shared>>) -> Self {
        IntelControl { fs, root, shared }
    }

    fn card(&self, uuid: &str) -> Result<super::discover::FoundCard, ControlError> {
        if let Some(card) = find_cards(&*self.fs, &self.root)
            .into_iter()
            .find(|c| c.uuid() == uuid)
        {
            return Ok(card);
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

    fn read_mhz(&self, path: &Path) -> Result<u32, ControlError> {
        let text = self.read(path)?;
        text.parse().map_err(|_| {
            ControlError::Other(format!("{}: not a frequency: {text:?}", path.display()))
        })
    }

    fn write(&self, path: &Path, value: &str) -> Result<(), ControlError> {
        self.fs
            .write(path, value)
            .map_err(|e| control_error(&e, path, Some(value)))
    }

    /// Sets one GT's limits to `[lo, hi]`, in the order the kernel accepts.
    fn set_range(&self, gt: &Gt, lo: u32, hi: u32) -> Result<(), ControlError> {
        let (min_file, max_file) = (gt.file("min"), gt.file("max"));
        let cur_min = self.read_mhz(&min_file)?;
        let cur_max = self.read_mhz(&max_file)?;
        let mut writes = [(max_file, cur_max, hi), (min_file, cur_min, lo)];
        if hi < cur_min {
            // Lowering the maximum under the current minimum: the minimum goes first.
            writes.reverse();
        }
        for (file, now, want) in &writes {
            if now != want {
                self.write(file, &want.to_string())?;
            }
        }
        Ok(())
    }

    /// The hardware range of a GT, as far as it says.
    fn hardware_range(&self, gt: &Gt) -> (Option<u32>, Option<u32>) {
        (
            self.read_mhz(&gt.file("RPn")).ok(),
            self.read_mhz(&gt.file("RP0")).ok(),
        )
    }
}

impl GpuControl for IntelControl {
    fn lock_sm_clocks(
        &mut self,
        uuid: &str,
        min_mhz: u32,
        max_mhz: u32,
    ) -> Result<(), ControlError> {
        let card = self.card(uuid)?;
        let targets = cap_targets(&*self.fs, &card);
        if targets.is_empty() {
            return Err(ControlError::NotSupported);
        }
        for gt in &targets {
            let before = (self.read(&gt.file("min"))?, self.read(&gt.file("max"))?);
            let (rpn, rp0) = self.hardware_range(gt);
            let hi = max_mhz.max(rpn.unwrap_or(0)).min(rp0.unwrap_or(u32::MAX));
            let lo = min_mhz.max(rpn.unwrap_or(0)).min(hi);
            self.set_range(gt, lo, hi)?;
            lock(&self.shared)
                .original_clocks
                .entry(gt.file("max"))
                .or_insert(before);
        }
        Ok(())
    }

    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
        let card = self.card(uuid)?;
        let targets = cap_targets(&*self.fs, &card);
        if targets.is_empty() {
            return Err(ControlError::NotSupported);
        }
        for gt in &targets {
            let original = lock(&self.shared)
                .original_clocks
                .get(&gt.file("max"))
                .cloned();
            let (lo, hi) = match &original {
                Some((min, max)) => {
                    let parse = |s: &str| {
                        s.parse::<u32>()
                            .map_err(|_| ControlError::Other(format!("bad saved frequency {s:?}")))
                    };
                    (parse(min)?, parse(max)?)
                }
                None => match self.hardware_range(gt) {
                    (Some(rpn), Some(rp0)) => (rpn, rp0),
                    _ => return Err(ControlError::NotSupported),
                },
            };
            self.set_range(gt, lo, hi)?;
            if original.is_some() {
                lock(&self.shared).original_clocks.remove(&gt.file("max"));
            }
        }
        Ok(())
    }

    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError> {
        let card = self.card(uuid)?;
        let hwmon = IntelHwmon::find(&*self.fs, &card.device_dir);
        let cap = hwmon.power_cap_file().ok_or(ControlError::NotSupported)?;
        let before = self.read(&cap)?;
        if !watts.is_finite() || watts <= 0.0 {
            return Err(ControlError::Other(format!(
                "power limit {watts} W is not positive"
            )));
        }
        if let Some(max) = hwmon.watts("power1_rated_max").get()
            && watts > max
        {
            return Err(ControlError::Other(format!(
                "power limit {watts} W above the card's rated {max} W"
            )));
        }
        let uw = (watts * 1e6).round() as u64;
        self.write(&cap, &uw.to_string())?;
        lock(&self.shared)
            .original_cap
            .entry(uuid.to_string())
            .or_insert(before);
        Ok(())
    }

    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
        let card = self.card(uuid)?;
        let hwmon = IntelHwmon::find(&*self.fs, &card.device_dir);
        let cap = hwmon.power_cap_file().ok_or(ControlError::NotSupported)?;
        let Some(original) = lock(&self.shared).original_cap.get(uuid).cloned() else {
            // Neither driver shows a default cap: without the value gpuwarden replaced
            // (another process set it, or this one restarted) there is nothing to restore.
            return Err(ControlError::NotSupported);
        };
        self.write(&cap, &original)?;
        lock(&self.shared).original_cap.remove(uuid);
        Ok(())
    }
}
