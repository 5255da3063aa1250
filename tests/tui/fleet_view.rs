//! The fleet dashboard on a `TestBackend`: the hosts view of a fixed fleet (three simulated
//! hosts, one of them firing a rule, one unreachable with its last numbers, one that never
//! answered), and key-driven drill-down into one host's GPUs and back.

use super::{T0, fleet, key, sample, text};
use crossterm::event::KeyCode;
use gpuwarden::fleet::{FiringRule, HostData, HostReport};
use gpuwarden::gpu::sim::Scenario;
use gpuwarden::tui::{FleetApp, HostState, Theme, input};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn report(address: &str, host: &str, scenario: Scenario, gpus: u32, at: u64) -> HostReport {
    let mut source = fleet(scenario, gpus);
    let mut snapshot = sample(&mut source, (at - T0) / 1000);
    snapshot.host = host.into();
    let firing = match scenario {
        Scenario::Overheat => vec![FiringRule {
            gpu: Some(0),
            uuid: snapshot.gpus[0].uuid.clone(),
            rule: "gpu-hot".into(),
        }],
        _ => vec![],
    };
    HostReport {
        address: address.into(),
        result: Ok(HostData {
            snapshot,
            firing,
            xids: vec![],
        }),
    }
}

fn down(address: &str) -> HostReport {
    HostReport {
        address: address.into(),
        result: Err(format!(
            "http://{address}/api/v1/snapshot: connection refused"
        )),
    }
}

/// A fleet seen twice, 45 s apart: dgx-c answered the first time only, 127.0.0.1:9409 never.
fn fleet_app() -> FleetApp {
    let mut app = FleetApp::new(Theme::new(false), "3 agents");
    let t1 = T0 + 60_000;
    app.on_fetch(
        vec![
            report("127.0.0.1:9401", "dgx-a", Scenario::Training, 8, t1),
            report("127.0.0.1:9402", "dgx-b", Scenario::Overheat, 4, t1),
            report("127.0.0.1:9403", "dgx-c", Scenario::Idle, 2, t1),
            down("127.0.0.1:9409"),
        ],
        t1,
    );
    let t2 = t1 + 45_000;
    app.on_fetch(
        vec![
            report("127.0.0.1:9401", "dgx-a", Scenario::Training, 8, t2),
            report("127.0.0.1:9402", "dgx-b", Scenario::Overheat, 4, t2),
            down("127.0.0.1:9403"),
            down("127.0.0.1:9409"),
        ],
        t2,
    );
    app
}

fn draw(app: &FleetApp, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|f| f.render_widget(app, f.area()))
        .expect("drawing on the test backend");
    terminal
}

fn press(app: &mut FleetApp, code: KeyCode) {
    if let Some(msg) = input::message(&key(code)) {
        app.update(msg);
    }
}

#[test]
fn hosts_view_lists_every_host_worst_first_and_keeps_the_unreachable() {
    let app = fleet_app();
    let order: Vec<(&str, HostState)> = app
        .hosts()
        .iter()
        .map(|h| (h.name(), app.state(h)))
        .collect();
    assert_eq!(
        order,
        [
            ("127.0.0.1:9409", HostState::Unreachable),
            ("dgx-c", HostState::Unreachable),
            ("dgx-b", HostState::Alarm),
            ("dgx-a", HostState::Ok),
        ]
    );
    let terminal = draw(&app, 120, 12);
    let screen = text(&terminal);
    assert!(screen.contains("4 hosts, 14 GPUs"), "{screen}");
    assert!(screen.contains("unreachable 45s"), "dgx-c keeps its age");
    assert!(screen.contains("gpu-hot@gpu0"), "{screen}");
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_snapshot!("fleet_hosts_120x12", terminal.backend());
    });
}

