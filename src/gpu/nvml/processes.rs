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
use std::io::Read;
use std::path::PathBuf;

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
    /// Reused for every `/proc/PID/stat` read, so a cache hit allocates nothing.
    path: PathBuf,
    stat: String,
}

impl ProcessDescriptions {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        ProcessDescriptions {
            proc_root: proc_root.into(),
            by_pid: HashMap::new(),
            path: PathBuf::new(),
            stat: String::new(),
        }
    }

    /// Fills `user`, `command` and `unit` of `process`.
    pub fn describe(&mut self, process: &mut GpuProcess) {
        let Some(start_time) = self.start_time(process.pid) else {
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
        if !crate::host::describe_process(&self.proc_root, process) {
            // Caught mid-exec: describe it again next time rather than remember a stub.
            self.by_pid.remove(&process.pid);
            return;
        }
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

impl ProcessDescriptions {
    /// The process's start time in clock ticks since boot, from `/proc/PID/stat`.
    fn start_time(&mut self, pid: u32) -> Option<u64> {
        self.path.clear();
        self.path.push(&self.proc_root);
        self.path.push(itoa(pid, &mut [0; 10]));
        self.path.push("stat");
        self.stat.clear();
        fs::File::open(&self.path)
            .and_then(|mut f| f.read_to_string(&mut self.stat))
            .ok()?;
        parse_start_time(&self.stat)
    }
}

/// starttime is field 22 of `/proc/PID/stat`. The command name (field 2) may contain
/// spaces and parentheses, so fields are counted from behind its last ')'.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// `n` in decimal without allocating.
fn itoa(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

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
        let mut fake = ProcessDescriptions::new(dir.path());
        assert_eq!(fake.start_time(9), Some(4242));
        assert_eq!(fake.start_time(10), None);
        let mut real = ProcessDescriptions::new("/proc");
        assert!(real.start_time(std::process::id()).is_some_and(|t| t > 0));
        assert_eq!(parse_start_time("1 (a) b) c"), None);
    }

    #[test]
    fn itoa_writes_decimal() {
        for n in [0, 7, 10, 4242, u32::MAX] {
            assert_eq!(itoa(n, &mut [0; 10]), n.to_string());
        }
    }
}
