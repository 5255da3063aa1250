//! The machine itself: host name, CPU and RAM (`/proc/stat`, `/proc/meminfo`), and who owns a GPU process —
//! its user (from NSS), command line, systemd unit and owner (see `owner`), read from
//! `/proc/PID`.
//!
//! The driver reports host PIDs; inside a container `/proc/PID` may not exist, in which case
//! the process keeps its PID and memory and the rest stays unknown rather than wrong.

use crate::gpu::GpuProcess;
use crate::owner::{self, OwnerKind};
use std::fs;
use std::path::Path;

/// The host's name as the kernel reports it.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(gethostname)
        .unwrap_or_else(|| "localhost".to_string())
}

/// `gethostname(2)`, for a `/proc` without the kernel's host name file.
fn gethostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; the name is NUL-terminated on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned())
}

/// CPU and memory use of the host, refreshed on demand from `/proc/stat` and
/// `/proc/meminfo`: both files stay open and are read again from their start into one kept
/// buffer, so a reading costs two `pread`s and no allocation.
/// Without a readable `/proc` (odd containers) the readings stay empty instead of failing.
pub struct HostStats {
    stat: Option<fs::File>,
    meminfo: Option<fs::File>,
    buf: Vec<u8>,
    /// (busy, total) jiffies of the previous reading.
    last: Option<(u64, u64)>,
    cpus: usize,
}

/// One reading of [`HostStats`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HostReading {
    pub cpu_pct: f32,
    pub cpus: usize,
    pub mem_used_bytes: u64,
    pub mem_total_bytes: u64,
}

impl HostStats {
    pub fn new() -> Self {
        // SAFETY: sysconf only reads a system constant.
        let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        HostStats {
            stat: fs::File::open("/proc/stat").ok(),
            meminfo: fs::File::open("/proc/meminfo").ok(),
            buf: Vec::with_capacity(8192),
            last: None,
            cpus: usize::try_from(online).unwrap_or(0),
        }
    }

    /// Refreshes and reads; the CPU figure is the average since the previous call (since
    /// boot on the first).
    pub fn read(&mut self) -> HostReading {
        let mut reading = HostReading {
            cpus: self.cpus,
            ..HostReading::default()
        };
        if let Some(stat) = &self.stat
            && read_from_start(stat, &mut self.buf, 4096).is_ok()
            && let Some((busy, total)) = cpu_jiffies(&self.buf)
        {
            let (b0, t0) = self.last.unwrap_or((0, 0));
            let (db, dt) = (busy.saturating_sub(b0), total.saturating_sub(t0));
            if dt > 0 {
                reading.cpu_pct = (db as f64 / dt as f64 * 100.0) as f32;
            }
            self.last = Some((busy, total));
        }
        if let Some(meminfo) = &self.meminfo
            && read_from_start(meminfo, &mut self.buf, 8192).is_ok()
        {
            let total = meminfo_kib(&self.buf, b"MemTotal:");
            let available = meminfo_kib(&self.buf, b"MemAvailable:");
            if let (Some(total), Some(available)) = (total, available) {
                reading.mem_total_bytes = total * 1024;
                reading.mem_used_bytes = total.saturating_sub(available) * 1024;
            }
        }
        reading
    }
}

impl Default for HostStats {
    fn default() -> Self {
        Self::new()
    }
}

