//! Finding the DRM clients of the host — which processes hold which GPU file descriptors —
//! for the sources that read them from `/proc/PID/fdinfo` (AMD and Intel), and describing
//! those processes through the shared [`ProcessDescriptions`] cache.
//!
//! Looking at every process costs one `readlink` per open file descriptor on the host (tens
//! of milliseconds on a busy one), so it is done only every [`FULL_RESCAN_EVERY`] and at the
//! first sample. In between only the known clients are read again: the fds that were DRM
//! clients at the last look have their fdinfo re-read, so their memory and busy time stay
//! current every sample, and a client whose process exited (or closed the fd) is gone at the
//! next sample. A process that starts using a GPU shows up at the next full rescan, at most
//! [`FULL_RESCAN_EVERY`] later. The period is measured on the time the source is sampled at;
//! a clock that jumps back counts as the period having passed.

use super::field::Missing;
use super::model::{GpuProcess, UnixMs};
use super::processes::ProcessDescriptions;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often every process is looked at to find new DRM clients.
pub const FULL_RESCAN_EVERY: Duration = Duration::from_secs(10);

/// One DRM client fd of one process, parsed by the source's `parse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found<C> {
    pub pid: u32,
    /// The fd's number, as its `/proc/PID/fd` entry names it.
    pub fd: String,
    pub client: C,
}

/// The DRM clients of one source, and the descriptions of their processes.
pub struct DrmClients {
    proc_root: PathBuf,
    /// The client fds of the last read, by pid.
    known: BTreeMap<u32, Vec<String>>,
    /// When every process was last looked at; `None` before the first look, or when the
    /// last one could not read `proc_root` (then every sample tries again).
    last_full_ms: Option<UnixMs>,
    descriptions: ProcessDescriptions,
}

impl DrmClients {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        let proc_root = proc_root.into();
        DrmClients {
            descriptions: ProcessDescriptions::new(&proc_root),
            proc_root,
            known: BTreeMap::new(),
            last_full_ms: None,
        }
    }

    /// The clients at `at_ms`: every process is looked at when a full rescan is due, else the
    /// known client fds only. `parse` turns an fdinfo text into a client of this source, or
    /// `None` for anything else (another driver, not a DRM fd). `Err` only when `proc_root`
    /// itself is unreadable at a full rescan.
    pub fn read<C>(
        &mut self,
        at_ms: UnixMs,
        parse: impl Fn(&str) -> Option<C>,
    ) -> Result<Vec<Found<C>>, Missing> {
        let due = self
            .last_full_ms
            .is_none_or(|last| at_ms.abs_diff(last) >= FULL_RESCAN_EVERY.as_millis() as u64);
        let found = if due {
            match full_scan(&self.proc_root, &parse) {
                Ok(found) => {
                    self.last_full_ms = Some(at_ms);
                    found
                }
                Err(why) => {
                    self.last_full_ms = None;
                    self.known.clear();
                    return Err(why);
                }
            }
        } else {
            self.reread(&parse)
        };
        self.known.clear();
        for f in &found {
            self.known.entry(f.pid).or_default().push(f.fd.clone());
        }
        Ok(found)
    }

    /// Fills who `process` is and what it uses of the host (see [`ProcessDescriptions`]).
    pub fn describe(&mut self, process: &mut GpuProcess) {
        self.descriptions.describe(process);
    }

    /// Forgets the descriptions of processes not described since the previous call.
    pub fn end_sample(&mut self) {
        self.descriptions.end_sample();
    }

    /// The known client fds read again: a fd that is gone (its process exited, or it was
    /// closed) or that no longer is a client of this source drops out.
    fn reread<C>(&self, parse: &impl Fn(&str) -> Option<C>) -> Vec<Found<C>> {
        let mut out = Vec::new();
        for (pid, fds) in &self.known {
            let dir = self.proc_root.join(pid.to_string()).join("fdinfo");
            for fd in fds {
                let Ok(info) = fs::read_to_string(dir.join(fd)) else {
                    continue;
                };
                if let Some(client) = parse(&info) {
                    out.push(Found {
                        pid: *pid,
                        fd: fd.clone(),
                        client,
                    });
                }
            }
        }
        out
    }
}

/// Every process under `proc_root`: fds that point into `/dev/dri/` have their fdinfo read
/// (one `readlink` each is far cheaper than reading every fdinfo of every process).
/// Processes whose fds cannot be read (another user's, when not root) are skipped.
fn full_scan<C>(
    proc_root: &Path,
    parse: &impl Fn(&str) -> Option<C>,
) -> Result<Vec<Found<C>>, Missing> {
    let entries = fs::read_dir(proc_root).map_err(|e| super::amd::sysfs::missing_for(&e))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let is_drm =
                fs::read_link(fd.path()).is_ok_and(|target| target.starts_with("/dev/dri/"));
            if !is_drm {
                continue;
            }
            let name = fd.file_name().to_string_lossy().into_owned();
            let Ok(info) = fs::read_to_string(entry.path().join("fdinfo").join(&name)) else {
                continue;
            };
            if let Some(client) = parse(&info) {
                out.push(Found {
                    pid,
                    fd: name,
                    client,
                });
            }
        }
    }
    out.sort_by(|a, b| (a.pid, &a.fd).cmp(&(b.pid, &b.fd)));
    Ok(out)
}
