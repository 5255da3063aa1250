//! XIDs from the kernel log: a parser for the `NVRM: Xid …` lines the NVIDIA driver prints,
//! and a reader thread that follows `/dev/kmsg` (or any file or FIFO given instead) from
//! its end, sending each XID it finds to the daemon.
//!
//! Drivers 470–570 print the same fact in several shapes, all accepted:
//!
//! ```text
//! 6,1234,5678901,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has fallen off the bus.
//! NVRM: Xid (PCI:0000:3b:00): 13, Graphics Exception on (GPC 0, TPC 1)
//! Nov 22 18:29:55 host kernel: [ 966.503025] NVRM: Xid (0000:01:00): 31, Ch 0000000b, engmask 00000120
//! ```
//!
//! A `/dev/kmsg` record prefix (`level,seq,µs,flags;`) whose facility is not the kernel's
//! (a line a user process wrote into `/dev/kmsg`) is ignored.

use super::{XidReport, XidSource, normalize_pci};
use crate::gpu::sampler::now_ms;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The kernel's log device.
pub const DEV_KMSG: &str = "/dev/kmsg";

/// How long the reader waits before looking again when nothing new was there.
const POLL: Duration = Duration::from_millis(250);

/// One XID line, parsed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsgXid {
    /// The GPU's PCI address, normalised (`0000:3b:00`, see [`normalize_pci`]).
    pub pci: String,
    pub code: u32,
    pub pid: Option<u32>,
    /// The process name, when the driver gave one.
    pub process: Option<String>,
    /// What the driver said after the code (and pid/name), trimmed.
    pub message: String,
}

/// Parses one kernel log line; `None` when it is not an NVIDIA XID line.
pub fn parse_line(line: &str) -> Option<KmsgXid> {
    let line = line.trim_end_matches(['\n', '\r']);
    if let Some((prefix, _)) = line.split_once(';')
        && let Some(level) = record_level(prefix)
        && level >= 8
    {
        return None; // written by a user process, not the kernel
    }
    let start = line.find("NVRM: Xid")?;
    let rest = line[start + "NVRM: Xid".len()..].trim_start();
    let rest = rest.strip_prefix('(')?;
    let (inside, rest) = rest.split_once(')')?;
    let address = inside.trim();
    let address = address.strip_prefix("PCI:").unwrap_or(address);
    let pci = normalize_pci(address)?;
    let rest = rest.trim_start().strip_prefix(':')?.trim_start();
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let code = rest[..digits].parse().ok()?;
    let mut rest = rest[digits..].trim_start();
    rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    let mut pid = None;
    let mut process = None;
    if let Some(after) = rest.strip_prefix("pid=") {
        let (value, tail) = after.split_once(',').unwrap_or((after, ""));
        pid = value.trim().trim_matches('\'').parse().ok();
        rest = tail.trim_start();
        if let Some(after) = rest.strip_prefix("name=") {
            let (value, tail) = after.split_once(',').unwrap_or((after, ""));
            let value = value.trim();
            if !value.is_empty() && value != "<unknown>" {
                process = Some(value.to_string());
            }
            rest = tail.trim_start();
        }
    }
    Some(KmsgXid {
        pci,
        code,
        pid,
        process,
        message: rest.trim().to_string(),
    })
}

/// The syslog priority (facility × 8 + level) of a `/dev/kmsg` record prefix
/// `level,seq,µs,flags`, or `None` when `prefix` is not one.
fn record_level(prefix: &str) -> Option<u32> {
    let mut fields = prefix.split(',');
    let level = fields.next()?.parse().ok()?;
    let seq = fields.next()?;
    let us = fields.next()?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (all_digits(seq) && all_digits(us)).then_some(level)
}

impl KmsgXid {
    fn into_report(self, at_ms: u64) -> XidReport {
        let mut text = String::new();
        if let Some(pid) = self.pid {
            text.push_str(&format!("pid {pid}"));
            if let Some(name) = &self.process {
                text.push_str(&format!(" ({name})"));
            }
            text.push_str(": ");
        }
        text.push_str(&self.message);
        XidReport {
            source: XidSource::Kmsg,
            uuid: None,
            pci: Some(self.pci),
            code: self.code,
            at_ms,
            text: (!text.is_empty()).then_some(text),
        }
    }
}

/// The open log, positioned at its end: only what is written from now on is read.
pub struct KmsgReader {
    path: PathBuf,
    file: File,
}

