//! Who a GPU process is (user, command, unit, owner), remembered between samples, and what
//! it uses of the host now (CPU %, RSS, run time). Every source (NVIDIA, AMD, Intel) describes
//! its processes through this one cache, so a pid reads the same whichever GPU it is on.
//!
//! Describing a process reads four files under `/proc` plus a user database lookup, which
//! costs far more than the NVML calls of a whole GPU. A process keeps its description for
//! life, so it is cached under its pid *and start time* (`/proc/PID/stat` field 22): a
//! recycled pid has a new start time and is described afresh. The one file read on every
//! sample, `stat` — kept open and read again from its start, once per sample however many
//! GPUs list the process — also gives CPU time and RSS; CPU % is the CPU time used since
//! the previous sample over the boot-clock time between them. Entries of processes no
//! longer on any GPU are dropped after each sample.

use crate::gpu::model::{GpuProcess, ProcessOwner};
use crate::host::read_from_start;
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

struct Described {
    start_time: u64,
    user: Option<String>,
    command: Option<String>,
    unit: Option<String>,
    owner: Option<ProcessOwner>,
    /// CPU time (user + system, clock ticks) and boot-clock time when last read.
    cpu_ticks: u64,
    read_at_s: f64,
    /// This sample's host figures, for a process on several GPUs.
    usage: Usage,
    seen: bool,
    /// `/proc/PID/stat`, kept open and read again from its start: no path walk per sample.
    /// Once the process exits a read fails, and the pid's `stat` is opened anew.
    stat_file: Option<fs::File>,
}

/// Processes whose `stat` is kept open (each is one file descriptor).
const KEPT_OPEN: usize = 256;

/// What a process uses of the host, from one `/proc/PID/stat` read.
#[derive(Clone, Copy, Default)]
struct Usage {
    cpu_pct: Option<f64>,
    rss_bytes: Option<u64>,
    run_time_s: Option<u64>,
}

/// The fields of `/proc/PID/stat` the cache reads.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    start_ticks: u64,
    cpu_ticks: u64,
    rss_pages: u64,
}

/// The cache, owned by a source and shared by all its GPUs.
pub struct ProcessDescriptions {
    proc_root: PathBuf,
    by_pid: HashMap<u32, Described>,
    /// Reused for every `/proc/PID/stat` read, so a cache hit allocates nothing.
    path: PathBuf,
    stat: Vec<u8>,
}

impl ProcessDescriptions {
    pub fn new(proc_root: impl Into<PathBuf>) -> Self {
        ProcessDescriptions {
            proc_root: proc_root.into(),
            by_pid: HashMap::new(),
            path: PathBuf::new(),
            stat: Vec::new(),
        }
    }

    /// Fills who `process` is (`user`, `command`, `unit`, `owner`) and what it uses of the
    /// host (`cpu_pct`, `rss_bytes`, `run_time_s`).
    pub fn describe(&mut self, process: &mut GpuProcess) {
        if let Some(d) = self.by_pid.get(&process.pid)
            && d.seen
        {
            // Another GPU of this sample listed it already: its figures are this sample's.
            d.fill(process);
            return;
        }
        let kept = self
            .by_pid
            .get_mut(&process.pid)
            .and_then(|d| d.stat_file.take());
        let Some((stat, file)) = self.stat(process.pid, kept) else {
            // Not visible here (another pid namespace): nothing to read, nothing to cache.
            self.by_pid.remove(&process.pid);
            return;
        };
        let now_s = boot_clock_s();
        let ticks = ticks_per_s();
        let base = Usage {
            cpu_pct: None,
            rss_bytes: Some(stat.rss_pages.saturating_mul(page_size())),
            run_time_s: now_s.map(|now| (now - stat.start_ticks as f64 / ticks).max(0.0) as u64),
        };
        let keep = self.by_pid.len() < KEPT_OPEN;
        if let Some(d) = self.by_pid.get_mut(&process.pid)
            && d.start_time == stat.start_ticks
        {
            // First GPU of this sample to list it: the figures move on.
            let cpu_pct = now_s.and_then(|now| {
                cpu_pct(
                    stat.cpu_ticks.checked_sub(d.cpu_ticks)?,
                    ticks,
                    now - d.read_at_s,
                )
            });
            d.usage = Usage { cpu_pct, ..base };
            d.cpu_ticks = stat.cpu_ticks;
            d.read_at_s = now_s.unwrap_or(d.read_at_s);
            d.seen = true;
            d.stat_file = file.filter(|_| keep);
            d.fill(process);
            return;
        }
        base.fill(process);
        if !crate::host::describe_process(&self.proc_root, process) {
            // Caught mid-exec: describe it again next time rather than remember a stub.
            self.by_pid.remove(&process.pid);
            return;
        }
        self.by_pid.insert(
            process.pid,
            Described {
                start_time: stat.start_ticks,
                user: process.user.clone(),
                command: process.command.clone(),
                unit: process.unit.clone(),
                owner: process.owner.clone(),
                cpu_ticks: stat.cpu_ticks,
                read_at_s: now_s.unwrap_or(0.0),
                usage: base,
                seen: true,
                stat_file: file.filter(|_| keep),
            },
        );
    }

