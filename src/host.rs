//! The machine itself: host name, CPU and RAM (sysinfo), and who owns a GPU process —
//! its user (from NSS), command line, systemd unit and owner (see `owner`), read from
//! `/proc/PID`.
//!
//! The driver reports host PIDs; inside a container `/proc/PID` may not exist, in which case
//! the process keeps its PID and memory and the rest stays unknown rather than wrong.

use crate::gpu::GpuProcess;
use crate::owner::{self, OwnerKind};
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
