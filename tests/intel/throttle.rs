//! The throttle files of both drivers (i915 `gt/gtN/throttle_reason_*`, xe
//! `freq0/throttle/reason_*`) as the model's throttle reasons.

use crate::support::{copy_tree, fake_proc, source};
use gpuwarden::gpu::Source;
use gpuwarden::gpu::amd::RealSysfs;
use std::sync::Arc;

#[test]
fn throttle_files_become_the_models_reasons() {
    for (card, dir, prefix) in [
        ("a380-i915", "card1/gt/gt0", "throttle_reason_"),
        ("b580", "card1/device/tile0/gt0/freq0/throttle", "reason_"),
    ] {
        let tree = copy_tree(card);
        let root = tree.path().join("tree");
        let set = |reason: &str, v: &str| {
            std::fs::write(root.join(dir).join(format!("{prefix}{reason}")), v).unwrap();
        };
        let proc = fake_proc();
        let mut src = source(&root, proc.path(), Arc::new(RealSysfs));
        let names = |src: &mut gpuwarden::gpu::intel::IntelSource| {
            src.sample(1).unwrap().gpus[0]
                .throttle
                .value()
                .map(|t| t.to_string())
        };
        assert_eq!(names(&mut src).as_deref(), Some("none"), "{card}");
        set("pl1", "1\n");
        set("prochot", "1\n");
        assert_eq!(
            names(&mut src).as_deref(),
            Some("sw-power-cap,hw-thermal"),
            "{card}"
        );
        set("pl1", "0\n");
        set("prochot", "0\n");
        set("vr_tdc", "1\n");
        set("ratl", "1\n");
        assert_eq!(
            names(&mut src).as_deref(),
            Some("hw-slowdown,sw-thermal"),
            "{card}"
        );
    }
}
