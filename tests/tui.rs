//! The dashboard as a whole: snapshots of the real app on the simulated fleet (fixed seed,
//! fixed timestamps, fixed host reading) on ratatui's `TestBackend`, and key presses driven
//! through the same input map, update and view the terminal uses — including the real event
//! loop (`run_loop`) with a sample channel and an event stream.

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use gpuwarden::gpu::sim::{Scenario, SimConfig, SimSource};
use gpuwarden::gpu::{Field, MigDevice, Snapshot, Source};
use gpuwarden::history::Metric;
use gpuwarden::host::HostReading;
use gpuwarden::tui::run::run_loop;
use gpuwarden::tui::{App, EventLine, Msg, RuleLine, SortKey, Theme, WatchdogView, input};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

/// 2026-01-01 00:00:00 UTC: every snapshot's clock is fixed.
const T0: u64 = 1_767_225_600_000;
const GIB: u64 = 1 << 30;

fn fleet(scenario: Scenario, gpus: u32) -> SimSource {
    SimSource::new(&SimConfig {
        gpus,
        seed: 7,
        scenario,
    })
}

fn sample(source: &mut SimSource, k: u64) -> Snapshot {
    source
        .sample(T0 + k * 1000)
        .expect("the simulated fleet samples")
}

/// An app that has seen `seconds` samples of the fleet, one per second.
fn app_after(scenario: Scenario, gpus: u32, seconds: u64, color: bool) -> (App, SimSource) {
    let mut source = fleet(scenario, gpus);
    let mut app = App::new(Theme::new(color));
    app.update(Msg::Host(HostReading {
        cpu_pct: 12.5,
        cpus: 32,
        mem_used_bytes: 41 * GIB,
        mem_total_bytes: 125 * GIB,
    }));
    for k in 0..seconds {
        app.update(Msg::Sample(Box::new(sample(&mut source, k))));
    }
    (app, source)
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test terminal");
    terminal
        .draw(|f| f.render_widget(app, f.area()))
        .expect("drawing on the test backend");
    terminal
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    terminal.backend().to_string()
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Presses keys the way the terminal would deliver them.
fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\t' => KeyCode::Tab,
            c => KeyCode::Char(c),
        };
        if let Some(msg) =
            input::message_for(&key(code), app.jump.is_some(), app.kill_ask.is_some())
        {
            app.update(msg);
        }
    }
}

/// 64 GPUs at 120×40: the compact grid holds them all and leaves the selected GPU's charts
/// and processes on screen; `:` reaches GPU 47, Tab reaches a process panel that is there.
#[test]
fn sixty_four_gpus_fit_120x40_and_any_gpu_is_reached_by_its_index() {
    let (mut app, _) = app_after(Scenario::Mixed, 64, 5, true);
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("compact · GPUs 1–64 of 64"), "{screen}");
    assert!(screen.contains("Processes · all GPUs"), "{screen}");
    assert!(screen.contains("Util "), "the charts: {screen}");
    press(&mut app, ":47\n");
    assert_eq!(app.selected_gpu().map(|g| g.index), Some(47));
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("▶ 47 "), "{screen}");
    // A UUID's start works too, and nothing is found says so.
    let uuid = app.gpus()[12].uuid[..12].to_string();
    press(&mut app, &format!(":{uuid}\n"));
    assert_eq!(app.selected_gpu().map(|g| g.index), Some(12));
    press(&mut app, ":999\n");
    assert_eq!(app.selected_gpu().map(|g| g.index), Some(12));
    assert!(text(&draw(&app, 120, 40)).contains("no GPU \"999\""));
    press(&mut app, "\t");
    assert_eq!(app.focus, gpuwarden::tui::Focus::Processes);
    press(&mut app, "j");
    assert_eq!(app.process_row, 1, "j moves in the process panel on screen");
    insta::assert_snapshot!("overview_64_gpus_120x40", draw(&app, 120, 40).backend());
}

/// 256 GPUs: every one fits a 200×60 terminal; at 120×40 the grid scrolls to the selection.
#[test]
fn two_hundred_fifty_six_gpus_fit_200x60_and_scroll_at_120x40() {
    let (mut app, _) = app_after(Scenario::Mixed, 256, 3, true);
    let screen = text(&draw(&app, 200, 60));
    assert!(screen.contains("compact · GPUs 1–256 of 256"), "{screen}");
    press(&mut app, ":200\n");
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("▶200 "), "{screen}");
    assert!(screen.contains("compact · ▲ GPUs"), "{screen}");
    assert!(screen.contains("Processes"), "{screen}");
}

