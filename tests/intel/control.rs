//! The watchdog's actions on Intel cards as the exact sysfs writes they make, and their
//! undo, against writable copies of the recorded trees; then the clock actuator driving them.

use crate::support::{Recorder, copy_tree, fake_proc, source, tree_contents, w};
use gpuwarden::act::{ClockActuator, ClockSetting};
use gpuwarden::events::{EventOutcome, EventResult};
use gpuwarden::gpu::{ControlError, GpuControl, Source};
use std::sync::Arc;

const A380: &str = "intel-0000:0b:00.0";
const B580: &str = "intel-0000:09:00.0";
const TGL: &str = "intel-0000:00:02.0";

fn control_for(card: &str) -> (tempfile::TempDir, Arc<Recorder>, Box<dyn GpuControl>) {
    let dir = copy_tree(card);
    let root = dir.path().join("tree");
    let rec = Recorder::new(&root);
    let proc = fake_proc();
    let src = source(&root, proc.path(), rec.clone());
    let control = src.control().expect("intel source has a control");
    (dir, rec, control)
}

#[test]
fn i915_caps_the_card_wide_maximum_and_reset_restores_it() {
    let (dir, rec, mut control) = control_for("a380-i915");
    let before = tree_contents(&dir.path().join("tree"));
    // min 300 (= RPn) already: only the maximum moves.
    control.lock_sm_clocks(A380, 0, 1000).expect("lock");
    assert_eq!(rec.take(), [w("card1/gt_max_freq_mhz", "1000", "ok")]);
    control.reset_sm_clocks(A380).expect("reset");
    assert_eq!(rec.take(), [w("card1/gt_max_freq_mhz", "2450", "ok")]);
    assert_eq!(tree_contents(&dir.path().join("tree")), before);
}

#[test]
fn the_write_order_follows_the_direction_and_values_are_clamped_to_the_hardware() {
    let (dir, rec, mut control) = control_for("a380-i915");
    let before = tree_contents(&dir.path().join("tree"));
    // Raising the minimum: the maximum first, so min never exceeds max.
    control.lock_sm_clocks(A380, 1500, 2000).expect("lock");
    assert_eq!(
        rec.take(),
        [
            w("card1/gt_max_freq_mhz", "2000", "ok"),
            w("card1/gt_min_freq_mhz", "1500", "ok"),
        ]
    );
    // Under RPn (300): clamped to 300..=300, and the minimum goes first this time.
    control.lock_sm_clocks(A380, 0, 200).expect("second lock");
    assert_eq!(
        rec.take(),
        [
            w("card1/gt_min_freq_mhz", "300", "ok"),
            w("card1/gt_max_freq_mhz", "300", "ok"),
        ]
    );
    // Reset goes back to the values before the first lock.
    control.reset_sm_clocks(A380).expect("reset");
    assert_eq!(rec.take(), [w("card1/gt_max_freq_mhz", "2450", "ok")]);
    assert_eq!(tree_contents(&dir.path().join("tree")), before);
}

#[test]
fn xe_caps_the_render_gt_and_leaves_the_media_gt_alone() {
    let (dir, rec, mut control) = control_for("b580");
    let before = tree_contents(&dir.path().join("tree"));
    control.lock_sm_clocks(B580, 0, 1500).expect("lock");
    assert_eq!(
        rec.take(),
        [w("card1/device/tile0/gt0/freq0/max_freq", "1500", "ok")]
    );
    control.reset_sm_clocks(B580).expect("reset");
    assert_eq!(
        rec.take(),
        [w("card1/device/tile0/gt0/freq0/max_freq", "2850", "ok")]
    );
    assert_eq!(tree_contents(&dir.path().join("tree")), before);
}

#[test]
fn a_cap_under_the_current_minimum_lowers_the_minimum_first() {
    // Tiger Lake: min 1100, max 1300, hardware 100..=1300.
    let (dir, rec, mut control) = control_for("tigerlake");
    let before = tree_contents(&dir.path().join("tree"));
    control.lock_sm_clocks(TGL, 0, 800).expect("lock");
    let freq = "card0/device/tile0/gt0/freq0";
    assert_eq!(
        rec.take(),
        [
            w(&format!("{freq}/min_freq"), "100", "ok"),
            w(&format!("{freq}/max_freq"), "800", "ok"),
        ]
    );
    control.reset_sm_clocks(TGL).expect("reset");
    assert_eq!(
        rec.take(),
        [
            w(&format!("{freq}/max_freq"), "1300", "ok"),
            w(&format!("{freq}/min_freq"), "1100", "ok"),
        ]
    );
    assert_eq!(tree_contents(&dir.path().join("tree")), before);
}

