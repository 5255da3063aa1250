//! Real peers for the fleet and alert tests: Debian's Prometheus and Alertmanager on loopback,
//! `gpuwarden serve` instances, and small helpers (free ports, HTTP, waiting).
//!
//! Every process is owned by a guard that kills it on drop, so a failing test cleans up too;
//! every peer gets its own temp dir and its own ports, so tests run in parallel. A missing
//! peer fails the test loudly: `tests/peers/install.sh` installs them.

#![expect(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed (and reaped) when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot start {name}: {e} (tests/peers/install.sh installs the test peers)")
        });
        Proc {
            name: name.to_string(),
            child,
        }
    }

    /// The child's stdout, when it was piped.
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child.stdout.take().expect("stdout was piped")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills it now (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding a free loopback port")
}

/// Polls `f` until it returns `Some` or `timeout` passes (then panics with `what`).
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .http_status_as_error(false)
            .build(),
    )
}

/// GET `url`: status and body, or `None` when nothing answers.
pub fn get(url: &str) -> Option<(u16, String)> {
    let resp = agent().get(url).call().ok()?;
    let status = resp.status().as_u16();
    let body = resp.into_body().read_to_string().ok()?;
    Some((status, body))
}

/// GET `url` and parse JSON, expecting 200.
pub fn get_json(url: &str) -> Option<serde_json::Value> {
    let (status, body) = get(url)?;
    (status == 200).then(|| serde_json::from_str(&body).ok())?
}

/// `gpuwarden serve` on a free port, with the given extra arguments (`--demo` …).
pub struct Exporter {
    pub addr: String,
    pub proc: Proc,
}

impl Exporter {
    pub fn start(args: &[&str]) -> Exporter {
        Exporter::start_with(args, &[])
    }

    /// `gpuwarden ARGS serve --listen 127.0.0.1:0 SERVE_ARGS`.
    pub fn start_with(args: &[&str], serve_args: &[&str]) -> Exporter {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gpuwarden"));
        cmd.args(args)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(serve_args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut proc = Proc::spawn("gpuwarden serve", &mut cmd);
        let stderr = proc.child.stderr.take().expect("piped stderr");
        let mut lines = BufReader::new(stderr).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("gpuwarden serve exited before listening")
                .expect("reading its stderr");
            if let Some(a) = line.split("listening on http://").nth(1) {
                break a.trim().to_string();
            }
        };
        // Keep draining stderr so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let url = format!("http://{addr}/healthz");
        wait_for(
            "the exporter's first sample",
            Duration::from_secs(10),
            || get(&url).filter(|(s, _)| *s == 200),
        );
        Exporter { addr, proc }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A real Alertmanager on loopback (cluster gossip off).
pub struct Alertmanager {
    pub port: u16,
    pub dir: PathBuf,
    pub proc: Option<Proc>,
}

impl Alertmanager {
    /// Picks a port and writes the config; [`up`](Self::up) starts it.
    pub fn new(dir: &Path) -> Alertmanager {
        std::fs::create_dir_all(dir).expect("alertmanager dir");
        std::fs::write(
            dir.join("am.yml"),
            "route: { receiver: null-receiver, group_wait: 0s, group_interval: 1s, repeat_interval: 1h }\n\
             receivers: [ { name: null-receiver } ]\n",
        )
        .expect("writing am.yml");
        Alertmanager {
            port: free_port(),
            dir: dir.to_path_buf(),
            proc: None,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn up(&mut self) {
        let mut cmd = Command::new("prometheus-alertmanager");
        cmd.arg(format!(
            "--config.file={}",
            self.dir.join("am.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            self.dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", self.port))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(self.dir.join("am.log")).expect("am.log"));
        self.proc = Some(Proc::spawn("prometheus-alertmanager", &mut cmd));
        let ready = format!("{}/-/ready", self.url());
        wait_for("alertmanager to be ready", Duration::from_secs(20), || {
            get(&ready).filter(|(s, _)| *s == 200)
        });
    }

    /// The alerts Alertmanager holds now (`GET /api/v2/alerts`).
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        get_json(&format!("{}/api/v2/alerts", self.url()))
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

/// A real Prometheus scraping `targets` every second.
pub struct Prometheus {
    pub port: u16,
    pub proc: Proc,
}

impl Prometheus {
    pub fn start(dir: &Path, targets: &[String]) -> Prometheus {
        std::fs::create_dir_all(dir).expect("prometheus dir");
        let port = free_port();
        let list: Vec<String> = targets.iter().map(|t| format!("\"{t}\"")).collect();
        let config = format!(
            "global: {{ scrape_interval: 1s, evaluation_interval: 1s }}\n\
             scrape_configs:\n\
             - job_name: gpu\n  static_configs: [ {{ targets: [ {} ] }} ]\n",
            list.join(", ")
        );
        let cfg = dir.join("prometheus.yml");
        std::fs::write(&cfg, config).expect("writing prometheus.yml");
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).expect("prometheus.log"));
        let proc = Proc::spawn("prometheus", &mut cmd);
        let ready = format!("http://127.0.0.1:{port}/-/ready");
        wait_for("prometheus to be ready", Duration::from_secs(30), || {
            get(&ready).filter(|(s, _)| *s == 200)
        });
        Prometheus { port, proc }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until every target has been scraped successfully at least once.
    pub fn wait_all_up(&self, n: usize) {
        let url = format!("{}/api/v1/query?query=up", self.url());
        wait_for(
            "prometheus to scrape every target",
            Duration::from_secs(30),
            || {
                let v = get_json(&url)?;
                let result = v["data"]["result"].as_array()?;
                let up = result.iter().filter(|r| r["value"][1] == "1").count();
                (up >= n).then_some(())
            },
        );
    }
}

/// Runs a peer tool and returns its stdout, panicking with its stderr on failure.
pub fn run_tool(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (tests/peers/install.sh)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