#[test]
fn overview_120x40_eight_gpus() {
    let (app, _) = app_after(Scenario::Mixed, 8, 90, true);
    insta::assert_snapshot!(draw(&app, 120, 40).backend());
}

#[test]
fn overview_80x24_four_gpus() {
    let (app, _) = app_after(Scenario::Mixed, 4, 60, true);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn detail_view_120x40() {
    let (mut app, _) = app_after(Scenario::Mixed, 8, 90, true);
    press(&mut app, "2\n");
    insta::assert_snapshot!(draw(&app, 120, 40).backend());
}

#[test]
fn detail_view_80x24() {
    let (mut app, _) = app_after(Scenario::Overheat, 4, 120, true);
    press(&mut app, "\n");
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn help_overlay_80x24() {
    let (mut app, _) = app_after(Scenario::Mixed, 4, 5, true);
    press(&mut app, "?");
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn lost_gpu_is_shown_and_its_history_stops() {
    // The last GPU falls off the bus after 10 s.
    let (mut app, _) = app_after(Scenario::Lost, 4, 30, true);
    insta::assert_snapshot!("lost_overview_120x40", draw(&app, 120, 40).backend());
    press(&mut app, "3\n");
    let detail = draw(&app, 120, 40);
    let screen = text(&detail);
    // Lost at 10 s: its model, PCI id and processes as last seen stay, with the time.
    assert!(screen.contains("LOST since 00:00:10 UTC"), "{screen}");
    assert!(screen.contains("GPU 3 NVIDIA H100"), "{screen}");
    assert!(!screen.contains("pci      lost"), "{screen}");
    assert!(screen.contains("(GPU lost; last seen)"), "{screen}");
    insta::assert_snapshot!("lost_detail_120x40", detail.backend());
}

#[test]
fn no_color_has_no_colors_and_stays_readable() {
    let (app, _) = app_after(Scenario::Overheat, 4, 150, false);
    let terminal = draw(&app, 80, 24);
    for cell in terminal.backend().buffer().content() {
        assert_eq!(
            (cell.fg, cell.bg),
            (Color::Reset, Color::Reset),
            "a colored cell {cell:?}"
        );
    }
    // Without color, a hot GPU is still marked in text.
    assert!(text(&terminal).contains("!!"), "{}", text(&terminal));
    insta::assert_snapshot!(terminal.backend());
}

/// The README promises the `!` wherever color would warn: a card at 96 % of its power limit
/// is yellow in color and marked `!` without it.
#[test]
fn no_color_marks_a_card_near_its_power_limit() {
    let (mut app, mut source) = app_after(Scenario::Idle, 2, 3, false);
    let mut snap = sample(&mut source, 3);
    snap.gpus[1].power_w = gpuwarden::gpu::Field::Value(672.0);
    snap.gpus[1].power_limit_w = gpuwarden::gpu::Field::Value(700.0);
    app.update(Msg::Sample(Box::new(snap)));
    let screen = text(&draw(&app, 120, 40));
    let row = screen
        .lines()
        .find(|l| l.contains("  1 "))
        .expect("GPU 1's row");
    assert!(row.contains("!672/700"), "{row}");
    let row0 = screen
        .lines()
        .find(|l| l.contains("▶ 0"))
        .expect("GPU 0's row");
    assert!(!row0.contains('!'), "an idle card is not marked: {row0}");
}

#[test]
fn hot_gpu_temperature_is_colored_by_threshold() {
    let (app, _) = app_after(Scenario::Overheat, 4, 150, true);
    let hot = app.gpus()[0].temperature_c.get().expect("a temperature");
    assert!(hot >= 85.0, "GPU 0 should be past 85 °C by now, is {hot}");
    let terminal = draw(&app, 120, 40);
    let buffer = terminal.backend().buffer();
    // Row of GPU 0 is the fourth line; find its "°C" cell.
    let y = 3;
    let x = (0..120)
        .find(|&x| buffer[(x, y)].symbol() == "°")
        .expect("a temperature on GPU 0's row");
    let cool_x = (0..120)
        .find(|&x| buffer[(x, y + 1)].symbol() == "°")
        .expect("a temperature on GPU 1's row");
    assert_ne!(buffer[(x, y)].fg, buffer[(cool_x, y + 1)].fg);
    assert_eq!(buffer[(x, y)].fg, Color::Indexed(203), "hot is red");
}

#[test]
fn watchdog_panel_appears_when_a_watchdog_reports() {
    let (mut app, _) = app_after(Scenario::Overheat, 4, 60, true);
    app.watchdog = Some(WatchdogView {
        rules: vec![
            RuleLine {
                name: "hot".into(),
                summary: "temperature >= 85 °C for 30s → lock clocks".into(),
                active_on: vec![0],
                ..RuleLine::default()
            },
            RuleLine {
                name: "full".into(),
                summary: "memory >= 85 % for 1m → restart unit".into(),
                pending_on: vec![2],
                ..RuleLine::default()
            },
        ],
        events: vec![EventLine {
            at_ms: T0 + 55_000,
            text: "GPU 0: locked SM clock to 1400 MHz".into(),
            failed: false,
        }],
        xid_on: Default::default(),
        daemon: gpuwarden::tui::watchdog::DaemonLine::Acting,
        address: "127.0.0.1:9844".into(),
    });
    let terminal = draw(&app, 120, 40);
    assert!(text(&terminal).contains("Watchdog"));
    assert!(text(&terminal).contains("daemon running on 127.0.0.1:9844"));
    insta::assert_snapshot!(terminal.backend());
}

#[test]
fn a_gpu_with_a_recent_xid_is_marked_on_its_row() {
    let (mut app, _) = app_after(Scenario::Mixed, 4, 5, true);
    app.watchdog = Some(WatchdogView {
        xid_on: [(2, 79)].into_iter().collect(),
        ..WatchdogView::default()
    });
    let terminal = draw(&app, 120, 40);
    let rows: Vec<String> = text(&terminal).lines().map(str::to_string).collect();
    let row = |i: u32| {
        rows.iter()
            .find(|l| l.contains(&format!(" {i} H100")))
            .unwrap_or_else(|| panic!("no row for GPU {i}:\n{rows:#?}"))
            .clone()
    };
    assert!(row(2).contains("XID 79"), "{}", row(2));
    for i in [0, 1, 3] {
        assert!(!row(i).contains("XID"), "{}", row(i));
    }
    let buffer = terminal.backend().buffer();
    let y = rows.iter().position(|l| l.contains(" 2 H100")).unwrap() as u16;
    let x = (0..120)
        .find(|&x| buffer[(x, y)].symbol() == "X" && buffer[(x + 1, y)].symbol() == "I")
        .expect("the XID mark");
    assert_ne!(buffer[(x, y)].fg, Color::Reset, "the mark stands out");
}

#[test]
fn digits_j_and_k_move_the_selection() {
    let (mut app, _) = app_after(Scenario::Mixed, 8, 5, true);
    let selected = |app: &App| app.selected_gpu().map(|g| g.index);
    assert_eq!(selected(&app), Some(0));
    press(&mut app, "2");
    assert_eq!(selected(&app), Some(2));
    press(&mut app, "jj");
    assert_eq!(selected(&app), Some(4));
    press(&mut app, "k");
    assert_eq!(selected(&app), Some(3));
    press(&mut app, "9"); // no GPU 9: nothing changes
    assert_eq!(selected(&app), Some(3));
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("▶ 3 H100"), "{screen}");
}

#[test]
fn s_cycles_the_sort_column_and_reorders_processes() {
    let (mut app, _) = app_after(Scenario::Mixed, 8, 5, true);
    let pids = |app: &App| {
        app.processes()
            .iter()
            .map(|r| r.process.pid)
            .collect::<Vec<_>>()
    };
    assert_eq!(app.sort, SortKey::Memory);
    let by_memory = pids(&app);
    press(&mut app, "s");
    assert_eq!(app.sort, SortKey::Pid);
    let by_pid = pids(&app);
    assert_ne!(by_memory, by_pid);
    let mut sorted = by_pid.clone();
    sorted.sort();
    assert_eq!(by_pid, sorted);
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("PID▲"), "{screen}");
    press(&mut app, "S");
    sorted.reverse();
    assert_eq!(pids(&app), sorted);
}

#[test]
fn f_freezes_the_view_while_history_keeps_filling() {
    let (mut app, mut source) = app_after(Scenario::Mixed, 4, 10, true);
    press(&mut app, "f");
    let frozen = text(&draw(&app, 120, 40));
    assert!(frozen.contains("FROZEN"));
    let live_before = live_len(&app);
    for k in 10..40 {
        // The host's CPU and RAM move on too; the frozen header must not.
        app.update(Msg::Host(HostReading {
            cpu_pct: 90.0,
            cpus: 32,
            mem_used_bytes: (60 + k) * GIB,
            mem_total_bytes: 125 * GIB,
        }));
        app.update(Msg::Sample(Box::new(sample(&mut source, k))));
    }
    assert_eq!(
        text(&draw(&app, 120, 40)),
        frozen,
        "new samples or host readings changed a frozen view"
    );
    assert_eq!(
        live_len(&app),
        live_before + 30,
        "ingestion stopped while frozen"
    );
    press(&mut app, "f");
    let live = text(&draw(&app, 120, 40));
    assert_ne!(live, frozen);
    assert!(!live.contains("FROZEN"));
}

fn live_len(app: &App) -> usize {
    let uuid = &app.gpus()[0].uuid;
    app.live_history()
        .gpu(uuid)
        .map(|h| h.series(Metric::Utilization).len())
        .unwrap_or(0)
}

#[test]
fn a_failed_sample_is_a_gap_in_the_charts_and_shown_as_an_error() {
    let (mut app, mut source) = app_after(Scenario::Training, 2, 5, true);
    app.update(Msg::SourceError("nvml: driver not loaded".into()));
    let screen = text(&draw(&app, 120, 40));
    assert!(
        screen.contains("source error: nvml: driver not loaded"),
        "{screen}"
    );
    app.update(Msg::Sample(Box::new(sample(&mut source, 6))));
    let uuid = app.gpus()[0].uuid.clone();
    let series: Vec<_> = app
        .history()
        .gpu(&uuid)
        .expect("history of GPU 0")
        .series(Metric::Temperature)
        .iter()
        .collect();
    assert_eq!(series.len(), 7);
    assert_eq!(series[5], None, "the failed sample is a gap, not 0");
    assert!(series[6].is_some());
    assert!(!text(&draw(&app, 120, 40)).contains("source error"));
}

#[test]
fn gpu_selection_flag_keeps_only_the_listed_gpus() {
    let mut source = fleet(Scenario::Mixed, 4);
    let mut app = App::new(Theme::new(true));
    app.gpu_filter = Some(vec![0, 2]);
    app.update(Msg::Sample(Box::new(sample(&mut source, 0))));
    let indices: Vec<u32> = app.gpus().iter().map(|g| g.index).collect();
    assert_eq!(indices, [0, 2]);
}

#[test]
fn tiny_and_odd_terminal_sizes_never_panic() {
    let (mut app, _) = app_after(Scenario::Lost, 4, 15, true);
    for mode in ["", "\n", "?"] {
        press(&mut app, mode);
        for w in 0..=50 {
            for h in 0..=16 {
                draw(&app, w, h);
            }
        }
        draw(&app, 10, 5);
        draw(&app, 300, 100);
    }
    let screen = text(&draw(&app, 20, 5));
    assert!(screen.contains("too small"), "{screen}");
}

#[test]
fn waiting_screen_before_the_first_sample() {
    let app = App::new(Theme::new(true));
    let screen = text(&draw(&app, 80, 24));
    assert!(screen.contains("waiting for the first sample"), "{screen}");
}

/// The real event loop: samples from a channel, keys from an event stream, `q` ends it.
#[tokio::test]
async fn event_loop_takes_samples_and_keys_and_quits_on_q() {
    let mut source = fleet(Scenario::Mixed, 4);
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    for k in 0..3 {
        tx.send(Ok(sample(&mut source, k)))
            .await
            .expect("channel open");
    }
    let keys: Vec<std::io::Result<Event>> =
        "2jsqk".chars().map(|c| Ok(key(KeyCode::Char(c)))).collect();
    let events = futures_util::stream::iter(keys);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("test terminal");
    let mut app = App::new(Theme::new(true));
    let mut host_reads = 0;
    run_loop(&mut terminal, &mut app, rx, events, || {
        host_reads += 1;
        None
    })
    .await
    .expect("the loop ends cleanly");
    assert!(app.quit);
    assert_eq!(host_reads, 3, "the host is read once per sample");
    assert_eq!(
        app.selected_gpu().map(|g| g.index),
        Some(3),
        "`k` after `q` was not read"
    );
    assert_eq!(app.sort, SortKey::Pid);
    assert!(text(&terminal).contains("▶ 3"));
}

#[tokio::test]
async fn event_loop_shows_source_errors_and_survives_a_stopped_sampler() {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tx.send(Err("nvml: GPU is lost".to_string()))
        .await
        .expect("channel open");
    drop(tx);
    let events = futures_util::stream::iter(vec![Ok(key(KeyCode::Char('?')))]);
    let mut terminal = Terminal::new(TestBackend::new(80, 24)).expect("test terminal");
    let mut app = App::new(Theme::new(true));
    run_loop(&mut terminal, &mut app, rx, events, || None)
        .await
        .expect("the loop ends when the terminal's events end");
    assert_eq!(app.source_error.as_deref(), Some("the sampler stopped"));
    assert!(app.help);
}

#[path = "support/fake_nvml.rs"]
mod fake_nvml;

#[path = "tui/real_terminal.rs"]
mod real_terminal;

#[path = "tui/replay.rs"]
mod replay;

#[path = "tui/fleet_view.rs"]
mod fleet_view;

#[path = "tui/overlay.rs"]
mod overlay;

#[path = "tui/watchdog_feed.rs"]
mod watchdog_feed;

#[test]
fn without_a_terminal_top_says_so_and_exits_2() {
    assert_cmd::Command::cargo_bin("gpuwarden")
        .expect("the binary")
        .args(["top", "--demo"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("needs a terminal"));
}

#[test]
fn esc_closes_help_then_detail_then_quits() {
    let (mut app, _) = app_after(Scenario::Mixed, 2, 2, true);
    press(&mut app, "\n?");
    assert!(app.help && app.detail);
    app.update(input::message(&key(KeyCode::Esc)).expect("Esc means something"));
    assert!(!app.help && app.detail && !app.quit);
    app.update(input::message(&key(KeyCode::Esc)).expect("Esc means something"));
    assert!(!app.detail && !app.quit);
    app.update(input::message(&key(KeyCode::Esc)).expect("Esc means something"));
    assert!(app.quit);
}

#[test]
fn tab_moves_focus_to_processes_and_j_moves_the_process_row() {
    let (mut app, _) = app_after(Scenario::Mixed, 4, 2, true);
    press(&mut app, "\tjj");
    assert_eq!(
        app.selected_gpu().map(|g| g.index),
        Some(0),
        "GPU selection stays"
    );
    assert_eq!(app.process_row, 2);
    press(&mut app, "jjjjjj");
    assert_eq!(
        app.process_row,
        app.processes().len() - 1,
        "stops at the last row"
    );
    press(&mut app, "a");
    assert!(app.processes().iter().all(|r| r.gpu == 0));
}

/// The README's dashboard examples must stay valid command lines.
#[test]
fn readme_dashboard_examples_parse() {
    use clap::Parser;
    let readme = include_str!("../README.md");
    let start = readme
        .find("## Look: the dashboard")
        .expect("the dashboard section");
    let section = &readme[start..];
    let end = section[3..].find("\n## ").map_or(section.len(), |i| i + 3);
    let examples: Vec<&str> = section[..end]
        .lines()
        .filter(|l| l.starts_with("gpuwarden"))
        .map(|l| l.split('#').next().unwrap_or(l).trim())
        .collect();
    assert!(examples.len() >= 3, "examples not found: {examples:?}");
    for example in examples {
        let args = example.split_whitespace();
        if let Err(e) = gpuwarden::cli::Cli::try_parse_from(args) {
            panic!("README example `{example}` does not parse: {e}");
        }
    }
}

#[test]
fn detail_panel_colors_a_hot_temperature() {
    let (mut app, _) = app_after(Scenario::Overheat, 4, 150, true);
    press(&mut app, "\n");
    let terminal = draw(&app, 120, 40);
    let buffer = terminal.backend().buffer();
    let row = |y: u16| {
        (0..120)
            .map(|x| buffer[(x, y)].symbol())
            .collect::<String>()
    };
    let y = (0..40)
        .find(|&y| row(y).contains("temp   "))
        .expect("a temp line in the detail panel");
    // The info panel's temperature is the first "°" right of its label.
    let label = row(y).chars().collect::<Vec<_>>();
    let start = (0..label.len())
        .find(|&i| label[i..].starts_with(&['t', 'e', 'm', 'p', ' ']))
        .expect("the temp label");
    let value = (start..label.len())
        .find(|&i| label[i] == '°')
        .expect("a temperature value") as u16;
    assert_eq!(
        buffer[(value, y)].fg,
        Color::Indexed(203),
        "hot is red in the detail panel too"
    );
}

#[test]
fn memory_that_needs_a_person_is_marked_on_its_row() {
    use gpuwarden::gpu::{Field, RowRemap};
    let mut source = fleet(Scenario::Mixed, 4);
    let mut app = App::new(Theme::new(false));
    for k in 0..3 {
        let mut snap = sample(&mut source, k);
        snap.gpus[1].row_remap = Field::Value(RowRemap {
            failure: true,
            ..RowRemap::default()
        });
        snap.gpus[2].retired_pages_pending = Field::Value(true);
        snap.gpus[3].ecc_uncorrected = Field::Value(2);
        app.update(Msg::Sample(Box::new(snap)));
    }
    let terminal = draw(&app, 120, 40);
    let rows: Vec<String> = text(&terminal).lines().map(str::to_string).collect();
    let row = |i: u32| {
        rows.iter()
            .find(|l| l.contains(&format!(" {i} H100")))
            .unwrap_or_else(|| panic!("no row for GPU {i}:\n{rows:#?}"))
            .clone()
    };
    assert!(row(1).contains("REPLACE"), "{}", row(1));
    assert!(row(2).contains("RESET"), "{}", row(2));
    assert!(row(3).contains("ECC"), "{}", row(3));
    for mark in ["REPLACE", "RESET", "ECC"] {
        assert!(!row(0).contains(mark), "{}", row(0));
    }
}

#[test]
fn the_process_table_names_each_owner_and_sorts_by_cpu() {
    use gpuwarden::gpu::{Field, GpuProcess, OwnerKind, ProcessOwner};
    let mut source = fleet(Scenario::Mixed, 1);
    let mut snap = sample(&mut source, 0);
    let owned = |pid, owner: ProcessOwner, cpu| GpuProcess {
        pid,
        used_memory_bytes: Some(GIB),
        user: Some("ml".into()),
        command: Some(format!("worker {pid}")),
        owner: Some(owner),
        cpu_pct: Some(cpu),
        ..GpuProcess::default()
    };
    let pod = ProcessOwner {
        name: Some("ml-team/trainer-0".into()),
        ..ProcessOwner::new(OwnerKind::Pod, "6d1f0a2b-93c4-4e85-a7f6-0b1c2d3e4f5a")
    };
    let container = ProcessOwner {
        runtime: Some("docker".into()),
        ..ProcessOwner::new(OwnerKind::Container, "4f2a9c1e7b3d")
    };
    let job = ProcessOwner {
        step: Some("0".into()),
        ..ProcessOwner::new(OwnerKind::SlurmJob, "4242")
    };
    snap.gpus[0].processes = Field::Value(vec![
        owned(11, pod, 5.0),
        owned(12, container, 250.0),
        owned(13, job, 40.0),
    ]);
    let mut app = App::new(Theme::new(false));
    app.update(Msg::Sample(Box::new(snap)));
    let screen = text(&draw(&app, 120, 40));
    for (pid, owner) in [
        (11, "pod ml-team/trainer-0"),
        (12, "docker 4f2a9c1e7b3d"),
        (13, "slurm 4242.0"),
    ] {
        let row = screen
            .lines()
            .find(|l| l.contains(&format!("worker {pid}")))
            .unwrap_or_else(|| panic!("no row for {pid}:\n{screen}"));
        assert!(row.contains(owner), "{row}");
    }
    // Sorting by CPU %: the busiest first.
    while app.sort != SortKey::Cpu {
        press(&mut app, "s");
    }
    let pids: Vec<u32> = app.processes().iter().map(|r| r.process.pid).collect();
    assert_eq!(pids, [12, 13, 11]);
}

#[test]
fn the_detail_view_lists_the_mig_devices_of_a_gpu_in_mig_mode() {
    use gpuwarden::gpu::{Field, MigDevice, Missing};
    let mut source = fleet(Scenario::Mixed, 1);
    let mut snap = sample(&mut source, 0);
    let device = |uuid: &str, profile: &str, used, total| MigDevice {
        uuid: uuid.into(),
        profile: Field::Value(profile.into()),
        memory_used_bytes: Field::Value(used),
        memory_total_bytes: Field::Value(total),
        utilization_gpu_pct: Field::missing(Missing::NotSupported),
    };
    snap.gpus[0].mig = Field::Value(vec![
        device("MIG-aaaa", "3g.40gb", 12 * GIB, 40 * GIB),
        device("MIG-bbbb", "2g.20gb", GIB / 2, 20 * GIB),
    ]);
    let mut app = App::new(Theme::new(false));
    app.update(Msg::Sample(Box::new(snap)));
    press(&mut app, "\n");
    let screen = text(&draw(&app, 120, 40));
    assert!(screen.contains("MIG · 2 devices"), "{screen}");
    for (profile, mem, uuid) in [
        ("3g.40gb", "12 / 40 GiB", "MIG-aaaa"),
        ("2g.20gb", "0.5 / 20 GiB", "MIG-bbbb"),
    ] {
        let row = screen
            .lines()
            .find(|l| l.contains(uuid))
            .unwrap_or_else(|| panic!("no {uuid}:\n{screen}"));
        assert!(
            row.contains(profile) && row.contains(mem) && row.contains("util n/a"),
            "{row}"
        );
    }
}

/// `/` filters the process table by user, owner, command or pid.
#[test]
fn slash_filters_the_processes() {
    let (mut app, _) = app_after(Scenario::Mixed, 4, 5, true);
    if !app.all_processes {
        press(&mut app, "a");
    }
    let all = app.processes().len();
    press(&mut app, "/VLLM\n");
    let shown = app.processes();
    assert!(
        !shown.is_empty() && shown.len() < all,
        "{} of {all}",
        shown.len()
    );
    assert!(shown.iter().all(|r| {
        let p = r.process;
        format!("{:?}{:?}", p.user, p.command)
            .to_lowercase()
            .contains("vllm")
            || gpuwarden::tui::app::owner_label(p).contains("vllm")
    }));
    assert!(text(&draw(&app, 120, 40)).contains("· /VLLM"));
    press(&mut app, "/\n");
    assert_eq!(
        app.processes().len(),
        all,
        "an empty filter shows everything"
    );
}

/// `K` signals the selected process after a question that names it — never on the demo
/// fleet, whose PIDs are not this machine's; `n` (any other key) cancels, `y` sends SIGTERM.
#[test]
fn capital_k_asks_then_signals_a_real_process_and_never_a_demo_one() {
    use gpuwarden::gpu::{Field, GpuProcess};
    let (mut demo, _) = app_after(Scenario::Mixed, 4, 5, true);
    press(&mut demo, "\tK");
    assert!(demo.kill_ask.is_none());
    assert!(text(&draw(&demo, 120, 40)).contains("K signals only this machine"));

    let mut child = std::process::Command::new("sleep")
        .arg("600")
        .spawn()
        .unwrap();
    let (mut app, mut source) = app_after(Scenario::Idle, 1, 2, true);
    app.local_pids = true;
    let mut snap = sample(&mut source, 2);
    snap.gpus[0].processes = Field::Value(vec![GpuProcess {
        pid: child.id(),
        command: Some("sleep 600".into()),
        user: Some("root".into()),
        ..GpuProcess::default()
    }]);
    app.update(Msg::Sample(Box::new(snap)));
    press(&mut app, "\tK");
    let screen = text(&draw(&app, 120, 40));
    assert!(
        screen.contains(&format!(
            "signal PID {} (sleep 600, user root, GPU 0)?",
            child.id()
        )),
        "{screen}"
    );
    press(&mut app, "n");
    assert!(app.kill_ask.is_none());
    assert!(child.try_wait().unwrap().is_none(), "n sent nothing");
    press(&mut app, "Ky");
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
    assert!(text(&draw(&app, 120, 40)).contains(&format!("sent SIGTERM to PID {}", child.id())));
}

/// The process table's styles: the header row bold, the owner in the label color, and with
/// the panel focused the selected row highlighted across its whole width, scrolled into view.
#[test]
fn the_selected_process_row_is_highlighted_and_kept_in_view() {
    let (mut app, _) = app_after(Scenario::Mixed, 8, 30, true);
    press(&mut app, "\t");
    let terminal = draw(&app, 120, 40);
    let buffer = terminal.backend().buffer();
    let row_of = |needle: &str| {
        (0..40u16)
            .find(|&y| {
                let line: String = (0..120).map(|x| buffer[(x, y)].symbol()).collect();
                line.contains(needle)
            })
            .unwrap_or_else(|| panic!("no line with {needle:?}:\n{}", text(&terminal)))
    };
    let header = row_of("COMMAND");
    assert!(buffer[(1, header)].modifier.contains(Modifier::BOLD));
    let first = header + 1;
    // Selected: the first row, every cell inside the border.
    for x in 1..119 {
        assert_eq!(buffer[(x, first)].bg, Color::Indexed(237), "x {x}");
    }
    assert_ne!(buffer[(1, first + 1)].bg, Color::Indexed(237));
    let owner_x = (0..120)
        .find(|&x| buffer[(x, header)].symbol() == "O")
        .expect("the OWNER header");
    assert_ne!(buffer[(owner_x, first + 1)].fg, buffer[(1, first + 1)].fg);

    // The last process on a shorter terminal, where the panel holds fewer rows than there
    // are processes: the rows scroll so the selection stays on screen.
    press(&mut app, "G");
    let last = app.processes().last().map(|r| r.process.pid).unwrap();
    let terminal = draw(&app, 120, 32);
    let buffer = terminal.backend().buffer();
    let line = |y: u16| {
        (0..120)
            .map(|x| buffer[(x, y)].symbol())
            .collect::<String>()
    };
    let header = (0..32u16).find(|&y| line(y).contains("COMMAND")).unwrap();
    let body = (header + 1..31)
        .filter(|&y| !line(y).starts_with('└'))
        .count();
    assert!(
        body < app.processes().len(),
        "the panel scrolls: {}",
        text(&terminal)
    );
    let selected: Vec<u16> = (header + 1..32)
        .filter(|&y| buffer[(2, y)].bg == Color::Indexed(237))
        .collect();
    assert_eq!(selected.len(), 1, "{}", text(&terminal));
    assert!(
        line(selected[0]).contains(&last.to_string()),
        "{}",
        text(&terminal)
    );
}

/// A GPU in MIG mode lists its MIG devices under its row: profile, utilization, the
/// instance's own memory and its `MIG-…` UUID; the selection and the other GPUs stay as they
/// were.
#[test]
fn a_gpu_in_mig_mode_shows_its_mig_devices_under_it() {
    let mut source = fleet(Scenario::Training, 4);
    let mut app = App::new(Theme::new(false));
    for k in 0..5 {
        let mut snap = sample(&mut source, k);
        let gpu = &mut snap.gpus[1];
        gpu.mig_enabled = Field::Value(true);
        gpu.mig = Field::Value(
            [("3g.40gb", 30_u64, 40_u64, 55_u32), ("4g.40gb", 5, 40, 10)]
                .iter()
                .enumerate()
                .map(|(i, (profile, used, total, util))| MigDevice {
                    uuid: format!("MIG-5c0de000-0000-4000-8000-00000000000{i}"),
                    profile: Field::Value(profile.to_string()),
                    memory_used_bytes: Field::Value(used * GIB),
                    memory_total_bytes: Field::Value(total * GIB),
                    utilization_gpu_pct: Field::Value(*util),
                })
                .collect(),
        );
        app.update(Msg::Sample(Box::new(snap)));
    }
    let terminal = draw(&app, 120, 40);
    let screen = text(&terminal);
    let lines: Vec<&str> = screen.lines().collect();
    let gpu1 = lines
        .iter()
        .position(|l| l.contains("│  1 H100"))
        .unwrap_or_else(|| panic!("{screen}"));
    assert!(lines[gpu1 + 1].contains("└ 3g.40gb"), "{screen}");
    assert!(
        lines[gpu1 + 1].contains("55%") && lines[gpu1 + 1].contains("30/40"),
        "{screen}"
    );
    assert!(lines[gpu1 + 1].contains("MIG-5c0de000"), "{screen}");
    assert!(lines[gpu1 + 2].contains("└ 4g.40gb"), "{screen}");
    assert!(lines[gpu1 + 3].contains("│  2 H100"), "{screen}");
    insta::assert_snapshot!("mig_overview_120x40", terminal.backend());
}
