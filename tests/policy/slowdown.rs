//! `throttle = "slowdown"`: a rule on the card being slowed against its will — any of
//! hw-slowdown, sw-thermal, hw-thermal, hw-power-brake — while idle, the power cap,
//! application clocks, sync boost and display clocks never fire it, so "slow" means slow.

use crate::support::{Run, config, gpu};
use gpuwarden::gpu::{Field, ThrottleReason, ThrottleReasons};

const SLOWDOWN: &str = r#"
[[rule]]
name = "gpu-slowed"
throttle = "slowdown"
for = "2s"
clear_for = "2s"
steps = [{ do = "notify" }]
"#;

fn with(reasons: &[ThrottleReason]) -> gpuwarden::gpu::GpuSample {
    let mut g = gpu(0, 70.0);
    let set = reasons
        .iter()
        .fold(ThrottleReasons::NONE, |s, r| s.with(*r));
    g.throttle = Field::Value(set);
    g
}

#[test]
fn only_reasons_that_slow_the_card_against_its_will_fire_a_slowdown_rule() {
    use ThrottleReason::*;
    let benign = [GpuIdle, AppClocks, SwPowerCap, SyncBoost, DisplayClocks];
    let mut run = Run::new(config(SLOWDOWN));
    run.each_second(0, 30, |_| vec![with(&benign)]);
    assert!(run.story().is_empty(), "{:?}", run.story());
    for (i, r) in [HwSlowdown, SwThermal, HwThermal, HwPowerBrake]
        .into_iter()
        .enumerate()
    {
        let t = 100 + 100 * i as u64;
        let mut run = Run::new(config(SLOWDOWN));
        run.each_second(t, t + 10, |_| vec![with(&[GpuIdle, r])]);
        run.each_second(t + 11, t + 20, |_| vec![with(&[SwPowerCap])]);
        assert_eq!(
            run.story(),
            [
                format!("{}s fired", t + 2),
                format!("{}s notify", t + 2),
                format!("{}s cleared recovered", t + 13),
            ],
            "{r}"
        );
        let fired = &run.actions[0].summary;
        assert!(fired.contains("throttle reason slowdown active"), "{fired}");
    }
}
