//! The watchdog's actions on AMD cards as the exact sysfs writes they make, and their undo,
//! against writable copies of recorded trees.

use crate::support::{Recorder, copy_tree, fake_proc, source, tree_contents, w};
use gpuwarden::gpu::open::{SourceSpec, open};
use gpuwarden::gpu::{ControlError, GpuControl, Source, multi::VendorChoice};
use std::sync::Arc;

const LEVEL: &str = "card0/device/power_dpm_force_performance_level";
const SCLK: &str = "card0/device/pp_dpm_sclk";

fn control_for(card: &str) -> (tempfile::TempDir, Arc<Recorder>, Box<dyn GpuControl>) {
    let dir = copy_tree(card);
    let root = dir.path().join("tree");
    let rec = Recorder::new(&root);
    let proc = fake_proc();
    let src = source(&root, proc.path(), rec.clone());
    let control = src.control().expect("amd source has a control");
    (dir, rec, control)
}

#[test]
fn clock_cap_writes_manual_and_a_level_mask_and_reset_restores_auto() {
    let (dir, rec, mut control) = control_for("rx580");
    let before = tree_contents(&dir.path().join("tree"));
    // Levels 300 600 900 1145 1215 1257 1300 1366 MHz: a 1000 MHz cap keeps 0..=2.
    control
        .lock_sm_clocks("amd-0000:09:00.0", 0, 1000)
        .expect("lock");
    assert_eq!(
        rec.take(),
        [w(LEVEL, "manual", "ok"), w(SCLK, "0 1 2", "ok")]
    );
    control.reset_sm_clocks("amd-0000:09:00.0").expect("reset");
    assert_eq!(rec.take(), [w(LEVEL, "auto", "ok")]);
    assert_eq!(tree_contents(&dir.path().join("tree")), before);
}

#[test]
fn a_second_cap_keeps_the_first_original_level() {
    let (_dir, rec, mut control) = control_for("rx580");
    let uuid = "amd-0000:09:00.0";
    control.lock_sm_clocks(uuid, 0, 1000).unwrap();
    control.lock_sm_clocks(uuid, 0, 500).unwrap();
    control.reset_sm_clocks(uuid).unwrap();
    assert_eq!(
        rec.take(),
        [
            w(LEVEL, "manual", "ok"),
            w(SCLK, "0 1 2", "ok"),
            w(LEVEL, "manual", "ok"),
            w(SCLK, "0", "ok"),
            w(LEVEL, "auto", "ok"),
        ]
    );
}

#[test]
fn a_card_already_in_manual_gets_manual_and_every_level_back() {
    let (dir, rec, mut control) = control_for("rx7600s");
    let before = tree_contents(&dir.path().join("tree"));
    let uuid = "amd-0000:03:00.0";
    control.lock_sm_clocks(uuid, 0, 300).unwrap();
    control.reset_sm_clocks(uuid).unwrap();
    let level = "card1/device/power_dpm_force_performance_level";
    let sclk = "card1/device/pp_dpm_sclk";
    // Levels 255 0 1841 MHz: a 300 MHz cap keeps levels 0 and 1.
    assert_eq!(
        rec.take(),
        [
            w(level, "manual", "ok"),
            w(sclk, "0 1", "ok"),
            w(level, "manual", "ok"),
            w(sclk, "0 1 2", "ok"),
        ]
    );
    assert_eq!(tree_contents(&dir.path().join("tree")), before);
}

#[test]
fn a_card_without_dpm_levels_is_capped_with_low() {
    let (_dir, rec, mut control) = control_for("r7-240");
    let uuid = "amd-0000:01:00.0";
    control.lock_sm_clocks(uuid, 0, 500).unwrap();
    control.reset_sm_clocks(uuid).unwrap();
    let level = "card1/device/power_dpm_force_performance_level";
    assert_eq!(rec.take(), [w(level, "low", "ok"), w(level, "auto", "ok")]);
}

