//! Vendors side by side through `MultiSource`: indices (first source by its own index, the
//! next after it), lost GPUs when one vendor fails, and control calls routed by UUID.
//! (The simulated fleet stands in for NVML here; `mixed_fleet_*` with the fake NVML library
//! is the end-to-end check.)

use crate::support::{fake_proc, fixture, source};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::multi::MultiSource;
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::gpu::{ControlError, GpuStatus, Snapshot, Source, SourceError, UnixMs, Vendor};
use std::sync::{Arc, Mutex};

fn sim(gpus: u32) -> Box<dyn Source> {
    Box::new(SimSource::new(&SimConfig {
        gpus,
        seed: 7,
        scenario: Scenario::Idle,
    }))
}

fn amd(card: &str, proc: &std::path::Path) -> Box<dyn Source> {
    Box::new(source(&fixture(card), proc, Arc::new(RealSysfs)))
}

fn summary(snap: &Snapshot) -> Vec<(u32, Vendor, GpuStatus)> {
    snap.gpus
        .iter()
        .map(|g| (g.index, g.vendor, g.status))
        .collect()
}

#[test]
fn first_vendor_keeps_its_indices_and_amd_follows() {
    let proc = fake_proc();
    let mut multi = MultiSource::new(vec![
        (Vendor::Nvidia, sim(2)),
        (Vendor::Amd, amd("rx7900xtx", proc.path())),
    ]);
    let snap = multi.sample(1_000).unwrap();
    assert_eq!(snap.source, "sim+amd");
    assert_eq!(
        summary(&snap),
        [
            (0, Vendor::Nvidia, GpuStatus::Ok),
            (1, Vendor::Nvidia, GpuStatus::Ok),
            (2, Vendor::Amd, GpuStatus::Ok),
        ]
    );
    assert_eq!(snap.gpus[2].uuid, "amd-0000:03:00.0");
}

/// A source that answers until told to fail.
struct Flaky {
    inner: Box<dyn Source>,
    fail: Arc<Mutex<bool>>,
}

impl Source for Flaky {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        if *self.fail.lock().unwrap() {
            return Err(SourceError::Failed {
                what: "nvml".into(),
                detail: "driver went away".into(),
            });
        }
        self.inner.sample(at_ms)
    }
}

#[test]
fn a_failing_vendor_turns_its_gpus_lost_and_the_other_keeps_going() {
    let proc = fake_proc();
    let fail = Arc::new(Mutex::new(false));
    let flaky = Flaky {
        inner: sim(2),
        fail: fail.clone(),
    };
    let mut multi = MultiSource::new(vec![
        (Vendor::Nvidia, Box::new(flaky)),
        (Vendor::Amd, amd("rx6600", proc.path())),
    ]);
    let before = multi.sample(1_000).unwrap();
    *fail.lock().unwrap() = true;
    let after = multi.sample(2_000).unwrap();
    assert_eq!(
        summary(&after),
        [
            (0, Vendor::Nvidia, GpuStatus::Lost),
            (1, Vendor::Nvidia, GpuStatus::Lost),
            (2, Vendor::Amd, GpuStatus::Ok),
        ]
    );
    assert_eq!(before.gpus[1].uuid, after.gpus[1].uuid);
    assert_eq!(after.source, "amd");
}

#[test]
fn every_vendor_failing_is_an_error() {
    let fail = Arc::new(Mutex::new(true));
    let mut multi = MultiSource::new(vec![(
        Vendor::Nvidia,
        Box::new(Flaky {
            inner: sim(1),
            fail,
        }) as Box<dyn Source>,
    )]);
    assert!(multi.sample(1).is_err());
}

#[test]
fn control_calls_reach_the_vendor_that_owns_the_uuid() {
    let proc = fake_proc();
    let mut multi = MultiSource::new(vec![
        (Vendor::Nvidia, sim(1)),
        (Vendor::Amd, amd("vangogh", proc.path())),
    ]);
    let snap = multi.sample(1_000).unwrap();
    let mut control = multi.control().expect("both vendors can be controlled");
    let sim_uuid = snap.gpus[0].uuid.clone();
    control.set_power_limit(&sim_uuid, 300.0).unwrap();
    // The Steam Deck tree has no performance level: the AMD side answers, not "unknown".
    assert_eq!(
        control.lock_sm_clocks("amd-0000:04:00.0", 0, 800),
        Err(ControlError::NotSupported)
    );
    assert_eq!(
        control.reset_sm_clocks("GPU-nope"),
        Err(ControlError::UnknownGpu("GPU-nope".into()))
    );
}
