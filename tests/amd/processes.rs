//! Processes from `/proc/PID/fdinfo`: only DRM fds of amdgpu count, per card, memory once
//! per client, enriched with user, command and systemd unit.

use crate::support::{fake_proc, fixture, source};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::{GpuProcess, Missing, OwnerKind, ProcessOwner, Source};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

fn fd(proc: &Path, pid: u32, fd: u32, target: &str, info: &str) {
    let dir = proc.join(pid.to_string());
    std::fs::create_dir_all(dir.join("fd")).unwrap();
    std::fs::create_dir_all(dir.join("fdinfo")).unwrap();
    symlink(target, dir.join("fd").join(fd.to_string())).unwrap();
    std::fs::write(dir.join("fdinfo").join(fd.to_string()), info).unwrap();
}

fn amdgpu(pdev: &str, client: u32, vram_kib: u64) -> String {
    format!(
        "pos:\t0\nflags:\t02100002\nmnt_id:\t26\ndrm-driver:\tamdgpu\ndrm-pdev:\t{pdev}\n\
         drm-client-id:\t{client}\ndrm-memory-vram:\t{vram_kib} KiB\ndrm-memory-gtt:\t4 KiB\n\
         drm-engine-gfx:\t123456 ns\n"
    )
}

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
