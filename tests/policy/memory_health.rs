//! Rules on the GPU's memory health: `row_remap_failure` (no spare rows left: replace it) and
//! `row_remap_pending` (a row remap or a page retirement waits for a GPU reset) are 0/1
//! readings like any metric, so a rule can page on them — and a card that reports neither
//! gives no reading, so such a rule waits rather than fires.

use crate::support::{Run, config, gpu};
use gpuwarden::gpu::{Field, Missing, RowRemap};

const RULES: &str = r#"
[[rule]]
name = "gpu-memory-failed"
metric = "row_remap_failure"
above = 0
severity = "critical"
steps = [{ do = "page" }]

[[rule]]
name = "gpu-needs-reset"
metric = "row_remap_pending"
above = 0
steps = [{ do = "notify" }]

[alerts.webhook]
url = "http://127.0.0.1:8080/hooks/gpu"
"#;

#[test]
fn a_failed_remap_pages_and_a_pending_repair_notifies() {
    // only a GPU reset clears them, so `above = 0` with no `for` cannot flap: no warning
    assert!(
        config(RULES).warnings.is_empty(),
        "{:?}",
        config(RULES).warnings
    );
    let mut run = Run::new(config(RULES));
    let healthy = |g: gpuwarden::gpu::GpuSample| {
        let mut g = g;
        g.row_remap = Field::Value(RowRemap::default());
        g.retired_pages_pending = Field::Value(false);
        g
    };
    run.each_second(0, 5, |_| vec![healthy(gpu(0, 60.0)), healthy(gpu(1, 60.0))]);
    assert!(run.story().is_empty(), "{:?}", run.story());
    run.each_second(6, 8, |_| {
        let mut failed = healthy(gpu(0, 60.0));
        failed.row_remap = Field::Value(RowRemap {
            uncorrectable: 3,
            failure: true,
            ..RowRemap::default()
        });
        let mut pending = healthy(gpu(1, 60.0));
        pending.retired_pages_pending = Field::Value(true);
        vec![failed, pending]
    });
    assert_eq!(
        run.story(),
        ["6s fired", "6s page", "6s fired gpu1", "6s notify gpu1"]
    );
    // a card that reports neither mechanism gives no reading: nothing fires, nothing clears
    let mut run = Run::new(config(RULES));
    run.each_second(0, 5, |_| {
        let mut g = gpu(0, 60.0);
        g.row_remap = Field::missing(Missing::NotSupported);
        g.retired_pages_pending = Field::missing(Missing::NotSupported);
        vec![g]
    });
    assert!(run.story().is_empty(), "{:?}", run.story());
}

const HEALTH_RULES: &str = r#"
[[rule]]
name = "gpu-failed"
metric = "health"
above = 1
severity = "critical"
steps = [{ do = "page" }]

[[rule]]
name = "gpu-degraded"
metric = "health"
above = 0
steps = [{ do = "notify" }]

[alerts.webhook]
url = "http://127.0.0.1:8080/hooks/gpu"
"#;

/// `metric = "health"` is the state `gpuwarden check` gives the GPU: 0 ok, 1 degraded,
/// 2 failed. A GPU at its slowdown temperature is degraded (notify only); a failed remap
/// makes it failed (both fire); a healthy GPU fires nothing.
#[test]
fn health_rules_fire_on_the_state_check_gives_the_gpu() {
    let mut run = Run::new(config(HEALTH_RULES));
    run.each_second(0, 3, |_| vec![gpu(0, 60.0), gpu(1, 60.0)]);
    assert!(run.story().is_empty(), "{:?}", run.story());
    run.each_second(4, 6, |_| {
        let mut failed = gpu(0, 60.0);
        failed.row_remap = Field::Value(RowRemap {
            uncorrectable: 3,
            failure: true,
            ..RowRemap::default()
        });
        vec![failed, gpu(1, 92.0)]
    });
    assert_eq!(
        run.story(),
        [
            "4s fired",
            "4s page",
            "4s fired",
            "4s notify",
            "4s fired gpu1",
            "4s notify gpu1"
        ]
    );
}
