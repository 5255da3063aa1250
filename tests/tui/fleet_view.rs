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

/// Both hosts fetched `fetches` times, 2 s apart, each fetch with newer numbers from each
/// host's own simulated fleet (dgx-b answers only from the third fetch on), starting at
/// `T0 + from` seconds; returns the snapshots dgx-b gave, in order.
fn fetch_both(
    app: &mut FleetApp,
    sources: &mut [gpuwarden::gpu::sim::SimSource; 2],
    from: u64,
    fetches: u64,
) -> Vec<gpuwarden::gpu::Snapshot> {
    let mut b_gave = Vec::new();
    for k in from..from + fetches {
        let at = T0 + k * 2000;
        let mut reports = Vec::new();
        for (i, source) in sources.iter_mut().enumerate() {
            let address = format!("127.0.0.1:{}", 9431 + i);
            if i == 1 && k < 2 {
                reports.push(down(&address));
                continue;
            }
            let mut snapshot = sample(source, k * 2);
            snapshot.host = ["dgx-a", "dgx-b"][i].into();
            if i == 1 {
                b_gave.push(snapshot.clone());
            }
            reports.push(HostReport {
                address,
                result: Ok(HostData {
                    snapshot,
                    firing: vec![],
                    xids: vec![],
                }),
            });
        }
        app.on_fetch(reports, at);
    }
    b_gave
}

/// Every fetch records into every host's history while the hosts view is on screen, so
/// opening dgx-b shows its charts already filled (two gaps for the fetches it missed, then
/// what it gave); going back and in again keeps them, and a fetch that brings nothing new
/// records nothing.
#[test]
fn a_host_opens_on_the_history_of_every_fetch_since_the_dashboard_started() {
    use gpuwarden::history::Metric;
    let mut app = FleetApp::new(Theme::new(false), "2 agents");
    let mut sources = [fleet(Scenario::Training, 4), fleet(Scenario::Mixed, 4)];
    let gave = fetch_both(&mut app, &mut sources, 0, 30);
    assert_eq!(gave.len(), 28);

    let b = "127.0.0.1:9432";
    while app.selected_host().map(|h| h.address.as_str()) != Some(b) {
        press(&mut app, KeyCode::Down);
    }
    press(&mut app, KeyCode::Enter);
    let host = app.drilled().expect("Enter opens dgx-b");
    let util = |history: &gpuwarden::history::History, uuid: &str| -> Vec<Option<f64>> {
        history
            .gpu(uuid)
            .expect("every GPU of dgx-b has a history")
            .series(Metric::Utilization)
            .iter()
            .collect()
    };
    for g in host.gpus() {
        let mut want: Vec<Option<f64>> = vec![None, None];
        want.extend(gave.iter().map(|s| {
            let v = s.gpu(&g.uuid).unwrap().utilization_gpu_pct.get();
            v.map(|v| f64::from(v as f32))
        }));
        assert_eq!(util(host.history(), &g.uuid), want, "GPU {}", g.index);
    }
    let terminal = draw(&app, 120, 40);
    insta::with_settings!({ snapshot_path => "../snapshots" }, {
        insta::assert_snapshot!("fleet_host_opens_with_history_120x40", terminal.backend());
    });

    // Back to the hosts: five more fetches, the same numbers once more, then in again.
    press(&mut app, KeyCode::Esc);
    assert!(app.drilled().is_none());
    let more = fetch_both(&mut app, &mut sources, 30, 5);
    let again: Vec<HostReport> = app
        .fleet
        .hosts
        .iter()
        .map(|h| HostReport {
            address: h.address.clone(),
            result: Ok(HostData {
                snapshot: h.snapshot.clone().unwrap(),
                firing: vec![],
                xids: vec![],
            }),
        })
        .collect();
    app.on_fetch(again, T0 + 36 * 2000);
    press(&mut app, KeyCode::Enter);
    let host = app.drilled().expect("Enter opens dgx-b again");
    let uuid = &host.gpus()[0].uuid;
    let series = util(host.history(), uuid);
    assert_eq!(
        series.len(),
        2 + 28 + 5,
        "no slot for numbers already recorded"
    );
    let newest = more
        .last()
        .unwrap()
        .gpu(uuid)
        .unwrap()
        .utilization_gpu_pct
        .get();
    assert_eq!(series.last().copied().flatten(), newest.map(f64::from));
    assert_eq!(
        app.host_history("127.0.0.1:9431").map(|h| h.len()),
        Some(4),
        "dgx-a kept its own history meanwhile"
    );
    let a_len = app
        .host_history("127.0.0.1:9431")
        .and_then(|h| h.gpu(&app.fleet.host("127.0.0.1:9431")?.snapshot.as_ref()?.gpus[0].uuid))
        .map(|g| g.series(Metric::Utilization).len());
    assert_eq!(a_len, Some(35));

    // A host no longer in the fleet takes its history with it.
    press(&mut app, KeyCode::Esc);
    app.fleet.hosts.retain(|h| h.address == b);
    let at = T0 + 200_000;
    app.on_fetch(vec![report(b, "dgx-b", Scenario::Mixed, 4, at)], at);
    assert!(app.host_history("127.0.0.1:9431").is_none());
    assert!(app.host_history(b).is_some());
}
