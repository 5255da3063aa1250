//! The watchdog's rules on Intel metrics: the policy engine stepped over samples of a
//! recorded B580 whose energy counter advances, as the daemon steps it, and `/metrics`
//! rendering the same card. Power needs two samples, so a power rule cannot fire on the
//! first one; the cap it orders is the one `control.rs` shows as sysfs writes.

use crate::support::{copy_tree, fake_proc, source};
use gpuwarden::gpu::Source;
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::metrics::{self, SamplingMetrics};
use gpuwarden::policy::{self, State};
use std::sync::Arc;

const UUID: &str = "intel-0000:09:00.0";
const ENERGY: &str = "card1/device/hwmon/hwmon2/energy1_input";

const POLICY: &str = r#"
[clock_cap]
sm_clock_mhz = [400, 1200]

[[rule]]
name = "intel-power"
metric = "power_pct_of_limit"
above = 20
for = "3s"
severity = "warning"
steps = [
    { after = "0s", do = "notify" },
    { after = "0s", do = "cap_clocks" },
]

[[rule]]
name = "intel-hot"
metric = "temperature_c"
above = 50
for = "2s"
severity = "warning"
steps = [{ after = "0s", do = "notify" }]
"#;

#[test]
fn rules_fire_on_an_intel_cards_power_and_temperature() {
    let dir = copy_tree("b580");
    let root = dir.path().join("tree");
    let proc = fake_proc();
    let mut src = source(&root, proc.path(), Arc::new(RealSysfs));
    let file = dir.path().join("watchdog.toml");
    std::fs::write(&file, POLICY).unwrap();
    let config = policy::load(&file).expect("policy loads");
    let mut state = State::default();
    let mut fired = Vec::new();
    for k in 0..6u64 {
        // 45 J a second: 45 W of the 190 W cap (24 %) from the second sample on; the card
        // reads 54 °C throughout.
        let uj = 11_000_000_000 + k * 45_000_000;
        std::fs::write(root.join(ENERGY), format!("{uj}\n")).unwrap();
        let now = 1_000_000 + k * 1000;
        let snap = src.sample(now).unwrap();
        for a in policy::step(&config, &mut state, &snap, now) {
            assert_eq!(a.gpu.uuid, UUID);
            fired.push((
                (a.at_ms - 1_000_000) / 1000,
                a.rule.clone().unwrap_or_default(),
                a.kind.name().to_string(),
            ));
        }
    }
    let got: Vec<(u64, &str, &str)> = fired
        .iter()
        .map(|(t, r, k)| (*t, r.as_str(), k.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (2, "intel-hot", "fired"),
            (2, "intel-hot", "notify"),
            // Power has a value from t=1 on (warming up at t=0), so 3 s above is t=4.
            (4, "intel-power", "fired"),
            (4, "intel-power", "notify"),
            (4, "intel-power", "cap_clocks"),
        ]
    );
}

#[test]
fn metrics_show_the_intel_card_and_leave_out_what_it_lacks() {
    let dir = copy_tree("b580");
    let root = dir.path().join("tree");
    let proc = fake_proc();
    let mut src = source(&root, proc.path(), Arc::new(RealSysfs));
    let labels = r#"{gpu="0",uuid="intel-0000:09:00.0",model="Intel Arc B580",vendor="intel"}"#;
    std::fs::write(root.join(ENERGY), "11000000000\n").unwrap();
    let first = src.sample(1_000).unwrap();
    let text = metrics::render(Some(&first), &SamplingMetrics::default(), None);
    // Warming up: no power line yet, the rest is there.
    assert!(
        !text.contains(&format!("gpuwarden_gpu_power_watts{labels}")),
        "{text}"
    );
    assert!(
        text.contains(&format!("gpuwarden_gpu_temperature_celsius{labels} 54")),
        "{text}"
    );
    assert!(
        text.contains(&format!("gpuwarden_gpu_power_limit_watts{labels} 190")),
        "{text}"
    );
    std::fs::write(root.join(ENERGY), "11045000000\n").unwrap();
    let second = src.sample(2_000).unwrap();
    let text = metrics::render(Some(&second), &SamplingMetrics::default(), None);
    assert!(
        text.contains(&format!("gpuwarden_gpu_power_watts{labels} 45\n")),
        "{text}"
    );
}
