//! Every cgroup shape the parser knows, including those a test host cannot create.

use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const UID: &str = "8f9c1e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";

fn owner(text: &str) -> ProcessOwner {
    parse(text)
        .owner
        .unwrap_or_else(|| panic!("no owner in {text:?}"))
}

fn container(runtime: Option<&str>) -> ProcessOwner {
    ProcessOwner {
        runtime: runtime.map(str::to_string),
        ..ProcessOwner::new(OwnerKind::Container, "0123456789ab")
    }
}

fn pod(runtime: Option<&str>) -> ProcessOwner {
    ProcessOwner {
        runtime: runtime.map(str::to_string),
        container: Some("0123456789ab".into()),
        ..ProcessOwner::new(OwnerKind::Pod, UID)
    }
}

#[test]
fn systemd_units_v2_and_v1() {
    let cases = [
        ("0::/system.slice/vllm@0.service\n", "vllm@0.service"),
        (
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/embed.service\n",
            "embed.service",
        ),
        (
            "12:pids:/x\n1:name=systemd:/system.slice/train.service\n",
            "train.service",
        ),
        (
            "0::/user.slice/user-0.slice/session-3.scope\n",
            "session-3.scope",
        ),
    ];
    for (text, unit) in cases {
        let got = parse(text);
        assert_eq!(got.unit.as_deref(), Some(unit), "{text}");
        assert_eq!(got.owner, Some(ProcessOwner::new(OwnerKind::Unit, unit)));
    }
    assert_eq!(parse("0::/\n"), FromCgroup::default());
    assert_eq!(parse("0::/init.scope\n").owner, None);
    // Hybrid host: an empty v2 line does not hide the unit in name=systemd.
    assert_eq!(
        parse("1:name=systemd:/system.slice/a.service\n0::/\n")
            .unit
            .as_deref(),
        Some("a.service")
    );
    // A unit in a v1 controller hierarchy is not where systemd keeps it.
    assert_eq!(parse("4:memory:/system.slice/a.service\n0::/\n").unit, None);
}

#[test]
fn containers_of_every_runtime() {
    let cases = [
        (
            format!("0::/system.slice/docker-{ID}.scope"),
            Some("docker"),
        ),
        (format!("4:memory:/docker/{ID}\n0::/"), Some("docker")),
        (
            format!("0::/system.slice/cri-containerd-{ID}.scope"),
            Some("containerd"),
        ),
        (format!("0::/machine.slice/crio-{ID}.scope"), Some("cri-o")),
        (
            format!("0::/machine.slice/libpod-{ID}.scope"),
            Some("podman"),
        ),
        // Rootless Podman with its own cgroup namespace: the container's `container` leaf.
        (
            format!(
                "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container"
            ),
            Some("podman"),
        ),
        (format!("3:cpu:/libpod_parent/libpod-{ID}"), Some("podman")),
        (format!("3:cpu:/somewhere/{ID}"), None),
    ];
    for (text, runtime) in cases {
        assert_eq!(owner(&text), container(runtime), "{text}");
    }
    // The unit stays what systemd calls it.
    assert_eq!(
        parse(&format!("0::/system.slice/docker-{ID}.scope")).unit,
        Some(format!("docker-{ID}.scope"))
    );
    // Conmon, the monitor next to a Podman or CRI-O container, is not the container.
    let conmon = parse(&format!("0::/machine.slice/libpod-conmon-{ID}.scope"));
    assert_eq!(conmon.owner.map(|o| o.kind), Some(OwnerKind::Unit));
    // Not a container id: too short, or not hex.
    assert_eq!(
        owner("0::/system.slice/docker-0123456789ab.scope").kind,
        OwnerKind::Unit
    );
    assert_eq!(parse(&format!("3:cpu:/x/{}", "g".repeat(64))).owner, None);
}

