//! Why the graphics clock is held down, from the driver's throttle files, in the model's
//! reasons (the names NVIDIA's reasons have, so rules and the dashboard speak one language).
//!
//! | file (i915 `gt/gtN/throttle_reason_*`, xe `freq0/throttle/reason_*`) | reason |
//! |---|---|
//! | `pl1` (sustained power limit), `pl2` (burst power limit) | `sw-power-cap` |
//! | `thermal` (firmware thermal limit), `ratl` (running-average thermal limit) | `sw-thermal` |
//! | `prochot`, `vr_thermalert` (hardware thermal signals) | `hw-thermal` |
//! | `pl4` (peak current limit), `vr_tdc` (voltage regulator current limit) | `hw-slowdown` |
//!
//! Each file holds `0` or `1`. A card without any of them is `not_supported`.

use super::freq::{Gt, Style};
use crate::gpu::amd::sysfs::{Sysfs, read_u64};
use crate::gpu::field::{Field, Missing};
use crate::gpu::throttle::{ThrottleReason, ThrottleReasons};
use std::path::PathBuf;

const REASONS: [(&str, ThrottleReason); 8] = [
    ("pl1", ThrottleReason::SwPowerCap),
    ("pl2", ThrottleReason::SwPowerCap),
    ("thermal", ThrottleReason::SwThermal),
    ("ratl", ThrottleReason::SwThermal),
    ("prochot", ThrottleReason::HwThermal),
    ("vr_thermalert", ThrottleReason::HwThermal),
    ("pl4", ThrottleReason::HwSlowdown),
    ("vr_tdc", ThrottleReason::HwSlowdown),
];

/// The throttle file of `reason` for the clock domain `gt` (i915's card-wide domain reads
/// GT 0's files, the only ones it has).
fn file(gt: &Gt, reason: &str) -> PathBuf {
    match gt.style {
        Style::I915Card => gt
            .dir
            .join("gt/gt0")
            .join(format!("throttle_reason_{reason}")),
        Style::I915Gt => gt.dir.join(format!("throttle_reason_{reason}")),
        Style::Xe => gt.dir.join("throttle").join(format!("reason_{reason}")),
    }
}

/// The active reasons of `gt`.
pub fn reasons(fs: &dyn Sysfs, gt: Option<&Gt>) -> Field<ThrottleReasons> {
    let Some(gt) = gt else {
        return Field::missing(Missing::NotSupported);
    };
    let mut set = ThrottleReasons::NONE;
    let mut found = false;
    for (name, reason) in REASONS {
        match read_u64(fs, &file(gt, name)) {
            Field::Value(v) => {
                found = true;
                if v != 0 {
                    set = set.with(reason);
                }
            }
            Field::Missing {
                missing: Missing::NotSupported,
            } => {}
            Field::Missing { missing } => return Field::missing(missing),
        }
    }
    if found {
        Field::Value(set)
    } else {
        Field::missing(Missing::NotSupported)
    }
}
