//! What NVML says about each process on a GPU, against the fake: the list survives a library
//! that answers the count query with SUCCESS, per-process utilization comes from
//! `nvmlDeviceGetProcessUtilization`, and the host figures (CPU %, RSS, run time) from the
//! real `/proc` of real processes.

use crate::fake_nvml::{FakeNvml, FakeState, ProcessShare};
use crate::source::Sleeper;
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::{GpuProcess, Source};

fn processes(source: &mut NvmlSource, gpu: usize) -> Vec<GpuProcess> {
    let snap = source.sample(1_000).expect("sampling the fake NVML");
    snap.gpus[gpu]
        .processes
        .value()
        .cloned()
        .expect("processes")
}

/// Regression: nvml-wrapper took a SUCCESS answer to the count query as "no compute
/// processes", so they vanished while graphics processes stayed.
#[test]
fn compute_processes_survive_a_count_query_answered_with_success() {
    let a = Sleeper::start();
    let b = Sleeper::start();
    let mut state = FakeState::with_gpus(1);
    state.count_query_success = true;
    state.gpus[0] = state.gpus[0]
        .clone()
        .compute(&[(a.pid(), Some(1 << 30))])
        .graphics(&[(b.pid(), Some(1 << 20))]);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("open");
    let pids: Vec<(u32, Option<u64>)> = processes(&mut source, 0)
        .iter()
        .map(|p| (p.pid, p.used_memory_bytes))
        .collect();
    assert_eq!(pids, [(a.pid(), Some(1 << 30)), (b.pid(), Some(1 << 20))]);

    // And with NVML's own answer, the same.
    state.count_query_success = false;
    fake.set(&state);
    assert_eq!(processes(&mut source, 0).len(), 2);
}

#[test]
fn each_process_has_its_share_of_the_gpu() {
    let busy = Sleeper::start();
    let idle = Sleeper::start();
    let mut state = FakeState::with_gpus(2);
    state.gpus[0] = state.gpus[0]
        .clone()
        .compute(&[(busy.pid(), Some(1)), (idle.pid(), Some(1))])
        .shares(&[ProcessShare {
            pid: busy.pid(),
            sm: 87,
            memory: 45,
            encoder: 3,
            decoder: 9,
        }]);
    // GPU 1: the driver offers no process utilization.
    state.gpus[1] = state.gpus[1].clone().compute(&[(idle.pid(), Some(1))]);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("open");
    let snap = source.sample(1).unwrap();
    let on0 = snap.gpus[0].processes.value().unwrap();
    let share = |p: &GpuProcess| {
        (
            p.utilization_sm_pct,
            p.utilization_memory_pct,
            p.encoder_pct,
            p.decoder_pct,
        )
    };
    assert_eq!(share(&on0[0]), (Some(87), Some(45), Some(3), Some(9)));
    // No sample of a process: it did not use the GPU in that period.
    assert_eq!(share(&on0[1]), (Some(0), Some(0), Some(0), Some(0)));
    let on1 = snap.gpus[1].processes.value().unwrap();
    assert_eq!(share(&on1[0]), (None, None, None, None));

    // No samples at all (NVML's NOT_FOUND): every process at 0, the list still there.
    state.gpus[0] = state.gpus[0].clone().shares(&[]);
    fake.set(&state);
    let on0 = processes(&mut source, 0);
    assert_eq!(on0.len(), 2);
    assert!(on0.iter().all(|p| p.utilization_sm_pct == Some(0)));
}

#[test]
fn a_driver_without_process_utilization_still_lists_processes() {
    let p = Sleeper::start();
    let mut state = FakeState::with_gpus(1);
    state.gpus[0] = state.gpus[0].clone().compute(&[(p.pid(), Some(1))]);
    let fake = FakeNvml::without(&["nvmlDeviceGetProcessUtilization"], &state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("open");
    let procs = processes(&mut source, 0);
    assert_eq!(procs.len(), 1);
    assert_eq!(procs[0].utilization_sm_pct, None);
}

/// CPU time from `/proc/PID/stat` in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .map(|v| v.parse().unwrap())
        .collect();
    f[0] + f[1]
}

#[test]
fn host_cpu_rss_and_run_time_of_real_processes() {
    let sleeper = Sleeper::start();
    let mut spin = std::process::Command::new("sh")
        .args(["-c", "while :; do :; done"])
        .spawn()
        .unwrap();
    let spinner = spin.id();
    // spawn() returns once exec began; wait for the shell itself (its command line) to run.
    while !std::fs::read(format!("/proc/{spinner}/cmdline")).is_ok_and(|c| c.starts_with(b"sh")) {
        std::thread::yield_now();
    }
    let mut state = FakeState::with_gpus(1);
    state.gpus[0] = state.gpus[0]
        .clone()
        .compute(&[(sleeper.pid(), Some(1)), (spinner, Some(1))]);
    let fake = FakeNvml::new(&state);
    let mut source = NvmlSource::open(Some(&fake.lib_path())).expect("open");
    let first = processes(&mut source, 0);
    assert!(first.iter().all(|p| p.cpu_pct.is_none()), "{first:?}");
    assert!(
        first
            .iter()
            .all(|p| p.rss_bytes.is_some_and(|r| r > 0) && p.run_time_s.is_some()),
        "{first:?}"
    );

    // Wait until the spinner has used CPU time since that sample (not for a fixed time).
    let before = cpu_ticks(spinner);
    while cpu_ticks(spinner) <= before {
        std::thread::yield_now();
    }
    let second = processes(&mut source, 0);
    let _ = spin.kill();
    let _ = spin.wait();
    assert_eq!(second[0].pid, sleeper.pid());
    let (slept, spun) = (second[0].cpu_pct, second[1].cpu_pct);
    assert!(
        slept.is_some() && spun.is_some_and(|c| c > 0.0 && c > slept.unwrap_or(0.0)),
        "the spinner used CPU, the sleeper (next to) none: {slept:?} {spun:?}"
    );
}
