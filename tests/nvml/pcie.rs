//! PCIe link health through `NvmlSource` against the fake: the maximum link is read once
//! (it is static), the replay counter on every sample, and an unsupported one is missing
//! with its reason.

use crate::fake_nvml::{FakeNvml, FakeState, NOT_SUPPORTED};
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::{Missing, PcieLink, Source};

#[test]
fn max_link_and_replays_equal_what_the_fake_serves_and_the_max_is_read_once() {
    let mut state = FakeState::with_gpus(2);
    state.gpus[1] = state.gpus[1]
        .clone()
        .with("pcie_link_gen_max", 4)
        .with("pcie_link_width_max", 8);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("opening the fake NVML");
    let snap = source.sample(1_000).expect("sampling the fake NVML");
    for (got, want) in snap.gpus.iter().zip(&state.gpus) {
        assert_eq!(
            got.pcie_link_max.get(),
            Some(PcieLink {
                generation: want.value("pcie_link_gen_max") as u32,
                width: want.value("pcie_link_width_max") as u32,
            })
        );
        assert_eq!(
            got.pcie_replays.get(),
            Some(want.value("pcie_replay_counter"))
        );
    }
    // The replay counter follows the driver; the maximum is static and kept.
    state.gpus[0] = state.gpus[0]
        .clone()
        .with("pcie_replay_counter", 40)
        .with("pcie_link_width_max", 4);
    fake.set(&state);
    let snap = source.sample(2_000).expect("sampling the fake NVML");
    assert_eq!(snap.gpus[0].pcie_replays.get(), Some(40));
    assert_eq!(snap.gpus[0].pcie_link_max.get().map(|l| l.width), Some(16));
}

#[test]
fn unsupported_max_link_and_replays_are_missing_with_not_supported() {
    let mut state = FakeState::with_gpus(2);
    state.gpus[0] = state.gpus[0]
        .clone()
        .without("pcie_link_width_max")
        .fail("GetPcieReplayCounter", NOT_SUPPORTED);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("opening the fake NVML");
    let snap = source.sample(1_000).expect("sampling the fake NVML");
    assert_eq!(
        snap.gpus[0].pcie_link_max.why(),
        Some(Missing::NotSupported)
    );
    assert_eq!(snap.gpus[0].pcie_replays.why(), Some(Missing::NotSupported));
    assert!(snap.gpus[0].pcie_link.get().is_some());
    assert!(snap.gpus[1].pcie_link_max.get().is_some());
}
