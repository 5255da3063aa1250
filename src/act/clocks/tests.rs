use super::*;
use crate::act::record::{ControlCall, RecordingControl};
use crate::events::{EventKind, EventOutcome, EventResult};
use crate::gpu::Source;
use crate::gpu::sim::{Scenario, SimConfig, SimSource};

const LOCK: ClockSetting = ClockSetting::LockedSm {
    min_mhz: 300,
    max_mhz: 900,
};
const POWER: ClockSetting = ClockSetting::PowerLimit { watts: 400.0 };

fn training_fleet(gpus: u32) -> SimSource {
    SimSource::new(&SimConfig {
        gpus,
        seed: 7,
        scenario: Scenario::Training,
    })
}

fn uuids(sim: &mut SimSource) -> Vec<String> {
    let snap = sim.sample(1_000).expect("sim samples");
    snap.gpus.into_iter().map(|g| g.uuid).collect()
}

#[test]
fn caps_change_the_simulated_gpu_and_undo_restores_it() {
    let mut sim = training_fleet(2);
    let ids = uuids(&mut sim);
    let mut clocks = ClockActuator::new(sim.control());

    assert!(clocks.apply(&ids[0], LOCK).is_ok());
    assert!(clocks.apply(&ids[0], POWER).is_ok());
    let snap = sim.sample(60_000).expect("sim samples");
    let gpu0 = &snap.gpus[0];
    assert_eq!(gpu0.power_limit_w.get(), Some(400.0));
    assert!(gpu0.clock_sm_mhz.get().is_some_and(|mhz| mhz <= 900));
    assert_eq!(snap.gpus[1].power_limit_w.get(), Some(700.0));
    assert_eq!(clocks.applied().on(&ids[0]), &[LOCK, POWER]);

    let undone = clocks.undo_gpu(&ids[0]);
    assert_eq!(undone.len(), 2);
    assert!(undone.iter().all(ClockOutcome::is_ok));
    assert!(clocks.applied().is_empty());
    let snap = sim.sample(120_000).expect("sim samples");
    assert_eq!(snap.gpus[0].power_limit_w.get(), Some(700.0));
    assert!(snap.gpus[0].clock_sm_mhz.get().is_some_and(|mhz| mhz > 900));
}

#[test]
fn a_second_cap_of_the_same_kind_replaces_the_first() {
    let control = RecordingControl::new();
    let mut clocks = ClockActuator::new(Some(Box::new(control.clone())));
    clocks.apply("GPU-a", LOCK);
    let lower = ClockSetting::LockedSm {
        min_mhz: 300,
        max_mhz: 600,
    };
    clocks.apply("GPU-a", lower);
    assert_eq!(clocks.applied().on("GPU-a"), &[lower]);
}

#[test]
fn rejected_power_limit_is_an_outcome_and_not_remembered() {
    let mut sim = training_fleet(1);
    let ids = uuids(&mut sim);
    let mut clocks = ClockActuator::new(sim.control());
    let outcome = clocks.apply(&ids[0], ClockSetting::PowerLimit { watts: 5.0 });
    assert_eq!(outcome.result(), EventResult::Failed);
    assert!(
        outcome
            .detail()
            .unwrap()
            .contains("outside the card's range")
    );
    assert!(clocks.applied().is_empty());
}

#[test]
fn not_supported_and_no_permission_say_so_and_remember_nothing() {
    let control = RecordingControl::new();
    control.fail("GPU-old", ControlError::NotSupported);
    control.fail("GPU-user", ControlError::NoPermission);
    let mut clocks = ClockActuator::new(Some(Box::new(control.clone())));

    let old = clocks.apply("GPU-old", LOCK);
    assert_eq!(old.result(), EventResult::NotSupported);
    assert_eq!(
        old.detail().as_deref(),
        Some("lock SM clocks 300-900 MHz is not supported on this GPU")
    );
    let user = clocks.apply("GPU-user", POWER);
    assert_eq!(user.result(), EventResult::NoPermission);
    assert!(user.detail().unwrap().contains("need root"));
    assert!(clocks.applied().is_empty());
    assert_eq!(control.calls().len(), 2);
}

