//! The `xid` check end to end: a kernel log in /dev/kmsg's record format, timestamped
//! against this machine's CLOCK_MONOTONIC as the kernel does, read by the real binary on the
//! fake NVML. An XID asking for a GPU reset within the window fails the node naming the GPU
//! by its PCI address; an application fault, an XID older than the window and a line a user
//! process wrote do not.

use crate::fake_nvml::FakeNvml;
use crate::{gpuwarden, healthy, output};
use serde_json::Value;
use std::time::Duration;

fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32).as_micros() as u64
}

/// A kmsg record logged `ago` before now.
fn record(seq: u32, ago: Duration, level: u32, text: &str) -> String {
    let us = monotonic_us().saturating_sub(ago.as_micros() as u64);
    format!("{level},{seq},{us},-;{text}\n")
}

#[test]
fn a_recent_gpu_fault_in_the_kernel_log_fails_the_node_naming_the_gpu() {
    let fake = FakeNvml::new(&healthy(4));
    let (_, json, _) = output(gpuwarden().args(["snapshot", "--json"]).envs(fake.envs()));
    let snap: Value = serde_json::from_str(&json).unwrap();
    let pci = |i: usize| {
        let id = snap["gpus"][i]["pci_bus_id"]
            .as_str()
            .unwrap()
            .to_lowercase();
        // NVML's 00000000:19:00.0 is the kernel's 0000:19:00
        format!("{}:{}", &id[4..8], &id[9..14])
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("kmsg");
    // Times scale with how long this machine has been up (the kernel's log cannot be older
    // than its boot): a window of an hour on a machine up for two, less on a fresh one, and
    // an XID twice the window old that must not count.
    let up = Duration::from_micros(monotonic_us());
    let window = Duration::from_secs((up.as_secs() / 2).clamp(4, 3600));
    let text = [
        record(
            1,
            window / 2,
            3,
            &format!(
                "NVRM: Xid (PCI:{}): 48, An uncorrectable double bit error",
                pci(2)
            ),
        ),
        record(
            2,
            window / 4,
            3,
            &format!("NVRM: Xid (PCI:{}): 13, Graphics Exception", pci(1)),
        ),
        record(
            3,
            (window * 2).min(up),
            3,
            &format!(
                "NVRM: Xid (PCI:{}): 79, GPU has fallen off the bus.",
                pci(3)
            ),
        ),
        record(
            4,
            window / 8,
            12,
            &format!("NVRM: Xid (PCI:{}): 79, echoed by a user", pci(0)),
        ),
    ]
    .concat();
    std::fs::write(&log, text).unwrap();
    let window_arg = format!("{}s", window.as_secs());

    let (code, stdout, stderr) = output(
        gpuwarden()
            .args(["check", "--xid-window", &window_arg, "--kmsg"])
            .arg(&log)
            .envs(fake.envs()),
    );
    assert_eq!(code, 1, "{stdout}{stderr}");
    let findings: Vec<&str> = stdout.lines().filter(|l| l.starts_with("GPU ")).collect();
    assert_eq!(findings.len(), 1, "{stdout}");
    let in_window = format!(
        "logged 1× in the last {}, the latest ",
        gpuwarden::policy::human_duration(window)
    );
    assert!(
        findings[0].starts_with("GPU 2 (GPU-")
            && findings[0].contains(": xid: XID 48 (")
            && findings[0].contains(&in_window)
            && findings[0].contains("reset the GPU"),
        "{stdout} (wanted {in_window:?})"
    );

    // A window of a quarter of that leaves the XID 48 behind: healthy again.
    let (code, stdout, _) = output(
        gpuwarden()
            .args(["check", "--xid-window"])
            .arg(format!("{}s", (window / 4).as_secs().max(1)))
            .arg("--kmsg")
            .arg(&log)
            .envs(fake.envs()),
    );
    assert_eq!(code, 0, "{stdout}");

    // A kernel log that cannot be read is not a pass: it is listed as not checked.
    let (code, stdout, _) = output(
        gpuwarden()
            .args(["check", "--json", "--kmsg"])
            .arg(dir.path().join("missing"))
            .envs(fake.envs()),
    );
    assert_eq!(code, 0, "{stdout}");
    let json: Value = serde_json::from_str(&stdout).unwrap();
    let skipped: Vec<&Value> = json["not_checked"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["check"] == "xid")
        .collect();
    assert_eq!(skipped.len(), 1, "{json}");
    assert!(
        skipped[0]["reason"]
            .as_str()
            .unwrap()
            .contains("No such file"),
        "{json}"
    );
}
