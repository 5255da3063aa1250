//! A mixed box end to end: the fake `libnvidia-ml.so.1` (built from tests/fake_nvml) and a
//! recorded AMD tree, opened the way the command line opens them (`--vendor all`).

use crate::fake_nvml::{FakeNvml, FakeState};
use crate::support::{copy_tree, fixture};
use assert_cmd::Command;
use gpuwarden::gpu::multi::VendorChoice;
use gpuwarden::gpu::open::{SourceSpec, open};
use serde_json::Value;

fn gpuwarden() -> Command {
    let mut cmd = Command::cargo_bin("gpuwarden").expect("binary");
    for var in [
        "GPUWARDEN_NVML_LIB",
        "GPUWARDEN_SYSFS_ROOT",
        "FAKE_NVML_STATE",
        "FAKE_NVML_LOG",
        "LD_LIBRARY_PATH",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn mixed_fleet_snapshot_lists_nvidia_first_then_amd() {
    let fake = FakeNvml::new(&FakeState::with_gpus(2));
    let out = gpuwarden()
        .args(["snapshot", "--json", "--nvml-lib"])
        .arg(fake.lib_path())
        .arg("--sysfs-root")
        .arg(fixture("rx7900xtx"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snap["source"], "nvml+amd");
    let gpus = snap["gpus"].as_array().unwrap();
    let seen: Vec<(u64, &str, &str)> = gpus
        .iter()
        .map(|g| {
            (
                g["index"].as_u64().unwrap(),
                g["vendor"].as_str().unwrap(),
                g["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(0, "nvidia", "ok"), (1, "nvidia", "ok"), (2, "amd", "ok")]
    );
    assert_eq!(
        gpus[0]["uuid"],
        FakeState::with_gpus(2).gpus[0].uuid.as_str()
    );
    assert_eq!(gpus[2]["uuid"], "amd-0000:03:00.0");
    assert_eq!(gpus[2]["temperature_c"], 53.0);
    assert_eq!(gpus[0]["driver_version"], "550.54.15");

    // `-i` selects across vendors by the merged index.
    let out = gpuwarden()
        .args(["snapshot", "--csv", "-i", "2", "--nvml-lib"])
        .arg(fake.lib_path())
        .arg("--sysfs-root")
        .arg(fixture("rx7900xtx"))
        .output()
        .unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.contains(",amd-0000:03:00.0,amd,"), "{csv}");
}

#[test]
fn one_vendor_at_a_time() {
    let fake = FakeNvml::new(&FakeState::with_gpus(1));
    for (vendor, want) in [("nvidia", "nvml"), ("amd", "amd")] {
        let out = gpuwarden()
            .args(["snapshot", "--json", "--vendor", vendor, "--nvml-lib"])
            .arg(fake.lib_path())
            .arg("--sysfs-root")
            .arg(fixture("rx6600"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let snap: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(snap["source"], want);
        assert_eq!(snap["gpus"].as_array().unwrap().len(), 1);
    }
}

#[test]
fn the_merged_control_caps_each_vendor_through_its_own_driver() {
    let fake = FakeNvml::new(&FakeState::with_gpus(1));
    let dir = copy_tree("rx580");
    let root = dir.path().join("tree");
    let spec = SourceSpec {
        nvml_lib: Some(fake.lib_path()),
        vendor: VendorChoice::All,
        sysfs_root: Some(root.clone()),
        ..SourceSpec::default()
    };
    let mut src = open(&spec).expect("both vendors open");
    let snap = src.sample(1).unwrap();
    let nvidia = snap.gpus[0].uuid.clone();
    let mut control = src.control().expect("control");
    control.lock_sm_clocks(&nvidia, 210, 1200).unwrap();
    control.lock_sm_clocks("amd-0000:09:00.0", 0, 1000).unwrap();
    assert_eq!(
        fake.setter_log(),
        [format!("SetGpuLockedClocks {nvidia} 210 1200")]
    );
    let level = root.join("card0/device/power_dpm_force_performance_level");
    assert_eq!(std::fs::read_to_string(&level).unwrap(), "manual");
    control.reset_sm_clocks("amd-0000:09:00.0").unwrap();
    assert_eq!(std::fs::read_to_string(&level).unwrap(), "auto");
}
