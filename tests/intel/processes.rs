//! DRM fdinfo clients of both drivers in a fake `/proc`, in the formats i915 and xe print
//! (Documentation/gpu/drm-usage-stats.rst): the card's processes with their memory, each
//! client's engine busy percent between two samples, and the card's utilization as the
//! busiest engine summed over the clients.

use crate::support::{fake_proc, fixture, source};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::{Field, GpuProcess, Missing, Source};
use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;

/// Writes (or rewrites) fd `fd` of `pid`, pointing into /dev/dri, with `info` as its fdinfo.
fn fd(proc: &Path, pid: u32, fd: u32, info: &str) {
    let dir = proc.join(pid.to_string());
    std::fs::create_dir_all(dir.join("fd")).unwrap();
    std::fs::create_dir_all(dir.join("fdinfo")).unwrap();
    let link = dir.join("fd").join(fd.to_string());
    if std::fs::symlink_metadata(&link).is_err() {
        symlink("/dev/dri/renderD128", link).unwrap();
    }
    std::fs::write(dir.join("fdinfo").join(fd.to_string()), info).unwrap();
}

/// An i915 client: busy nanoseconds per engine, local and system memory.
fn i915(pdev: &str, client: u32, render_ns: u64, video_ns: u64, local_kib: u64) -> String {
    format!(
        "pos:\t0\nflags:\t02100002\nmnt_id:\t26\nino:\t685\ndrm-driver:\ti915\n\
         drm-client-id:\t{client}\ndrm-pdev:\t{pdev}\n\
         drm-total-system0:\t6528 KiB\ndrm-resident-system0:\t6528 KiB\n\
         drm-total-local0:\t{local_kib} KiB\ndrm-resident-local0:\t{local_kib} KiB\n\
         drm-engine-render:\t{render_ns} ns\ndrm-engine-copy:\t0 ns\n\
         drm-engine-video:\t{video_ns} ns\ndrm-engine-capacity-video:\t2\n\
         drm-engine-video-enhance:\t0 ns\n"
    )
}

/// An xe client: busy and total GPU cycles per engine class, VRAM and GTT.
fn xe(pdev: &str, client: u32, rcs: (u64, u64), ccs: (u64, u64), vram_kib: u64) -> String {
    format!(
        "pos:\t0\nflags:\t0100002\nmnt_id:\t27\nino:\t1051\ndrm-driver:\txe\n\
         drm-client-id:\t{client}\ndrm-pdev:\t{pdev}\n\
         drm-total-system:\t0\ndrm-resident-system:\t0\n\
         drm-total-gtt:\t192 KiB\ndrm-resident-gtt:\t192 KiB\n\
         drm-total-vram0:\t{vram_kib} KiB\ndrm-shared-vram0:\t0\ndrm-resident-vram0:\t{vram_kib} KiB\n\
         drm-cycles-rcs:\t{}\ndrm-total-cycles-rcs:\t{}\n\
         drm-cycles-ccs:\t{}\ndrm-total-cycles-ccs:\t{}\n\
         drm-cycles-bcs:\t0\ndrm-total-cycles-bcs:\t{}\n\
         drm-engine-capacity-ccs:\t4\n",
        rcs.0, rcs.1, ccs.0, ccs.1, rcs.1
    )
}

fn processes(snap: &gpuwarden::gpu::Snapshot) -> Vec<(u32, Option<u64>)> {
    snap.gpus[0]
        .processes
        .value()
        .expect("processes read")
        .iter()
        .map(|p: &GpuProcess| (p.pid, p.used_memory_bytes))
        .collect()
}

#[test]
fn i915_clients_busy_nanoseconds_add_up_to_the_cards_utilization() {
    let proc = fake_proc();
    let p = proc.path();
    let a380 = "0000:0b:00.0";
    fd(p, 100, 3, &i915(a380, 13, 1_000_000_000, 0, 65_536));
    // The same client open twice (dup): counted once.
    fd(p, 100, 4, &i915(a380, 13, 1_000_000_000, 0, 65_536));
    fd(p, 200, 5, &i915(a380, 14, 0, 0, 1_024));
    // Another card's client and an AMD client are not this card's.
    fd(p, 300, 3, &i915("0000:00:02.0", 1, 0, 0, 0));
    fd(
        p,
        400,
        3,
        "drm-driver:\tamdgpu\ndrm-pdev:\t0000:0b:00.0\ndrm-client-id:\t2\n",
    );
    let mut src = source(&fixture("a380-i915"), p, Arc::new(RealSysfs));

    let first = src.sample(10_000).unwrap();
    assert_eq!(
        first.gpus[0].utilization_gpu_pct.why(),
        Some(Missing::WarmingUp)
    );
    assert_eq!(
        processes(&first),
        [(100, Some(65_536 << 10)), (200, Some(1_024 << 10))]
    );

    // One second later: pid 100 rendered 400 ms, pid 200 200 ms and one video engine of two
    // for the whole second.
    fd(p, 100, 3, &i915(a380, 13, 1_400_000_000, 0, 65_536));
    fd(p, 100, 4, &i915(a380, 13, 1_400_000_000, 0, 65_536));
    fd(
        p,
        200,
        5,
        &i915(a380, 14, 200_000_000, 1_000_000_000, 1_024),
    );
    let cards = src.read_cards(11_000);
    assert_eq!(cards[0].sample.utilization_gpu_pct.get(), Some(60));
    let busy: Vec<(u32, BTreeMap<String, f64>)> = cards[0]
        .clients
        .value()
        .unwrap()
        .iter()
        .map(|c| (c.pid, c.busy_pct.value().cloned().unwrap()))
        .collect();
    let pct = |pairs: &[(&str, f64)]| -> BTreeMap<String, f64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    };
    assert_eq!(
        busy,
        [
            (
                100,
                pct(&[
                    ("copy", 0.0),
                    ("render", 40.0),
                    ("video", 0.0),
                    ("video-enhance", 0.0)
                ])
            ),
            (
                200,
                pct(&[
                    ("copy", 0.0),
                    ("render", 20.0),
                    ("video", 50.0),
                    ("video-enhance", 0.0)
                ])
            ),
        ]
    );
    // Each process's busiest engine class is its SM % in the process table.
    let procs = cards[0].sample.processes.value().unwrap();
    let sm: Vec<(u32, Option<u32>)> = procs
        .iter()
        .map(|p| (p.pid, p.utilization_sm_pct))
        .collect();
    assert_eq!(sm, [(100, Some(40)), (200, Some(50))]);
}

