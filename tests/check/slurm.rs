//! `check --slurm` against a real single-node Slurm (tests/harness/slurm-sandbox.sh), run
//! directly as a HealthCheckProgram would run it, and as a Prolog started by slurmd.

use crate::fake_nvml::FakeNvml;
use crate::sandbox::{Sandbox, env};
use crate::{gpuwarden, healthy, output, test_path};
use std::process::Command;
use std::time::{Duration, Instant};

/// `(State, Reason)` of the node from `scontrol show node` (the reason without its stamp).
fn node() -> (String, String) {
    let out = Command::new("scontrol")
        .args(["show", "node", &env("SANDBOX_NODE")])
        .output()
        .expect("running scontrol");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let state = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("State="))
        .unwrap_or_default()
        .to_string();
    let reason = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Reason="))
        .map(|r| r.rsplit_once(" [").map_or(r, |(r, _)| r).to_string())
        .unwrap_or_default();
    (state, reason)
}

/// Polls the node until `ok(state, reason)` holds; panics with the last reading at 30 s.
fn wait_node(what: &str, ok: impl Fn(&str, &str) -> bool) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (state, reason) = node();
        if ok(&state, &reason) {
            return (state, reason);
        }
        assert!(
            Instant::now() < deadline,
            "node never became {what}: State={state} Reason={reason}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn drained(state: &str) -> bool {
    state.split('+').any(|f| f == "DRAIN")
}

fn check_slurm(fake: &FakeNvml) -> (i32, String, String) {
    output(gpuwarden().args(["check", "--slurm"]).envs(fake.envs()))
}

#[test]
fn a_lost_gpu_drains_the_node_and_its_return_resumes_it() {
    Sandbox::slurm().run(
        test_path!(a_lost_gpu_drains_the_node_and_its_return_resumes_it),
        || {
            let mut state = healthy(8);
            let fake = FakeNvml::new(&state);
            let (code, stdout, stderr) = check_slurm(&fake);
            assert_eq!(code, 0, "{stdout}{stderr}");
            assert!(stdout.contains("slurm: node "), "{stdout}");

            state.gpus[1] = state.gpus[1].clone().lost();
            fake.set(&state);
            let (code, stdout, stderr) = check_slurm(&fake);
            assert_eq!(code, 1, "{stdout}{stderr}");
            assert!(
                stdout.contains(": drained (gpuwarden: GPU 1 lost"),
                "{stdout}"
            );
            let (_, reason) = wait_node("drained", |s, _| drained(s));
            assert_eq!(
                reason,
                "gpuwarden: GPU 1 lost: the GPU stopped answering NVML"
            );
            // A second failing run leaves the same drain alone.
            let (code, stdout, _) = check_slurm(&fake);
            assert_eq!(code, 1);
            assert!(stdout.contains(": already drained ("), "{stdout}");
            // A different finding replaces gpuwarden's own reason.
            let mut other = healthy(8);
            other.gpus[2] = other.gpus[2].clone().with("ecc_uncorrected_volatile", 1);
            fake.set(&other);
            let (code, stdout, _) = check_slurm(&fake);
            assert_eq!(code, 1);
            assert!(
                stdout.contains(": drained (gpuwarden: GPU 2 ecc"),
                "{stdout}"
            );
            wait_node("drained for GPU 2", |s, r| {
                drained(s) && r.contains("GPU 2 ecc")
            });

            fake.set(&healthy(8));
            // A passing prolog never resumes: bringing nodes back is the health check's job.
            let (code, stdout, _) = output(
                gpuwarden()
                    .args(["check", "--slurm", "--prolog"])
                    .envs(fake.envs()),
            );
            assert_eq!(code, 0, "{stdout}");
            assert!(
                stdout.contains(": left drained (gpuwarden: GPU 2 ecc"),
                "{stdout}"
            );
            assert!(drained(&node().0));
            let (code, stdout, stderr) = check_slurm(&fake);
            assert_eq!(code, 0, "{stdout}{stderr}");
            assert!(stdout.contains(": resumed"), "{stdout}");
            wait_node("idle", |s, _| s == "IDLE");
        },
    );
}

#[test]
fn a_node_drained_by_someone_else_stays_drained() {
    Sandbox::slurm().run(
        test_path!(a_node_drained_by_someone_else_stays_drained),
        || {
            let node_name = env("SANDBOX_NODE");
            let status = Command::new("scontrol")
                .args(["update", &format!("NodeName={node_name}"), "State=DRAIN"])
                .arg("Reason=maintenance")
                .status()
                .expect("running scontrol");
            assert!(status.success());
            let mut state = healthy(2);
            let fake = FakeNvml::new(&state);
            // --node names the node explicitly, as a site with other node names would.
            let run = |fake: &FakeNvml| {
                output(
                    gpuwarden()
                        .args(["check", "--slurm", "--node", &node_name])
                        .envs(fake.envs()),
                )
            };
            let (code, stdout, stderr) = run(&fake);
            assert_eq!(code, 0, "{stdout}{stderr}");
            assert!(stdout.contains(": left drained (maintenance)"), "{stdout}");
            state.gpus[0] = state.gpus[0].clone().lost();
            fake.set(&state);
            let (code, stdout, _) = run(&fake);
            assert_eq!(code, 1, "{stdout}");
            assert!(stdout.contains(": left drained (maintenance)"), "{stdout}");
            let (state, reason) = node();
            assert!(drained(&state), "{state}");
            assert_eq!(reason, "maintenance");
        },
    );
}

