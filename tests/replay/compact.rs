//! `gpuwarden record -o FILE.jsonl.zst` through the real binary: a standard zstd stream of the
//! compact trace, replayed to the very actions of the plain recording, closed properly on
//! SIGTERM, readable after SIGKILL, rotated by age with every file replaying on its own, and
//! played by `top --trace`'s source; and `replay` capping its skipped-line warnings.

use assert_cmd::Command;
use gpuwarden::trace::recording::rotated_files;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn gpuwarden() -> Command {
    let mut cmd = Command::cargo_bin("gpuwarden").unwrap();
    cmd.env_remove("GPUWARDEN_LOG").env("NO_COLOR", "1");
    cmd
}

fn record_overheat(out: &Path, extra: &[&str]) {
    gpuwarden()
        .args([
            "record",
            "--demo",
            "--scenario",
            "overheat",
            "--duration",
            "8m",
        ])
        .args(["--simulated-time"])
        .args(extra)
        .arg("-o")
        .arg(out)
        .assert()
        .success();
}

/// `replay --json` of `trace`, times made relative to its first sample (two recordings of one
/// scenario start at different wall-clock seconds).
fn replay_json(trace: &Path) -> serde_json::Value {
    let out = gpuwarden()
        .args(["replay", "--json", "--trace"])
        .arg(trace)
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("watchdog.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let start = doc["summary"]["first_ms"].as_u64().unwrap();
    let relative = |v: &mut serde_json::Value| *v = (v.as_u64().unwrap() - start).into();
    for action in doc["timeline"].as_array_mut().unwrap() {
        relative(&mut action["at_ms"]);
    }
    relative(&mut doc["summary"]["first_ms"]);
    relative(&mut doc["summary"]["last_ms"]);
    doc
}

#[test]
fn a_zst_recording_is_zstd_of_the_compact_form_and_replays_like_the_plain_one() {
    let dir = tempfile::tempdir().unwrap();
    let packed = dir.path().join("overheat.jsonl.zst");
    let plain = dir.path().join("overheat.jsonl");
    record_overheat(&packed, &[]);
    record_overheat(&plain, &[]);

    let bytes = std::fs::read(&packed).unwrap();
    assert_eq!(bytes[..4], [0x28, 0xb5, 0x2f, 0xfd], "not a zstd frame");
    // What `zstdcat` prints: a full snapshot, then change lines.
    let text = String::from_utf8(zstd::stream::decode_all(&bytes[..]).unwrap()).unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("{\"snapshot\":{\"schema\":")
    );
    assert!(lines.next().unwrap().starts_with("{\"dt\":1000"));
    assert_eq!(text.lines().count(), 480);
    let plain_len = std::fs::metadata(&plain).unwrap().len();
    assert!(
        (bytes.len() as u64) * 20 < plain_len,
        "{} compressed vs {plain_len} plain",
        bytes.len()
    );

    let a = replay_json(&packed);
    let b = replay_json(&plain);
    assert_eq!(a["format"], "gpuwarden-compact");
    assert_eq!(a["encoding"], "zstd");
    assert_eq!(b["format"], "gpuwarden-jsonl");
    assert!(!a["timeline"].as_array().unwrap().is_empty());
    assert_eq!(a["timeline"], b["timeline"]);
    assert_eq!(a["summary"], b["summary"]);

    // Detected by content: the same bytes under another name read the same.
    let renamed = dir.path().join("overheat.log");
    std::fs::copy(&packed, &renamed).unwrap();
    assert_eq!(replay_json(&renamed)["timeline"], a["timeline"]);
}

