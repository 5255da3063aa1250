//! The same verdict over HTTP: `gpuwarden serve` answers `/api/v1/health` with `check --json`'s
//! document, 200 while every GPU is healthy and 503 once one is lost (what a resource
//! manager's health probe wants), and `/metrics` carries `gpuwarden_gpu_health{check}`.

use crate::fake_nvml::FakeNvml;
use crate::{gpuwarden, healthy};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `(status, body)` of a GET, or `None` while nothing answers.
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text.split(' ').nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

fn poll(addr: &str, path: &str, want: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = get(addr, path);
        if let Some((code, body)) = &got
            && *code == want
        {
            return body.clone();
        }
        assert!(
            Instant::now() < deadline,
            "{path} never answered {want}; last: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn api_v1_health_is_200_while_healthy_and_503_naming_the_lost_gpu() {
    let mut state = healthy(2);
    let fake = FakeNvml::new(&state);
    let mut child = gpuwarden()
        .envs(fake.envs())
        .args([
            "--vendor",
            "nvidia",
            "--interval",
            "200ms",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    // keep reading what it logs, so it never writes into a closed pipe
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let _serve = Serve(child);
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    let body = poll(&addr, "/api/v1/health", 200);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "healthy", "{doc}");

    state.gpus[1] = state.gpus[1].clone().lost();
    fake.set(&state);
    let body = poll(&addr, "/api/v1/health", 503);
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(doc["status"], "unhealthy", "{doc}");
    assert_eq!(doc["findings"][0]["gpu"], 1, "{doc}");
    assert_eq!(doc["findings"][0]["check"], "lost", "{doc}");
    let (_, metrics) = get(&addr, "/metrics").unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("gpuwarden_gpu_health{gpu=\"1\"")
                && l.contains("check=\"lost\"")
                && l.ends_with(" 2")),
        "{metrics}"
    );
}