#[test]
fn enter_opens_a_host_and_esc_comes_back() {
    let mut app = fleet_app();
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_host().map(|h| h.name()), Some("dgx-b"));
    press(&mut app, KeyCode::Enter);
    let host = app.drilled().expect("Enter opens the host");
    assert_eq!(host.gpus().len(), 4);
    let screen = text(&draw(&app, 120, 30));
    assert!(screen.contains("dgx-b"), "{screen}");
    assert!(
        screen.contains("GPUs"),
        "the host's own GPU table: {screen}"
    );

    // Inside the host, Enter is the GPU detail; the first Esc closes it, the next goes back.
    press(&mut app, KeyCode::Enter);
    assert!(app.drilled().is_some_and(|a| a.detail));
    press(&mut app, KeyCode::Esc);
    assert!(app.drilled().is_some_and(|a| !a.detail));

    // A refresh while inside reaches the host's view.
    let t3 = T0 + 110_000;
    app.on_fetch(
        vec![report("127.0.0.1:9402", "dgx-b", Scenario::Overheat, 4, t3)],
        t3,
    );
    let at = app.drilled().and_then(|a| a.snapshot()).map(|s| s.at_ms);
    assert_eq!(at, Some(t3));

    press(&mut app, KeyCode::Esc);
    assert!(app.drilled().is_none() && !app.quit);
    assert_eq!(app.selected_host().map(|h| h.name()), Some("dgx-b"));
    press(&mut app, KeyCode::Esc);
    assert!(app.quit, "Esc on the hosts view quits");
}

#[test]
fn an_unreachable_host_opens_on_its_last_numbers_with_the_reason() {
    let mut app = fleet_app();
    press(&mut app, KeyCode::Down);
    assert_eq!(app.selected_host().map(|h| h.name()), Some("dgx-c"));
    press(&mut app, KeyCode::Enter);
    let host = app.drilled().expect("open");
    assert_eq!(host.gpus().len(), 2, "the last numbers");
    let error = host.source_error.as_deref().unwrap_or_default();
    assert!(error.contains("unreachable") && error.contains("connection refused"));
}

/// Health decides among hosts that answer: a host with a failed GPU (its row remap failed)
/// is an alarm and comes first, one with a degraded GPU (held down by hw-slowdown) next,
/// the healthy one last — each naming the GPU.
#[test]
fn hosts_with_failed_and_degraded_gpus_come_first_and_name_the_gpu() {
    use gpuwarden::gpu::{Field, RowRemap, ThrottleReason, ThrottleReasons};
    let at = T0 + 60_000;
    let mut failed = report("127.0.0.1:9411", "node-a", Scenario::Idle, 2, at);
    let mut degraded = report("127.0.0.1:9412", "node-b", Scenario::Idle, 2, at);
    let healthy = report("127.0.0.1:9413", "node-c", Scenario::Idle, 2, at);
    if let Ok(d) = &mut failed.result {
        d.snapshot.gpus[1].row_remap = Field::Value(RowRemap {
            uncorrectable: 2,
            failure: true,
            ..RowRemap::default()
        });
    }
    if let Ok(d) = &mut degraded.result {
        d.snapshot.gpus[1].throttle =
            Field::Value(ThrottleReasons::NONE.with(ThrottleReason::HwSlowdown));
    }
    let mut app = FleetApp::new(Theme::new(false), "3 agents");
    app.on_fetch(vec![healthy, degraded, failed], at);
    let order: Vec<(&str, HostState)> = app
        .hosts()
        .iter()
        .map(|h| (h.name(), app.state(h)))
        .collect();
    assert_eq!(
        order,
        [
            ("node-a", HostState::Alarm),
            ("node-b", HostState::Degraded),
            ("node-c", HostState::Ok),
        ]
    );
    let screen = text(&draw(&app, 120, 8));
    assert!(screen.contains("failed gpu1"), "{screen}");
    assert!(screen.contains("degraded gpu1"), "{screen}");
}

/// Two agents that both call themselves `demo` are two rows that say where they are, and the
/// header sums up the fleet: lost GPUs, mean utilization, power drawn.
#[test]
fn hosts_with_the_same_name_show_their_address_and_the_header_sums_the_fleet() {
    let at = T0 + 60_000;
    let mut app = FleetApp::new(Theme::new(false), "2 agents");
    app.on_fetch(
        vec![
            report("127.0.0.1:9421", "demo", Scenario::Training, 4, at),
            report("127.0.0.1:9422", "demo", Scenario::Idle, 2, at),
            report("127.0.0.1:9423", "solo", Scenario::Idle, 2, at),
        ],
        at,
    );
    let screen = text(&draw(&app, 120, 10));
    assert!(screen.contains("demo 127.0.0.1:9421"), "{screen}");
    assert!(screen.contains("demo 127.0.0.1:9422"), "{screen}");
    assert!(
        !screen.contains("solo 127.0.0.1"),
        "a unique name needs no address: {screen}"
    );
    let header = screen.lines().next().unwrap();
    assert!(header.contains("3 hosts, 8 GPUs │ util "), "{header}");
    assert!(header.contains(" W") || header.contains(" kW"), "{header}");
}
