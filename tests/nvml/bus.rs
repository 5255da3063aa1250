//! GPUs on the PCI bus that NVML does not list: a recorded-style sysfs tree beside the fake
//! NVML. A GPU that vanishes from NVML's count stays in the snapshot as lost under the UUID and
//! index NVML last gave it; one NVML never listed is lost under its PCI address; `check` names
//! it. The GPUs' audio functions and other vendors' display devices are not GPUs.

use crate::fake_nvml::{FakeNvml, FakeState};
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::{GpuStatus, Source};
use std::path::Path;

/// A PCI function under `root/bus/pci/devices`.
fn device(root: &Path, addr: &str, vendor: &str, class: &str) {
    let dir = root.join("bus/pci/devices").join(addr);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("vendor"), format!("{vendor}\n")).unwrap();
    std::fs::write(dir.join("class"), format!("{class}\n")).unwrap();
}

/// The bus of a box with the fake's first `n` GPUs (PCI 17:00.0, 18:00.0, …) and bystanders.
fn bus(n: u32) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    for i in 0..n {
        device(
            root.path(),
            &format!("0000:{:02x}:00.0", 0x17 + i),
            "0x10de",
            "0x030200",
        );
        device(
            root.path(),
            &format!("0000:{:02x}:00.1", 0x17 + i),
            "0x10de",
            "0x040300",
        );
    }
    device(root.path(), "0000:00:02.0", "0x8086", "0x030000");
    root
}

#[test]
fn a_gpu_that_vanishes_from_nvml_is_lost_under_its_last_identity() {
    let mut state = FakeState::with_gpus(3);
    let fake = FakeNvml::new(&state);
    let root = bus(3);
    let mut source = NvmlSource::open(Some(&fake.lib_path()))
        .expect("opening the fake NVML")
        .with_pci_bus(root.path());
    let first = source.sample(1_000).unwrap();
    assert_eq!(first.gpus.len(), 3);
    assert!(first.gpus.iter().all(|g| g.status != GpuStatus::Lost));
    let uuid1 = first.gpus[1].uuid.clone();

    // GPU 1 falls off the bus: NVML counts two, renumbering the one after it
    let gone = state.gpus.remove(1);
    assert_eq!(gone.uuid, uuid1);
    fake.set(&state);
    let snap = source.sample(2_000).unwrap();
    assert_eq!(snap.gpus.len(), 3, "{:#?}", snap.gpus);
    let lost: Vec<_> = snap
        .gpus
        .iter()
        .filter(|g| g.status == GpuStatus::Lost)
        .collect();
    assert_eq!(lost.len(), 1, "{:#?}", snap.gpus);
    assert_eq!(lost[0].uuid, uuid1);
    assert_eq!(
        lost[0].pci_bus_id.value().map(String::as_str),
        Some("0000:18:00.0")
    );
    // its old index is taken by the renumbered GPU 2: it gets the next free one
    assert_eq!(lost[0].index, 2);
    let indices: Vec<u32> = snap.gpus.iter().map(|g| g.index).collect();
    assert_eq!(indices, [0, 1, 2]);
}

#[test]
fn check_names_a_gpu_on_the_bus_that_nvml_never_listed() {
    let mut healthy = FakeState::with_gpus(2);
    for g in &mut healthy.gpus {
        *g = g.clone().with("ecc_uncorrected_volatile", 0);
    }
    let fake = FakeNvml::new(&healthy);
    let root = bus(2);
    let check = |root: &Path| {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("gpuwarden");
        cmd.env_remove("GPUWARDEN_LOG")
            .envs(fake.envs())
            .args(["--vendor", "nvidia", "--sysfs-root"])
            .arg(root)
            .arg("check");
        cmd.output().unwrap()
    };
    let ok = check(root.path());
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );
    // a third GPU the driver failed to attach: on the bus, not in NVML
    device(root.path(), "0000:5e:00.0", "0x10de", "0x030200");
    let out = check(root.path());
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("0000:5e:00.0") && text.contains("lost"),
        "{text}"
    );
}
