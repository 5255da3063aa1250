//! Broken trees: missing files, garbage values, files the process may not read, cards that
//! come and go. Every case must end in a sample with the right reason, never a panic.

use crate::support::{Recorder, copy_tree, fake_proc, source};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::{GpuStatus, Missing, Source};
use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;

const DEV: &str = "card0/device";
const HWMON: &str = "card0/device/hwmon/hwmon5";

fn sample_one(root: &Path) -> gpuwarden::gpu::GpuSample {
    let proc = fake_proc();
    let mut src = source(root, proc.path(), Arc::new(RealSysfs));
    let mut snap = src.sample(1).expect("sample");
    assert_eq!(snap.gpus.len(), 1);
    snap.gpus.remove(0)
}

#[test]
fn missing_files_are_not_supported_and_the_rest_still_reads() {
    let dir = copy_tree("rx6900xt");
    let root = dir.path().join("tree");
    for f in ["gpu_busy_percent", "mem_info_vram_total", "pp_dpm_mclk"] {
        std::fs::remove_file(root.join(DEV).join(f)).unwrap();
    }
    for f in ["power1_average", "temp1_crit", "freq1_input"] {
        std::fs::remove_file(root.join(HWMON).join(f)).unwrap();
    }
    let g = sample_one(&root);
    assert_eq!(g.status, GpuStatus::Ok);
    assert_eq!(g.utilization_gpu_pct.why(), Some(Missing::NotSupported));
    assert_eq!(g.memory_total_bytes.why(), Some(Missing::NotSupported));
    assert_eq!(g.memory_used_bytes.get(), Some(668_274_688));
    assert_eq!(g.clock_mem_max_mhz.why(), Some(Missing::NotSupported));
    // No average and no input: power is not supported; the cap still reads.
    assert_eq!(g.power_w.why(), Some(Missing::NotSupported));
    assert_eq!(g.power_limit_w.get(), Some(289.0));
    assert_eq!(g.temperature_slowdown_c.why(), Some(Missing::NotSupported));
    assert_eq!(g.temperature_c.get(), Some(56.0));
    // No hwmon clock: the `*` line of pp_dpm_sclk (`0: 500Mhz *`).
    assert_eq!(g.clock_sm_mhz.get(), Some(500));
}

#[test]
fn garbage_values_are_errors_of_their_own_field_only() {
    let dir = copy_tree("rx6900xt");
    let root = dir.path().join("tree");
    let put = |rel: &str, text: &str| std::fs::write(root.join(rel), text).unwrap();
    put(&format!("{DEV}/gpu_busy_percent"), "250\n");
    put(&format!("{DEV}/mem_info_vram_used"), "lots\n");
    put(&format!("{DEV}/pp_dpm_sclk"), "0: fast *\n");
    put(&format!("{DEV}/current_link_speed"), "Unknown speed\n");
    put(&format!("{HWMON}/temp1_input"), "hot\n");
    put(&format!("{HWMON}/power1_cap"), "-5\n");
    let g = sample_one(&root);
    assert_eq!(g.utilization_gpu_pct.why(), Some(Missing::Error));
    assert_eq!(g.memory_used_bytes.why(), Some(Missing::Error));
    assert_eq!(g.clock_sm_max_mhz.why(), Some(Missing::Error));
    assert_eq!(g.pcie_link.why(), Some(Missing::Error));
    assert_eq!(g.temperature_c.why(), Some(Missing::Error));
    assert_eq!(g.power_limit_w.why(), Some(Missing::Error));
    // Neighbours are untouched.
    assert_eq!(g.memory_total_bytes.get(), Some(17_163_091_968));
    assert_eq!(g.clock_sm_mhz.get(), Some(500));
    assert_eq!(g.temperature_slowdown_c.get(), Some(100.0));
    assert_eq!(g.power_w.get(), Some(36.0));
}

#[test]
fn unreadable_files_are_no_permission() {
    let dir = copy_tree("rx6900xt");
    let root = dir.path().join("tree");
    let rec = Recorder::new(&root);
    rec.refuse_read("mem_info_vram_used");
    rec.refuse_read("hwmon5/temp1_input");
    rec.refuse_read("hwmon5/power1_average");
    let proc = fake_proc();
    let mut src = source(&root, proc.path(), rec);
    let g = src.sample(1).unwrap().gpus.remove(0);
    assert_eq!(g.memory_used_bytes.why(), Some(Missing::NoPermission));
    assert_eq!(g.temperature_c.why(), Some(Missing::NoPermission));
    // A refused average is not "absent": it does not fall back to power1_input.
    assert_eq!(g.power_w.why(), Some(Missing::NoPermission));
    assert_eq!(g.memory_total_bytes.get(), Some(17_163_091_968));
}

#[test]
fn a_card_removed_between_samples_stays_lost_with_its_identity_until_it_returns() {
    let dir = copy_tree("rx6600");
    let root = dir.path().join("tree");
    let proc = fake_proc();
    let mut src = source(&root, proc.path(), Arc::new(RealSysfs));
    let first = src.sample(1).unwrap();
    assert_eq!(first.gpus[0].status, GpuStatus::Ok);

    let parked = dir.path().join("parked");
    std::fs::rename(root.join("card1"), &parked).unwrap();
    for at in [2, 3] {
        let snap = src.sample(at).unwrap();
        assert_eq!(snap.gpus.len(), 1);
        let g = &snap.gpus[0];
        assert_eq!(g.status, GpuStatus::Lost);
        assert_eq!((g.index, g.uuid.as_str()), (0, "amd-0000:12:00.0"));
        assert_eq!(g.pci_bus_id.value().unwrap(), "0000:12:00.0");
        assert_eq!(
            g.name.value().unwrap(),
            "AMD Radeon RX 6600/6600 XT/6650 XT"
        );
        assert_eq!(g.temperature_c.why(), Some(Missing::GpuLost));
    }

    std::fs::rename(&parked, root.join("card1")).unwrap();
    let back = src.sample(4).unwrap();
    assert_eq!(back.gpus[0].status, GpuStatus::Ok);
    assert_eq!(back.gpus[0].index, 0);
}