#[test]
fn power_limit_writes_microwatts_and_reset_restores_the_original() {
    let (dir, rec, mut control) = control_for("rx6900xt");
    let before = tree_contents(&dir.path().join("tree"));
    let cap = "card0/device/hwmon/hwmon5/power1_cap";
    control.set_power_limit("amd-0000:0c:00.0", 200.0).unwrap();
    control.set_power_limit("amd-0000:0c:00.0", 150.5).unwrap();
    control.reset_power_limit("amd-0000:0c:00.0").unwrap();
    assert_eq!(
        rec.take(),
        [
            w(cap, "200000000", "ok"),
            w(cap, "150500000", "ok"),
            w(cap, "289000000", "ok"),
        ]
    );
    assert_eq!(tree_contents(&dir.path().join("tree")), before);
}

#[test]
fn a_power_limit_outside_the_cards_range_is_refused_without_writing() {
    let (_dir, rec, mut control) = control_for("rx6900xt");
    let err = control
        .set_power_limit("amd-0000:0c:00.0", 400.0)
        .unwrap_err();
    assert!(
        matches!(&err, ControlError::Other(m) if m.contains("332")),
        "{err:?}"
    );
    assert_eq!(rec.take(), []);
}

#[test]
fn an_unwritable_level_is_no_permission_and_nothing_is_remembered() {
    let (_dir, rec, mut control) = control_for("rx580");
    rec.refuse_write("power_dpm_force_performance_level");
    let err = control
        .lock_sm_clocks("amd-0000:09:00.0", 0, 1000)
        .unwrap_err();
    assert_eq!(err, ControlError::NoPermission);
    assert_eq!(rec.take(), [w(LEVEL, "manual", "EACCES")]);
}

#[test]
fn a_refused_mask_puts_the_level_back_before_reporting() {
    let (_dir, rec, mut control) = control_for("rx580");
    rec.refuse_write("pp_dpm_sclk");
    let err = control
        .lock_sm_clocks("amd-0000:09:00.0", 0, 1000)
        .unwrap_err();
    assert_eq!(err, ControlError::NoPermission);
    assert_eq!(
        rec.take(),
        [
            w(LEVEL, "manual", "ok"),
            w(SCLK, "0 1 2", "EACCES"),
            w(LEVEL, "auto", "ok"),
        ]
    );
}

#[test]
fn missing_attributes_are_not_supported() {
    // The Steam Deck tree has no performance level; the HD 7870 no power cap.
    let (_dir, rec, mut control) = control_for("vangogh");
    assert_eq!(
        control.lock_sm_clocks("amd-0000:04:00.0", 0, 800),
        Err(ControlError::NotSupported)
    );
    let (_dir2, rec2, mut control2) = control_for("hd7870");
    assert_eq!(
        control2.set_power_limit("amd-0000:01:00.0", 100.0),
        Err(ControlError::NotSupported)
    );
    assert_eq!(
        control2.reset_power_limit("amd-0000:01:00.0"),
        Err(ControlError::NotSupported)
    );
    assert_eq!(rec.take(), []);
    assert_eq!(rec2.take(), []);
}

#[test]
fn unknown_and_removed_cards_are_told_apart() {
    let (dir, _rec, mut control) = control_for("rx6600");
    assert_eq!(
        control.set_power_limit("GPU-123", 100.0),
        Err(ControlError::UnknownGpu("GPU-123".into()))
    );
    std::fs::remove_dir_all(dir.path().join("tree/card1")).unwrap();
    assert_eq!(
        control.set_power_limit("amd-0000:12:00.0", 100.0),
        Err(ControlError::GpuLost)
    );
}

#[test]
fn the_opened_source_writes_the_real_files() {
    let dir = copy_tree("vega56");
    let root = dir.path().join("tree");
    let cap = root.join("card0/device/hwmon/hwmon4/power1_cap");
    let spec = SourceSpec {
        vendor: VendorChoice::Only(gpuwarden::gpu::Vendor::Amd),
        sysfs_root: Some(root.clone()),
        ..SourceSpec::default()
    };
    let mut src = open(&spec).expect("open amd");
    let mut control = src.control().expect("control");
    control.set_power_limit("amd-0000:0b:00.0", 180.0).unwrap();
    assert_eq!(std::fs::read_to_string(&cap).unwrap(), "180000000");
    let snap = src.sample(1).unwrap();
    assert_eq!(snap.gpus[0].power_limit_w.get(), Some(180.0));
    control.reset_power_limit("amd-0000:0b:00.0").unwrap();
    assert_eq!(std::fs::read_to_string(&cap).unwrap(), "260000000");
}