    /// Remembers `pid` through this sample without reading anything: its process is shown as
    /// last described (a source keeping its process table between reads).
    pub fn keep(&mut self, pid: u32) {
        if let Some(d) = self.by_pid.get_mut(&pid) {
            d.seen = true;
        }
    }

    /// Forgets processes not described (or kept) since the previous call.
    pub fn end_sample(&mut self) {
        self.by_pid.retain(|_, d| std::mem::take(&mut d.seen));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_pid.len()
    }
}

impl Described {
    /// Who it is and this sample's host figures, into `process`.
    fn fill(&self, process: &mut GpuProcess) {
        process.user.clone_from(&self.user);
        process.command.clone_from(&self.command);
        process.unit.clone_from(&self.unit);
        process.owner.clone_from(&self.owner);
        self.usage.fill(process);
    }
}

impl Usage {
    fn fill(self, process: &mut GpuProcess) {
        process.cpu_pct = self.cpu_pct;
        process.rss_bytes = self.rss_bytes;
        process.run_time_s = self.run_time_s;
    }
}

impl ProcessDescriptions {
    /// The process's `/proc/PID/stat` (start time, CPU time, RSS) and the file to keep:
    /// `kept` read again from its start, else the path opened.
    fn stat(&mut self, pid: u32, kept: Option<fs::File>) -> Option<(Stat, Option<fs::File>)> {
        if let Some(file) = kept
            && read_from_start(&file, &mut self.stat, STAT_MAX).is_ok()
            && let Some(stat) = parse_stat_bytes(&self.stat)
        {
            return Some((stat, Some(file)));
        }
        self.path.clear();
        self.path.push(&self.proc_root);
        self.path.push(crate::units::decimal(pid, &mut [0; 10]));
        self.path.push("stat");
        let file = fs::File::open(&self.path).ok()?;
        read_from_start(&file, &mut self.stat, STAT_MAX).ok()?;
        parse_stat_bytes(&self.stat).map(|stat| (stat, Some(file)))
    }
}

/// `/proc/PID/stat` is well under this (a 16-byte name and 50 numbers).
const STAT_MAX: usize = 4096;

/// The fields of a `stat` read into bytes: a command name is any bytes, and only the numbers
/// after it are read.
fn parse_stat_bytes(stat: &[u8]) -> Option<Stat> {
    parse_stat(&String::from_utf8_lossy(stat))
}

/// utime, stime, starttime and rss are fields 14, 15, 22 and 24 of `/proc/PID/stat`
/// (`man 5 proc`). The command name (field 2) may contain spaces and parentheses, so fields
/// are counted from behind its last ')', where field 3 is the first.
fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let mut field = |n: usize| -> Option<u64> { fields.nth(n)?.parse().ok() };
    let utime = field(11)?;
    let stime = field(0)?;
    let start_ticks = field(6)?;
    let rss_pages = field(1)?;
    Some(Stat {
        start_ticks,
        cpu_ticks: utime + stime,
        rss_pages,
    })
}

/// CPU time `ticks` used over `elapsed_s` seconds, in % of one core; `None` over an
/// interval too short to say anything.
fn cpu_pct(ticks: u64, ticks_per_s: f64, elapsed_s: f64) -> Option<f64> {
    (elapsed_s > 0.0).then(|| ticks as f64 / ticks_per_s / elapsed_s * 100.0)
}

