//! Helpers: a running daemon, its event log, waiting for things, unit MainPIDs.

use crate::fake_nvml::{FakeGpu, FakeNvml, FakeState};
use crate::sandbox::block_on;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `gpuwarden watch` child with its config and state dir.
pub struct Daemon {
    pub child: Child,
    pub state_dir: PathBuf,
}

impl Daemon {
    /// Starts `gpuwarden watch --config <dir>/watchdog.toml` with `extra` args and `envs`.
    pub fn start(
        dir: &Path,
        config: &str,
        extra: &[&str],
        envs: Vec<(&str, std::ffi::OsString)>,
    ) -> Daemon {
        Self::start_with(dir, config, extra, envs, |_| {})
    }

    /// [`Daemon::start`], with `adjust` applied to the command before it is spawned.
    pub fn start_with(
        dir: &Path,
        config: &str,
        extra: &[&str],
        envs: Vec<(&str, std::ffi::OsString)>,
        adjust: impl FnOnce(&mut Command),
    ) -> Daemon {
        let state_dir = dir.join("state");
        let config = config.replace("@STATE@", &state_dir.display().to_string());
        let path = dir.join("watchdog.toml");
        std::fs::write(&path, config).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpuwarden"));
        cmd.arg("watch")
            .arg("--config")
            .arg(&path)
            .args(extra)
            .envs(envs)
            .env("GPUWARDEN_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        adjust(&mut cmd);
        let child = cmd.spawn().expect("starting gpuwarden watch");
        Daemon { child, state_dir }
    }

    /// Fails the test, with `why`, if the daemon has exited.
    pub fn assert_alive(&mut self, why: &str) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the daemon exited ({status}) {why}");
        }
    }

    pub fn events(&self) -> Vec<Value> {
        events(&self.state_dir)
    }

    /// Polls `check` every 100 ms like [`wait_for`], but fails at once, with the event log,
    /// when the daemon exits, and after `secs` otherwise.
    pub fn wait<T>(&mut self, secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = check() {
                return v;
            }
            self.assert_alive(&format!(
                "while waiting for {what}; events: {:?}",
                story(&self.events())
            ));
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; events: {:?}",
                story(&self.events())
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for the first event from position `from` of the log on that `pred` holds.
    pub fn wait_event(
        &mut self,
        secs: u64,
        what: &str,
        from: usize,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let state_dir = self.state_dir.clone();
        self.wait(secs, what, || {
            events(&state_dir).into_iter().skip(from).find(|e| pred(e))
        })
    }

    /// Sends a signal by name (`TERM`, `HUP`, `KILL`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }

    /// SIGTERM, then the exit status (must come within 15 s).
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every line of the event log in `state_dir`.
pub fn events(state_dir: &Path) -> Vec<Value> {
    std::fs::read_to_string(state_dir.join("events.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// `kind` of each event, with `/result` appended when the result is not ok.
pub fn story(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let kind = e["kind"].as_str().unwrap_or("?").to_string();
            match e["result"].as_str() {
                Some("ok") | None => kind,
                Some(r) => format!("{kind}/{r}"),
            }
        })
        .collect()
}

/// Polls `what` every 100 ms until it returns `Some`, failing after `secs` with `describe()`.
pub fn wait_for<T>(
    secs: u64,
    what: &str,
    mut check: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n{}",
            describe()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The MainPID of a unit of the sandbox's systemd.
pub fn main_pid(unit: &str) -> u32 {
    block_on(async {
        gpuwarden::act::Systemd::system(Default::default())
            .unit_state(unit)
            .await
            .unwrap_or_else(|e| panic!("reading {unit}: {e:?}"))
            .main_pid
    })
}

/// Two H100s at rest: GPU 0 at `temp0` °C.
pub fn fleet(temp0: u64) -> FakeState {
    let mut state = FakeState::with_gpus(2);
    state.gpus[0] = FakeGpu::h100(0).with("temperature_c", temp0);
    state
}

pub fn set_temp(fake: &FakeNvml, temp0: u64) {
    fake.set(&fleet(temp0));
}

/// The setter log lines that mention `needle`.
pub fn setter_lines(fake: &FakeNvml, needle: &str) -> Vec<String> {
    fake.setter_log()
        .into_iter()
        .filter(|l| l.contains(needle))
        .collect()
}
