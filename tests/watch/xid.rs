//! XIDs end to end: the real `gpuwarden watch` on the fake NVML (XIDs injected through its
//! event sets) and a kernel-log file standing in for `/dev/kmsg`. A fault both sources
//! report is counted once in `/metrics`; what only one source saw is counted too; each
//! counted XID is an `xid` event in the log, and a `metric = "xid"` rule fires on it.

use crate::daemon::{Daemon, story};
use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState};
use crate::prom::{free_port, get};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

/// The value of `gpuwarden_gpu_xid_errors_total` for one GPU index and code, if exported.
fn xid_count(metrics: &str, gpu: u32, code: u32) -> Option<f64> {
    let gpu = format!("gpu=\"{gpu}\"");
    let code = format!("code=\"{code}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("gpuwarden_gpu_xid_errors_total{"))
        .find(|l| l.contains(&gpu) && l.contains(&code))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

/// Polls `check` every 100 ms until it returns `Some`; fails after `secs`, or at once if
/// the daemon exited.
fn poll<T>(
    d: &mut Daemon,
    secs: u64,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        if let Some(status) = d.child.try_wait().expect("checking the daemon") {
            panic!(
                "the daemon exited ({status}) waiting for {what}\n{}",
                describe()
            );
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn append(path: &Path, lines: &[&str]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("opening the kernel log stand-in");
    for line in lines {
        writeln!(f, "{line}").expect("writing the kernel log stand-in");
    }
}

#[test]
fn an_xid_seen_by_nvml_and_the_kernel_log_counts_once_and_each_is_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let kmsg = dir.path().join("kmsg");
    // Already in the log when the daemon starts: history, not counted.
    std::fs::write(
        &kmsg,
        "4,1,100,-;NVRM: Xid (PCI:0000:18:00): 48, pid=1, name=old, DBE from before\n",
    )
    .unwrap();
    let fake = FakeNvml::new(&FakeState::with_gpus(2));
    let port = free_port();
    let config = format!(
        r#"
[watchdog]
interval = "100ms"
state_dir = "@STATE@"
listen = "127.0.0.1:{port}"
kmsg = "{kmsg}"

[[rule]]
name = "gpu-xid"
metric = "xid"
xid = [48, 79, 94, 95]
within = "10m"
"#,
        kmsg = kmsg.display()
    );
    let mut d = Daemon::start(dir.path(), &config, &["--dry-run"], fake.envs());
    let url = format!("http://127.0.0.1:{port}/metrics");
    let metrics = || get(&url).map(|(_, body)| body).unwrap_or_default();
    let state_dir = d.state_dir.clone();
    let log = || {
        format!(
            "events: {:?}\nmetrics:\n{}",
            story(&crate::daemon::events(&state_dir)),
            metrics()
                .lines()
                .filter(|l| l.contains("xid"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    // The endpoint answers once the daemon has opened the kernel log.
    poll(
        &mut d,
        30,
        "/metrics",
        || get(&url).filter(|(s, _)| *s == 200),
        log,
    );

    // GPU 1 falls off the bus: NVML and the kernel log both say so. Each source then
    // reports one more XID of its own, so seeing those proves both 79s were read.
    let mut state = FakeState::with_gpus(2);
    state.gpus[1] = FakeGpu::h100(1).xid(79).xid(94);
    fake.set(&state);
    append(
        &kmsg,
        &[
            "4,2,5000000,-;NVRM: Xid (PCI:0000:18:00): 79, pid=4242, name=python, GPU has \
             fallen off the bus.",
            "3,3,5000100,-;NVRM: Xid (PCI:0000:18:00): 13, Graphics Exception on (GPC 0, TPC 1)",
            "NVRM: Xid (0000:17:00): 31, Ch 0000000b, engmask 00000120, intr 10000000",
            "12,4,5000200,-;NVRM: Xid (PCI:0000:17:00): 79, written by a user, not the kernel",
        ],
    );
    let text = poll(
        &mut d,
        30,
        "XIDs 94 (NVML only), 13 and 31 (kernel log only) in /metrics",
        || {
            let m = metrics();
            (xid_count(&m, 1, 94) == Some(1.0)
                && xid_count(&m, 1, 13) == Some(1.0)
                && xid_count(&m, 0, 31) == Some(1.0))
            .then_some(m)
        },
        log,
    );
    let uuid1 = FakeGpu::h100(1).uuid;
    let line =
        format!("gpuwarden_gpu_xid_errors_total{{gpu=\"1\",uuid=\"{uuid1}\",code=\"79\"}} 1");
    assert!(
        text.lines().any(|l| l == line),
        "want `{line}` (counted once)\n{}",
        log()
    );
    assert_eq!(
        xid_count(&text, 1, 48),
        None,
        "history was counted\n{}",
        log()
    );
    assert_eq!(
        xid_count(&text, 0, 79),
        None,
        "a forged line was counted\n{}",
        log()
    );

    // The watchdog's own rule on XIDs fired for GPU 1, and only for it.
    let fired = poll(
        &mut d,
        30,
        "rule gpu-xid to fire",
        || {
            let events = crate::daemon::events(&state_dir);
            events
                .iter()
                .find(|e| e["kind"] == "fired" && e["rule"] == "gpu-xid")
                .cloned()
        },
        log,
    );
    assert_eq!(fired["gpu_index"], 1, "{fired}");

    let status = d.stop();
    assert!(status.success(), "exit status {status}");
    let events = crate::daemon::events(&dir.path().join("state"));
    let xids: Vec<_> = events.iter().filter(|e| e["kind"] == "xid").collect();
    assert_eq!(xids.len(), 4, "one xid event per counted XID: {xids:?}");
    let fell_off = xids
        .iter()
        .find(|e| e["action"] == "XID 79: GPU has fallen off the bus")
        .unwrap_or_else(|| panic!("no XID 79 event: {xids:?}"));
    assert_eq!(fell_off["gpu"], uuid1.as_str());
    assert_eq!(fell_off["gpu_index"], 1);
    let detail = fell_off["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("do: reboot"), "{detail}");
    let counted = events
        .iter()
        .filter(|e| e["kind"] == "xid" && e["gpu_index"] == 1)
        .count();
    assert_eq!(counted, 3, "{xids:?}");
    let fired_on: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "fired" && e["rule"] == "gpu-xid")
        .map(|e| e["gpu_index"].clone())
        .collect();
    assert_eq!(fired_on, [1], "{:?}", story(&events));
}

#[test]
fn a_reload_that_moves_the_kernel_log_is_refused_as_needing_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("kmsg-a"), dir.path().join("kmsg-b"));
    std::fs::write(&a, "").unwrap();
    std::fs::write(&b, "").unwrap();
    let fake = FakeNvml::new(&FakeState::with_gpus(1));
    let config = |kmsg: &Path| {
        format!(
            "[watchdog]\ninterval = \"100ms\"\nstate_dir = \"@STATE@\"\nlisten = \"127.0.0.1:0\"\n\
             kmsg = \"{}\"\n\n[[rule]]\nname = \"any-xid\"\nmetric = \"xid\"\n",
            kmsg.display()
        )
    };
    let mut d = Daemon::start(dir.path(), &config(&a), &["--dry-run"], fake.envs());
    let state_dir = d.state_dir.clone();
    let log = || format!("events: {:?}", story(&crate::daemon::events(&state_dir)));
    poll(
        &mut d,
        30,
        "the daemon to start",
        || {
            let events = crate::daemon::events(&state_dir);
            events.iter().any(|e| e["kind"] == "started").then_some(())
        },
        log,
    );
    let text = config(&b).replace("@STATE@", &state_dir.display().to_string());
    std::fs::write(dir.path().join("watchdog.toml"), text).unwrap();
    d.signal("HUP");
    let rejected = poll(
        &mut d,
        30,
        "the reload to be refused",
        || {
            let events = crate::daemon::events(&state_dir);
            events
                .iter()
                .find(|e| e["kind"] == "config_rejected")
                .cloned()
        },
        log,
    );
    let detail = rejected["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("watchdog.kmsg") && detail.contains("needs a restart"),
        "{detail}"
    );
    let status = d.stop();
    assert!(status.success(), "exit status {status}");
}