/// Seconds since boot on the clock process start times are measured on (CLOCK_BOOTTIME:
/// monotonic, and counts suspend, as `/proc/PID/stat` does).
fn boot_clock_s() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ, 100 on Linux).
fn ticks_per_s() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as f64 } else { 100.0 }
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(n).ok().filter(|n| *n > 0).unwrap_or(4096)
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

        // Next sample, same process, files changed: the cached description stays.
        cache.end_sample();
        fs::write(dir.path().join("7/cmdline"), "changed\0").unwrap();
        let mut p = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut p);
        assert_eq!(p.command.as_deref(), Some("first"));

        // Next sample, the pid now belongs to a new process: described afresh.
        cache.end_sample();
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
    fn a_kept_process_is_remembered_without_reading_and_an_unkept_one_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 7, 100, "first");
        fake_proc(dir.path(), 8, 100, "other");
        let mut cache = ProcessDescriptions::new(dir.path());
        for pid in [7, 8] {
            cache.describe(&mut GpuProcess {
                pid,
                ..Default::default()
            });
        }
        cache.end_sample();
        // A sample that kept its table: 7 is on it, 8 is not.
        cache.keep(7);
        cache.keep(99);
        cache.end_sample();
        assert_eq!(cache.len(), 1);
        // 7 still has its description although its files changed since.
        fs::write(dir.path().join("7/cmdline"), "changed\0").unwrap();
        let mut p = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut p);
        assert_eq!(p.command.as_deref(), Some("first"));
    }

    #[test]
    fn stat_survives_odd_command_names() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 9, 4242, "x");
        let mut fake = ProcessDescriptions::new(dir.path());
        let (stat, _) = fake.stat(9, None).expect("stat");
        assert_eq!(stat.start_ticks, 4242);
        // utime and stime are fields 14 and 15, which fake_proc fills with their numbers.
        assert_eq!(stat.cpu_ticks, 14 + 15);
        assert!(fake.stat(10, None).is_none());
        let mut real = ProcessDescriptions::new("/proc");
        let (me, _) = real.stat(std::process::id(), None).expect("our own stat");
        assert!(me.start_ticks > 0 && me.rss_pages > 0, "{me:?}");
        assert_eq!(parse_stat("1 (a) b) c"), None);
        let line = "5 (x) S 1 5 5 0 -1 4194560 10 0 0 0 250 50 0 0 20 0 1 0 777 1000 33 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                start_ticks: 777,
                cpu_ticks: 300,
                rss_pages: 33
            })
        );
    }

    #[test]
    fn cpu_share_is_ticks_over_time() {
        assert_eq!(cpu_pct(50, 100.0, 1.0), Some(50.0));
        assert_eq!(cpu_pct(300, 100.0, 1.5), Some(200.0));
        assert_eq!(cpu_pct(0, 100.0, 2.0), Some(0.0));
        assert_eq!(cpu_pct(5, 100.0, 0.0), None);
    }

    #[test]
    fn host_figures_move_on_once_per_sample() {
        let dir = tempfile::tempdir().unwrap();
        fake_proc(dir.path(), 7, 100, "first");
        let mut cache = ProcessDescriptions::new(dir.path());
        let mut p = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut p);
        assert_eq!(p.cpu_pct, None, "no earlier reading to compare with");
        assert_eq!(p.rss_bytes, Some(0));
        assert!(p.run_time_s.is_some());
        cache.end_sample();
        let stat = fs::read_to_string(dir.path().join("7/stat")).unwrap();
        // 1000 more ticks of CPU time (10 s at 100 Hz): a high share of whatever time passed.
        fs::write(
            dir.path().join("7/stat"),
            stat.replace(" 14 15 ", " 1014 15 "),
        )
        .unwrap();
        let mut again = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut again);
        assert!(again.cpu_pct.is_some_and(|c| c > 100.0), "{again:?}");
        // The same process on a second GPU in the same sample: the same figures.
        let mut second = GpuProcess {
            pid: 7,
            ..Default::default()
        };
        cache.describe(&mut second);
        assert_eq!(second.cpu_pct, again.cpu_pct);
    }
}