#[test]
fn xe_clients_busy_cycles_over_the_gpus_cycles() {
    let proc = fake_proc();
    let p = proc.path();
    let b580 = "0000:09:00.0";
    fd(
        p,
        300,
        3,
        &xe(b580, 4, (1_000, 10_000), (0, 10_000), 23_992),
    );
    let mut src = source(&fixture("b580"), p, Arc::new(RealSysfs));
    let first = src.sample(1_000).unwrap();
    assert_eq!(
        first.gpus[0].utilization_gpu_pct.why(),
        Some(Missing::WarmingUp)
    );
    // VRAM only: GTT is system memory the card maps.
    assert_eq!(processes(&first), [(300, Some(23_992 << 10))]);

    // Render busy 5000 of 10000 cycles; compute 8000 of 10000 over 4 engines.
    fd(
        p,
        300,
        3,
        &xe(b580, 4, (6_000, 20_000), (8_000, 20_000), 23_992),
    );
    let cards = src.read_cards(2_000);
    let busy = cards[0].clients.value().unwrap()[0].busy_pct.clone();
    let want: BTreeMap<String, f64> = [("bcs", 0.0), ("ccs", 20.0), ("rcs", 50.0)]
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(busy, Field::Value(want));
    assert_eq!(cards[0].sample.utilization_gpu_pct.get(), Some(50));
}

#[test]
fn a_card_without_clients_is_idle_and_an_unreadable_proc_says_why() {
    let proc = fake_proc();
    let mut src = source(&fixture("tigerlake"), proc.path(), Arc::new(RealSysfs));
    let snap = src.sample(1_000).unwrap();
    assert_eq!(snap.gpus[0].utilization_gpu_pct.get(), Some(0));
    assert_eq!(snap.gpus[0].processes.value().map(Vec::len), Some(0));

    let mut src = source(
        &fixture("tigerlake"),
        Path::new("/nonexistent/proc"),
        Arc::new(RealSysfs),
    );
    let snap = src.sample(1_000).unwrap();
    assert_eq!(
        snap.gpus[0].utilization_gpu_pct.why(),
        Some(Missing::NotSupported)
    );
    assert_eq!(snap.gpus[0].processes.why(), Some(Missing::NotSupported));
}

#[test]
fn known_clients_update_every_sample_and_new_ones_wait_for_the_periodic_rescan() {
    let proc = fake_proc();
    let p = proc.path();
    let a380 = "0000:0b:00.0";
    let period = gpuwarden::gpu::drm_clients::FULL_RESCAN_EVERY.as_millis() as u64;
    fd(p, 100, 3, &i915(a380, 13, 0, 0, 1_024));
    let mut src = source(&fixture("a380-i915"), p, Arc::new(RealSysfs));
    assert_eq!(
        processes(&src.sample(1_000).unwrap()),
        [(100, Some(1_024 << 10))]
    );

    // The known client rendered half of the second and grew; a new one started.
    fd(p, 100, 3, &i915(a380, 13, 500_000_000, 0, 4_096));
    fd(p, 200, 3, &i915(a380, 14, 0, 0, 2_048));
    let snap = src.sample(2_000).unwrap();
    assert_eq!(processes(&snap), [(100, Some(4_096 << 10))]);
    assert_eq!(snap.gpus[0].utilization_gpu_pct.get(), Some(50));

    // The known process exits: gone at the next sample; the new one shows one period after
    // the last look at every process.
    std::fs::remove_dir_all(p.join("100")).unwrap();
    assert_eq!(processes(&src.sample(3_000).unwrap()), []);
    assert_eq!(
        processes(&src.sample(1_000 + period).unwrap()),
        [(200, Some(2_048 << 10))]
    );
}
