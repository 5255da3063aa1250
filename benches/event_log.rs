//! The event log's costs: appending one event (one `write` per line, what each watchdog action
//! pays) and reading the last 100 events of a short and of a long log (what the dashboard and
//! the HTTP API pay on every refresh). `read_last` reads backwards, so a long log should cost
//! about what a short one does.

use gpuwarden::events::{Event, EventKind, EventLog, EventResult, read_last};
use std::path::PathBuf;

fn main() {
    divan::main();
}

fn event(i: u64) -> Event {
    Event::new(
        1_700_000_000_000 + i,
        EventKind::RestartUnit,
        "restart vllm@0.service",
    )
    .gpu("GPU-6f2c1a3e-0c9d-4b8a-9e51-2d7f3b1c0a42", Some(0))
    .rule("gpu-hot")
    .result(
        EventResult::Ok,
        Some("job /org/freedesktop/systemd1/job/42: done".into()),
    )
}

fn log_with(events: u64) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = EventLog::open(dir.path()).expect("event log");
    for i in 0..events {
        log.append(&event(i)).expect("append");
    }
    let path = log.path().to_path_buf();
    (dir, path)
}

#[divan::bench]
fn append_one_event(bencher: divan::Bencher) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut log = EventLog::open(dir.path()).expect("event log");
    let e = event(1);
    bencher.bench_local(|| log.append(divan::black_box(&e)).expect("append"));
}

#[divan::bench(args = [1_000, 100_000])]
fn read_last_100(bencher: divan::Bencher, events: u64) {
    let (_dir, path) = log_with(events);
    bencher.bench(|| read_last(divan::black_box(&path), 100).expect("read"));
}