/// The first `max` bytes of a `/proc` file kept open, read again from offset 0 into `buf` (a
/// `/proc` file makes its text afresh on each read from the start): no path walk, no open,
/// no allocation once `buf` has grown.
pub(crate) fn read_from_start(
    file: &fs::File,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    buf.resize(max, 0);
    let mut got = 0;
    while got < max {
        let n = file.read_at(&mut buf[got..], got as u64)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    buf.truncate(got);
    Ok(())
}

/// (busy, total) jiffies from the `cpu` line that starts `/proc/stat`: total is user, nice,
/// system, idle, iowait, irq, softirq and steal; busy is total less idle and iowait.
fn cpu_jiffies(stat: &[u8]) -> Option<(u64, u64)> {
    let line = stat.split(|b| *b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut fields = line.split_ascii_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = fields.take(8).map(|f| f.parse().unwrap_or(0)).collect();
    if v.len() < 4 {
        return None;
    }
    let total: u64 = v.iter().sum();
    let idle = v[3] + v.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// A `Key:   1234 kB` value of `/proc/meminfo`, in KiB.
fn meminfo_kib(meminfo: &[u8], key: &[u8]) -> Option<u64> {
    meminfo
        .split(|b| *b == b'\n')
        .find_map(|line| line.strip_prefix(key))
        .and_then(|rest| std::str::from_utf8(rest).ok())
        .and_then(|rest| rest.split_ascii_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Fills user, command, unit and owner of `process` from `/proc` under `proc_root`.
///
/// Returns false when the command line was not readable yet and only the short name was
/// used: a process caught between `exec` and the kernel setting up its arguments shows an
/// empty `cmdline` for a moment, so such a description is not worth remembering.
pub fn describe_process(proc_root: &Path, process: &mut GpuProcess) -> bool {
    let dir = proc_root.join(process.pid.to_string());
    let mut complete = true;
    if process.command.is_none() {
        process.command = read_cmdline(&dir.join("cmdline"));
        if process.command.is_none() {
            complete = false;
            process.command = fs::read_to_string(dir.join("comm"))
                .ok()
                .map(|s| s.trim().to_string());
        }
    }
    if process.user.is_none() {
        process.user = read_uid(&dir.join("status")).map(user_name);
    }
    if process.unit.is_none()
        && process.owner.is_none()
        && let Ok(text) = fs::read_to_string(dir.join("cgroup"))
    {
        let found = owner::cgroup::parse(&text);
        process.unit = found.unit;
        process.owner = found.owner.map(|mut o| {
            match o.kind {
                OwnerKind::Pod => o.name = owner::pods::pod_name(owner::pods::pod_logs(), &o.id),
                OwnerKind::SlurmJob => {
                    o.user = found
                        .slurm_uid
                        .map(user_name)
                        .or_else(|| process.user.clone());
                }
                OwnerKind::Unit | OwnerKind::Container => {}
            }
            o
        });
    }
    complete
}

fn read_cmdline(path: &Path) -> Option<String> {
    let raw = fs::read(path).ok()?;
    let text: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (!text.is_empty()).then(|| text.join(" "))
}

fn read_uid(status: &Path) -> Option<u32> {
    let text = fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The login name for `uid` from the system's user database (NSS: files, LDAP, SSSD — what
/// `getent passwd` sees), or the number when there is none.
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: `passwd` is plain data that getpwuid_r fills; zeroed is a valid value.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buf.len()` is the buffer's size;
        // the strings `pwd` points to live in `buf`, which outlives their use below.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return uid.to_string();
        }
        // SAFETY: on success `pw_name` is a NUL-terminated string inside `buf`.
        let name = unsafe { std::ffi::CStr::from_ptr(pwd.pw_name) };
        return name.to_string_lossy().into_owned();
    }
}

/// The systemd unit in a `/proc/PID/cgroup` text (see [`owner::cgroup`] for the owner).
pub fn unit_from_cgroup(cgroup: &str) -> Option<String> {
    owner::cgroup::parse(cgroup).unit
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_and_memory_come_from_proc() {
        let stat = b"cpu  100 20 30 800 50 0 0 0 0 0\ncpu0 1 2 3 4\n";
        // busy = user + nice + system (+ irq, softirq, steal); idle and iowait are not busy.
        assert_eq!(cpu_jiffies(stat), Some((150, 1000)));
        assert_eq!(cpu_jiffies(b"intr 1 2 3\n"), None);
        let meminfo =
            b"MemTotal:       24000000 kB\nMemFree:  100 kB\nMemAvailable:   18000000 kB\n";
        assert_eq!(meminfo_kib(meminfo, b"MemTotal:"), Some(24_000_000));
        assert_eq!(meminfo_kib(meminfo, b"MemAvailable:"), Some(18_000_000));
        assert_eq!(meminfo_kib(meminfo, b"SwapTotal:"), None);

        // This machine's own /proc, twice: the second reading is over the time between.
        let mut host = HostStats::new();
        let first = host.read();
        assert!(first.mem_total_bytes > 0 && first.mem_used_bytes <= first.mem_total_bytes);
        assert!(first.cpus > 0);
        let second = host.read();
        assert!((0.0..=100.0).contains(&second.cpu_pct), "{second:?}");
        assert_eq!(second.mem_total_bytes, first.mem_total_bytes);
    }

    #[test]
    fn unit_from_cgroup_v2_and_v1() {
        assert_eq!(
            unit_from_cgroup("0::/system.slice/vllm@0.service\n").as_deref(),
            Some("vllm@0.service")
        );
        assert_eq!(
            unit_from_cgroup(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/embed.service\n"
            )
            .as_deref(),
            Some("embed.service")
        );
        assert_eq!(
            unit_from_cgroup("12:pids:/x\n1:name=systemd:/system.slice/train.service\n").as_deref(),
            Some("train.service")
        );
        assert_eq!(unit_from_cgroup("0::/\n"), None);
        assert_eq!(
            unit_from_cgroup("0::/user.slice/user-0.slice/session-3.scope\n").as_deref(),
            Some("session-3.scope")
        );
    }

    #[test]
    fn users_come_from_nss() {
        assert_eq!(user_name(0), "root");
        // No user has this uid: the number stands in.
        assert_eq!(user_name(3_999_999_999), "3999999999");
    }

    #[test]
    fn describes_this_very_process() {
        let mut p = GpuProcess {
            pid: std::process::id(),
            ..GpuProcess::default()
        };
        describe_process(Path::new("/proc"), &mut p);
        assert!(
            p.command.as_deref().unwrap_or("").contains("gpuwarden"),
            "{p:?}"
        );
        assert!(p.user.is_some());
    }
}