#[test]
fn several_cards_are_numbered_by_pci_address_and_newcomers_come_last() {
    let rx580 = copy_tree("rx580");
    let rx6600 = copy_tree("rx6600");
    let root = rx580.path().join("tree");
    std::fs::rename(rx6600.path().join("tree/card1"), root.join("card1")).unwrap();
    let proc = fake_proc();
    let mut src = source(&root, proc.path(), Arc::new(RealSysfs));
    let ids = |src: &mut gpuwarden::gpu::amd::AmdSource| -> Vec<(u32, String)> {
        let snap = src.sample(1).unwrap();
        snap.gpus
            .iter()
            .map(|g| (g.index, g.uuid.clone()))
            .collect()
    };
    assert_eq!(
        ids(&mut src),
        [
            (0, "amd-0000:09:00.0".into()),
            (1, "amd-0000:12:00.0".into())
        ]
    );
    // A card at a lower address appears later: it gets the next index, nobody is renumbered.
    let rx7600s = copy_tree("rx7600s");
    std::fs::rename(rx7600s.path().join("tree/card1"), root.join("card2")).unwrap();
    assert_eq!(
        ids(&mut src),
        [
            (0, "amd-0000:09:00.0".into()),
            (1, "amd-0000:12:00.0".into()),
            (2, "amd-0000:03:00.0".into()),
        ]
    );
}

#[test]
fn a_card_with_nothing_but_its_identity_reads_as_not_supported() {
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("card3/device");
    std::fs::create_dir_all(&dev).unwrap();
    std::fs::write(
        dev.join("uevent"),
        "DRIVER=amdgpu\nPCI_ID=1002:ABCD\nPCI_SLOT_NAME=0000:42:00.0\n",
    )
    .unwrap();
    let g = sample_one(dir.path());
    assert_eq!(g.uuid, "amd-0000:42:00.0");
    assert_eq!(g.name.value().unwrap(), "AMD GPU 1002:abcd");
    for why in [
        g.utilization_gpu_pct.why(),
        g.memory_used_bytes.why(),
        g.temperature_c.why(),
        g.power_w.why(),
        g.clock_sm_mhz.why(),
        g.fan_pct.why(),
        g.pcie_link.why(),
    ] {
        assert_eq!(why, Some(Missing::NotSupported));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever bytes an attribute holds, the sample is taken and the card stays `ok`.
    #[test]
    fn any_bytes_in_any_attribute_never_panic(
        which in 0usize..8,
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let files = [
            "card0/device/gpu_busy_percent",
            "card0/device/pp_dpm_sclk",
            "card0/device/pp_dpm_mclk",
            "card0/device/current_link_speed",
            "card0/device/uevent",
            "card0/device/hwmon/hwmon4/temp1_input",
            "card0/device/hwmon/hwmon4/pwm1",
            "card0/device/hwmon/hwmon4/freq1_label",
        ];
        let dir = copy_tree("vega56");
        let root = dir.path().join("tree");
        std::fs::write(root.join(files[which]), &bytes).unwrap();
        let proc = fake_proc();
        // A garbled uevent may hide the card entirely; that is an error from open, not a panic.
        if let Ok(mut src) = gpuwarden::gpu::amd::AmdSource::with_sysfs(
            gpuwarden::gpu::amd::AmdConfig {
                sysfs_root: root.clone(),
                proc_root: proc.path().to_path_buf(),
            },
            Arc::new(RealSysfs),
        ) {
            let snap = src.sample(1).unwrap();
            prop_assert_eq!(snap.gpus.len(), 1);
            prop_assert_eq!(snap.gpus[0].status, GpuStatus::Ok);
        }
    }
}

/// Removes the card's directory the moment one of its files is read.
struct Vanishing {
    trigger: &'static str,
    card_dir: std::path::PathBuf,
}

impl gpuwarden::gpu::amd::Sysfs for Vanishing {
    fn read(&self, path: &Path) -> std::io::Result<String> {
        if path.ends_with(self.trigger) && self.card_dir.exists() {
            std::fs::remove_dir_all(&self.card_dir)?;
        }
        RealSysfs.read(path)
    }
    fn write(&self, path: &Path, value: &str) -> std::io::Result<()> {
        RealSysfs.write(path, value)
    }
    fn list(&self, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
        RealSysfs.list(dir)
    }
}

#[test]
fn a_card_that_vanishes_while_it_is_read_is_lost_not_all_unsupported() {
    let dir = copy_tree("rx6600");
    let root = dir.path().join("tree");
    let proc = fake_proc();
    let fs = Arc::new(Vanishing {
        trigger: "mem_busy_percent",
        card_dir: root.join("card1"),
    });
    let mut src = source(&root, proc.path(), fs);
    let snap = src.sample(1).unwrap();
    assert_eq!(snap.gpus.len(), 1);
    assert_eq!(snap.gpus[0].status, GpuStatus::Lost);
    assert_eq!(snap.gpus[0].uuid, "amd-0000:12:00.0");
    let again = src.sample(2).unwrap();
    assert_eq!(again.gpus[0].status, GpuStatus::Lost);
}
