//! The GPU clock domains ("GTs") of an Intel card and their frequency files, for both
//! drivers. Every value is in MHz.
//!
//! | driver | where | files |
//! |---|---|---|
//! | i915 | `cardN/` (the whole card, older interface) | `gt_{cur,act,min,max,boost,RP0,RPn}_freq_mhz` |
//! | i915 | `cardN/gt/gtN/` (per GT) | `rps_{cur,act,min,max,boost,RP0,RPn}_freq_mhz` |
//! | xe | `cardN/device/tileT/gtN/freq0/` | `{cur,act,min,max,rp0,rpn}_freq` (no boost) |
//!
//! `cur` is the frequency the driver asks for, `act` the one the hardware runs (0 while the
//! GT sleeps), `min`/`max` the limits the driver keeps to (what the watchdog's clock cap
//! writes), `RP0`/`RPn` the hardware's highest and lowest. On xe each tile has a render GT
//! (the first, with the compute engines) and may have a media GT after it: the model's
//! graphics clock and the clock cap are the render GTs'.

use super::discover::{Driver, FoundCard};
use crate::gpu::amd::sysfs::{Sysfs, read_u64};
use crate::gpu::field::Field;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// How one clock domain names its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// i915's card-wide `gt_*_freq_mhz`.
    I915Card,
    /// i915's per-GT `rps_*_freq_mhz`.
    I915Gt,
    /// xe's `freq0/*_freq`.
    Xe,
}

/// One clock domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gt {
    /// `card` (i915's card-wide files), `gt0`, `gt1`, …
    pub name: String,
    pub dir: PathBuf,
    pub style: Style,
    /// xe's media GT (not the graphics clock, never capped).
    pub media: bool,
}

impl Gt {
    /// The file of `what`: `cur`, `act`, `min`, `max`, `boost`, `RP0`, `RPn`.
    pub fn file(&self, what: &str) -> PathBuf {
        self.dir.join(match self.style {
            Style::I915Card => format!("gt_{what}_freq_mhz"),
            Style::I915Gt => format!("rps_{what}_freq_mhz"),
            Style::Xe => format!("{}_freq", what.to_ascii_lowercase()),
        })
    }

    fn mhz(&self, fs: &dyn Sysfs, what: &str) -> Field<u32> {
        read_u64(fs, &self.file(what)).map(|v| u32::try_from(v).unwrap_or(u32::MAX))
    }

    /// Every frequency of this domain.
    pub fn clocks(&self, fs: &dyn Sysfs) -> GtClocks {
        GtClocks {
            gt: self.name.clone(),
            media: self.media,
            cur_mhz: self.mhz(fs, "cur"),
            act_mhz: self.mhz(fs, "act"),
            min_mhz: self.mhz(fs, "min"),
            max_mhz: self.mhz(fs, "max"),
            boost_mhz: self.mhz(fs, "boost"),
            rp0_mhz: self.mhz(fs, "RP0"),
            rpn_mhz: self.mhz(fs, "RPn"),
        }
    }
}

/// The frequencies of one clock domain.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GtClocks {
    pub gt: String,
    pub media: bool,
    /// Requested by the driver.
    pub cur_mhz: Field<u32>,
    /// Running now (0 while the GT sleeps).
    pub act_mhz: Field<u32>,
    /// The driver's lower and upper limit (what a clock cap changes).
    pub min_mhz: Field<u32>,
    pub max_mhz: Field<u32>,
    pub boost_mhz: Field<u32>,
    /// The hardware's highest and lowest frequency.
    pub rp0_mhz: Field<u32>,
    pub rpn_mhz: Field<u32>,
}

/// Every clock domain of the card, in name order: i915's per-GT folders (or its card-wide
/// files when there are none), xe's `tile*/gt*`.
pub fn gts(fs: &dyn Sysfs, card: &FoundCard) -> Vec<Gt> {
    match card.driver {
        Driver::I915 => {
            let mut out: Vec<Gt> = subdirs(fs, &card.card_dir.join("gt"), "gt")
                .into_iter()
                .map(|(name, dir)| Gt {
                    name,
                    dir,
                    style: Style::I915Gt,
                    media: false,
                })
                .collect();
            if out.is_empty() && fs.read(&card.card_dir.join("gt_max_freq_mhz")).is_ok() {
                out.push(card_wide(card));
            }
            out
        }
        Driver::Xe => {
            let mut out = Vec::new();
            for (_, tile) in subdirs(fs, &card.device_dir, "tile") {
                for (i, (name, dir)) in subdirs(fs, &tile, "gt").into_iter().enumerate() {
                    out.push(Gt {
                        name,
                        dir: dir.join("freq0"),
                        style: Style::Xe,
                        media: i > 0,
                    });
                }
            }
            out
        }
    }
}

fn card_wide(card: &FoundCard) -> Gt {
    Gt {
        name: "card".into(),
        dir: card.card_dir.clone(),
        style: Style::I915Card,
        media: false,
    }
}

/// The domain behind the model's graphics clock: i915's card-wide files when the card has
/// them (the interface every i915 kernel has), else the first render GT.
pub fn main_gt(fs: &dyn Sysfs, card: &FoundCard, gts: &[Gt]) -> Option<Gt> {
    if card.driver == Driver::I915 && fs.read(&card.card_dir.join("gt_max_freq_mhz")).is_ok() {
        return Some(card_wide(card));
    }
    gts.iter().find(|g| !g.media).cloned()
}

/// The domains a clock cap writes: i915's card-wide files when present (they apply to every
/// GT), else every render GT.
pub fn cap_targets(fs: &dyn Sysfs, card: &FoundCard) -> Vec<Gt> {
    let all = gts(fs, card);
    if card.driver == Driver::I915 && fs.read(&card.card_dir.join("gt_max_freq_mhz")).is_ok() {
        return vec![card_wide(card)];
    }
    all.into_iter().filter(|g| !g.media).collect()
}

/// `(name, path)` of the subdirectories `prefixN`, by number.
fn subdirs(fs: &dyn Sysfs, dir: &Path, prefix: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(u32, String, PathBuf)> = fs
        .list(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_string();
            let n: u32 = name.strip_prefix(prefix)?.parse().ok()?;
            Some((n, name, p))
        })
        .collect();
    out.sort();
    out.into_iter().map(|(_, name, p)| (name, p)).collect()
}
