//! `NvmlSource` in-process against the fake: every field equals what the fake serves,
//! missing fields carry the right reason, a lost GPU is marked lost while the others update.

use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState, GPU_IS_LOST, NO_PERMISSION, NOT_SUPPORTED};
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::source::SourceError;
use gpuwarden::gpu::{Field, GpuSample, GpuStatus, Missing, PcieLink, Snapshot, Source};
use gpuwarden::gpu::{ThrottleReason, Vendor};
use std::process::{Child, Command};

fn open(fake: &FakeNvml) -> NvmlSource {
    NvmlSource::open(Some(&fake.lib_path())).expect("opening the fake NVML")
}

fn sample(source: &mut NvmlSource) -> Snapshot {
    source.sample(1_000).expect("sampling the fake NVML")
}

/// A child process whose pid the fake reports as a GPU user; killed when dropped.
pub(crate) struct Sleeper(Child);

impl Sleeper {
    pub(crate) fn start() -> Self {
        let child = Command::new("sleep")
            .arg("300")
            .spawn()
            .expect("starting sleep");
        // spawn() returns once exec began; the kernel fills /proc/PID/cmdline a moment later.
        let cmdline = format!("/proc/{}/cmdline", child.id());
        for _ in 0..200 {
            if std::fs::read(&cmdline).is_ok_and(|c| !c.is_empty()) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Sleeper(child)
    }
    pub(crate) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Asserts that every field of `got` is what `want` serves, in the model's units.
fn assert_matches_fake(got: &GpuSample, want: &FakeGpu, index: u32, driver: &str) {
    let v = |k| want.value(k);
    assert_eq!(got.index, index);
    assert_eq!(got.uuid, want.uuid);
    assert_eq!(got.vendor, Vendor::Nvidia);
    assert_eq!(got.status, GpuStatus::Ok);
    assert_eq!(got.name.value(), Some(&want.name));
    assert_eq!(got.pci_bus_id.value(), Some(&want.pci_bus_id));
    assert_eq!(got.driver_version.value().map(String::as_str), Some(driver));
    assert_eq!(
        got.utilization_gpu_pct.get(),
        Some(v("utilization_gpu_pct") as u32)
    );
    assert_eq!(
        got.utilization_memory_pct.get(),
        Some(v("utilization_memory_pct") as u32)
    );
    assert_eq!(got.memory_used_bytes.get(), Some(v("memory_used_bytes")));
    assert_eq!(got.memory_total_bytes.get(), Some(v("memory_total_bytes")));
    assert_eq!(got.temperature_c.get(), Some(v("temperature_c") as f64));
    assert_eq!(
        got.temperature_slowdown_c.get(),
        Some(v("temperature_slowdown_c") as f64)
    );
    assert_eq!(
        got.temperature_shutdown_c.get(),
        Some(v("temperature_shutdown_c") as f64)
    );
    assert_eq!(got.power_w.get(), Some(v("power_mw") as f64 / 1000.0));
    assert_eq!(
        got.power_limit_w.get(),
        Some(v("power_limit_mw") as f64 / 1000.0)
    );
    assert_eq!(got.clock_sm_mhz.get(), Some(v("clock_sm_mhz") as u32));
    assert_eq!(
        got.clock_sm_max_mhz.get(),
        Some(v("clock_sm_max_mhz") as u32)
    );
    assert_eq!(got.clock_mem_mhz.get(), Some(v("clock_mem_mhz") as u32));
    assert_eq!(
        got.clock_mem_max_mhz.get(),
        Some(v("clock_mem_max_mhz") as u32)
    );
    assert_eq!(got.fan_pct.get(), Some(v("fan_pct") as u32));
    assert_eq!(got.pstate.get(), Some(v("pstate") as u32));
    assert_eq!(
        got.throttle.get().map(|t| t.0),
        Some(v("clocks_event_reasons"))
    );
    assert_eq!(got.encoder_pct.get(), Some(v("encoder_pct") as u32));
    assert_eq!(got.decoder_pct.get(), Some(v("decoder_pct") as u32));
    assert_eq!(
        got.pcie_link.get(),
        Some(PcieLink {
            generation: v("pcie_link_gen") as u32,
            width: v("pcie_link_width") as u32
        })
    );
    assert_eq!(
        got.pcie_rx_bytes_per_s.get(),
        Some(v("pcie_rx_kbps") * 1024)
    );
    assert_eq!(
        got.pcie_tx_bytes_per_s.get(),
        Some(v("pcie_tx_kbps") * 1024)
    );
    assert_eq!(
        got.ecc_uncorrected.get(),
        Some(v("ecc_uncorrected_volatile"))
    );
}

#[test]
fn every_field_equals_what_the_fake_serves() {
    let sleeper = Sleeper::start();
    let me = std::process::id();
    let mut state = FakeState::with_gpus(3);
    state.driver_version = "555.42.06".into();
    state.gpus[0] = state.gpus[0]
        .clone()
        .with("clocks_event_reasons", 0x4 | 0x40)
        .with("pstate", 2)
        .compute(&[(me, Some(1 << 30)), (sleeper.pid(), None)])
        .graphics(&[(sleeper.pid(), Some(4096)), (me, Some(7))]);
    let fake = FakeNvml::new(&state);
    let mut source = open(&fake);
    let snap = sample(&mut source);

    assert_eq!(snap.source, "nvml");
    assert_eq!(snap.at_ms, 1_000);
    assert_eq!(snap.gpus.len(), 3);
    for (i, (got, want)) in snap.gpus.iter().zip(&state.gpus).enumerate() {
        assert_matches_fake(got, want, i as u32, "555.42.06");
    }
    let reasons: Vec<ThrottleReason> = snap.gpus[0].throttle.get().unwrap().iter().collect();
    assert_eq!(
        reasons,
        [ThrottleReason::SwPowerCap, ThrottleReason::HwThermal]
    );

    // One entry per pid: compute first, memory from whichever list knows it.
    let procs = snap.gpus[0].processes.value().expect("processes");
    assert_eq!(procs.len(), 2, "{procs:?}");
    assert_eq!(procs[0].pid, me);
    assert_eq!(procs[0].used_memory_bytes, Some(1 << 30));
    assert_eq!(procs[1].pid, sleeper.pid());
    assert_eq!(procs[1].used_memory_bytes, Some(4096));
    // Described from the real /proc: who runs it, what, under which unit.
    assert_eq!(procs[1].command.as_deref(), Some("sleep 300"));
    let mut expected = gpuwarden::gpu::GpuProcess {
        pid: me,
        ..Default::default()
    };
    gpuwarden::host::describe_process(std::path::Path::new("/proc"), &mut expected);
    assert!(expected.user.is_some() && expected.command.is_some());
    assert_eq!(procs[0].user, expected.user);
    assert_eq!(procs[0].command, expected.command);
    assert_eq!(procs[0].unit, expected.unit);
    assert_eq!(snap.gpus[1].processes.value().map(Vec::len), Some(0));

    // Descriptions are remembered between samples (pid + start time) and stay right.
    // (CPU %, RSS and run time move on; who the process is does not.)
    let who = |s: &Snapshot| -> Vec<_> {
        let procs = s.gpus[0].processes.value().expect("processes");
        procs
            .iter()
            .map(|p| {
                (
                    p.pid,
                    p.user.clone(),
                    p.command.clone(),
                    p.unit.clone(),
                    p.owner.clone(),
                )
            })
            .collect()
    };
    let again = sample(&mut source);
    assert_eq!(who(&again), who(&snap));
    let other = Sleeper::start();
    state.gpus[0] = state.gpus[0]
        .clone()
        .compute(&[(other.pid(), Some(5))])
        .graphics(&[]);
    fake.set(&state);
    let moved = sample(&mut source);
    let procs = moved.gpus[0].processes.value().expect("processes");
    assert_eq!(procs.len(), 1);
    assert_eq!(procs[0].pid, other.pid());
    assert_eq!(procs[0].command.as_deref(), Some("sleep 300"));
}

#[test]
fn dynamic_values_follow_the_state_file_between_samples() {
    let mut state = FakeState::with_gpus(2);
    let fake = FakeNvml::new(&state);
    let mut source = open(&fake);
    let first = sample(&mut source);
    assert_eq!(first.gpus[1].temperature_c.get(), Some(51.0));

    state.gpus[1] = state.gpus[1]
        .clone()
        .with("temperature_c", 83)
        .with("power_mw", 655_500)
        .with("memory_used_bytes", 80_000_000_000)
        .with("clocks_event_reasons", 0x20)
        .with("ecc_uncorrected_volatile", 3);
    fake.set(&state);
    let second = sample(&mut source);
    assert_matches_fake(&second.gpus[1], &state.gpus[1], 1, "550.54.15");
    assert_eq!(second.gpus[1].power_w.get(), Some(655.5));
    assert_eq!(second.gpus[0], first.gpus[0]);
}

#[test]
fn unsupported_and_forbidden_fields_are_missing_with_their_reason() {
    let mut state = FakeState::with_gpus(2);
    state.gpus[0] = state.gpus[0]
        .clone()
        .without("fan_pct")
        .fail("GetEncoderUtilization", NOT_SUPPORTED)
        .fail("GetPcieThroughput", NOT_SUPPORTED)
        .fail("GetPowerUsage", NO_PERMISSION)
        .fail("GetTotalEccErrors", NO_PERMISSION)
        .fail("GetTemperatureThreshold", 999)
        .fail("GetCurrPcieLinkWidth", NOT_SUPPORTED);
    state.gpus[0].graphics_processes = None;
    let fake = FakeNvml::new(&state);
    let mut source = open(&fake);
    let snap = sample(&mut source);
    let g = &snap.gpus[0];
    assert_eq!(g.status, GpuStatus::Ok);
    assert_eq!(g.fan_pct.why(), Some(Missing::NotSupported));
    assert_eq!(g.encoder_pct.why(), Some(Missing::NotSupported));
    assert_eq!(g.pcie_rx_bytes_per_s.why(), Some(Missing::NotSupported));
    assert_eq!(g.pcie_tx_bytes_per_s.why(), Some(Missing::NotSupported));
    assert_eq!(g.pcie_link.why(), Some(Missing::NotSupported));
    assert_eq!(g.power_w.why(), Some(Missing::NoPermission));
    assert_eq!(g.ecc_uncorrected.why(), Some(Missing::NoPermission));
    assert_eq!(g.temperature_slowdown_c.why(), Some(Missing::Error));
    assert_eq!(g.temperature_shutdown_c.why(), Some(Missing::Error));
    // The rest of the GPU is still read.
    assert_eq!(g.decoder_pct.get(), Some(1));
    assert_eq!(g.temperature_c.get(), Some(50.0));
    assert_eq!(g.power_limit_w.get(), Some(700.0));
    assert_eq!(g.processes.value().map(Vec::len), Some(0));
    assert_matches_fake(&snap.gpus[1], &state.gpus[1], 1, "550.54.15");

    // An error that goes away is read again; a settled "not supported" is kept.
    state.gpus[0].errors.clear();
    fake.set(&state);
    let snap = sample(&mut source);
    assert_eq!(snap.gpus[0].temperature_slowdown_c.get(), Some(87.0));
    assert_eq!(snap.gpus[0].power_w.get(), Some(300.0));
    assert_eq!(snap.gpus[0].fan_pct.why(), Some(Missing::NotSupported));
}

#[test]
fn a_symbol_the_driver_lacks_is_not_supported_not_a_panic() {
    let state = FakeState::with_gpus(1);
    let fake = FakeNvml::without(
        &[
            "nvmlDeviceGetFanSpeed_v2",
            "nvmlDeviceGetGraphicsRunningProcesses_v3",
            "nvmlDeviceGetCurrentClocksEventReasons",
        ],
        &state,
    );
    let mut source = open(&fake);
    let g = &sample(&mut source).gpus[0];
    assert_eq!(g.fan_pct.why(), Some(Missing::NotSupported));
    assert_eq!(g.processes.value().map(Vec::len), Some(0));
    // Older drivers only have the deprecated "throttle reasons" name.
    assert_eq!(g.throttle.get().map(|t| t.0), Some(0x4));

    let fake = FakeNvml::without(
        &[
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
        ],
        &state,
    );
    let mut source = open(&fake);
    let g = &sample(&mut source).gpus[0];
    assert_eq!(g.throttle.why(), Some(Missing::NotSupported));
    assert_eq!(g.fan_pct.get(), Some(30));
}

#[test]
fn a_lost_gpu_is_marked_lost_while_the_others_keep_updating() {
    let mut state = FakeState::with_gpus(3);
    let fake = FakeNvml::new(&state);
    let mut source = open(&fake);
    let before = sample(&mut source);
    assert!(before.gpus.iter().all(|g| !g.is_lost()));

    state.gpus[1] = state.gpus[1].clone().lost();
    state.gpus[0] = state.gpus[0].clone().with("temperature_c", 77);
    state.gpus[2] = state.gpus[2].clone().with("utilization_gpu_pct", 99);
    fake.set(&state);
    let during = sample(&mut source);
    assert_eq!(during.gpus.len(), 3);
    let lost = &during.gpus[1];
    assert_eq!(lost.status, GpuStatus::Lost);
    assert_eq!(
        lost.uuid, state.gpus[1].uuid,
        "a lost GPU keeps its identity"
    );
    assert_eq!(lost.index, 1);
    assert_eq!(lost.pci_bus_id.value(), Some(&state.gpus[1].pci_bus_id));
    assert_eq!(lost.temperature_c.why(), Some(Missing::GpuLost));
    assert_eq!(lost.processes.why(), Some(Missing::GpuLost));
    assert_eq!(during.gpus[0].temperature_c.get(), Some(77.0));
    assert_eq!(during.gpus[2].utilization_gpu_pct.get(), Some(99));
    assert_matches_fake(&during.gpus[2], &state.gpus[2], 2, "550.54.15");

    // Lost in the middle of a sample (one call answers 15): the same.
    state.gpus[1].device_error = 0;
    state.gpus[1] = state.gpus[1].clone().fail("GetFanSpeed_v2", GPU_IS_LOST);
    fake.set(&state);
    let mid = sample(&mut source);
    assert_eq!(mid.gpus[1].status, GpuStatus::Lost);
    assert_eq!(
        mid.gpus[1].utilization_gpu_pct.why(),
        Some(Missing::GpuLost)
    );

    state.gpus[1].errors.clear();
    fake.set(&state);
    let after = sample(&mut source);
    assert_matches_fake(&after.gpus[1], &state.gpus[1], 1, "550.54.15");
}

#[test]
fn a_gpu_lost_before_its_first_sample_gets_a_placeholder_identity() {
    let mut state = FakeState::with_gpus(2);
    state.gpus[0] = state.gpus[0].clone().lost();
    let fake = FakeNvml::new(&state);
    let snap = sample(&mut open(&fake));
    assert_eq!(snap.gpus[0].status, GpuStatus::Lost);
    assert_eq!(snap.gpus[0].uuid, "unknown-0");
    assert_eq!(snap.gpus[0].name.why(), Some(Missing::GpuLost));
    assert_eq!(snap.gpus[1].status, GpuStatus::Ok);
}

#[test]
fn a_missing_library_is_a_clean_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libnvidia-ml.so.1");
    let err = match NvmlSource::open(Some(&path)) {
        Ok(_) => panic!("opened a library that does not exist"),
        Err(e) => e,
    };
    assert!(
        matches!(err, SourceError::LibraryNotFound { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("libnvidia-ml.so.1"), "{text}");
    assert!(text.contains("--demo"), "{text}");
}

#[test]
fn a_driver_that_fails_to_initialise_is_a_clean_error() {
    let mut state = FakeState::with_gpus(1);
    state.init_error = 9; // NVML_ERROR_DRIVER_NOT_LOADED
    let fake = FakeNvml::new(&state);
    let err = match NvmlSource::open(Some(&fake.lib_path())) {
        Ok(_) => panic!("opened NVML whose init fails"),
        Err(e) => e,
    };
    let text = err.to_string();
    assert!(text.contains("--demo"), "{text}");
    assert!(text.to_lowercase().contains("driver"), "{text}");
}

#[test]
fn no_gpus_is_an_empty_snapshot_and_a_broken_count_is_an_error() {
    let fake = FakeNvml::new(&FakeState::with_gpus(0));
    let mut source = open(&fake);
    assert!(sample(&mut source).gpus.is_empty());
    fake.set_raw("bogus line\n");
    assert!(source.sample(2).is_err());
}

#[test]
fn static_identity_is_read_once_and_cached() {
    let mut state = FakeState::with_gpus(1);
    let fake = FakeNvml::new(&state);
    let mut source = open(&fake);
    let first = sample(&mut source);
    state.gpus[0].name = "Renamed".into();
    state.gpus[0] = state.gpus[0]
        .clone()
        .with("clock_sm_max_mhz", 1)
        .with("temperature_c", 60);
    fake.set(&state);
    let second = sample(&mut source);
    assert_eq!(second.gpus[0].name, first.gpus[0].name);
    assert_eq!(
        second.gpus[0].clock_sm_max_mhz,
        first.gpus[0].clock_sm_max_mhz
    );
    assert_eq!(second.gpus[0].temperature_c, Field::Value(60.0));
}

#[test]
fn a_gpu_without_a_handle_keeps_its_place_with_the_reason_everywhere() {
    let mut state = FakeState::with_gpus(2);
    state.gpus[0] = state.gpus[0]
        .clone()
        .fail("GetHandleByIndex_v2", NO_PERMISSION);
    let fake = FakeNvml::new(&state);
    let snap = sample(&mut open(&fake));
    let g = &snap.gpus[0];
    assert_eq!(g.status, GpuStatus::Ok);
    assert_eq!(g.index, 0);
    assert_eq!(g.uuid, "unknown-0");
    assert_eq!(g.temperature_c.why(), Some(Missing::NoPermission));
    assert_eq!(g.processes.why(), Some(Missing::NoPermission));
    assert_matches_fake(&snap.gpus[1], &state.gpus[1], 1, "550.54.15");
}

/// PCIe throughput waits inside the driver (~20 ms a call on real hardware, RX and TX per
/// GPU): after the first sample it is read on a thread of its own, so a sample never waits
/// for it. Here the fake's throughput call blocks for ten minutes after the first sample:
/// later samples still come back (each within a generous bound; blocked, they never would)
/// and carry the values read before the driver slowed down.
#[test]
fn pcie_throughput_is_read_off_the_sample_path_after_the_first_sample() {
    let mut state = FakeState::with_gpus(8);
    let fake = FakeNvml::new(&state);
    let mut source = open(&fake);
    let first = sample(&mut source);
    assert!(
        first.gpus[3].pcie_rx_bytes_per_s.get().is_some(),
        "read inline once"
    );
    // The second sample starts the background reader from the first one's values; from now
    // on the throughput call blocks.
    state.pcie_throughput_ms = 600_000;
    fake.set(&state);
    let (tx, rx) = std::sync::mpsc::channel();
    let worker = std::thread::spawn(move || {
        for _ in 0..5 {
            tx.send(sample(&mut source)).unwrap();
        }
    });
    for i in 0..5 {
        let snap = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("sample {i} waited for the PCIe throughput call"));
        assert_eq!(snap.gpus.len(), 8);
        assert!(snap.gpus[7].pcie_rx_bytes_per_s.get().is_some(), "{i}");
    }
    worker.join().unwrap();
    // Let the stuck call go, so the background thread ends with the process quietly.
    state.pcie_throughput_ms = 0;
    fake.set(&state);
}
