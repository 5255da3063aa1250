//! `top --trace` cannot be mistaken for live data: a REPLAY badge with the trace's own time,
//! its speed and its end; the header names the trace's host and recorded period, never this
//! machine's CPU and RAM; space pauses, `+`/`-` change the speed, ←/→ seek; an unreadable
//! trace fails before the terminal is taken, with the hint `replay` gives.

use super::{draw, press, text};
use gpuwarden::gpu::Source;
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::gpu::trace::TraceSource;
use gpuwarden::history::Metric;
use gpuwarden::host::HostReading;
use gpuwarden::tui::{App, Msg, Theme};

const T0: u64 = 1_767_225_600_000;

/// A recorded trace of `n` one-second samples of two simulated GPUs.
fn trace_file(dir: &std::path::Path, n: u64) -> std::path::PathBuf {
    let mut sim = SimSource::new(&SimConfig {
        gpus: 2,
        seed: 3,
        scenario: Scenario::Training,
    });
    let lines: Vec<String> = (0..n)
        .map(|i| serde_json::to_string(&sim.sample(T0 + i * 1000).unwrap()).unwrap())
        .collect();
    let path = dir.join("night.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn a_replay_wears_its_badge_and_answers_pause_speed_and_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = trace_file(dir.path(), 30);
    let mut trace =
        TraceSource::open(&path, &gpuwarden::trace::TraceOptions::default(), 20.0).unwrap();
    let mut app = App::new(Theme::new(false));
    app.replay = Some(trace.control());
    // The sampler's clock: one call a second of wall time.
    let mut wall = 5_000_000u64;
    let mut tick = |app: &mut App, trace: &mut TraceSource| {
        app.update(Msg::Sample(Box::new(trace.sample(wall).unwrap())));
        wall += 1000;
    };
    tick(&mut app, &mut trace);
    tick(&mut app, &mut trace);
    let screen = text(&draw(&app, 120, 40));
    let header = screen.lines().next().unwrap();
    assert!(
        header.contains("REPLAY ×20 · 00:00:20 UTC (+20s) · night.jsonl"),
        "{header}"
    );
    assert!(
        !header.contains("CPU"),
        "this machine's CPU on a replay: {header}"
    );

    press(&mut app, " ");
    let header = text(&draw(&app, 120, 40))
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(header.contains("REPLAY ⏸ ×20"), "{header}");
    tick(&mut app, &mut trace);
    assert!(
        text(&draw(&app, 120, 40)).contains("(+20s)"),
        "paused: no progress"
    );
    press(&mut app, " -");
    assert_eq!(app.replay.as_ref().unwrap().state().speed, 10.0);
    tick(&mut app, &mut trace);
    tick(&mut app, &mut trace);
    let header = text(&draw(&app, 120, 40))
        .lines()
        .next()
        .unwrap()
        .to_string();
    assert!(
        header.contains("REPLAY END OF TRACE · 00:00:29 UTC (+29s)"),
        "{header}"
    );
}

/// The first line of a dashboard playing `path` at its own pace, as `top --trace` runs it:
/// sampled every second (`--interval`'s default). A reading of this machine's CPU and RAM
/// arrives too: the run loop sends none on a replay, and the view must not show one even so.
fn replay_header(path: &std::path::Path, samples: u64) -> String {
    let mut trace =
        TraceSource::open(path, &gpuwarden::trace::TraceOptions::default(), 1.0).unwrap();
    let mut app = App::new(Theme::new(false));
    app.interval_ms = 1000;
    app.replay = Some(trace.control());
    app.update(Msg::Host(HostReading {
        cpu_pct: 12.5,
        cpus: 32,
        mem_used_bytes: 41 << 30,
        mem_total_bytes: 125 << 30,
    }));
    for k in 0..samples {
        let snap = trace.sample(7_000_000 + k * 1000).unwrap();
        app.update(Msg::Sample(Box::new(snap)));
    }
    let screen = text(&draw(&app, 160, 30));
    screen.lines().next().unwrap().trim_end().to_string()
}

#[test]
fn a_replay_header_names_the_traces_host_and_period_not_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    // Recorded on dgx-07 every 2 s, played on a dashboard sampling every second.
    let mut sim = SimSource::new(&SimConfig {
        gpus: 2,
        seed: 3,
        scenario: Scenario::Training,
    });
    let lines: Vec<String> = (0..10)
        .map(|i| {
            let mut snap = sim.sample(T0 + i * 2000).unwrap();
            snap.host = "dgx-07".into();
            serde_json::to_string(&snap).unwrap()
        })
        .collect();
    let path = dir.path().join("night.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let header = replay_header(&path, 3);
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_snapshot!("replay_header_recorded", header);
    });
    assert!(header.contains("dgx-07"), "{header}");
    assert!(header.contains("sim trace · 2s"), "{header}");
    assert!(
        !header.contains("CPU") && !header.contains("RAM"),
        "{header}"
    );

    // An nvidia-smi CSV names no host: the file's name stands for it.
    let csv = dir.path().join("gpu-node7.csv");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nvidia-smi/header-units.csv"
        ),
        &csv,
    )
    .unwrap();
    let header = replay_header(&csv, 2);
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_snapshot!("replay_header_nvidia_smi_csv", header);
    });
    assert!(header.contains("gpu-node7 │"), "{header}");
    assert!(header.contains("nvidia-smi trace · 1s"), "{header}");
    assert!(
        !header.contains("CPU") && !header.contains("RAM"),
        "{header}"
    );
}