#[test]
fn reapply_issues_every_remembered_cap_again() {
    let control = RecordingControl::new();
    let mut clocks = ClockActuator::new(Some(Box::new(control.clone())));
    clocks.apply("GPU-a", LOCK);
    clocks.apply("GPU-b", POWER);
    let again = clocks.reapply_all();
    assert_eq!(again.len(), 2);
    assert!(
        again
            .iter()
            .all(|o| matches!(o.op, ClockOp::Reapply(_)) && o.is_ok())
    );
    assert_eq!(
        control.calls()[2..],
        [
            ControlCall::LockSmClocks {
                uuid: "GPU-a".into(),
                min_mhz: 300,
                max_mhz: 900
            },
            ControlCall::SetPowerLimit {
                uuid: "GPU-b".into(),
                watts: 400.0
            },
        ]
    );
}

#[test]
fn a_failed_undo_is_kept_for_the_next_try() {
    let control = RecordingControl::new();
    let mut clocks = ClockActuator::new(Some(Box::new(control.clone())));
    clocks.apply("GPU-a", LOCK);
    control.fail("GPU-a", ControlError::GpuLost);
    let failed = clocks
        .undo("GPU-a", CapKind::LockedSm)
        .expect("a cap to undo");
    assert_eq!(failed.result, Err(ControlError::GpuLost));
    assert_eq!(clocks.applied().on("GPU-a"), &[LOCK]);

    control.heal("GPU-a");
    let outcomes = clocks.undo_all();
    assert_eq!(outcomes.len(), 1);
    assert!(outcomes[0].is_ok());
    assert!(clocks.applied().is_empty());
    assert!(clocks.undo("GPU-a", CapKind::LockedSm).is_none());
}

#[test]
fn persisted_caps_survive_a_restart_of_the_daemon() {
    let control = RecordingControl::new();
    let mut first = ClockActuator::new(Some(Box::new(control.clone())));
    first.apply("GPU-a", LOCK);
    first.apply("GPU-a", POWER);
    let saved = serde_json::to_string(first.applied()).unwrap();
    assert_eq!(
        saved,
        r#"{"gpus":{"GPU-a":[{"cap":"locked_sm","min_mhz":300,"max_mhz":900},{"cap":"power_limit","watts":400.0}]}}"#
    );
    let restored: AppliedCaps = serde_json::from_str(&saved).unwrap();
    let mut second = ClockActuator::restore(Some(Box::new(control.clone())), restored);
    assert_eq!(second.undo_all().len(), 2);
    assert_eq!(
        control.calls()[2..],
        [
            ControlCall::ResetSmClocks {
                uuid: "GPU-a".into()
            },
            ControlCall::ResetPowerLimit {
                uuid: "GPU-a".into()
            },
        ]
    );
}

#[test]
fn outcomes_become_events_of_the_right_kind() {
    let control = RecordingControl::new();
    control.fail("GPU-b", ControlError::NoPermission);
    let mut clocks = ClockActuator::new(Some(Box::new(control)));
    let capped = clocks.apply("GPU-a", LOCK).to_event(5).rule("hot");
    assert_eq!(
        serde_json::to_string(&capped).unwrap(),
        r#"{"at_ms":5,"kind":"cap_clocks","gpu":"GPU-a","rule":"hot","action":"lock SM clocks 300-900 MHz","result":"ok"}"#
    );
    let again = &clocks.reapply_all()[0].to_event(6);
    assert_eq!(again.kind, EventKind::ReapplyCap);
    assert_eq!(again.action, "re-apply: lock SM clocks 300-900 MHz");
    let denied = clocks.apply("GPU-b", POWER).to_event(7);
    assert_eq!(denied.result, EventResult::NoPermission);
    let undone = clocks.undo("GPU-a", CapKind::LockedSm).unwrap().to_event(8);
    assert_eq!(
        (undone.kind, undone.action.as_str()),
        (EventKind::UndoCap, "undo SM clock lock")
    );
}

#[test]
fn a_source_without_control_fails_every_call_with_a_reason() {
    let mut clocks = ClockActuator::new(None);
    let outcome = clocks.apply("GPU-a", LOCK);
    assert_eq!(outcome.result(), EventResult::Failed);
    assert!(outcome.detail().unwrap().contains("cannot change clocks"));
}
