//! The watchdog's clock actuator (`act::clocks`) driving an AMD card: apply, re-apply on its
//! timer, undo on clear and on shutdown, a restarted daemon undoing caps it persisted, and
//! a card without root rights — all as the exact sysfs writes they make.

use crate::support::{Recorder, copy_tree, fake_proc, source, tree_contents, w};
use gpuwarden::act::{AppliedCaps, ClockActuator, ClockSetting};
use gpuwarden::events::{EventOutcome, EventResult};
use gpuwarden::gpu::Source;

const UUID: &str = "amd-0000:09:00.0";
const LEVEL: &str = "card0/device/power_dpm_force_performance_level";
const SCLK: &str = "card0/device/pp_dpm_sclk";
const CAP: &str = "card0/device/hwmon/hwmon4/power1_cap";

#[test]
fn caps_are_applied_reapplied_and_undone_and_the_card_ends_as_it_began() {
    let dir = copy_tree("rx580");
    let root = dir.path().join("tree");
    let before = tree_contents(&root);
    let rec = Recorder::new(&root);
    let proc = fake_proc();
    let mut clocks = ClockActuator::new(source(&root, proc.path(), rec.clone()).control());

    let locked = clocks.apply(
        UUID,
        ClockSetting::LockedSm {
            min_mhz: 300,
            max_mhz: 1000,
        },
    );
    let limited = clocks.apply(UUID, ClockSetting::PowerLimit { watts: 120.0 });
    assert!(locked.is_ok() && limited.is_ok(), "{locked:?} {limited:?}");
    assert_eq!(
        rec.take(),
        [
            w(LEVEL, "manual", "ok"),
            w(SCLK, "0 1 2", "ok"),
            w(CAP, "120000000", "ok"),
        ]
    );

    assert!(clocks.reapply_all().iter().all(|o| o.is_ok()));
    assert_eq!(
        rec.take(),
        [
            w(LEVEL, "manual", "ok"),
            w(SCLK, "0 1 2", "ok"),
            w(CAP, "120000000", "ok"),
        ]
    );

    assert!(clocks.undo_all().iter().all(|o| o.is_ok()));
    assert_eq!(
        rec.take(),
        [w(LEVEL, "auto", "ok"), w(CAP, "155000000", "ok")]
    );
    assert!(clocks.applied().is_empty());
    assert_eq!(tree_contents(&root), before);
}

#[test]
fn a_restarted_daemon_undoes_persisted_caps_to_the_drivers_defaults() {
    let dir = copy_tree("rx580");
    let root = dir.path().join("tree");
    let rec = Recorder::new(&root);
    let proc = fake_proc();
    let mut first = ClockActuator::new(source(&root, proc.path(), rec.clone()).control());
    first.apply(UUID, ClockSetting::PowerLimit { watts: 100.0 });
    first.apply(
        UUID,
        ClockSetting::LockedSm {
            min_mhz: 0,
            max_mhz: 600,
        },
    );
    let persisted: AppliedCaps =
        serde_json::from_str(&serde_json::to_string(first.applied()).unwrap()).unwrap();
    rec.take();

    // A new process: a new source that never saw the values before the caps.
    let mut second =
        ClockActuator::restore(source(&root, proc.path(), rec.clone()).control(), persisted);
    assert!(second.undo_all().iter().all(|o| o.is_ok()));
    let mut writes = rec.take();
    writes.sort_by(|a, b| a.file.cmp(&b.file));
    assert_eq!(writes, [w(CAP, "155000000", "ok"), w(LEVEL, "auto", "ok")]);
}

#[test]
fn without_root_the_actuator_reports_no_permission_and_the_ladder_goes_on() {
    let dir = copy_tree("rx580");
    let root = dir.path().join("tree");
    let rec = Recorder::new(&root);
    rec.refuse_write("power_dpm_force_performance_level");
    rec.refuse_write("power1_cap");
    let proc = fake_proc();
    let src = source(&root, proc.path(), rec.clone());
    let mut clocks = ClockActuator::new(src.control());
    let locked = clocks.apply(
        UUID,
        ClockSetting::LockedSm {
            min_mhz: 0,
            max_mhz: 900,
        },
    );
    let limited = clocks.apply(UUID, ClockSetting::PowerLimit { watts: 120.0 });
    for outcome in [&locked, &limited] {
        assert_eq!(outcome.result(), EventResult::NoPermission);
        assert!(outcome.detail().unwrap().contains("root"));
    }
    assert!(clocks.applied().is_empty());
    assert_eq!(
        rec.take(),
        [w(LEVEL, "manual", "EACCES"), w(CAP, "120000000", "EACCES"),]
    );
}
