//! Who a GPU process is (user, command, systemd unit), remembered between samples.
//!
//! Describing a process reads four files under `/proc` plus `/etc/passwd`, which costs far
//! more than the NVML calls of a whole GPU. A process keeps its description for life, so it
//! is cached under its pid *and start time* (`/proc/PID/stat` field 22): a recycled pid has
//! a new start time and is described afresh. Entries of processes no longer on any GPU are
//! dropped after each sample.

use crate::gpu::model::GpuProcess;
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Clone)]
struct Described {
    start_time: u64,
    user: Option<String>,
    command: Option<String>,
    unit: Option<String>,
    seen: bool,
}

/// The cache, owned by the source and shared by all its GPUs.
pub struct ProcessDescriptions {
    proc_root: PathBuf,
    by_pid: HashMap<u32, Described>,
}

impl ProcessDescriptions {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        ProcessDescriptions {
            proc_root: proc_root.into(),
            by_pid: HashMap::new(),
        }
    }

    /// Fills `user`, `command` and `unit` of `process`.
    pub fn describe(&mut self, process: &mut GpuProcess) {
        let Some(start_time) = start_time(&self.proc_root, process.pid) else {
            // Not visible here (another pid namespace): nothing to read, nothing to cache.
            self.by_pid.remove(&process.pid);
            return;
        };
        if let Some(d) = self.by_pid.get_mut(&process.pid)
            && d.start_time == start_time
        {
            d.seen = true;
            process.user.clone_from(&d.user);
            process.command.clone_from(&d.command);
            process.unit.clone_from(&d.unit);
            return;
        }
        crate::host::describe_process(&self.proc_root, process);
        self.by_pid.insert(
            process.pid,
            Described {
                start_time,
                user: process.user.clone(),
                command: process.command.clone(),
                unit: process.unit.clone(),
                seen: true,
            },
        );
    }

    /// Forgets processes not described since the previous call.
    pub fn end_sample(&mut self) {
        self.by_pid.retain(|_, d| std::mem::take(&mut d.seen));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_pid.len()
    }
}

/// The process's start time in clock ticks since boot, from `/proc/PID/stat`.
fn start_time(proc_root: &Path, pid: u32) -> Option<u64> {
    let mut path = proc_root.join(pid.to_string());
    path.push("stat");
    let stat = fs::read_to_string(path).ok()?;
    // The command name (field 2) may contain spaces and parentheses: fields after it
    // start behind the last ')'. starttime is field 22, the 20th after the name.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_proc(dir: &Path, pid: u32, start: u64, cmd: &str) {
        let p = dir.join(pid.to_string());
        fs::create_dir_all(&p).unwrap();
        let fields: Vec<String> = (3..=21).map(|i| i.to_string()).collect();
        fs::write(
            p.join("stat"),
            format!("{pid} (a) b) {} {start} 0 0\n", fields[..19].join(" ")),
        )
        .unwrap();
        fs::write(p.join("cmdline"), format!("{cmd}\0")).unwrap();
        fs::write(p.join("cgroup"), "0::/system.slice/x.service\n").unwrap();
    }

    #[test]
    fn a_recycled_pid_is_described_again_and_gone_ones_are_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 7, 100, "first");
        let mut cache = ProcessDescriptions::new(dir.path());
        let mut p = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut p);
        assert_eq!(p.command.as_deref(), Some("first"));
        assert_eq!(p.unit.as_deref(), Some("x.service"));

        // Same process, files changed: the cached description stays.
        fs::write(dir.path().join("7/cmdline"), "changed\0").unwrap();
        let mut p = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut p);
        assert_eq!(p.command.as_deref(), Some("first"));

        // The pid now belongs to a new process: described afresh.
        fake_proc(dir.path(), 7, 200, "second");
        let mut p = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut p);
        assert_eq!(p.command.as_deref(), Some("second"));

        cache.end_sample();
        assert_eq!(cache.len(), 1);
        cache.end_sample();
        assert_eq!(cache.len(), 0, "not seen in the last sample");
    }

    #[test]
    fn start_time_survives_odd_command_names() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 9, 4242, "x");
        assert_eq!(start_time(dir.path(), 9), Some(4242));
        let me = std::process::id();
        assert!(start_time(Path::new("/proc"), me).is_some_and(|t| t > 0));
        assert_eq!(start_time(dir.path(), 10), None);
    }
}
