//! The `xid` check: XIDs the NVIDIA driver logged in the kernel's ring buffer within a window
//! (default the last hour), read once from `/dev/kmsg` — a one-shot check has no daemon that
//! listened while they happened, and the ring buffer keeps them.
//!
//! Only XIDs whose catalogue action asks for more than restarting the application count
//! (reset the GPU, reboot, drain and replace): an application's own fault (XID 13, 31, 43)
//! says nothing about the node. Each is a critical finding on the GPU with that PCI address,
//! or a node-wide one when no listed GPU has it (the GPU that logged it fell off the bus).
//! Records without a `/dev/kmsg` timestamp are ignored, so an old log cannot drain a node.

use super::builtin::finding;
use super::{Finding, GpuRef, NotChecked, Severity, Verdict};
use crate::gpu::Snapshot;
use crate::health::catalogue::XidAction;
use crate::health::{kmsg, lookup, normalize_pci};
use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

/// One XID record found in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedXid {
    /// Normalised PCI address (see [`normalize_pci`]).
    pub pci: String,
    pub code: u32,
    /// How long ago the kernel logged it.
    pub age: Duration,
}

/// Reads every record `path` holds (all of `/dev/kmsg`'s ring buffer, or a file in its
/// format) and keeps the XIDs logged within `window` of now (`CLOCK_MONOTONIC`, the kernel
/// log's clock).
pub fn read_recent(path: &Path, window: Duration) -> io::Result<Vec<LoggedXid>> {
    let text = read_all(path)?;
    let now = monotonic_now();
    Ok(parse_recent(&text, now, window))
}

/// The XIDs in `text` logged within `window` before `now` (both since boot).
pub fn parse_recent(text: &str, now: Duration, window: Duration) -> Vec<LoggedXid> {
    text.lines()
        .filter_map(|line| {
            let logged = record_time(line)?;
            let xid = kmsg::parse_line(line)?;
            let age = now.checked_sub(logged).unwrap_or_default();
            (age <= window).then_some(LoggedXid {
                pci: xid.pci,
                code: xid.code,
                age,
            })
        })
        .collect()
}

/// When a `/dev/kmsg` record `level,seq,µs,flags;…` was logged, since boot.
fn record_time(line: &str) -> Option<Duration> {
    let (prefix, _) = line.split_once(';')?;
    let mut fields = prefix.split(',');
    let (_level, _seq, us) = (fields.next()?, fields.next()?, fields.next()?);
    us.parse().ok().map(Duration::from_micros)
}

