//! The `memory` check end to end on the fake NVML: a pending row remap or pending page
//! retirement asks for a reset, a failed remap for a replacement, each line naming the GPU
//! by index, UUID and PCI bus id; a healthy card passes.

use crate::fake_nvml::NOT_SUPPORTED;
use crate::{gpuwarden, healthy, output};
use serde_json::Value;

#[test]
fn healthy_memory_exits_0_and_memory_is_checked() {
    let fake = crate::fake_nvml::FakeNvml::new(&healthy(4));
    let (code, stdout, stderr) = output(gpuwarden().args(["check", "--json"]).envs(fake.envs()));
    assert_eq!(code, 0, "{stdout}{stderr}");
    let json: Value = serde_json::from_str(&stdout).expect("check --json prints JSON");
    assert_eq!(json["status"], "healthy");
    assert!(
        json["checks"]
            .as_array()
            .unwrap()
            .contains(&"memory".into()),
        "{json}"
    );
    let not_checked = json["not_checked"].as_array().unwrap();
    assert!(not_checked.iter().all(|n| n["check"] != "memory"), "{json}");
}

#[test]
fn pending_remaps_and_retirements_ask_for_a_reset_and_a_failed_remap_for_a_replacement() {
    let mut state = healthy(4);
    state.gpus[1] = state.gpus[1].clone().with("remapped_rows_pending", 1);
    state.gpus[2] = state.gpus[2]
        .clone()
        .with("remapped_rows_uncorrectable", 5)
        .with("remapped_rows_failure", 1);
    state.gpus[3] = state.gpus[3].clone().with("retired_pages_pending", 1);
    let fake = crate::fake_nvml::FakeNvml::new(&state);
    let (code, stdout, stderr) = output(gpuwarden().arg("check").envs(fake.envs()));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let gpu = |i: usize| {
        format!(
            "GPU {i} ({}, {}): memory: ",
            state.gpus[i].uuid, state.gpus[i].pci_bus_id
        )
    };
    // Critical first.
    assert!(
        lines[0].starts_with(&format!(
            "{}a memory row remap failed: no spare row left (5 rows remapped after \
             uncorrectable errors",
            gpu(2)
        )),
        "{stdout}"
    );
    assert!(
        lines[0]
            .ends_with("— drain and replace this GPU: its memory cannot remap bad rows any more")
    );
    assert!(
        lines[1].starts_with(&format!(
            "{}a memory row remap is pending until the GPU is reset — reset this GPU when idle",
            gpu(1)
        )),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with(&format!(
            "{}retired memory pages are pending until the GPU is reset — reset this GPU when idle",
            gpu(3)
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("unhealthy: 3 findings on 4 GPUs"),
        "{stdout}"
    );
}

#[test]
fn a_card_without_remapping_or_retirement_lists_memory_as_not_checked() {
    let mut state = healthy(2);
    state.gpus[0] = state.gpus[0]
        .clone()
        .fail("GetRemappedRows", NOT_SUPPORTED)
        .fail("GetRetiredPagesPendingStatus", NOT_SUPPORTED);
    let fake = crate::fake_nvml::FakeNvml::new(&state);
    let (code, stdout, stderr) = output(gpuwarden().arg("check").envs(fake.envs()));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(
            "not checked: memory on GPU 0: row remapping: not supported; retired pages: \
             not supported"
        ),
        "{stdout}"
    );
}
