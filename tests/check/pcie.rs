//! The `pcie` check end to end on the fake NVML: a downtrained link is a finding naming the
//! GPU, a slow generation only while the GPU is busy, a link at its maximum passes.

use crate::fake_nvml::FakeNvml;
use crate::{gpuwarden, healthy, output};

#[test]
fn a_downtrained_link_and_a_slow_busy_link_are_findings_an_idle_one_is_not() {
    let mut state = healthy(4);
    state.gpus[1] = state.gpus[1].clone().with("pcie_link_width", 8);
    // Idle (the fake's utilization is 40 + index %): gen1 is how it saves power.
    state.gpus[2] = state.gpus[2].clone().with("pcie_link_gen", 1);
    state.gpus[3] = state.gpus[3]
        .clone()
        .with("pcie_link_gen", 3)
        .with("utilization_gpu_pct", 95);
    let fake = FakeNvml::new(&state);
    let (code, stdout, stderr) = output(gpuwarden().arg("check").envs(fake.envs()));
    assert_eq!(code, 1, "{stdout}{stderr}");
    let gpu = |i: usize| {
        format!(
            "GPU {i} ({}, {}): pcie: ",
            state.gpus[i].uuid, state.gpus[i].pci_bus_id
        )
    };
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "{}PCIe link downtrained to x8 (its maximum is x16) — reseat or replace the GPU; \
             check the riser and the slot",
            gpu(1)
        )
    );
    assert!(
        lines[1].starts_with(&format!(
            "{}PCIe link runs at gen3 (its maximum is gen5) while the GPU is 95% busy — ",
            gpu(3)
        )),
        "{stdout}"
    );
    assert!(!stdout.contains("GPU 2 ("), "{stdout}");
    assert!(
        stdout.contains("unhealthy: 2 findings on 4 GPUs"),
        "{stdout}"
    );
}

#[test]
fn a_slot_narrower_than_the_card_is_its_maximum_and_passes() {
    let mut state = healthy(2);
    // NVML's maximum is what the GPU and the slot together support.
    state.gpus[0] = state.gpus[0]
        .clone()
        .with("pcie_link_width", 8)
        .with("pcie_link_width_max", 8);
    let fake = FakeNvml::new(&state);
    let (code, stdout, stderr) = output(gpuwarden().args(["check", "--brief"]).envs(fake.envs()));
    assert_eq!(
        (code, stdout.as_str()),
        (0, "OK: 2 GPUs healthy\n"),
        "{stderr}"
    );
}
