//! The machine itself: host name, CPU and RAM (sysinfo), and who owns a GPU process —
//! its user, command line and systemd unit, read from `/proc/PID`.
//!
//! The driver reports host PIDs; inside a container `/proc/PID` may not exist, in which case
//! the process keeps its PID and memory and the rest stays unknown rather than wrong.

use crate::gpu::GpuProcess;
use std::fs;
use std::path::Path;
use sysinfo::{MemoryRefreshKind, RefreshKind, System};

/// The host's name as the kernel reports it.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| System::host_name().ok())
        .unwrap_or_else(|| "localhost".to_string())
}

/// CPU and memory use of the host, refreshed on demand.
/// Without a readable `/proc` (odd containers) the readings stay empty instead of failing.
pub struct HostStats {
    system: Option<System>,
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
        let system = System::new_with_specifics(
            RefreshKind::nothing()
                .with_cpu(sysinfo::CpuRefreshKind::nothing().with_usage())
                .with_memory(MemoryRefreshKind::nothing().with_ram()),
        );
        HostStats {
            system: system.ok(),
        }
    }

    /// Refreshes and reads; the CPU figure is the average since the previous call.
    pub fn read(&mut self) -> HostReading {
        let Some(system) = self.system.as_mut() else {
            return HostReading::default();
        };
        system.refresh_cpu_usage();
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        HostReading {
            cpu_pct: system.global_cpu_usage(),
            cpus: system.cpus().len(),
            mem_used_bytes: system.used_memory(),
            mem_total_bytes: system.total_memory(),
        }
    }
}

impl Default for HostStats {
    fn default() -> Self {
        Self::new()
    }
}

/// Fills user, command and unit of `process` from `/proc` under `proc_root`.
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
    if process.unit.is_none() {
        process.unit = fs::read_to_string(dir.join("cgroup"))
            .ok()
            .and_then(|c| unit_from_cgroup(&c));
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

/// The login name for `uid` from `/etc/passwd`, or the number when there is none.
pub fn user_name(uid: u32) -> String {
    fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| {
            p.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let id: u32 = f.nth(1)?.parse().ok()?;
                (id == uid).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| uid.to_string())
}

/// The systemd unit in a `/proc/PID/cgroup` text: the last path element that names a
/// service or scope, skipping the user manager's own `user@UID.service` when a unit below
/// it is more specific (`.../user@1000.service/app.slice/vllm.service` → `vllm.service`).
pub fn unit_from_cgroup(cgroup: &str) -> Option<String> {
    // cgroup v2: "0::/system.slice/vllm@0.service"; v1 has several lines, prefer name=systemd.
    let path = cgroup
        .lines()
        .find(|l| l.starts_with("0::"))
        .or_else(|| cgroup.lines().find(|l| l.contains(":name=systemd:")))?
        .splitn(3, ':')
        .nth(2)?;
    path.split('/')
        .rev()
        .find(|part| {
            (part.ends_with(".service") || part.ends_with(".scope"))
                && !part.starts_with("user@")
                && !part.starts_with("init.scope")
        })
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

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
