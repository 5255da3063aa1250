//! Clock caps through the NVML source against the fake `libnvidia-ml.so.1`
//! (tests/fake_nvml/): what the actuator applies, re-applies and undoes reaches the driver
//! (the fake's setter log), a refusal is an outcome saying so and leaves the other GPUs'
//! caps alone, and each step is an event in the log.

use crate::fake_nvml::{FakeNvml, FakeState, NO_PERMISSION, NOT_SUPPORTED};
use gpuwarden::act::{CapKind, ClockActuator, ClockSetting};
use gpuwarden::events::{EventKind, EventLog, EventResult, read_last};
use gpuwarden::gpu::Source;
use gpuwarden::gpu::nvml::NvmlSource;

const LOCK: ClockSetting = ClockSetting::LockedSm {
    min_mhz: 210,
    max_mhz: 1200,
};
const POWER: ClockSetting = ClockSetting::PowerLimit { watts: 450.0 };

#[test]
fn caps_reach_the_driver_and_are_undone_at_shutdown() {
    let mut state = FakeState::with_gpus(3);
    state.gpus[1] = state.gpus[1]
        .clone()
        .fail("SetGpuLockedClocks", NO_PERMISSION);
    state.gpus[2] = state.gpus[2]
        .clone()
        .fail("SetPowerManagementLimit", NOT_SUPPORTED);
    let uuids: Vec<String> = state.gpus.iter().map(|g| g.uuid.clone()).collect();
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    let mut clocks = ClockActuator::new(source.control());
    let dir = tempfile::tempdir().unwrap();
    let mut log = EventLog::open(dir.path()).unwrap();

    let outcomes = [
        clocks.apply(&uuids[0], LOCK),
        clocks.apply(&uuids[0], POWER),
        clocks.apply(&uuids[1], LOCK),
        clocks.apply(&uuids[2], POWER),
        clocks.apply(&uuids[2], LOCK),
    ];
    for (i, outcome) in outcomes.iter().enumerate() {
        log.append(&outcome.to_event(i as u64).rule("hot")).unwrap();
    }
    let results: Vec<EventResult> = read_last(log.path(), 10)
        .unwrap()
        .iter()
        .map(|e| e.result)
        .collect();
    assert_eq!(
        results,
        [
            EventResult::Ok,
            EventResult::Ok,
            EventResult::NoPermission,
            EventResult::NotSupported,
            EventResult::Ok,
        ]
    );
    assert_eq!(clocks.applied().on(&uuids[0]), &[LOCK, POWER]);
    assert!(clocks.applied().on(&uuids[1]).is_empty());
    assert_eq!(clocks.applied().on(&uuids[2]), &[LOCK]);

    let snap = source.sample(1).unwrap();
    assert_eq!(snap.gpus[0].clock_sm_mhz.get(), Some(1200));
    assert_eq!(snap.gpus[0].power_limit_w.get(), Some(450.0));

    let again = clocks.reapply_all();
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|o| o.is_ok()));
    assert_eq!(again[0].to_event(9).kind, EventKind::ReapplyCap);

    let undone = clocks.undo_all();
    assert_eq!(undone.len(), 3);
    assert!(undone.iter().all(|o| o.is_ok()), "{undone:?}");
    assert!(clocks.applied().is_empty());
    let snap = source.sample(2).unwrap();
    assert_eq!(snap.gpus[0].power_limit_w.get(), Some(700.0));
    assert!(clocks.undo(&uuids[0], CapKind::LockedSm).is_none());

    let (u0, u1, u2) = (&uuids[0], &uuids[1], &uuids[2]);
    assert_eq!(
        fake.setter_log(),
        [
            format!("SetGpuLockedClocks {u0} 210 1200"),
            format!("SetPowerManagementLimit {u0} 450000"),
            format!("SetGpuLockedClocks {u1} 210 1200 ERROR 4"),
            format!("SetPowerManagementLimit {u2} 450000 ERROR 3"),
            format!("SetGpuLockedClocks {u2} 210 1200"),
            // reapply_all, in the remembered order (by uuid, then kind)
            format!("SetGpuLockedClocks {u0} 210 1200"),
            format!("SetPowerManagementLimit {u0} 450000"),
            format!("SetGpuLockedClocks {u2} 210 1200"),
            // undo_all: back to the driver's defaults
            format!("ResetGpuLockedClocks {u0}"),
            format!("SetPowerManagementLimit {u0} 700000"),
            format!("ResetGpuLockedClocks {u2}"),
        ]
    );
}
