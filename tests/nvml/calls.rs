//! How many driver calls a sample makes, counted by the fake (`$FAKE_NVML_CALLS`, written
//! when the process exits): a real driver's call is an ioctl, so calls are what a sample
//! costs. And the slow fields (health counters, power limit, MIG mode), which the dashboard
//! reads only every few seconds while the watchdog reads them every sample, and the process
//! table, which the dashboard reads at most once a second.

use crate::cli::gpuwarden;
use crate::fake_nvml::{FakeNvml, FakeState, ProcessShare};
use crate::source::Sleeper;
use gpuwarden::gpu::Source;
use gpuwarden::gpu::cadence::Cadence;
use gpuwarden::gpu::nvml::NvmlSource;
use std::collections::BTreeMap;
use std::time::Duration;

/// Per-function call counts of one `snapshot --json` run.
fn calls_of_one_snapshot(fake: &FakeNvml) -> BTreeMap<String, u64> {
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    gpuwarden()
        .envs(fake.envs())
        .env("FAKE_NVML_CALLS", &calls)
        .args(["snapshot", "--json", "--vendor", "nvidia", "--nvml-lib"])
        .arg(fake.lib_path())
        .assert()
        .success();
    let text = std::fs::read_to_string(&calls).expect("the fake wrote its call counts");
    text.lines()
        .map(|l| {
            let (n, f) = l.split_once(' ').unwrap();
            (f.to_string(), n.parse().unwrap())
        })
        .collect()
}

#[test]
fn each_process_list_is_one_call_per_gpu() {
    let workers = [Sleeper::start(), Sleeper::start()];
    let mut state = FakeState::with_gpus(2);
    for (g, w) in state.gpus.iter_mut().zip(&workers) {
        *g = g
            .clone()
            .compute(&[(w.pid(), Some(1 << 30))])
            .shares(&[ProcessShare {
                pid: w.pid(),
                sm: 40,
                ..ProcessShare::default()
            }]);
    }
    let fake = FakeNvml::new(&state);
    let calls = calls_of_one_snapshot(&fake);
    let count = |f: &str| calls.get(f).copied().unwrap_or(0);
    // One each per GPU: no count query before the list (nvml-wrapper's calls make two).
    assert_eq!(count("GetComputeRunningProcesses_v3"), 2, "{calls:?}");
    assert_eq!(count("GetGraphicsRunningProcesses_v3"), 2, "{calls:?}");
    assert_eq!(count("GetProcessUtilization"), 2, "{calls:?}");
    assert_eq!(count("GetUtilizationRates"), 2, "{calls:?}");
}

#[test]
fn a_list_that_outgrew_its_buffer_is_asked_again_and_loses_no_process() {
    // 20 processes on one GPU: more than the first buffer's headroom.
    let workers: Vec<Sleeper> = (0..20).map(|_| Sleeper::start()).collect();
    let mut state = FakeState::with_gpus(1);
    let listed: Vec<(u32, Option<u64>)> =
        workers.iter().map(|w| (w.pid(), Some(1 << 20))).collect();
    state.gpus[0] = state.gpus[0].clone().compute(&listed);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    let snap = source.sample(1_000).unwrap();
    let pids: Vec<u32> = snap.gpus[0]
        .processes
        .value()
        .unwrap()
        .iter()
        .map(|p| p.pid)
        .collect();
    assert_eq!(pids.len(), 20, "{pids:?}");
    // The same with a library that answers a short buffer with SUCCESS and the count.
    state.count_query_success = true;
    fake.set(&state);
    let snap = source.sample(2_000).unwrap();
    assert_eq!(snap.gpus[0].processes.value().unwrap().len(), 20);
}

#[test]
fn slow_fields_wait_for_their_cadence_and_the_fast_ones_do_not() {
    let mut state = FakeState::with_gpus(1);
    let fake = FakeNvml::new(&state);
    let mut slow = NvmlSource::open(Some(&fake.lib_path()))
        .unwrap()
        .with_cadence(Cadence {
            slow: Duration::from_secs(3600),
            ..Cadence::EVERY_SAMPLE
        });
    let mut every = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    let first = slow.sample(1_000).unwrap();
    assert_eq!(first.gpus[0].ecc_uncorrected.get(), Some(0));
    every.sample(1_000).unwrap();

    state.gpus[0] = state.gpus[0]
        .clone()
        .with("ecc_uncorrected_volatile", 3)
        .with("power_limit_mw", 400_000)
        .with("temperature_c", 77);
    fake.set(&state);
    let later = slow.sample(2_000).unwrap();
    // Within the cadence: the counters and the limit as first read, the temperature new.
    assert_eq!(later.gpus[0].ecc_uncorrected.get(), Some(0));
    assert_eq!(later.gpus[0].power_limit_w.get(), Some(700.0));
    assert_eq!(later.gpus[0].temperature_c.get(), Some(77.0));
    // The watchdog's default reads them on every sample.
    let now = every.sample(2_000).unwrap();
    assert_eq!(now.gpus[0].ecc_uncorrected.get(), Some(3));
    assert_eq!(now.gpus[0].power_limit_w.get(), Some(400.0));
}

