//! Memory health through `NvmlSource` against the fake: remapped rows, pending page
//! retirement and the lifetime ECC count equal what the fake serves, and a driver or card
//! without row remapping reports it missing with `not_supported`.

use crate::fake_nvml::{FakeNvml, FakeState, NO_PERMISSION, NOT_SUPPORTED};
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::{Missing, RowRemap, Snapshot, Source};

fn sample(fake: &FakeNvml) -> Snapshot {
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("opening the fake NVML");
    source.sample(1_000).expect("sampling the fake NVML")
}

#[test]
fn memory_health_equals_what_the_fake_serves() {
    let mut state = FakeState::with_gpus(3);
    state.gpus[1] = state.gpus[1]
        .clone()
        .with("remapped_rows_uncorrectable", 3)
        .with("remapped_rows_pending", 1)
        .with("retired_pages_pending", 1);
    state.gpus[2] = state.gpus[2].clone().with("remapped_rows_failure", 1);
    let fake = FakeNvml::new(&state);
    let snap = sample(&fake);
    for (got, want) in snap.gpus.iter().zip(&state.gpus) {
        let v = |k| want.value(k);
        assert_eq!(
            got.row_remap.get(),
            Some(RowRemap {
                correctable: v("remapped_rows_correctable") as u32,
                uncorrectable: v("remapped_rows_uncorrectable") as u32,
                pending: v("remapped_rows_pending") == 1,
                failure: v("remapped_rows_failure") == 1,
            }),
            "GPU {}",
            got.index
        );
        assert_eq!(
            got.retired_pages_pending.get(),
            Some(v("retired_pages_pending") == 1)
        );
        assert_eq!(
            got.ecc_uncorrected_aggregate.get(),
            Some(v("ecc_uncorrected_aggregate"))
        );
        assert_eq!(
            got.ecc_uncorrected.get(),
            Some(v("ecc_uncorrected_volatile"))
        );
    }
    let healthy = snap.gpus[0].row_remap.get().expect("row remap of GPU 0");
    assert!(!healthy.pending && !healthy.failure && healthy.uncorrectable == 0);
    assert_eq!(snap.gpus[0].retired_pages_pending.get(), Some(false));
    assert!(snap.gpus[1].row_remap.get().is_some_and(|r| r.pending));
    assert!(snap.gpus[2].row_remap.get().is_some_and(|r| r.failure));
}

#[test]
fn a_gpu_without_row_remapping_reports_it_not_supported() {
    let mut state = FakeState::with_gpus(3);
    // A pre-Ampere card: the driver answers NOT_SUPPORTED for remapped rows.
    state.gpus[0] = state.gpus[0].clone().without("remapped_rows_correctable");
    state.gpus[1] = state.gpus[1]
        .clone()
        .fail("GetRemappedRows", NOT_SUPPORTED)
        .fail("GetRetiredPagesPendingStatus", NO_PERMISSION);
    let fake = FakeNvml::new(&state);
    let snap = sample(&fake);
    assert_eq!(snap.gpus[0].row_remap.why(), Some(Missing::NotSupported));
    assert_eq!(snap.gpus[1].row_remap.why(), Some(Missing::NotSupported));
    assert_eq!(
        snap.gpus[1].retired_pages_pending.why(),
        Some(Missing::NoPermission)
    );
    // The rest of the GPU is still read.
    assert_eq!(snap.gpus[0].retired_pages_pending.get(), Some(false));
    assert_eq!(snap.gpus[1].ecc_uncorrected_aggregate.get(), Some(101));
    assert!(snap.gpus[2].row_remap.get().is_some());
}

#[test]
fn a_driver_without_the_symbols_reports_them_not_supported() {
    let state = FakeState::with_gpus(1);
    let fake = FakeNvml::without(
        &[
            "nvmlDeviceGetRemappedRows",
            "nvmlDeviceGetRetiredPagesPendingStatus",
        ],
        &state,
    );
    let g = &sample(&fake).gpus[0];
    assert_eq!(g.row_remap.why(), Some(Missing::NotSupported));
    assert_eq!(g.retired_pages_pending.why(), Some(Missing::NotSupported));
    assert_eq!(g.ecc_uncorrected_aggregate.get(), Some(100));
}
