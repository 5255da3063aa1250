//! Power from the hwmon energy counter: the first sample has none and says `warming_up`;
//! the second is Δenergy / Δt; a counter that goes backwards starts over.

use crate::support::{copy_tree, fake_proc, source};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::{Missing, Source};
use std::sync::Arc;

fn set_energy(path: &std::path::Path, uj: u64) {
    std::fs::write(path, format!("{uj}\n")).unwrap();
}

#[test]
fn two_samples_of_an_advancing_counter_give_the_power_between_them() {
    for (card, energy) in [
        ("a380-i915", "card1/device/hwmon/hwmon1/energy1_input"),
        ("b580", "card1/device/hwmon/hwmon2/energy1_input"),
    ] {
        let dir = copy_tree(card);
        let root = dir.path().join("tree");
        let energy = root.join(energy);
        let proc = fake_proc();
        let mut src = source(&root, proc.path(), Arc::new(RealSysfs));
        set_energy(&energy, 1_000_000_000);
        let first = src.sample(10_000).unwrap();
        assert_eq!(
            first.gpus[0].power_w.why(),
            Some(Missing::WarmingUp),
            "{card}"
        );
        // 72 J in 2 s.
        set_energy(&energy, 1_072_000_000);
        let second = src.sample(12_000).unwrap();
        assert_eq!(second.gpus[0].power_w.get(), Some(36.0), "{card}");
        // 15 J in 500 ms.
        set_energy(&energy, 1_087_000_000);
        let third = src.sample(12_500).unwrap();
        assert_eq!(third.gpus[0].power_w.get(), Some(30.0), "{card}");
        // The driver reloaded: the counter restarted, no rate until the next sample.
        set_energy(&energy, 5_000_000);
        let reset = src.sample(13_500).unwrap();
        assert_eq!(
            reset.gpus[0].power_w.why(),
            Some(Missing::WarmingUp),
            "{card}"
        );
        set_energy(&energy, 25_000_000);
        let after = src.sample(14_500).unwrap();
        assert_eq!(after.gpus[0].power_w.get(), Some(20.0), "{card}");
    }
}

#[test]
fn the_b580_reads_the_counter_labelled_card_not_the_package() {
    let dir = copy_tree("b580");
    let hwmon = dir.path().join("tree/card1/device/hwmon/hwmon2");
    let proc = fake_proc();
    let mut src = source(&dir.path().join("tree"), proc.path(), Arc::new(RealSysfs));
    src.sample(1_000).unwrap();
    // Only the package counter moves: the card drew nothing.
    set_energy(&hwmon.join("energy2_input"), 99_000_000_000);
    assert_eq!(src.sample(2_000).unwrap().gpus[0].power_w.get(), Some(0.0));
}

#[test]
fn an_unreadable_counter_is_a_missing_power_with_its_reason() {
    let dir = copy_tree("a380-i915");
    let root = dir.path().join("tree");
    let rec = crate::support::Recorder::new(&root);
    rec.refuse_read("energy1_input");
    let proc = fake_proc();
    let mut src = source(&root, proc.path(), rec);
    for at in [1_000, 2_000] {
        let snap = src.sample(at).unwrap();
        assert_eq!(snap.gpus[0].power_w.why(), Some(Missing::NoPermission));
        // The rest of the card still reads.
        assert_eq!(snap.gpus[0].power_limit_w.get(), Some(55.0));
    }
}
