//! The dashboard on a mixed box: two NVIDIA GPUs from the fake NVML library and an AMD
//! card from a recorded tree, merged as `--vendor all` merges them, drawn on ratatui's
//! `TestBackend` (fixed clock, host and host reading).

use crate::fake_nvml::{FakeNvml, FakeState};
use crate::support::{fake_proc, fixture, source};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use gpuwarden::gpu::amd::RealSysfs;
use gpuwarden::gpu::multi::MultiSource;
use gpuwarden::gpu::nvml::NvmlSource;
use gpuwarden::gpu::{Source, Vendor};
use gpuwarden::host::HostReading;
use gpuwarden::tui::{App, Msg, Theme, input};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::sync::Arc;

/// 2026-01-01 00:00:00 UTC.
const T0: u64 = 1_767_225_600_000;

fn mixed_app() -> (App, FakeNvml) {
    let fake = FakeNvml::new(&FakeState::with_gpus(2));
    let proc = fake_proc();
    let nvml = NvmlSource::open(Some(&fake.lib_path())).expect("fake NVML loads");
    let amd = source(&fixture("rx6900xt"), proc.path(), Arc::new(RealSysfs));
    let mut multi = MultiSource::new(vec![
        (Vendor::Nvidia, Box::new(nvml) as Box<dyn Source>),
        (Vendor::Amd, Box::new(amd)),
    ]);
    let mut app = App::new(Theme::new(false));
    app.update(Msg::Host(HostReading {
        cpu_pct: 12.5,
        cpus: 32,
        mem_used_bytes: 41 << 30,
        mem_total_bytes: 125 << 30,
    }));
    for k in 0..5 {
        let mut snap = multi.sample(T0 + k * 1000).expect("mixed sample");
        snap.host = "mixed-box".into();
        app.update(Msg::Sample(Box::new(snap)));
    }
    (app, fake)
}

fn draw(app: &App) -> String {
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    terminal
        .draw(|f| f.render_widget(app, f.area()))
        .expect("drawing");
    terminal.backend().to_string()
}

#[test]
fn the_dashboard_shows_nvidia_and_amd_side_by_side() {
    let (app, _fake) = mixed_app();
    let screen = draw(&app);
    assert!(screen.contains("H100 80GB HBM3"), "{screen}");
    assert!(screen.contains("AMD Radeon RX"), "{screen}");
    insta::assert_snapshot!("mixed_fleet_overview_120x40", screen);
}

#[test]
fn the_amd_card_opens_in_the_detail_view() {
    let (mut app, _fake) = mixed_app();
    for code in [KeyCode::Char('2'), KeyCode::Enter] {
        let key = Event::Key(KeyEvent::new(code, KeyModifiers::NONE));
        if let Some(msg) = input::message(&key) {
            app.update(msg);
        }
    }
    let screen = draw(&app);
    assert!(screen.contains("amd-0000:0c:00.0"), "{screen}");
    insta::assert_snapshot!("mixed_fleet_amd_detail_120x40", screen);
}
