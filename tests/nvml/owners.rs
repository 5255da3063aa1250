//! Real processes in real cgroups, named like those systemd, Docker, containerd, CRI-O,
//! Podman, the kubelet and Slurm make, each shown with its owner by `snapshot --json`
//! through the fake NVML reporting their pids.
//!
//! cgroup v2 shapes are made in the host's v2 tree (found in `/proc/self/mountinfo`, e.g.
//! `/sys/fs/cgroup` or a hybrid host's `/sys/fs/cgroup/unified`); v1 shapes in a named v1
//! hierarchy the test mounts for itself, so no controller of the host is touched. Every
//! cgroup lives below a prefix unique to the test and is removed when the test ends, also
//! when it fails (a Drop guard moves what is left in it out first). Needs root.

use crate::cli::{gpuwarden, json_of};
use crate::fake_nvml::{FakeNvml, FakeState};
use crate::source::Sleeper;
use serde_json::{Value, json};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

const ID: &str = "4f2a9c1e7b3d5a6f8e0c2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a";
const ID2: &str = "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d";
const POD: &str = "6d1f0a2b-93c4-4e85-a7f6-0b1c2d3e4f5a";

/// A name no other test (or run) uses.
fn unique(what: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "gpuwarden-test-{what}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The host's cgroup v2 mount point.
fn v2_root() -> PathBuf {
    let info = fs::read_to_string("/proc/self/mountinfo").expect("reading mountinfo");
    info.lines()
        .find_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            let point = left.split(' ').nth(4)?;
            right.starts_with("cgroup2 ").then(|| PathBuf::from(point))
        })
        .expect("a cgroup v2 tree is mounted (owners tests need one, and root)")
}

/// Cgroups made below `root/<unique prefix>`, removed on drop.
struct Cgroups {
    root: PathBuf,
    prefix: PathBuf,
    made: Vec<PathBuf>,
    /// A named v1 hierarchy this guard mounted (unmounted on drop).
    mounted: Option<tempfile::TempDir>,
}

impl Cgroups {
    fn v2() -> Self {
        Self::below(v2_root(), None)
    }

    /// A fresh named v1 hierarchy (`name=<unique>`), mounted in a temp dir.
    fn v1_named() -> Self {
        let dir = tempfile::tempdir().expect("a mount point");
        let name = unique("v1");
        // Hierarchy names are at most 64 bytes.
        let name = &name[name.len().saturating_sub(60)..];
        let status = std::process::Command::new("mount")
            .args(["-t", "cgroup", "-o", &format!("none,name={name}"), "cgroup"])
            .arg(dir.path())
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mounting a named cgroup v1 hierarchy (needs root)"
        );
        let root = dir.path().to_path_buf();
        Self::below(root, Some(dir))
    }

    fn below(root: PathBuf, mounted: Option<tempfile::TempDir>) -> Self {
        let prefix = root.join(unique("cg"));
        let mut me = Cgroups {
            root,
            prefix: prefix.clone(),
            made: Vec::new(),
            mounted,
        };
        me.mkdir(&prefix);
        me
    }

    fn mkdir(&mut self, dir: &Path) {
        fs::create_dir(dir).unwrap_or_else(|e| panic!("creating cgroup {}: {e}", dir.display()));
        self.made.push(dir.to_path_buf());
    }

    /// Makes `path` (below the prefix) and moves `pid` into it; returns the path the
    /// kernel shows in `/proc/PID/cgroup`.
    fn place(&mut self, path: &str, pid: u32) -> String {
        let mut dir = self.prefix.clone();
        for part in path.split('/') {
            dir.push(part);
            if !dir.exists() {
                self.mkdir(&dir.clone());
            }
        }
        fs::write(dir.join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", dir.display()));
        format!("/{}", dir.strip_prefix(&self.root).unwrap().display())
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            // Anything still inside goes back to the root, so the cgroup can be removed.
            if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
                for pid in procs.lines() {
                    let _ = fs::write(self.root.join("cgroup.procs"), pid);
                }
            }
            if let Err(e) = fs::remove_dir(dir) {
                eprintln!("removing cgroup {}: {e}", dir.display());
            }
        }
        if let Some(dir) = &self.mounted {
            let _ = std::process::Command::new("umount")
                .arg(dir.path())
                .status();
        }
    }
}

