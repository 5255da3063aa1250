//! Who a GPU process belongs to: its systemd unit, its container, its Kubernetes pod or its
//! Slurm job — one [`ProcessOwner`] per process, the same words in the snapshot JSON, the
//! dashboard's OWNER column and the `gpuwarden_owner_*` metrics.
//!
//! `cgroup` reads the owner out of a `/proc/PID/cgroup` text (cgroup v2 and the v1 shapes);
//! `pods` adds a pod's namespace and name from the kubelet's pod log directories.

pub mod cgroup;
pub mod pods;

use serde::{Deserialize, Serialize};

/// What kind of thing owns a process.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OwnerKind {
    /// A systemd unit (`vllm.service`, `session-3.scope`).
    #[default]
    Unit,
    /// A container outside Kubernetes (Docker, containerd, CRI-O, Podman).
    Container,
    /// A Kubernetes pod (its container, when the cgroup names it, in `container`).
    Pod,
    /// A Slurm job (its step in `step`).
    SlurmJob,
}

impl OwnerKind {
    /// The name used in JSON, metrics labels and the README.
    pub fn name(self) -> &'static str {
        match self {
            OwnerKind::Unit => "unit",
            OwnerKind::Container => "container",
            OwnerKind::Pod => "pod",
            OwnerKind::SlurmJob => "slurm_job",
        }
    }
}

/// The owner of a process, read from its cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessOwner {
    pub kind: OwnerKind,
    /// The owner's identity: the unit name, the container's short id (12 hex digits), the
    /// pod's UID, or the Slurm job id.
    pub id: String,
    /// A pod's `namespace/name`, when the kubelet's files say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The container runtime: `docker`, `containerd`, `cri-o` or `podman`, when the cgroup
    /// says which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    /// A pod's container, by short id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// A Slurm job's step: a number, `batch`, `extern` or `interactive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// A Slurm job's user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl ProcessOwner {
    /// An owner of `kind` with only its id known.
    pub fn new(kind: OwnerKind, id: impl Into<String>) -> Self {
        ProcessOwner {
            kind,
            id: id.into(),
            ..ProcessOwner::default()
        }
    }

    /// How people name it, short: `vllm.service`, `docker 0123456789ab`,
    /// `pod ml/trainer-0` (or the UID), `slurm 123.0`.
    pub fn label(&self) -> String {
        match self.kind {
            OwnerKind::Unit => self.id.clone(),
            OwnerKind::Container => {
                format!(
                    "{} {}",
                    self.runtime.as_deref().unwrap_or("container"),
                    self.id
                )
            }
            OwnerKind::Pod => format!("pod {}", self.name.as_deref().unwrap_or(&self.id)),
            OwnerKind::SlurmJob => match &self.step {
                Some(step) => format!("slurm {}.{step}", self.id),
                None => format!("slurm {}", self.id),
            },
        }
    }
}
