//! A driver that hangs does not hang the check: a sample that has not returned after
//! `--driver-timeout` is a node-wide `driver` finding (exit 1), so a scheduler drains the
//! node instead of waiting on a health check that never ends.

use crate::fake_nvml::FakeNvml;
use crate::{gpuwarden, healthy};

#[test]
fn a_hung_driver_is_a_finding_within_the_timeout() {
    let mut state = healthy(2);
    state.hang_ms = 600_000;
    let fake = FakeNvml::new(&state);
    let out = gpuwarden()
        .envs(fake.envs())
        .args(["--vendor", "nvidia", "check", "--driver-timeout", "1s"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("node: driver: the GPU driver did not answer a sample within 1s"),
        "{text}"
    );
    let json = gpuwarden()
        .envs(fake.envs())
        .args([
            "--vendor",
            "nvidia",
            "check",
            "--json",
            "--driver-timeout",
            "1s",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["status"], "unhealthy", "{doc}");
    assert_eq!(doc["findings"][0]["check"], "driver", "{doc}");
}
