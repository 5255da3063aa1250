//! A GPU in MIG mode under the watchdog: a memory rule watches each MIG instance on its own
//! (its memory, its processes' units), and its events name the instance's MIG UUID.

use crate::daemon::{Daemon, fleet, main_pid, story, wait_for};
use crate::e2e::policy;
use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState};
use crate::sandbox::Sandbox;
use crate::test_path;

const MIG_A: &str = "MIG-5d2c1b0a-0000-4000-8000-00000000000a";
const MIG_B: &str = "MIG-5d2c1b0a-0000-4000-8000-00000000000b";
const GPU1: &str = "GPU-fa4e0000-0000-4000-8000-000000000001";
const TOTAL: u64 = 40 << 30;

/// GPU 1 in MIG mode: instance A `a_used` of 40 GiB used by `a_pid`, instance B 10 %
/// used by `b_pid`.
fn mig_fleet(a_pid: u32, a_used: u64, b_pid: u32) -> FakeState {
    let mut state = fleet(50);
    state.gpus[1] = FakeGpu::h100(1).mig(true);
    state.mig_devices = vec![
        (
            1,
            FakeGpu::mig_device(MIG_A, "3g.40gb", a_used, TOTAL).compute(&[(a_pid, Some(a_used))]),
        ),
        (
            1,
            FakeGpu::mig_device(MIG_B, "3g.40gb", TOTAL / 10, TOTAL)
                .compute(&[(b_pid, Some(TOTAL / 10))]),
        ),
    ];
    state
}

#[test]
fn a_full_mig_instance_restarts_the_unit_on_it_and_not_the_one_on_its_sibling() {
    Sandbox::systemd().run(
        test_path!(a_full_mig_instance_restarts_the_unit_on_it_and_not_the_one_on_its_sibling),
        || {
            let a_before = main_pid("fake-infer@0.service");
            let b_before = main_pid("fake-infer@1.service");
            let fake = FakeNvml::new(&mig_fleet(a_before, TOTAL * 9 / 10, b_before));
            let rule = r#"
[[rule]]
name = "gpu-memory-full"
metric = "memory_used_pct"
above = 85
for = "1s"
clear_below = 75
severity = "warning"
steps = [{ after = "0s", do = "restart_units" }]
"#;
            let d = Daemon::start(
                &crate::e2e::dir(),
                &policy(rule, 3, "10m", true),
                &[],
                fake.envs(),
            );
            let log = || format!("events: {:?}", story(&d.events()));
            let after = wait_for(
                20,
                "fake-infer@0 (on instance A) to restart",
                || {
                    let pid = main_pid("fake-infer@0.service");
                    (pid != 0 && pid != a_before).then_some(pid)
                },
                log,
            );
            // The restarted server starts small.
            fake.set(&mig_fleet(after, TOTAL / 10, b_before));
            let restart = wait_for(
                15,
                "the logged restart",
                || {
                    d.events()
                        .into_iter()
                        .find(|e| e["kind"] == "restart_unit" && e["result"] == "ok")
                },
                log,
            );
            let cleared = wait_for(
                15,
                "the rule to clear on instance A",
                || d.events().into_iter().find(|e| e["kind"] == "cleared"),
                log,
            );
            let status = d.stop();
            assert!(status.success(), "exit status {status}");

            assert_eq!(restart["action"], "restart fake-infer@0.service");
            assert_eq!(restart["gpu"], MIG_A);
            assert_eq!(restart["gpu_index"], 1);
            assert_eq!(cleared["gpu"], MIG_A);
            let events = crate::daemon::events(&crate::e2e::dir().join("state"));
            let fired: Vec<_> = events.iter().filter(|e| e["kind"] == "fired").collect();
            assert_eq!(fired.len(), 1, "{:?}", story(&events));
            let restarts = events
                .iter()
                .filter(|e| e["kind"] == "restart_unit")
                .count();
            assert_eq!(restarts, 1, "one restart, not more: {:?}", story(&events));
            assert_eq!(fired[0]["gpu"], MIG_A);
            assert!(
                fired[0]["action"]
                    .as_str()
                    .is_some_and(|m| m.contains(MIG_A)),
                "the summary names the instance: {}",
                fired[0]
            );
            // Instance B's unit, on the same GPU, was never touched.
            assert_eq!(
                main_pid("fake-infer@1.service"),
                b_before,
                "unit B restarted"
            );
            let elsewhere: Vec<_> = events
                .iter()
                .filter(|e| e["gpu"] == MIG_B || e["gpu"] == GPU1)
                .collect();
            assert!(
                elsewhere.is_empty(),
                "nothing happens on instance B or on the GPU itself: {elsewhere:?}"
            );
        },
    );
}
