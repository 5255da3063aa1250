//! How long one dashboard frame takes: 8 simulated GPUs with five minutes of history, drawn
//! on ratatui's `TestBackend` at 120×40 (the overview with its chart strip, and the detail
//! view), and big boxes (64 and 256 GPUs in the compact grid). Target: under 1 ms per frame. Results go to BENCHMARKS.md ("Dashboard"). The fleet
//! dashboard's hosts view of 125 hosts × 8 GPUs (one fetch folded in, then full redraws at
//! 120×40) goes to "Metrics and fleet".

use gpuwarden::fleet::{HostData, HostReport};
use gpuwarden::gpu::Source;
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::tui::{App, FleetApp, Msg, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    divan::main();
}

/// An app that has seen 300 samples (a full history window) of 8 busy GPUs.
fn app(detail: bool) -> App {
    app_of(8, detail)
}

/// An app that has seen 300 samples of `gpus` busy GPUs.
fn app_of(gpus: u32, detail: bool) -> App {
    let mut source = SimSource::new(&SimConfig {
        gpus,
        seed: 1,
        scenario: Scenario::Mixed,
    });
    let mut app = App::new(Theme::new(true));
    for k in 0..300u64 {
        let snapshot = source
            .sample(1_767_225_600_000 + k * 1000)
            .expect("the simulated fleet samples");
        app.update(Msg::Sample(Box::new(snapshot)));
    }
    if detail {
        app.update(Msg::ToggleDetail);
    }
    app
}

fn frame(bencher: divan::Bencher, detail: bool) {
    frame_of(bencher, app(detail), 120, 40);
}

fn frame_of(bencher: divan::Bencher, app: App, width: u16, height: u16) {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    bencher.bench_local(|| {
        // A full redraw each time: clearing makes ratatui diff against an empty screen.
        terminal.clear().expect("clearing the test terminal");
        terminal
            .draw(|f| f.render_widget(&app, f.area()))
            .expect("drawing");
    });
}

#[divan::bench]
fn overview_8_gpus_120x40(bencher: divan::Bencher) {
    frame(bencher, false);
}

#[divan::bench]
fn detail_8_gpus_120x40(bencher: divan::Bencher) {
    frame(bencher, true);
}

/// The overview with `o`: one overlay chart per metric, all 8 GPUs' lines in each.
#[divan::bench]
fn overview_overlay_8_gpus_120x40(bencher: divan::Bencher) {
    let mut app = app(false);
    app.update(Msg::ToggleOverlay);
    frame_of(bencher, app, 120, 40);
}

/// Big boxes: the compact grid of 64 GPUs at 120×40, and 256 at 120×40 (scrolled) and at
/// 200×60 (all on screen).
#[divan::bench]
fn overview_64_gpus_120x40(bencher: divan::Bencher) {
    frame_of(bencher, app_of(64, false), 120, 40);
}

#[divan::bench]
fn overview_256_gpus_120x40(bencher: divan::Bencher) {
    frame_of(bencher, app_of(256, false), 120, 40);
}

#[divan::bench]
fn overview_256_gpus_200x60(bencher: divan::Bencher) {
    frame_of(bencher, app_of(256, false), 200, 60);
}

/// Taking in one snapshot of 8 GPUs: selection, history, state.
#[divan::bench]
fn update_with_a_sample(bencher: divan::Bencher) {
    let mut app = app(false);
    let mut source = SimSource::new(&SimConfig {
        gpus: 8,
        seed: 1,
        scenario: Scenario::Mixed,
    });
    let snapshot = source.sample(1_767_225_600_000).expect("a sample");
    bencher.bench_local(|| app.update(Msg::Sample(Box::new(snapshot.clone()))));
}

/// A fleet of 125 simulated hosts with 8 GPUs each, every fourth one unreachable.
fn fleet_app() -> FleetApp {
    let at = 1_767_225_600_000;
    let reports = (0..125u32)
        .map(|i| {
            let address = format!("127.0.0.1:{}", 9400 + i);
            let result = if i % 4 == 3 {
                Err("connection refused".to_string())
            } else {
                let mut source = SimSource::new(&SimConfig {
                    gpus: 8,
                    seed: u64::from(i),
                    scenario: Scenario::Mixed,
                });
                let mut snapshot = source.sample(at).expect("the simulated fleet samples");
                snapshot.host = format!("node-{i:03}");
                Ok(HostData {
                    snapshot,
                    firing: vec![],
                    xids: vec![],
                })
            };
            HostReport { address, result }
        })
        .collect();
    let mut app = FleetApp::new(Theme::new(true), "prometheus http://prom:9090");
    app.on_fetch(reports, at);
    app
}

#[divan::bench]
fn hosts_view_125_hosts_x_8_gpus_120x40(bencher: divan::Bencher) {
    let app = fleet_app();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    bencher.bench_local(|| {
        terminal.clear().expect("clearing the test terminal");
        terminal
            .draw(|f| f.render_widget(&app, f.area()))
            .expect("drawing");
    });
}

/// The reports of one fetch of [`fleet_app`]'s hosts, as they answered the first time.
fn fleet_reports() -> Vec<HostReport> {
    fleet_app()
        .fleet
        .hosts
        .iter()
        .map(|h| HostReport {
            address: h.address.clone(),
            result: h
                .snapshot
                .clone()
                .ok_or_else(String::new)
                .map(|snapshot| HostData {
                    snapshot,
                    firing: vec![],
                    xids: vec![],
                }),
        })
        .collect()
}

/// Folding one fetch of 125 hosts × 8 GPUs into the fleet dashboard (the same numbers again:
/// nothing new to chart).
#[divan::bench]
fn fleet_fetch_125_hosts_x_8_gpus(bencher: divan::Bencher) {
    let mut app = fleet_app();
    let reports = fleet_reports();
    bencher.bench_local(|| app.on_fetch(reports.clone(), 1_767_225_601_000));
}

/// The same, each fetch bringing every reachable host a newer snapshot (one more slot of
/// every host's chart history).
#[divan::bench]
fn fleet_fetch_125_hosts_x_8_gpus_new_numbers(bencher: divan::Bencher) {
    let mut app = fleet_app();
    let reports = fleet_reports();
    let mut at = 1_767_225_600_000;
    bencher
        .with_inputs(|| {
            at += 1000;
            let mut r = reports.clone();
            for h in &mut r {
                if let Ok(d) = &mut h.result {
                    d.snapshot.at_ms = at;
                }
            }
            (r, at)
        })
        .bench_local_values(|(r, at)| app.on_fetch(r, at));
}