impl KmsgReader {
    /// Opens `path` without blocking (a FIFO with no writer yet is fine) and skips what it
    /// already holds (`/dev/kmsg` replays the whole ring buffer to a new reader).
    pub fn open(path: &Path) -> io::Result<KmsgReader> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open(path)?;
        // A FIFO cannot seek; it holds nothing old anyway.
        let _ = file.seek(SeekFrom::End(0));
        Ok(KmsgReader {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Follows the log on a thread of its own until the daemon stops listening.
    pub fn spawn(self, tx: tokio::sync::mpsc::Sender<XidReport>) -> io::Result<()> {
        std::thread::Builder::new()
            .name("xid-kmsg".into())
            .spawn(move || self.follow(&tx))
            .map(drop)
    }

    fn follow(mut self, tx: &tokio::sync::mpsc::Sender<XidReport>) {
        // One /dev/kmsg record per read; a record is at most a few KiB.
        let mut buf = vec![0u8; 16 * 1024];
        let mut pending: Vec<u8> = Vec::new();
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => {
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(POLL);
                }
                Ok(n) => {
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        let Some(xid) = parse_line(&String::from_utf8_lossy(&line)) else {
                            continue;
                        };
                        if tx.blocking_send(xid.into_report(now_ms())).is_err() {
                            return;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if tx.is_closed() {
                        return;
                    }
                    std::thread::sleep(POLL);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // /dev/kmsg: records were overwritten before we read them; go on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
                Err(e) => {
                    tracing::error!("reading {}: {e}; XIDs from it stop", self.path.display());
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kmsg_record_with_pid_and_name() {
        let x = parse_line(
            "6,1234,5678901,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has \
             fallen off the bus.\n",
        )
        .unwrap();
        assert_eq!(x.pci, "0000:3b:00");
        assert_eq!(x.code, 79);
        assert_eq!(x.pid, Some(1234));
        assert_eq!(x.process.as_deref(), Some("python"));
        assert_eq!(x.message, "GPU has fallen off the bus.");
    }

    #[test]
    fn the_older_shapes_without_pid_or_pci_prefix() {
        let x = parse_line("NVRM: Xid (PCI:0000:3B:00): 13, Graphics Exception on (GPC 0, TPC 1)")
            .unwrap();
        assert_eq!((x.pci.as_str(), x.code, x.pid), ("0000:3b:00", 13, None));
        assert_eq!(x.message, "Graphics Exception on (GPC 0, TPC 1)");

        let x = parse_line(
            "Nov 22 18:29:55 host kernel: [  966.503025] NVRM: Xid (0000:01:00): 31, Ch \
             0000000b, engmask 00000120, intr 10000000",
        )
        .unwrap();
        assert_eq!((x.pci.as_str(), x.code), ("0000:01:00", 31));
        assert!(x.message.starts_with("Ch 0000000b"), "{x:?}");
    }

    #[test]
    fn unknown_process_and_quoted_pid_and_a_function_number() {
        let x = parse_line(
            "4,99,1,-;NVRM: Xid (PCI:0000:10:1c.0): 63, pid='<unknown>', name=<unknown>, Row \
             Remapper: New row marked for remapping, reset gpu to activate.",
        )
        .unwrap();
        assert_eq!((x.pci.as_str(), x.code, x.pid), ("0000:10:1c", 63, None));
        assert_eq!(x.process, None);
        assert!(x.message.starts_with("Row Remapper"), "{x:?}");

        let x =
            parse_line("NVRM: Xid (PCI:0000:c1:00): 94, pid=77, name=trainer, Contained").unwrap();
        assert_eq!((x.code, x.pid), (94, Some(77)));
        assert_eq!(x.process.as_deref(), Some("trainer"));
        assert_eq!(x.message, "Contained");
    }

    #[test]
    fn lines_that_are_not_xids_or_not_from_the_kernel() {
        for line in [
            "",
            "6,1,2,-;NVRM: loading NVIDIA UNIX x86_64 Kernel Module  550.54.15",
            "6,1,2,-;NVRM: Xid: 79",
            "NVRM: Xid (PCI:0000:3b:00): xx, nonsense",
            "NVRM: Xid (garbage): 79, GPU has fallen off the bus.",
            // facility 1 (user) << 3 | level 4: somebody wrote this into /dev/kmsg
            "12,5,6,-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.",
            " SUBSYSTEM=pci",
        ] {
            assert_eq!(parse_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn the_reader_follows_a_file_from_its_end() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kmsg");
        std::fs::write(&path, "NVRM: Xid (PCI:0000:3b:00): 48, old news\n").unwrap();
        let reader = KmsgReader::open(&path).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel(8);
        reader.spawn(tx).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"6,1,2,-;NVRM: Xid (PCI:0000:3b:00): 79, pid=1, name=a, GPU has ")
            .unwrap();
        f.write_all(b"fallen off the bus.\nnoise\n").unwrap();
        let report = rx.blocking_recv().expect("one report");
        assert_eq!(report.code, 79);
        assert_eq!(report.source, XidSource::Kmsg);
        assert_eq!(report.pci.as_deref(), Some("0000:3b:00"));
        assert_eq!(
            report.text.as_deref(),
            Some("pid 1 (a): GPU has fallen off the bus.")
        );
    }
}