#[test]
fn a_slow_field_without_an_answer_is_asked_again_at_once() {
    let mut state = FakeState::with_gpus(1);
    state.gpus[0]
        .errors
        .insert("GetTotalEccErrors".to_string(), 999);
    let fake = FakeNvml::new(&state);
    let mut slow = NvmlSource::open(Some(&fake.lib_path()))
        .unwrap()
        .with_cadence(Cadence {
            slow: Duration::from_secs(3600),
            ..Cadence::EVERY_SAMPLE
        });
    let first = slow.sample(1_000).unwrap();
    assert!(first.gpus[0].ecc_uncorrected.get().is_none());
    state.gpus[0].errors.clear();
    fake.set(&state);
    // An error is not a settled answer: the next sample reads again, cadence or not.
    let next = slow.sample(2_000).unwrap();
    assert_eq!(next.gpus[0].ecc_uncorrected.get(), Some(0));
}

#[test]
fn a_gpu_handle_is_asked_for_once_not_every_sample() {
    let fake = FakeNvml::new(&FakeState::with_gpus(2));
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    gpuwarden()
        .envs(fake.envs())
        .env("FAKE_NVML_CALLS", &calls)
        .args(["record", "--duration", "1500ms", "--interval", "100ms"])
        .args(["--vendor", "nvidia", "--nvml-lib"])
        .arg(fake.lib_path())
        .arg("-o")
        .arg(dir.path().join("trace.jsonl"))
        .assert()
        .success();
    let text = std::fs::read_to_string(&calls).expect("the fake wrote its call counts");
    let count = |f: &str| {
        text.lines()
            .find_map(|l| l.strip_suffix(f).and_then(|n| n.trim().parse::<u64>().ok()))
            .unwrap_or(0)
    };
    let samples = count("GetUtilizationRates") / 2;
    assert!(samples >= 5, "{text}");
    // Once per GPU for the sampler and once for the PCIe reader's thread, however many
    // samples were taken.
    assert!(
        count("GetHandleByIndex_v2") <= 4,
        "{samples} samples:\n{text}"
    );
}

#[test]
fn an_idle_engine_waits_for_the_slow_fields_and_a_busy_one_does_not() {
    let mut state = FakeState::with_gpus(2);
    state.gpus[0] = state.gpus[0].clone().with("encoder_pct", 0);
    state.gpus[1] = state.gpus[1].clone().with("encoder_pct", 30);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path()))
        .unwrap()
        .with_cadence(Cadence {
            slow: Duration::from_secs(3600),
            ..Cadence::EVERY_SAMPLE
        });
    source.sample(1_000).unwrap();
    state.gpus[0] = state.gpus[0].clone().with("encoder_pct", 40);
    state.gpus[1] = state.gpus[1].clone().with("encoder_pct", 50);
    fake.set(&state);
    let snap = source.sample(2_000).unwrap();
    // GPU 0's encoder was idle: read again with the slow fields, not now.
    assert_eq!(snap.gpus[0].encoder_pct.get(), Some(0));
    // GPU 1's was busy: read every sample.
    assert_eq!(snap.gpus[1].encoder_pct.get(), Some(50));
    // The watchdog's cadence (every sample) sees both at once.
    let mut every = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    every.sample(1_000).unwrap();
    let snap = every.sample(2_000).unwrap();
    assert_eq!(snap.gpus[0].encoder_pct.get(), Some(40));
}

/// The compute processes of one sample's GPU 0: pid, GPU memory, command.
fn table(snap: &gpuwarden::gpu::Snapshot) -> Vec<(u32, Option<u64>, Option<String>)> {
    snap.gpus[0]
        .processes
        .value()
        .expect("a process table")
        .iter()
        .map(|p| (p.pid, p.used_memory_bytes, p.command.clone()))
        .collect()
}

#[test]
fn the_process_table_waits_for_its_cadence_and_the_gpu_figures_do_not() {
    let (first, second) = (Sleeper::start(), Sleeper::start());
    let mut state = FakeState::with_gpus(1);
    state.gpus[0] = state.gpus[0]
        .clone()
        .compute(&[(first.pid(), Some(1 << 30))]);
    let fake = FakeNvml::new(&state);
    let table_every = |processes| {
        NvmlSource::open(Some(&fake.lib_path()))
            .unwrap()
            .with_cadence(Cadence {
                processes,
                ..Cadence::EVERY_SAMPLE
            })
    };
    let mut kept = table_every(Duration::from_secs(3600));
    let mut short = table_every(Duration::from_millis(200));
    let mut every = NvmlSource::open(Some(&fake.lib_path())).unwrap();
    let before = kept.sample(1_000).unwrap();
    short.sample(1_000).unwrap();
    every.sample(1_000).unwrap();
    let described = table(&before);
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].2.as_deref(), Some("sleep 300"));

    state.gpus[0] = state.gpus[0]
        .clone()
        .compute(&[(first.pid(), Some(2 << 30)), (second.pid(), Some(1 << 30))])
        .with("memory_used_bytes", 33_000_000_000)
        .with("temperature_c", 71);
    fake.set(&state);
    let within = kept.sample(2_000).unwrap();
    // The table as first read, described still (not forgotten by the sample that kept it)...
    assert_eq!(table(&within), described);
    let again = kept.sample(3_000).unwrap();
    assert_eq!(table(&again), described);
    // ...while the GPU's own figures are this sample's.
    assert_eq!(within.gpus[0].memory_used_bytes.get(), Some(33_000_000_000));
    assert_eq!(within.gpus[0].temperature_c.get(), Some(71.0));
    // Every sample (the watchdog's default) sees the new process at once...
    let now = every.sample(2_000).unwrap();
    assert_eq!(table(&now).len(), 2);
    // ...and a table whose cadence has passed is read again.
    std::thread::sleep(Duration::from_millis(300));
    let after = short.sample(2_000).unwrap();
    let read = table(&after);
    assert_eq!(read.len(), 2, "{read:?}");
    assert_eq!(read[0].1, Some(2 << 30));
}