/// A sleeper placed in `path` of `cgroups`, checked through its real `/proc/PID/cgroup`.
fn sleeper_in(cgroups: &mut Cgroups, path: &str) -> Sleeper {
    let s = Sleeper::start();
    let shown = cgroups.place(path, s.pid());
    let text = fs::read_to_string(format!("/proc/{}/cgroup", s.pid())).unwrap();
    assert!(
        text.lines().any(|l| l.ends_with(&format!(":{shown}"))),
        "{shown} not in {text}"
    );
    s
}

/// `snapshot --json` with the fake reporting `pids` on GPU 0; each process's `owner`.
fn owners_of(pids: &[u32], pod_logs: &Path) -> Vec<Value> {
    let mut state = FakeState::with_gpus(1);
    let listed: Vec<(u32, Option<u64>)> = pids.iter().map(|p| (*p, Some(1 << 20))).collect();
    state.gpus[0] = state.gpus[0].clone().compute(&listed);
    let fake = FakeNvml::new(&state);
    let snap = json_of(
        gpuwarden()
            .args(["snapshot", "--json"])
            .envs(fake.envs())
            .env("GPUWARDEN_POD_LOGS", pod_logs),
    );
    let procs = snap["gpus"][0]["processes"].as_array().expect("processes");
    pids.iter()
        .map(|pid| {
            let p = procs
                .iter()
                .find(|p| p["pid"] == *pid)
                .unwrap_or_else(|| panic!("pid {pid} missing from {procs:?}"));
            p["owner"].clone()
        })
        .collect()
}

/// A pod log directory the kubelet would have made for `POD`.
fn pod_logs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join(format!("ml-team_trainer-0_{POD}/trainer"))).unwrap();
    dir
}

#[test]
fn cgroup_v2_owners_systemd_docker_podman_kubernetes_and_slurm() {
    let logs = pod_logs();
    let mut cg = Cgroups::v2();
    let pod = POD.replace('-', "_");
    let unit = sleeper_in(&mut cg, "system.slice/gpuwarden-test-vllm.service");
    let docker = sleeper_in(&mut cg, &format!("system.slice/docker-{ID}.scope"));
    let podman = sleeper_in(
        &mut cg,
        &format!("machine.slice/libpod-{ID2}.scope/container"),
    );
    let k8s = sleeper_in(
        &mut cg,
        &format!(
            "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{pod}.slice/cri-containerd-{ID}.scope"
        ),
    );
    let crio = sleeper_in(
        &mut cg,
        &format!(
            "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{pod}.slice/crio-{ID2}.scope"
        ),
    );
    let slurm = sleeper_in(
        &mut cg,
        "system.slice/slurmstepd.scope/job_4242/step_0/user/task_0",
    );
    let pids = [&unit, &docker, &podman, &k8s, &crio, &slurm].map(Sleeper::pid);
    let got = owners_of(&pids, logs.path());
    let me = gpuwarden::host::user_name(0);
    let want = [
        json!({"kind": "unit", "id": "gpuwarden-test-vllm.service"}),
        json!({"kind": "container", "id": &ID[..12], "runtime": "docker"}),
        json!({"kind": "container", "id": &ID2[..12], "runtime": "podman"}),
        json!({"kind": "pod", "id": POD, "name": "ml-team/trainer-0",
               "runtime": "containerd", "container": &ID[..12]}),
        json!({"kind": "pod", "id": POD, "name": "ml-team/trainer-0",
               "runtime": "cri-o", "container": &ID2[..12]}),
        json!({"kind": "slurm_job", "id": "4242", "step": "0", "user": me}),
    ];
    for (got, want) in got.iter().zip(&want) {
        assert_eq!(got, want);
    }
}

