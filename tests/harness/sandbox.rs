//! Runs one test's body inside a real-peer sandbox (tests/harness/*-sandbox.sh) by re-running
//! the test binary itself, filtered to exactly that test, as the sandbox's command.
//!
//! Outside the sandbox, [`Sandbox::run`] starts the harness with
//! `<this test binary> <test name> --exact --nocapture --test-threads=1` and fails unless the
//! inner run passed exactly that one test. Inside (the harness sets `GPUWARDEN_SANDBOX`), it runs
//! the body. A missing peer makes the harness exit 2, so the test fails — it never skips.
//!
//! Include it in a test binary with `#[path = "harness/sandbox.rs"] mod sandbox;` (see
//! tests/harness/README.md).

#![allow(dead_code, reason = "each test binary uses the part it needs")]

use std::path::PathBuf;
use std::process::Command;

/// The full libtest name of a test function in the calling module: `test_path!(my_test)`.
#[macro_export]
macro_rules! test_path {
    ($name:ident) => {
        concat!(module_path!(), "::", stringify!($name))
    };
}

/// Which harness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Systemd,
    Notify,
    Slurm,
}

/// A sandbox to run a test body in.
#[derive(Clone, Debug)]
pub struct Sandbox {
    kind: Kind,
    args: Vec<String>,
}

impl Sandbox {
    /// A private `systemd --user` (fake-infer@0/@1 and bystander running); needs root.
    pub fn systemd() -> Self {
        Sandbox {
            kind: Kind::Systemd,
            args: vec!["--timeout".into(), "120".into()],
        }
    }

    /// A private session bus with Xvfb and a real dunst.
    pub fn notify() -> Self {
        Sandbox {
            kind: Kind::Notify,
            args: vec!["--timeout".into(), "60".into()],
        }
    }

    /// A private single-node Slurm cluster (munged, slurmctld, slurmd); needs root.
    pub fn slurm() -> Self {
        Sandbox {
            kind: Kind::Slurm,
            args: vec!["--timeout".into(), "120".into()],
        }
    }

    /// A private session bus where nobody owns org.freedesktop.Notifications.
    pub fn notify_without_server() -> Self {
        let mut sandbox = Self::notify();
        sandbox.args.push("--no-server".into());
        sandbox
    }

    /// Copies an extra unit file into the systemd sandbox (not started).
    pub fn unit(mut self, path: impl Into<PathBuf>) -> Self {
        assert_eq!(
            self.kind,
            Kind::Systemd,
            "--unit is for the systemd sandbox"
        );
        self.args.push("--unit".into());
        self.args.push(path.into().display().to_string());
        self
    }

    /// The systemd sandbox's bus refuses every RestartUnit with AccessDenied, as the system bus
    /// does for an unprivileged daemon without the polkit rule.
    pub fn deny_restart(mut self) -> Self {
        assert_eq!(
            self.kind,
            Kind::Systemd,
            "--deny-restart is for the systemd sandbox"
        );
        self.args.push("--deny-restart".into());
        self
    }

    /// True when this process runs inside a sandbox of this kind.
    pub fn is_inside(&self) -> bool {
        std::env::var("GPUWARDEN_SANDBOX").ok().as_deref() == Some(self.name())
    }

    fn name(&self) -> &'static str {
        match self.kind {
            Kind::Systemd => "systemd",
            Kind::Notify => "notify",
            Kind::Slurm => "slurm",
        }
    }

    fn script(&self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/harness")
            .join(format!("{}-sandbox.sh", self.name()))
    }

    /// Runs `body` inside the sandbox. `test` is the test's full path from [`test_path!`].
    pub fn run(&self, test: &str, body: impl FnOnce()) {
        if self.is_inside() {
            body();
            return;
        }
        // libtest names leave out the crate: "act::systemd::x" is "systemd::x".
        let name = test.split_once("::").map_or(test, |(_, rest)| rest);
        let exe = std::env::current_exe().expect("the test binary's path");
        let output = Command::new(self.script())
            .args(&self.args)
            .arg("--")
            .arg(&exe)
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .output()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.script().display()));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success() && stdout.contains("test result: ok. 1 passed"),
            "{name} inside {} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            self.script().display(),
            output.status
        );
    }
}

/// A runtime for async bodies: `sandbox::block_on(async { .. })`.
pub fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(fut)
}

/// The value of an environment variable the harness sets; panics naming it when absent.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set; run inside the sandbox"))
}
