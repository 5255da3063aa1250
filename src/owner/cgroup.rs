//! The owner of a process from its `/proc/PID/cgroup` text: pure parsing, no I/O.
//!
//! Each line is `hierarchy-id:controllers:path`; cgroup v2 has the one line `0::path`, v1
//! (and hybrid hosts) one line per hierarchy. Every path is read and the most specific owner
//! any of them names wins: a pod, then a container, then a Slurm job, then a systemd unit
//! (units only from the v2 line or v1's `name=systemd` hierarchy, where systemd keeps them).
//!
//! Shapes recognised (a path may sit below any prefix, e.g. a nested cgroup namespace):
//! - Kubernetes, systemd driver: `.../kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope`
//!   (`crio-<id>.scope`, `docker-<id>.scope`), or `...pod<uid>.slice:cri-containerd:<id>`;
//!   cgroupfs driver: `/kubepods/burstable/pod<uid>/<id>`.
//! - Containers: `docker-<id>.scope`, `/docker/<id>`, `cri-containerd-<id>.scope`,
//!   `crio-<id>.scope`, `libpod-<id>.scope`, `/libpod_parent/libpod-<id>` (the `-conmon-`
//!   monitor scopes are not the container).
//! - Slurm: v2 `/system.slice/slurmstepd.scope/job_<id>/step_<step>/...` (or
//!   `<node>_slurmstepd.scope` with several slurmd on a node), v1
//!   `/slurm/uid_<uid>/job_<id>/step_<step>/...`.
//!
//! Seen from inside another cgroup namespace, paths start with `/..`: those elements name
//! nothing and are skipped like any other.

use super::{OwnerKind, ProcessOwner};

/// What a cgroup text says about a process's owner.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FromCgroup {
    /// The most specific owner found.
    pub owner: Option<ProcessOwner>,
    /// The systemd unit the process is in, whoever owns it (`docker-<id>.scope` for a
    /// Docker container under systemd).
    pub unit: Option<String>,
    /// A v1 Slurm path's `uid_<uid>`: the job's user, by number.
    pub slurm_uid: Option<u32>,
}

/// Reads owner and unit out of a `/proc/PID/cgroup` text.
pub fn parse(text: &str) -> FromCgroup {
    let lines: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.splitn(3, ':');
            let _hierarchy = f.next()?;
            Some((f.next()?, f.next()?))
        })
        .collect();
    // Units live where systemd keeps them: v2, or v1's named systemd hierarchy.
    let unit = lines
        .iter()
        .filter(|(controllers, _)| controllers.is_empty())
        .chain(lines.iter().filter(|(c, _)| *c == "name=systemd"))
        .find_map(|(_, path)| unit(path));
    let mut best: Option<(ProcessOwner, Option<u32>)> = None;
    for (_, path) in &lines {
        if let Some(found) = owner_in_path(path)
            && best
                .as_ref()
                .is_none_or(|(b, _)| rank(found.0.kind) > rank(b.kind))
        {
            best = Some(found);
        }
    }
    let (owner, slurm_uid) = match best {
        Some((owner, uid)) => (Some(owner), uid),
        None => (
            unit.clone().map(|u| ProcessOwner::new(OwnerKind::Unit, u)),
            None,
        ),
    };
    FromCgroup {
        owner,
        unit,
        slurm_uid,
    }
}

/// Which owner wins when paths disagree: the most specific.
fn rank(kind: OwnerKind) -> u8 {
    match kind {
        OwnerKind::Unit => 0,
        OwnerKind::SlurmJob => 1,
        OwnerKind::Container => 2,
        OwnerKind::Pod => 3,
    }
}

/// The systemd unit in one cgroup path: the last element that names a service or scope,
/// skipping the user manager's own `user@UID.service` when a unit below it is more specific
/// (`.../user@1000.service/app.slice/vllm.service` → `vllm.service`).
pub fn unit(path: &str) -> Option<String> {
    path.split('/')
        .rev()
        .find(|part| {
            (part.ends_with(".service") || part.ends_with(".scope"))
                && !part.starts_with("user@")
                && !part.starts_with("init.scope")
        })
        .map(str::to_string)
}