fn spawn_recorder(out: &Path) -> std::process::Child {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("gpuwarden"))
        .args(["record", "--demo", "--interval", "100ms", "-o"])
        .arg(out)
        .spawn()
        .unwrap();
    // Wait for a few samples to be flushed through the compressor.
    let deadline = Instant::now() + Duration::from_secs(20);
    while readable(out) < 3 {
        assert!(Instant::now() < deadline, "the recorder wrote nothing");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Samples readable so far from a trace being written.
fn readable(path: &Path) -> usize {
    match gpuwarden::trace::open(path, &gpuwarden::trace::TraceOptions::default()) {
        Ok((_, stream)) => stream.filter(Result::is_ok).count(),
        Err(_) => 0,
    }
}

fn samples(path: &Path) -> usize {
    let (_, stream) =
        gpuwarden::trace::open(path, &gpuwarden::trace::TraceOptions::default()).unwrap();
    let mut n = 0;
    for item in stream {
        item.unwrap_or_else(|e| panic!("{e}"));
        n += 1;
    }
    n
}

#[test]
fn sigterm_closes_the_frame_and_sigkill_leaves_what_was_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let termed = dir.path().join("termed.jsonl.zst");
    let mut child = spawn_recorder(&termed);
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(child.wait().unwrap().success());
    // A finished frame: the whole-stream decoder, which refuses a cut one, accepts it.
    let bytes = std::fs::read(&termed).unwrap();
    zstd::stream::decode_all(&bytes[..]).expect("a closed zstd frame");
    assert!(samples(&termed) >= 3);

    let killed = dir.path().join("killed.jsonl.zst");
    let mut child = spawn_recorder(&killed);
    child.kill().unwrap(); // SIGKILL: the frame is never closed
    child.wait().unwrap();
    let bytes = std::fs::read(&killed).unwrap();
    assert!(
        zstd::stream::decode_all(&bytes[..]).is_err(),
        "the frame should be open"
    );
    assert!(samples(&killed) >= 3);
}

#[test]
fn rotation_by_age_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let live: PathBuf = dir.path().join("gpu.jsonl.zst");
    gpuwarden()
        .args(["record", "--demo", "--duration", "150s", "--simulated-time"])
        .args(["--rotate-age", "1m", "--max-total", "10M", "-o"])
        .arg(&live)
        .assert()
        .success();
    let rotated = rotated_files(&live).unwrap();
    assert_eq!(rotated.len(), 2, "{rotated:?}");
    let counts: Vec<usize> = rotated.iter().chain([&live]).map(|p| samples(p)).collect();
    assert_eq!(counts, [60, 60, 30]);

    let out = gpuwarden()
        .args(["record", "--demo", "--duration", "1s", "--simulated-time"])
        .args(["--max-total", "10M", "-o"])
        .arg(dir.path().join("x.jsonl"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rotate-size or --rotate-age"));
}

/// `top --trace` plays through the same source: a compressed compact recording plays back,
/// sample by sample at the trace's pace.
#[test]
fn the_dashboard_source_plays_a_zst_recording() {
    use gpuwarden::gpu::Source;
    use gpuwarden::gpu::trace::TraceSource;
    let dir = tempfile::tempdir().unwrap();
    let packed = dir.path().join("overheat.jsonl.zst");
    record_overheat(&packed, &[]);
    let (_, stream) =
        gpuwarden::trace::open(&packed, &gpuwarden::trace::TraceOptions::default()).unwrap();
    let recorded: Vec<_> = stream.take(3).map(Result::unwrap).collect();
    let mut source =
        TraceSource::open(&packed, &gpuwarden::trace::TraceOptions::default(), 1.0).unwrap();
    let wall = 5_000_000;
    for (i, want) in recorded.iter().enumerate() {
        assert_eq!(&source.sample(wall + i as u64 * 1000).unwrap(), want);
    }
}

/// A log with the same problem on every line (1,657 lines of it, say) says so ten times and
/// counts the rest, instead of a warning per line.
#[test]
fn a_log_bad_on_every_line_warns_ten_times_and_counts_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.csv");
    let mut text = String::from("timestamp, index, temperature.gpu\n");
    for i in 0..1657 {
        text.push_str(&format!(
            "2024/05/13 14:{:02}:{:02}.000, 0, hot\n",
            i / 60 % 60,
            i % 60
        ));
    }
    text.push_str("2024/05/13 15:00:00.000, 0, 40\n");
    std::fs::write(&path, text).unwrap();
    let out = gpuwarden()
        .args(["replay", "--trace"])
        .arg(&path)
        .arg("--config")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("watchdog.toml"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 11, "{err}");
    assert!(err.contains("further skipped lines are not shown"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("1657 lines skipped"));
}