/// Everything the device or file holds, without blocking: `/dev/kmsg` answers one record per
/// read and `EAGAIN` at the end; a record overwritten while reading (`EPIPE`) is skipped.
fn read_all(path: &Path) -> io::Result<String> {
    let mut file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    let device = is_char_device(path);
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if device && !out.ends_with(b"\n") {
                    out.push(b'\n');
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

fn is_char_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the pointer it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Whether an XID with this catalogue action says the GPU (not one application) is at fault.
fn gpu_at_fault(action: XidAction) -> bool {
    matches!(
        action,
        XidAction::ResetGpu | XidAction::Reboot | XidAction::DrainAndReplace
    )
}

/// Adds the `xid` check to `v`: one finding per GPU and code logged within `window`.
pub fn judge(snap: &Snapshot, logged: &[LoggedXid], window: Duration, v: &mut Verdict) {
    v.checks.push("xid".into());
    // (pci, code) → (count, newest age)
    let mut seen: BTreeMap<(&str, u32), (usize, Duration)> = BTreeMap::new();
    for x in logged
        .iter()
        .filter(|x| gpu_at_fault(lookup(x.code).action))
    {
        let e = seen.entry((x.pci.as_str(), x.code)).or_insert((0, x.age));
        e.0 += 1;
        e.1 = e.1.min(x.age);
    }
    for ((pci, code), (count, newest)) in seen {
        let info = lookup(code);
        let message = format!(
            "XID {code} ({}) logged {count}× in the last {}, the latest {} ago",
            info.meaning,
            crate::policy::human_duration(window),
            crate::policy::human_duration(Duration::from_secs(newest.as_secs()))
        );
        let action = match info.action {
            XidAction::ResetGpu => "drain the node and reset the GPU (nvidia-smi -r) when idle",
            XidAction::Reboot => "drain the node and reboot it: this GPU cannot be reset",
            _ => "drain the node and have the GPU replaced",
        };
        let gpu = snap.gpus.iter().find(|g| {
            g.pci_bus_id
                .value()
                .and_then(|p| normalize_pci(p))
                .is_some_and(|p| p == pci)
        });
        v.findings.push(match gpu {
            Some(g) => finding(g, "xid", Severity::Critical, message, action),
            None => Finding {
                target: GpuRef {
                    pci: Some(pci.to_string()),
                    ..GpuRef::node()
                },
                check: "xid".into(),
                severity: Severity::Critical,
                message: format!("a GPU no longer listed at {pci}: {message}"),
                action: action.into(),
            },
        });
    }
}

/// The `xid` check could not read the kernel log: listed, not passed.
pub fn unreadable(path: &Path, err: &io::Error, v: &mut Verdict) {
    let hint = if err.kind() == io::ErrorKind::PermissionDenied {
        " (reading the kernel log needs root or CAP_SYSLOG)"
    } else {
        ""
    };
    v.checks.push("xid".into());
    v.not_checked.push(NotChecked {
        target: GpuRef::node(),
        check: "xid".into(),
        reason: format!("reading {}: {err}{hint}", path.display()),
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
6,100,3000000000,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has fallen off the bus.
6,101,3500000000,-;NVRM: Xid (PCI:0000:3b:00): 13, Graphics Exception
6,102,3590000000,-;NVRM: Xid (PCI:0000:18:00): 48, An uncorrectable double bit error
6,103,3595000000,-;NVRM: Xid (PCI:0000:18:00): 48, An uncorrectable double bit error
 SUBSYSTEM=pci
NVRM: Xid (PCI:0000:18:00): 95, no timestamp: ignored
12,104,3599000000,-;NVRM: Xid (PCI:0000:18:00): 79, written by a user process
";

    #[test]
    fn only_timestamped_kernel_records_within_the_window_count() {
        let now = Duration::from_secs(3600);
        let got = parse_recent(LOG, now, Duration::from_secs(3600 - 3400));
        let codes: Vec<(&str, u32, u64)> = got
            .iter()
            .map(|x| (x.pci.as_str(), x.code, x.age.as_secs()))
            .collect();
        assert_eq!(
            codes,
            [
                ("0000:3b:00", 13, 100),
                ("0000:18:00", 48, 10),
                ("0000:18:00", 48, 5)
            ]
        );
    }

    #[test]
    fn gpu_faults_are_findings_on_the_gpu_and_application_faults_are_not() {
        use crate::gpu::{Field, GpuSample, Vendor};
        let mut g = GpuSample::lost(0, "GPU-a", Vendor::Nvidia);
        g.status = crate::gpu::GpuStatus::Ok;
        g.pci_bus_id = Field::Value("00000000:18:00.0".into());
        let mut snap = Snapshot::new(1, "h", "nvml");
        snap.gpus.push(g);
        let got = parse_recent(LOG, Duration::from_secs(3600), Duration::from_secs(3600));
        let mut v = Verdict::default();
        judge(&snap, &got, Duration::from_secs(3600), &mut v);
        let lines: Vec<String> = v.findings.iter().map(Finding::short).collect();
        assert_eq!(v.findings.len(), 2, "{lines:?}");
        assert_eq!(v.findings[0].target.gpu, Some(0));
        assert!(lines[0].starts_with("GPU 0 xid: XID 48 ("), "{lines:?}");
        assert!(lines[0].contains("logged 2× in the last 1h, the latest 5s ago"));
        assert_eq!(v.findings[1].target.gpu, None);
        assert_eq!(v.findings[1].target.pci.as_deref(), Some("0000:3b:00"));
        assert!(lines[1].contains("a GPU no longer listed at 0000:3b:00: XID 79"));
    }
}