/// A pod, container or Slurm job named by one path (units are read separately).
fn owner_in_path(path: &str) -> Option<(ProcessOwner, Option<u32>)> {
    let mut pod: Option<String> = None;
    let mut container: Option<(Option<&'static str>, String)> = None;
    let mut slurm = false;
    let mut uid = None;
    let mut job: Option<(String, Option<String>)> = None;
    let mut previous = "";
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        // `kubepods-…-pod<uid>.slice:cri-containerd:<id>`: a slice and a container in one.
        for part in segment.split(':') {
            if let Some(uid) = pod_uid(part) {
                pod = Some(uid);
            } else if let Some(found) = container_id(part, previous) {
                container = Some(found);
            }
            previous = part;
        }
        // `slurmstepd.scope`, `/slurm`, `/slurm_<node>`; several slurmd on one node run
        // as `<node>_slurmstepd.scope`.
        if segment.starts_with("slurm") || segment.ends_with("_slurmstepd.scope") {
            slurm = true;
        }
        if let Some(n) = segment.strip_prefix("uid_").and_then(|n| n.parse().ok()) {
            uid = Some(n);
            slurm = true;
        }
        if slurm && let Some(id) = segment.strip_prefix("job_").filter(|id| is_digits(id)) {
            job = Some((id.to_string(), None));
        }
        if let Some((_, step)) = job.as_mut()
            && step.is_none()
            && let Some(s) = segment.strip_prefix("step_").filter(|s| !s.is_empty())
        {
            *step = Some(s.to_string());
        }
    }
    if let Some(uid) = pod {
        let mut owner = ProcessOwner::new(OwnerKind::Pod, uid);
        if let Some((runtime, id)) = container {
            owner.runtime = runtime.map(str::to_string);
            owner.container = Some(id);
        }
        return Some((owner, None));
    }
    if let Some((runtime, id)) = container {
        let mut owner = ProcessOwner::new(OwnerKind::Container, id);
        owner.runtime = runtime.map(str::to_string);
        return Some((owner, None));
    }
    let (id, step) = job?;
    let mut owner = ProcessOwner::new(OwnerKind::SlurmJob, id);
    owner.step = step;
    Some((owner, uid))
}

/// A pod UID from `pod<uid>` (cgroupfs) or `kubepods[-qos]-pod<uid with _>.slice` (systemd).
fn pod_uid(part: &str) -> Option<String> {
    let rest = match part.strip_suffix(".slice") {
        Some(slice) if slice.starts_with("kubepods") => &slice[slice.rfind("-pod")? + 4..],
        Some(_) => return None,
        None => part.strip_prefix("pod")?,
    };
    let uid = rest.replace('_', "-");
    is_uid(&uid).then_some(uid)
}

/// A pod UID is an RFC 4122 UUID: 36 characters, hex digits and dashes at 8-4-4-4-12.
fn is_uid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A container's runtime and short id from one path element; `previous` is the element
/// before it (`/docker/<id>`, `/kubepods/…/pod<uid>/<id>`, `…slice:cri-containerd:<id>`).
fn container_id(part: &str, previous: &str) -> Option<(Option<&'static str>, String)> {
    const PREFIXES: &[(&str, &str)] = &[
        ("docker-", "docker"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
        ("libpod-", "podman"),
    ];
    let bare = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, runtime) in PREFIXES {
        if let Some(id) = bare.strip_prefix(prefix) {
            return is_container_id(id).then(|| (Some(*runtime), short(id)));
        }
    }
    if !is_container_id(bare) {
        return None;
    }
    let runtime = match previous {
        "docker" => Some("docker"),
        "libpod_parent" => Some("podman"),
        "cri-containerd" => Some("containerd"),
        "crio" => Some("cri-o"),
        _ => None,
    };
    Some((runtime, short(bare)))
}

/// Container ids are 64 hex digits.
fn is_container_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The 12-digit short id Docker, Podman and `crictl` show.
fn short(id: &str) -> String {
    id[..12].to_string()
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[path = "cgroup_tests.rs"]
mod tests;
