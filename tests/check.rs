//! `gpuwarden check` end to end: the real binary against the fake `libnvidia-ml.so.1`
//! (exit codes, finding lines, `--require`, `--json`, `--brief`), and `--slurm` against a
//! real single-node Slurm (tests/harness/slurm-sandbox.sh): drain, resume, someone else's
//! drain, and a failing Prolog.

#[path = "support/fake_nvml.rs"]
mod fake_nvml;
#[path = "harness/sandbox.rs"]
mod sandbox;

#[path = "check/cli.rs"]
mod cli;
#[path = "check/driver.rs"]
mod driver;
#[path = "check/endpoint.rs"]
mod endpoint;
#[path = "check/memory.rs"]
mod memory;
#[path = "check/pcie.rs"]
mod pcie;
#[path = "check/slurm.rs"]
mod slurm;
#[path = "check/xid.rs"]
mod xid;

use fake_nvml::FakeState;

/// `n` fake H100s with nothing wrong (volatile ECC cleared explicitly, whatever the fake's
/// default).
pub fn healthy(n: u32) -> FakeState {
    let mut state = FakeState::with_gpus(n);
    for g in &mut state.gpus {
        *g = g.clone().with("ecc_uncorrected_volatile", 0);
    }
    state
}

/// The binary with an environment that cannot reach a fake or a driver by accident.
pub fn gpuwarden() -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gpuwarden"));
    for var in [
        "GPUWARDEN_NVML_LIB",
        "GPUWARDEN_SCONTROL",
        "FAKE_NVML_STATE",
        "FAKE_NVML_LOG",
        "LD_LIBRARY_PATH",
        "GPUWARDEN_LOG",
        "SLURMD_NODENAME",
    ] {
        cmd.env_remove(var);
    }
    // The `xid` check reads this kernel log, not the test machine's.
    cmd.env("GPUWARDEN_KMSG", empty_kmsg());
    cmd
}

/// An empty file in /dev/kmsg's format: no XIDs logged.
pub fn empty_kmsg() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("empty-kmsg");
    if !path.exists() {
        std::fs::write(&path, "").expect("writing the empty kernel log");
    }
    path
}

/// Exit code, stdout and stderr of a finished command.
pub fn output(cmd: &mut std::process::Command) -> (i32, String, String) {
    let out = cmd.output().expect("running gpuwarden");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
