//! `NvmlControl` against the fake: setter calls reach the driver (the fake's log), their
//! effect shows in the next sample, and NVML's refusals map to `ControlError`s.

use crate::fake_nvml::{FakeNvml, FakeState, GPU_IS_LOST, NO_PERMISSION, NOT_SUPPORTED};
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::{ControlError, GpuControl, Source};

#[test]
fn clock_and_power_setters_reach_the_driver_and_show_in_samples() {
    let state = FakeState::with_gpus(2);
    let uuid = state.gpus[1].uuid.clone();
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    let mut control = source.control().expect("NVML can control GPUs");

    control.lock_sm_clocks(&uuid, 210, 1200).unwrap();
    control.set_power_limit(&uuid, 250.5).unwrap();
    let snap = source.sample(1).unwrap();
    assert_eq!(snap.gpus[1].clock_sm_mhz.get(), Some(1200));
    assert_eq!(snap.gpus[1].power_limit_w.get(), Some(250.5));
    assert_eq!(
        snap.gpus[0].clock_sm_mhz.get(),
        Some(1710),
        "other GPU untouched"
    );

    control.reset_sm_clocks(&uuid).unwrap();
    control.reset_power_limit(&uuid).unwrap();
    let snap = source.sample(2).unwrap();
    assert_eq!(snap.gpus[1].clock_sm_mhz.get(), Some(1711));
    assert_eq!(snap.gpus[1].power_limit_w.get(), Some(700.0));

    assert_eq!(
        fake.setter_log(),
        [
            format!("SetGpuLockedClocks {uuid} 210 1200"),
            format!("SetPowerManagementLimit {uuid} 250500"),
            format!("ResetGpuLockedClocks {uuid}"),
            format!("SetPowerManagementLimit {uuid} 700000"),
        ]
    );
}

#[test]
fn refusals_map_to_control_errors() {
    let mut state = FakeState::with_gpus(3);
    state.gpus[0] = state.gpus[0]
        .clone()
        .fail("SetGpuLockedClocks", NO_PERMISSION)
        .fail("SetPowerManagementLimit", NOT_SUPPORTED);
    state.gpus[1] = state.gpus[1].clone().lost();
    let (u0, u1) = (state.gpus[0].uuid.clone(), state.gpus[1].uuid.clone());
    let fake = FakeNvml::new(&state);
    let source = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    let mut control = source.nvml_control();

    assert_eq!(
        control.lock_sm_clocks(&u0, 210, 1200),
        Err(ControlError::NoPermission)
    );
    assert_eq!(
        control.set_power_limit(&u0, 300.0),
        Err(ControlError::NotSupported)
    );
    assert_eq!(
        control.reset_sm_clocks(&u1),
        Err(ControlError::GpuLost),
        "a lost GPU"
    );
    assert_eq!(
        control.lock_sm_clocks("GPU-not-here", 210, 1200),
        Err(ControlError::UnknownGpu("GPU-not-here".into()))
    );
    assert!(matches!(
        control.lock_sm_clocks(&u0, 1200, 210),
        Err(ControlError::Other(_))
    ));
    assert_eq!(
        fake.setter_log(),
        [
            format!("SetGpuLockedClocks {u0} 210 1200 ERROR {NO_PERMISSION}"),
            format!("SetPowerManagementLimit {u0} 300000 ERROR {NOT_SUPPORTED}"),
            format!("ResetGpuLockedClocks {u1} ERROR {GPU_IS_LOST}"),
        ]
    );
}

#[test]
fn control_works_from_another_thread_while_sampling_goes_on() {
    let state = FakeState::with_gpus(4);
    let uuids: Vec<String> = state.gpus.iter().map(|g| g.uuid.clone()).collect();
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    let mut control = source.control().unwrap();
    let actor = std::thread::spawn({
        let uuids = uuids.clone();
        move || {
            for round in 0..20u32 {
                for u in &uuids {
                    control.lock_sm_clocks(u, 210, 1000 + round).unwrap();
                }
            }
        }
    });
    for t in 0..20 {
        assert_eq!(source.sample(t).unwrap().gpus.len(), 4);
    }
    actor.join().expect("control thread");
    assert_eq!(fake.setter_log().len(), 80);
    let last = source.sample(99).unwrap();
    assert!(last.gpus.iter().all(|g| g.clock_sm_mhz.get() == Some(1019)));
}