/// Runs `gpuwarden check <flags> --nvml-lib <fake>` as slurmd's Prolog with GPU 1 lost,
/// submits a batch job, waits until Slurm requeued it held and drained the node, and returns
/// the node's drain reason.
fn failing_prolog(flags: &str) -> String {
    let mut state = healthy(2);
    let fake = FakeNvml::new(&state);
    state.gpus[1] = state.gpus[1].clone().lost();
    fake.set(&state);
    // slurmd runs the Prolog as root with Slurm's own small environment: the wrapper
    // names the binary and the fake library (its state file lies next to it).
    let prolog = format!(
        "#!/bin/sh\nexec '{}' check {flags} --nvml-lib '{}' --kmsg '{}' >> '{}/prolog.out' 2>&1\n",
        env!("CARGO_BIN_EXE_gpuwarden"),
        fake.lib_path().display(),
        crate::empty_kmsg().display(),
        env("SANDBOX_DIR"),
    );
    let path = env("SANDBOX_PROLOG");
    std::fs::write(&path, prolog).unwrap();
    let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&path, mode).unwrap();
    let out = Command::new("sbatch")
        .args(["--parsable", "--gres=gpu:1", "--wrap", "echo job ran"])
        .arg(format!("--output={}/job-%j.out", env("SANDBOX_DIR")))
        .output()
        .expect("running sbatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let job = String::from_utf8_lossy(&out.stdout).trim().to_string();

    wait_node("drained", |s, _| drained(s));
    // A requeued job passes through COMPLETING before it is PENDING again: poll for both.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new("scontrol")
            .args(["show", "job", &job])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains("JobState=PENDING") && text.contains("Reason=launch_failed_requeued_held")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} was not requeued and held:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let prolog_out = format!("{}/prolog.out", env("SANDBOX_DIR"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&prolog_out).unwrap_or_default();
        if log.contains("GPU 1 (UUID unknown, PCI bus id unknown): lost: ") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the prolog's output lacks the finding:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (state, reason) = node();
    assert!(drained(&state), "{state}");
    reason
}

#[test]
fn a_failing_prolog_requeues_the_job_and_drains_the_node_under_its_reason() {
    Sandbox::slurm().run(
        test_path!(a_failing_prolog_requeues_the_job_and_drains_the_node_under_its_reason),
        || {
            // Slurm drains a node whose prolog failed, but keeps a drain reason already set.
            let reason = failing_prolog("--slurm --prolog");
            assert_eq!(
                reason,
                "gpuwarden: GPU 1 lost: the GPU stopped answering NVML"
            );
        },
    );
}

#[test]
fn a_failing_prolog_without_slurm_leaves_the_drain_to_slurm() {
    Sandbox::slurm().run(
        test_path!(a_failing_prolog_without_slurm_leaves_the_drain_to_slurm),
        || {
            let reason = failing_prolog("--prolog");
            assert_eq!(reason, "Prolog error");
        },
    );
}

#[test]
fn slurmd_running_check_as_its_health_check_drains_and_resumes_the_node() {
    Sandbox::slurm().run(
        test_path!(slurmd_running_check_as_its_health_check_drains_and_resumes_the_node),
        || {
            let mut state = healthy(4);
            let fake = FakeNvml::new(&state);
            // slurmd gives its health check SLURMD_NODENAME and nothing else (no PATH): the
            // binary must find scontrol by itself. `env -i` makes sure of it.
            let script = format!(
                "#!/bin/sh\nexec /usr/bin/env -i SLURMD_NODENAME=\"$SLURMD_NODENAME\" \
                 SLURM_CONF=\"$SLURM_CONF\" '{}' check --slurm --nvml-lib '{}' --kmsg '{}' \
                 >> '{}/hc.out' 2>&1\n",
                env!("CARGO_BIN_EXE_gpuwarden"),
                fake.lib_path().display(),
                crate::empty_kmsg().display(),
                env("SANDBOX_DIR"),
            );
            let path = env("SANDBOX_HEALTHCHECK");
            std::fs::write(&path, script).unwrap();
            let mode = std::os::unix::fs::PermissionsExt::from_mode(0o755);
            std::fs::set_permissions(&path, mode).unwrap();

            state.gpus[3] = state.gpus[3].clone().with("ecc_uncorrected_volatile", 5);
            fake.set(&state);
            let (_, reason) = wait_node("drained by the health check", |s, _| drained(s));
            assert_eq!(
                reason,
                "gpuwarden: GPU 3 ecc: 5 uncorrected ECC errors since the driver loaded"
            );
            fake.set(&healthy(4));
            wait_node("resumed by the health check", |s, _| s == "IDLE");
        },
    );
}
