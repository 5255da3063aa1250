//! The real binary in a real terminal (a private tmux server, 120×40): it shows the fleet,
//! answers keys, survives a resize to 10×5, and on `q` exits and hands the screen back; on
//! the fake NVML with a driver that stops answering, it keeps answering keys and says so; a
//! replay with `-i` by UUID and PCI bus id names the trace's host and period.

use crate::fake_nvml::{FakeNvml, FakeState};

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    fn start(args: &[&str]) -> Tmux {
        Self::start_with(args, &[])
    }

    /// [`Tmux::start`] with `envs` set for the program.
    fn start_with(args: &[&str], envs: &[(&str, std::ffi::OsString)]) -> Tmux {
        let dir = tempfile::tempdir().expect("a temp dir");
        let tmux = Tmux { dir };
        let conf = tmux.dir.path().join("tmux.conf");
        std::fs::write(
            &conf,
            "set -g status off\nset -g default-terminal tmux-256color\n",
        )
        .expect("writing tmux.conf");
        let mut cmd = format!("exec {}", env!("CARGO_BIN_EXE_gpuwarden"));
        for a in args {
            cmd.push(' ');
            cmd.push_str(a);
        }
        let envs: Vec<String> = envs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.to_str().expect("utf-8 env")))
            .collect();
        let mut env_args: Vec<&str> = Vec::new();
        for e in &envs {
            env_args.extend(["-e", e.as_str()]);
        }
        // Keep the pane after the program exits, so its last screen can be read.
        let out = tmux.run(
            &[
                "-f",
                conf.to_str().expect("utf-8 path"),
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "120",
                "-y",
                "40",
                "-e",
                "LANG=C.UTF-8",
            ]
            .into_iter()
            .chain(env_args)
            .chain([
                cmd.as_str(),
                ";",
                "set-option",
                "-t",
                "t",
                "remain-on-exit",
                "on",
            ])
            .collect::<Vec<_>>(),
        );
        assert!(
            out.status.success(),
            "tmux failed: {out:?} (is tmux installed? tests/peers/install.sh)"
        );
        tmux
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .args(args)
            .env("LANG", "C.UTF-8")
            .output()
            .expect("running tmux (is it installed? tests/peers/install.sh)")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-t", "t", "-p"]).stdout).into_owned()
    }

    /// Waits up to 15 s for the screen to satisfy `ok`.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "never saw {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "t"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn pane_dead(&self) -> bool {
        let out = self.run(&["display", "-p", "-t", "t", "#{pane_dead}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn shows_the_fleet_answers_keys_and_restores_the_screen_on_q() {
    let tmux = Tmux::start(&["--demo", "--demo-gpus", "4", "--interval", "200ms"]);
    let screen = tmux.wait_for("the GPU table", |s| {
        s.contains("GPUs · 4") && s.contains("▶ 0")
    });
    for needle in ["UTIL", "MEMORY", "TEMP", "POWER", "Processes"] {
        assert!(screen.contains(needle), "{needle} missing:\n{screen}");
    }
    tmux.keys(&["2"]);
    tmux.wait_for("GPU 2 selected", |s| s.contains("▶ 2"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the detail view", |s| {
        s.contains("GPU 2 NVIDIA") && s.contains("sm clock")
    });
    tmux.keys(&["f"]);
    tmux.wait_for("FROZEN", |s| s.contains("FROZEN"));
    tmux.keys(&["q"]);
    let start = Instant::now();
    while !tmux.pane_dead() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "q did not quit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Leaving the alternate screen gives back the (empty) screen from before.
    let after = tmux.screen();
    assert!(
        !after.contains("GPUs · 4"),
        "dashboard left on screen:\n{after}"
    );
}

#[test]
fn a_tiny_terminal_and_a_resize_do_not_break_it() {
    let tmux = Tmux::start(&["--demo", "--interval", "200ms"]);
    tmux.wait_for("the GPU table", |s| s.contains("GPUs · 4"));
    assert!(
        tmux.run(&["resize-window", "-t", "t", "-x", "10", "-y", "5"])
            .status
            .success()
    );
    tmux.wait_for("the too-small note", |s| s.contains("too"));
    assert!(
        tmux.run(&["resize-window", "-t", "t", "-x", "80", "-y", "24"])
            .status
            .success()
    );
    tmux.wait_for("the GPU table again", |s| s.contains("GPUs · 4"));
    assert!(!tmux.pane_dead());
}

#[test]
fn a_driver_that_stops_answering_is_said_on_screen_while_keys_still_work() {
    let mut state = FakeState::with_gpus(2);
    let fake = FakeNvml::new(&state);
    let tmux = Tmux::start_with(&["--interval", "200ms"], &fake.envs());
    tmux.wait_for("the GPU table", |s| {
        s.contains("GPUs · 2") && s.contains("▶ 0")
    });

    state.hang_ms = 600_000;
    fake.set(&state);
    tmux.wait_for("the stalled-driver line", |s| {
        s.contains("the GPU driver has not answered for")
    });
    // The sampler is stuck inside the driver; the dashboard still answers keys.
    tmux.keys(&["1"]);
    tmux.wait_for("GPU 1 selected", |s| s.contains("▶ 1"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the detail view", |s| s.contains("GPU 1 NVIDIA"));
    tmux.keys(&["Escape"]);

    state.hang_ms = 0;
    fake.set(&state);
    tmux.wait_for("the line gone once the driver answers", |s| {
        !s.contains("has not answered") && s.contains("GPUs · 2")
    });
    assert!(
        !tmux.pane_dead(),
        "the dashboard exited:\n{}",
        tmux.screen()
    );
}

/// `top --trace` in a real terminal: GPUs picked by UUID and PCI bus id from the trace, and a
/// header naming the trace's host and the period it was recorded at, not this machine's.
#[test]
fn a_replay_shows_the_traces_own_host_and_period_for_the_gpus_picked_by_uuid_and_pci() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let trace = dir.path().join("demo.jsonl");
    let bin = env!("CARGO_BIN_EXE_gpuwarden");
    let recorded = Command::new(bin)
        .args(["record", "--demo", "--interval", "2s", "--duration", "2m"])
        .args(["--simulated-time", "-o"])
        .arg(&trace)
        .output()
        .expect("running record");
    assert!(recorded.status.success(), "{recorded:?}");
    let snapshot = Command::new(bin)
        .args(["snapshot", "--demo", "--json"])
        .output()
        .expect("running snapshot");
    let json: serde_json::Value = serde_json::from_slice(&snapshot.stdout).expect("JSON");
    let uuid = json["gpus"][3]["uuid"]
        .as_str()
        .expect("a UUID")
        .to_string();
    let list = format!("{uuid},0000:28:00.0");
    let tmux = Tmux::start(&["top", "--trace", trace.to_str().unwrap(), "-i", &list]);
    // The period is known once two samples are in: wait for the whole header, not the badge.
    let screen = tmux.wait_for("the replay header with the trace's period", |s| {
        let header = s.lines().next().unwrap_or_default();
        s.contains("REPLAY") && header.contains("sim trace · 2s") && header.contains("2 GPUs")
    });
    let header = screen.lines().next().unwrap_or_default();
    assert!(header.contains(" demo │ "), "{header}");
    assert!(header.contains("sim trace · 2s"), "{header}");
    assert!(header.contains("2 GPUs"), "{header}");
    assert!(
        !header.contains("CPU") && !header.contains("RAM"),
        "{header}"
    );
    tmux.keys(&["q"]);
}