#[test]
fn without_a_saved_value_reset_opens_the_full_hardware_range() {
    let (_dir, rec, mut control) = control_for("tigerlake");
    control.reset_sm_clocks(TGL).expect("reset");
    let freq = "card0/device/tile0/gt0/freq0";
    assert_eq!(rec.take(), [w(&format!("{freq}/min_freq"), "100", "ok")]);
}

#[test]
fn power_caps_write_the_drivers_own_file_and_reset_restores_it() {
    for (card, uuid, file, watts, uw, original) in [
        (
            "a380-i915",
            A380,
            "card1/device/hwmon/hwmon1/power1_max",
            40.0,
            "40000000",
            "55000000",
        ),
        (
            "b580",
            B580,
            "card1/device/hwmon/hwmon2/power1_cap",
            150.0,
            "150000000",
            "190000000",
        ),
    ] {
        let (dir, rec, mut control) = control_for(card);
        let before = tree_contents(&dir.path().join("tree"));
        control.set_power_limit(uuid, watts).expect("set");
        assert_eq!(rec.take(), [w(file, uw, "ok")], "{card}");
        control.reset_power_limit(uuid).expect("reset");
        assert_eq!(rec.take(), [w(file, original, "ok")], "{card}");
        assert_eq!(tree_contents(&dir.path().join("tree")), before, "{card}");
        // Nothing saved any more: the drivers show no default to go back to.
        assert_eq!(
            control.reset_power_limit(uuid),
            Err(ControlError::NotSupported)
        );
    }
}

#[test]
fn what_a_card_cannot_do_is_not_supported_and_unknown_cards_are_named() {
    let (_dir, rec, mut control) = control_for("tigerlake");
    // No hwmon on the integrated GPU: no power cap.
    assert_eq!(
        control.set_power_limit(TGL, 15.0),
        Err(ControlError::NotSupported)
    );
    assert_eq!(
        control.lock_sm_clocks("intel-0000:77:00.0", 0, 500),
        Err(ControlError::UnknownGpu("intel-0000:77:00.0".into()))
    );
    assert!(rec.take().is_empty());
}

#[test]
fn without_root_the_write_is_refused_with_no_permission() {
    let dir = copy_tree("a380-i915");
    let root = dir.path().join("tree");
    let rec = Recorder::new(&root);
    rec.refuse_write("gt_max_freq_mhz");
    let proc = fake_proc();
    let mut control = source(&root, proc.path(), rec.clone()).control().unwrap();
    assert_eq!(
        control.lock_sm_clocks(A380, 0, 1000),
        Err(ControlError::NoPermission)
    );
    assert_eq!(rec.take(), [w("card1/gt_max_freq_mhz", "1000", "EACCES")]);
}

#[test]
fn the_watchdogs_actuator_caps_an_intel_card_and_undoes_it() {
    let dir = copy_tree("b580");
    let root = dir.path().join("tree");
    let before = tree_contents(&root);
    let rec = Recorder::new(&root);
    let proc = fake_proc();
    let mut clocks = ClockActuator::new(source(&root, proc.path(), rec.clone()).control());
    let locked = clocks.apply(
        B580,
        ClockSetting::LockedSm {
            min_mhz: 0,
            max_mhz: 1200,
        },
    );
    let limited = clocks.apply(B580, ClockSetting::PowerLimit { watts: 120.0 });
    assert_eq!(locked.result(), EventResult::Ok, "{locked:?}");
    assert_eq!(limited.result(), EventResult::Ok, "{limited:?}");
    assert_eq!(
        rec.take(),
        [
            w("card1/device/tile0/gt0/freq0/max_freq", "1200", "ok"),
            w("card1/device/hwmon/hwmon2/power1_cap", "120000000", "ok"),
        ]
    );
    assert!(clocks.undo_all().iter().all(|o| o.is_ok()));
    let mut writes = rec.take();
    writes.sort_by(|a, b| a.file.cmp(&b.file));
    assert_eq!(
        writes,
        [
            w("card1/device/hwmon/hwmon2/power1_cap", "190000000", "ok"),
            w("card1/device/tile0/gt0/freq0/max_freq", "2850", "ok"),
        ]
    );
    assert_eq!(tree_contents(&root), before);
}