#[test]
fn kubernetes_pods_with_both_cgroup_drivers() {
    let underscored = UID.replace('-', "_");
    let cases = [
        // systemd driver (cgroup v2 and v1), each QoS class.
        (
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice/cri-containerd-{ID}.scope"
            ),
            Some("containerd"),
        ),
        (
            format!(
                "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{underscored}.slice/crio-{ID}.scope"
            ),
            Some("cri-o"),
        ),
        (
            format!(
                "1:name=systemd:/kubepods.slice/kubepods-pod{underscored}.slice/docker-{ID}.scope\n0::/"
            ),
            Some("docker"),
        ),
        // containerd's own slice notation.
        (
            format!(
                "0::/system.slice/containerd.service/kubepods-burstable-pod{underscored}.slice:cri-containerd:{ID}"
            ),
            Some("containerd"),
        ),
        // cgroupfs driver (v1): the runtime is not in the path.
        (
            format!("5:cpu,cpuacct:/kubepods/burstable/pod{UID}/{ID}\n0::/"),
            None,
        ),
        (format!("5:cpu,cpuacct:/kubepods/pod{UID}/{ID}"), None),
    ];
    for (text, runtime) in cases {
        assert_eq!(owner(&text), pod(runtime), "{text}");
    }
    // The pod's own cgroup (its pause process sits in a container of it; the slice alone
    // still names the pod).
    assert_eq!(
        owner(&format!(
            "0::/kubepods.slice/kubepods-pod{underscored}.slice"
        )),
        ProcessOwner::new(OwnerKind::Pod, UID)
    );
    // Not a UID: not a pod.
    assert_eq!(parse("0::/kubepods/burstable/podnotauid").owner, None);
}

#[test]
fn slurm_jobs_v2_and_v1() {
    let job = |id: &str, step: Option<&str>| ProcessOwner {
        step: step.map(str::to_string),
        ..ProcessOwner::new(OwnerKind::SlurmJob, id)
    };
    let v2 = parse("0::/system.slice/slurmstepd.scope/job_123/step_0/user/task_0\n");
    assert_eq!(v2.owner, Some(job("123", Some("0"))));
    assert_eq!(v2.slurm_uid, None);
    assert_eq!(v2.unit.as_deref(), Some("slurmstepd.scope"));
    assert_eq!(
        owner("0::/system.slice/slurmstepd.scope/job_77/step_batch/user/task_0"),
        job("77", Some("batch"))
    );
    let v1 = parse(
        "7:freezer:/slurm/uid_1000/job_4567/step_extern/task_0\n\
         4:memory:/slurm/uid_1000/job_4567/step_extern/task_0\n\
         1:name=systemd:/system.slice/slurmd.service\n",
    );
    assert_eq!(v1.owner, Some(job("4567", Some("extern"))));
    assert_eq!(v1.slurm_uid, Some(1000));
    // slurmd's own unit is where it lives, not who owns the job.
    assert_eq!(v1.unit.as_deref(), Some("slurmd.service"));
    // A node running several slurmd: `slurm_<node>`.
    assert_eq!(owner("4:memory:/slurm_node7/uid_0/job_9"), job("9", None));
    assert_eq!(
        owner("0::/system.slice/node7_slurmstepd.scope/job_12/step_3/user/task_0"),
        job("12", Some("3"))
    );
    // `job_` outside a Slurm tree is somebody else's name.
    assert_eq!(parse("0::/batch/job_5/step_0").owner, None);
}

#[test]
fn the_most_specific_owner_wins_across_hierarchies() {
    // A container inside a Slurm job's cgroup in another hierarchy, and a unit in v2.
    let text = format!(
        "5:memory:/slurm/uid_1/job_2/step_0\n3:cpu:/docker/{ID}\n0::/system.slice/x.service\n"
    );
    assert_eq!(owner(&text), container(Some("docker")));
    assert_eq!(parse(&text).unit.as_deref(), Some("x.service"));
    // Read from inside another cgroup namespace: the path climbs out first.
    assert_eq!(
        owner(&format!("0::/../../system.slice/docker-{ID}.scope")),
        container(Some("docker"))
    );
    // Garbage lines are ignored rather than fatal.
    assert_eq!(
        parse("nonsense\n\n0::/system.slice/y.service")
            .unit
            .as_deref(),
        Some("y.service")
    );
}

#[test]
fn labels_say_it_in_few_words() {
    assert_eq!(
        ProcessOwner::new(OwnerKind::Unit, "a.service").label(),
        "a.service"
    );
    assert_eq!(container(Some("docker")).label(), "docker 0123456789ab");
    assert_eq!(container(None).label(), "container 0123456789ab");
    assert_eq!(pod(None).label(), format!("pod {UID}"));
    let named = ProcessOwner {
        name: Some("ml/trainer-0".into()),
        ..pod(None)
    };
    assert_eq!(named.label(), "pod ml/trainer-0");
    let job = ProcessOwner {
        step: Some("0".into()),
        ..ProcessOwner::new(OwnerKind::SlurmJob, "123")
    };
    assert_eq!(job.label(), "slurm 123.0");
    assert_eq!(OwnerKind::SlurmJob.name(), "slurm_job");
    assert_eq!(
        serde_json::to_value(OwnerKind::SlurmJob).unwrap(),
        serde_json::json!("slurm_job")
    );
}
