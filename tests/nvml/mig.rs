//! A GPU in MIG mode through the fake: its MIG devices (UUID, profile, memory) in
//! `snapshot --json`, and each process on the device it runs on.

use crate::cli::{gpuwarden, json_of};
use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState};
use crate::source::Sleeper;
use serde_json::json;

const MIG_A: &str = "MIG-5d2c1b0a-0000-4000-8000-00000000000a";
const MIG_B: &str = "MIG-5d2c1b0a-0000-4000-8000-00000000000b";

#[test]
fn a_mig_gpu_shows_its_two_instances_and_a_process_on_each() {
    let a = Sleeper::start();
    let b = Sleeper::start();
    let mut state = FakeState::with_gpus(3);
    // GPU 0 in MIG mode: the parent lists nothing itself (as without root on real drivers).
    state.gpus[0] = state.gpus[0].clone().mig(true);
    state.gpus[1] = state.gpus[1].clone().mig(false);
    state.mig_devices = vec![
        (
            0,
            FakeGpu::mig_device(MIG_A, "3g.40gb", 1 << 30, 40 << 30)
                .compute(&[(a.pid(), Some(1 << 30))]),
        ),
        (
            0,
            FakeGpu::mig_device(MIG_B, "2g.20gb", 2 << 30, 20 << 30)
                .compute(&[(b.pid(), Some(2 << 30))]),
        ),
    ];
    let fake = FakeNvml::new(&state);
    let snap = json_of(gpuwarden().args(["snapshot", "--json"]).envs(fake.envs()));
    assert_eq!(
        snap["gpus"].as_array().map(Vec::len),
        Some(3),
        "MIG devices are no GPUs"
    );
    let gpu = &snap["gpus"][0];
    assert_eq!(
        gpu["mig"],
        json!([
            {"uuid": MIG_A, "profile": "3g.40gb", "memory_used_bytes": 1u64 << 30,
             "memory_total_bytes": 40u64 << 30, "utilization_gpu_pct": {"missing": "not_supported"}},
            {"uuid": MIG_B, "profile": "2g.20gb", "memory_used_bytes": 2u64 << 30,
             "memory_total_bytes": 20u64 << 30, "utilization_gpu_pct": {"missing": "not_supported"}},
        ])
    );
    let procs = gpu["processes"].as_array().expect("processes");
    let on = |pid: u32| {
        let p = procs
            .iter()
            .find(|p| p["pid"] == pid)
            .unwrap_or_else(|| panic!("{pid} missing from {procs:?}"));
        (
            p["mig_uuid"].clone(),
            p["used_memory_bytes"].clone(),
            p["command"].clone(),
        )
    };
    assert_eq!(
        on(a.pid()),
        (json!(MIG_A), json!(1u64 << 30), json!("sleep 300"))
    );
    assert_eq!(
        on(b.pid()),
        (json!(MIG_B), json!(2u64 << 30), json!("sleep 300"))
    );
    // MIG mode off: no devices; a GPU without MIG: not supported.
    assert_eq!(snap["gpus"][1]["mig"], json!([]));
    assert_eq!(snap["gpus"][2]["mig"], json!({"missing": "not_supported"}));
}

#[test]
fn a_process_the_gpu_lists_too_is_marked_not_repeated() {
    let a = Sleeper::start();
    let mut state = FakeState::with_gpus(1);
    state.gpus[0] = state.gpus[0]
        .clone()
        .mig(true)
        .compute(&[(a.pid(), Some(7))]);
    state.mig_devices = vec![(
        0,
        FakeGpu::mig_device(MIG_A, "7g.80gb", 7, 80 << 30).compute(&[(a.pid(), Some(7))]),
    )];
    let fake = FakeNvml::new(&state);
    let snap = json_of(gpuwarden().args(["snapshot", "--json"]).envs(fake.envs()));
    let procs = snap["gpus"][0]["processes"].as_array().unwrap();
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert_eq!(procs[0]["mig_uuid"], MIG_A);
}