#[test]
fn an_unreadable_trace_fails_before_the_terminal_with_the_replay_hint() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("notes.txt");
    std::fs::write(&junk, "hello\nthis is not a trace\n").unwrap();
    let run = |cmd: &str| {
        assert_cmd::Command::cargo_bin("gpuwarden")
            .unwrap()
            .args([cmd, "--trace"])
            .arg(&junk)
            .output()
            .unwrap()
    };
    let top = run("top");
    let replay = run("replay");
    assert_ne!(top.status.code(), Some(0));
    let top_err = String::from_utf8_lossy(&top.stderr);
    let replay_err = String::from_utf8_lossy(&replay.stderr);
    let hint = replay_err
        .lines()
        .find(|l| l.contains("notes.txt"))
        .expect("replay names the file");
    let hint = hint.trim().trim_start_matches("gpuwarden: error: ");
    assert!(hint.contains("no known trace"), "{hint}");
    assert!(
        top_err.contains(hint),
        "top: {top_err}\nreplay: {replay_err}"
    );
}

/// Every trace sample is charted at its own place: at ×20 with a frame a second, the nineteen
/// samples between two frames are in the history too, a paused replay adds nothing, and the
/// chart's time axis is the trace's time.
#[test]
fn every_trace_sample_is_charted_once_even_between_frames() {
    let dir = tempfile::tempdir().unwrap();
    let path = trace_file(dir.path(), 100);
    let mut trace =
        TraceSource::open(&path, &gpuwarden::trace::TraceOptions::default(), 20.0).unwrap();
    let mut app = App::new(Theme::new(false));
    app.replay = Some(trace.control());
    let mut wall = 5_000_000u64;
    for _ in 0..3 {
        app.update(Msg::Sample(Box::new(trace.sample(wall).unwrap())));
        wall += 1000;
    }
    let charted = |app: &App| {
        let uuid = app.gpus()[0].uuid.clone();
        app.history()
            .gpu(&uuid)
            .unwrap()
            .series(Metric::Utilization)
            .iter()
            .flatten()
            .count()
    };
    // Frames at trace seconds 0, 20 and 40: samples 0 to 40, each once.
    assert_eq!(charted(&app), 41);
    assert_eq!(app.history().last_at_ms(), Some(T0 + 40_000));

    // Paused, the same sample comes again: not charted again.
    press(&mut app, " ");
    for _ in 0..3 {
        app.update(Msg::Sample(Box::new(trace.sample(wall).unwrap())));
        wall += 1000;
    }
    assert_eq!(charted(&app), 41);

    // The time axis counts trace seconds (one per sample), not the dashboard's frames.
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("└ -48s "), "{screen}");
}
