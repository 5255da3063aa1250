//! An Intel card that disappears (unplugged, driver unbound) stays in every snapshot as
//! `lost` with its identity, index and name, and is `ok` again when it comes back.

use crate::support::{copy_tree, fake_proc, source};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::{ControlError, GpuStatus, Missing, Source};
use std::sync::Arc;

#[test]
fn a_vanished_card_is_lost_and_comes_back_with_its_index() {
    let dir = copy_tree("b580");
    let root = dir.path().join("tree");
    let proc = fake_proc();
    let mut src = source(&root, proc.path(), Arc::new(RealSysfs));
    let mut control = src.control().unwrap();
    assert_eq!(src.sample(1_000).unwrap().gpus[0].status, GpuStatus::Ok);

    std::fs::rename(root.join("card1"), dir.path().join("away")).unwrap();
    let snap = src.sample(2_000).unwrap();
    let gpu = &snap.gpus[0];
    assert_eq!(
        (gpu.index, gpu.uuid.as_str(), gpu.status),
        (0, "intel-0000:09:00.0", GpuStatus::Lost)
    );
    assert_eq!(gpu.name.value().map(String::as_str), Some("Intel Arc B580"));
    assert_eq!(
        gpu.pci_bus_id.value().map(String::as_str),
        Some("0000:09:00.0")
    );
    assert_eq!(gpu.temperature_c.why(), Some(Missing::GpuLost));
    assert_eq!(
        control.lock_sm_clocks("intel-0000:09:00.0", 0, 1000),
        Err(ControlError::GpuLost)
    );

    std::fs::rename(dir.path().join("away"), root.join("card1")).unwrap();
    let back = src.sample(3_000).unwrap();
    assert_eq!(
        (back.gpus[0].index, back.gpus[0].status),
        (0, GpuStatus::Ok)
    );
    assert_eq!(back.gpus[0].temperature_c.get(), Some(54.0));
}
