//! Processes from `/proc/PID/fdinfo`: only DRM fds of amdgpu count, per card, memory once
//! per client, enriched with user, command and systemd unit (described once per process);
//! the known clients re-read every sample, every process looked at every
//! `FULL_RESCAN_EVERY` of the sampling clock.

use crate::support::{amdgpu, fake_proc, fd, fixture, source, stat};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::drm_clients::FULL_RESCAN_EVERY;
use gpuwarden::gpu::{GpuProcess, Missing, OwnerKind, ProcessOwner, Source};
use std::sync::Arc;

#[test]
fn drm_clients_of_the_card_become_its_processes() {
    let proc = fake_proc();
    let p = proc.path();
    // pid 100: two clients, one of them open twice (dup): 1 MiB + 2 MiB.
    fd(
        p,
        100,
        3,
        "/dev/dri/renderD128",
        &amdgpu("0000:0b:00.0", 5, 1024),
    );
    fd(
        p,
        100,
        4,
        "/dev/dri/renderD128",
        &amdgpu("0000:0b:00.0", 5, 1024),
    );
    fd(
        p,
        100,
        5,
        "/dev/dri/card0",
        &amdgpu("0000:0B:00.0", 6, 2048),
    );
    std::fs::write(p.join("100/cmdline"), "python\0train.py\0").unwrap();
    std::fs::write(p.join("100/status"), "Name:\tpython\nUid:\t0\t0\t0\t0\n").unwrap();
    std::fs::write(p.join("100/cgroup"), "0::/system.slice/train.service\n").unwrap();
    stat(p, 100);
    // pid 200 uses another card; pid 300's fd is not a DRM device; pid 400 is Intel.
    fd(
        p,
        200,
        3,
        "/dev/dri/renderD129",
        &amdgpu("0000:03:00.0", 9, 4096),
    );
    fd(p, 300, 7, "/dev/null", &amdgpu("0000:0b:00.0", 11, 4096));
    fd(
        p,
        400,
        3,
        "/dev/dri/renderD130",
        "drm-driver:\ti915\ndrm-pdev:\t0000:0b:00.0\ndrm-client-id:\t1\n",
    );
    std::fs::create_dir_all(p.join("self")).unwrap();

    let mut src = source(&fixture("vega56"), p, Arc::new(RealSysfs));
    let snap = src.sample(1).unwrap();
    assert_eq!(
        snap.gpus[0].processes.value().unwrap(),
        &vec![GpuProcess {
            pid: 100,
            used_memory_bytes: Some(3 << 20),
            user: Some("root".into()),
            command: Some("python train.py".into()),
            unit: Some("train.service".into()),
            owner: Some(ProcessOwner::new(OwnerKind::Unit, "train.service")),
            rss_bytes: Some(0),
            run_time_s: Some(0),
            ..GpuProcess::default()
        }]
    );
}

#[test]
fn no_proc_means_processes_not_supported_not_a_failed_sample() {
    let gone = tempfile::tempdir().unwrap().path().join("proc");
    let mut src = source(&fixture("vega56"), &gone, Arc::new(RealSysfs));
    let g = src.sample(1).unwrap().gpus.remove(0);
    assert_eq!(g.processes.why(), Some(Missing::NotSupported));
    assert_eq!(g.driver_version.why(), Some(Missing::NotSupported));
    assert_eq!(g.temperature_c.get(), Some(38.0));
}

/// `(pid, memory)` of the first card's processes.
fn on_card(src: &mut gpuwarden::gpu::amd::AmdSource, at_ms: u64) -> Vec<(u32, Option<u64>)> {
    src.sample(at_ms).unwrap().gpus[0]
        .processes
        .value()
        .expect("processes read")
        .iter()
        .map(|p| (p.pid, p.used_memory_bytes))
        .collect()
}

#[test]
fn known_clients_are_read_every_sample_and_new_ones_found_by_the_periodic_rescan() {
    let proc = fake_proc();
    let p = proc.path();
    let vega = "0000:0b:00.0";
    let period = FULL_RESCAN_EVERY.as_millis() as u64;
    fd(p, 100, 3, "/dev/dri/renderD128", &amdgpu(vega, 5, 1024));
    std::fs::write(p.join("100/cmdline"), "python\0train.py\0").unwrap();
    stat(p, 100);
    let mut src = source(&fixture("vega56"), p, Arc::new(RealSysfs));
    let t0 = 1_000_000;
    assert_eq!(on_card(&mut src, t0), [(100, Some(1 << 20))]);

    // A second later: the known client grew, and a new one started. The known client's
    // memory is read again; the new one waits for the next look at every process. The
    // known process is described once: a changed command line is not read again.
    fd(p, 100, 3, "/dev/dri/renderD128", &amdgpu(vega, 5, 4096));
    std::fs::write(p.join("100/cmdline"), "changed\0").unwrap();
    fd(p, 200, 4, "/dev/dri/renderD128", &amdgpu(vega, 9, 2048));
    stat(p, 200);
    let snap = src.sample(t0 + 1_000).unwrap();
    let procs = snap.gpus[0].processes.value().unwrap();
    assert_eq!(procs.len(), 1, "{procs:?}");
    assert_eq!(procs[0].used_memory_bytes, Some(4 << 20));
    assert_eq!(procs[0].command.as_deref(), Some("python train.py"));

    // The known process exits: gone at the next sample.
    std::fs::remove_dir_all(p.join("100")).unwrap();
    assert_eq!(on_card(&mut src, t0 + 2_000), []);
    assert_eq!(on_card(&mut src, t0 + period - 1), []);

    // One period after the last full look, every process is looked at again.
    assert_eq!(on_card(&mut src, t0 + period), [(200, Some(2 << 20))]);
    // A client that closes its fd (the process lives on) is gone at the next sample too.
    std::fs::remove_file(p.join("200/fdinfo/4")).unwrap();
    assert_eq!(on_card(&mut src, t0 + period + 1_000), []);
}

#[test]
fn a_clock_that_jumps_back_looks_at_every_process_again() {
    let proc = fake_proc();
    let p = proc.path();
    let mut src = source(&fixture("vega56"), p, Arc::new(RealSysfs));
    assert_eq!(on_card(&mut src, 5_000_000), []);
    fd(p, 300, 3, "/dev/card0", &amdgpu("0000:0b:00.0", 2, 512));
    fd(p, 301, 3, "/dev/dri/card0", &amdgpu("0000:0b:00.0", 3, 512));
    assert_eq!(on_card(&mut src, 5_001_000), []);
    // Wall clock set back an hour: not "within the period", a fresh look.
    assert_eq!(
        on_card(&mut src, 5_000_000 - 3_600_000),
        [(301, Some(512 << 10))]
    );
}
