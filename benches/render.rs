//! How long one dashboard frame takes: 8 simulated GPUs with five minutes of history, drawn
//! on ratatui's `TestBackend` at 120×40 (the overview with its chart strip, and the detail
//! view). Target: under 1 ms per frame. Results go to BENCHMARKS.md ("Dashboard").

use gpuwarden::gpu::Source;
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::tui::{App, Msg, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn main() {
    divan::main();
}

/// An app that has seen 300 samples (a full history window) of 8 busy GPUs.
fn app(detail: bool) -> App {
    let mut source = SimSource::new(&SimConfig {
        gpus: 8,
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
    let app = app(detail);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
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
