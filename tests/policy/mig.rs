//! A GPU in MIG mode: memory rules watch each MIG instance (its memory, its processes'
//! units) under the instance's MIG UUID; the GPU-wide rules stay on the GPU; an instance is
//! never capped alone; an instance that goes away clears its rules.

use crate::support::{GIB, Run, config, gpu, line, with_unit};
use gpuwarden::gpu::{Field, GpuSample, MigDevice};
use gpuwarden::policy::ActionKind;

const A: &str = "MIG-a";
const B: &str = "MIG-b";

/// GPU 0 in MIG mode at `temp_c`: instance A with `a_pct` % of its 40 GiB used by
/// a@0.service (pid 10), instance B 10 % used by b@0.service (pid 20). The GPU itself says
/// 20 of 80 GiB.
fn mig_gpu(temp_c: f64, a_pct: u64) -> GpuSample {
    let mut g = with_unit(
        with_unit(gpu(0, temp_c), 10, "a@0.service"),
        20,
        "b@0.service",
    );
    if let Field::Value(procs) = &mut g.processes {
        procs[0].mig_uuid = Some(A.into());
        procs[1].mig_uuid = Some(B.into());
    }
    let instance = |uuid: &str, pct: u64| MigDevice {
        uuid: uuid.into(),
        profile: Field::Value("3g.40gb".into()),
        memory_used_bytes: Field::Value(40 * GIB * pct / 100),
        memory_total_bytes: Field::Value(40 * GIB),
        utilization_gpu_pct: Field::default(),
    };
    g.mig = Field::Value(vec![instance(A, a_pct), instance(B, 10)]);
    g
}

const RULES: &str = r#"
[units]
allow = ["*@0.service"]

[clock_cap]
sm_clock_mhz = [210, 1200]

[[rule]]
name = "full"
metric = "memory_used_pct"
above = 85
clear_below = 75
steps = [{ do = "cap_clocks" }, { do = "restart_units" }]

[[rule]]
name = "hot"
metric = "temperature_c"
above = 85
clear_below = 80
steps = [{ do = "notify" }]
"#;

/// `line` with the GPU's UUID.
fn lines_with_uuid(actions: &[gpuwarden::policy::Action]) -> Vec<String> {
    actions
        .iter()
        .map(|a| format!("{} {}", line(a), a.gpu.uuid))
        .collect()
}

#[test]
fn a_full_instance_fires_and_restarts_its_own_unit_only() {
    let mut run = Run::new(config(RULES));
    run.at(0, vec![mig_gpu(50.0, 50)]);
    let fired = run.at(1, vec![mig_gpu(50.0, 90)]);
    assert_eq!(
        lines_with_uuid(&fired),
        [
            "1s fired MIG-a",
            "1s cap_skipped MIG-a",
            "1s restart_unit a@0.service MIG-a"
        ]
    );
    assert!(
        fired[0].summary.contains("GPU 0 (MIG-a)"),
        "{}",
        fired[0].summary
    );
    assert!(run.state.gpus.contains_key(A));
    // The GPU-wide rule is the GPU's: it names the GPU, not an instance.
    let hot = run.at(2, vec![mig_gpu(90.0, 90)]);
    assert_eq!(lines_with_uuid(&hot), ["2s fired GPU-0", "2s notify GPU-0"]);
}

#[test]
fn without_mig_the_same_memory_rule_reads_the_whole_gpu() {
    let mut run = Run::new(config(RULES));
    let mut g = mig_gpu(50.0, 90);
    g.mig = Field::Value(Vec::new());
    // 20 of 80 GiB: nothing fires; as a MIG GPU instance A is full.
    assert_eq!(run.at(0, vec![g]), []);
    assert_eq!(
        lines_with_uuid(&run.at(1, vec![mig_gpu(50.0, 90)]))[0],
        "1s fired MIG-a"
    );
}

#[test]
fn an_instance_that_goes_away_clears_its_rules_and_is_forgotten() {
    let mut run = Run::new(config(RULES));
    run.at(0, vec![mig_gpu(50.0, 90)]);
    let mut off = mig_gpu(50.0, 90);
    off.mig = Field::Value(Vec::new());
    let gone = run.at(1, vec![off]);
    assert_eq!(lines_with_uuid(&gone), ["1s cleared gpu_lost MIG-a"]);
    assert!(matches!(gone[0].kind, ActionKind::Cleared { .. }));
    assert!(
        gone[0].summary.contains("the MIG instance is gone"),
        "{}",
        gone[0].summary
    );
    assert!(!run.state.gpus.contains_key(A) && !run.state.gpus.contains_key(B));
}

#[test]
fn a_rule_can_select_one_instance_by_its_mig_uuid() {
    let only_b = RULES.replace("name = \"full\"\n", "name = \"full\"\ngpus = [\"MIG-b\"]\n");
    let mut run = Run::new(config(&only_b));
    assert_eq!(run.at(0, vec![mig_gpu(50.0, 90)]), []);
}