#[test]
fn cgroup_v1_owners_kubernetes_cgroupfs_docker_and_slurm() {
    let logs = pod_logs();
    let mut cg = Cgroups::v1_named();
    let k8s = sleeper_in(&mut cg, &format!("kubepods/besteffort/pod{POD}/{ID}"));
    let docker = sleeper_in(&mut cg, &format!("docker/{ID2}"));
    let slurm = sleeper_in(&mut cg, "slurm/uid_0/job_77/step_batch/task_0");
    let got = owners_of(&[k8s.pid(), docker.pid(), slurm.pid()], logs.path());
    assert_eq!(
        got,
        [
            json!({"kind": "pod", "id": POD, "name": "ml-team/trainer-0", "container": &ID[..12]}),
            json!({"kind": "container", "id": &ID2[..12], "runtime": "docker"}),
            // The job's user from the path's uid_0, through NSS.
            json!({"kind": "slurm_job", "id": "77", "step": "batch", "user": "root"}),
        ]
    );
}

#[test]
fn a_pod_without_kubelet_files_is_known_by_its_uid() {
    let mut cg = Cgroups::v2();
    let pod = POD.replace('-', "_");
    let k8s = sleeper_in(
        &mut cg,
        &format!("kubepods.slice/kubepods-pod{pod}.slice/cri-containerd-{ID}.scope"),
    );
    let empty = tempfile::tempdir().unwrap();
    let got = owners_of(&[k8s.pid()], empty.path());
    assert_eq!(
        got,
        [json!({"kind": "pod", "id": POD, "runtime": "containerd", "container": &ID[..12]})]
    );
}

/// `gpuwarden serve` on 127.0.0.1, killed when dropped.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The body of `GET /metrics`, or `None` while nothing answers.
fn metrics(addr: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    Some(text.split_once("\r\n\r\n")?.1.to_string())
}

#[test]
fn metrics_sum_gpu_memory_per_owner_of_real_processes() {
    use std::io::BufRead;
    let mut cg = Cgroups::v2();
    let a = sleeper_in(
        &mut cg,
        "system.slice/slurmstepd.scope/job_91/step_0/user/task_0",
    );
    let b = sleeper_in(
        &mut cg,
        "system.slice/slurmstepd.scope/job_91/step_1/user/task_0",
    );
    let c = sleeper_in(&mut cg, &format!("system.slice/docker-{ID}.scope"));
    let mut state = FakeState::with_gpus(1);
    state.gpus[0] = state.gpus[0].clone().compute(&[
        (a.pid(), Some(3 << 30)),
        (b.pid(), Some(1 << 30)),
        (c.pid(), Some(5 << 20)),
    ]);
    let fake = FakeNvml::new(&state);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_gpuwarden"))
        .envs(fake.envs())
        .env_remove("GPUWARDEN_LOG")
        .args(["--vendor", "nvidia", "serve", "--listen", "127.0.0.1:0"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let _serve = Serve(child);
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();
    // The first sample's page, however long the first sample takes (bounded, to fail).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let page = loop {
        match metrics(&addr) {
            Some(p) if p.contains("gpuwarden_owner_gpu_memory_bytes{") => break p,
            last => assert!(
                std::time::Instant::now() < deadline,
                "no owner metrics from {addr}: {last:?}"
            ),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let value = |kind: &str, owner: &str, family: &str| -> Option<f64> {
        page.lines()
            .find(|l| {
                l.starts_with(&format!("{family}{{"))
                    && l.contains(&format!("owner_kind=\"{kind}\",owner=\"{owner}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
    };
    let memory = "gpuwarden_owner_gpu_memory_bytes";
    assert_eq!(
        value("slurm_job", "91", memory),
        Some((4u64 << 30) as f64),
        "{page}"
    );
    assert_eq!(
        value("slurm_job", "91", "gpuwarden_owner_processes"),
        Some(2.0)
    );
    assert_eq!(
        value("container", &ID[..12], memory),
        Some((5u64 << 20) as f64)
    );
}
