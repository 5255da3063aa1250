//! The watchdog panel: the daemon's own state first (acting, dry run, driver not answering,
//! stopped), then the rules — firing ones marked with the GPUs they fire on, pending ones
//! waiting out `for`, and with no daemon those that would fire on the data on screen — then
//! recent events, newest first, each action with its result. Long lines wrap. Drawn only
//! when a watchdog fills `App::watchdog`.

use super::super::app::App;
use super::super::watchdog::{DaemonLine, WatchdogView};
use super::header::clock;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};

pub(super) fn render(app: &App, dog: &WatchdogView, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Line::styled(" Watchdog ", t.title()));
    let (state, style) = daemon_words(app, dog);
    let mut lines: Vec<Line<'_>> = vec![Line::styled(state, style)];
    let stopped = matches!(dog.daemon, DaemonLine::Stopped(_));
    let gpus = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    for rule in &dog.rules {
        let (mark, style, note) = if !rule.active_on.is_empty() {
            (
                "● ",
                t.slowdown(),
                format!("  firing on GPU {}", gpus(&rule.active_on)),
            )
        } else if !rule.pending_on.is_empty() {
            (
                "◐ ",
                t.label(),
                format!("  pending on GPU {}", gpus(&rule.pending_on)),
            )
        } else if !rule.would_fire_on.is_empty() {
            (
                "○ ",
                t.label(),
                format!("  would fire on GPU {}", gpus(&rule.would_fire_on)),
            )
        } else {
            ("  ", t.text(), String::new())
        };
        lines.push(Line::from(vec![
            Span::styled(mark, style),
            Span::styled(rule.name.as_str(), if stopped { t.dim() } else { style }),
            Span::styled(format!("  {}", rule.summary), t.label()),
            Span::styled(note, style),
        ]));
    }
    if dog.rules.is_empty() {
        lines.push(Line::styled("no rules", t.dim()));
    }
    lines.push(Line::raw(""));
    for event in dog.events.iter().rev() {
        let time = clock(event.at_ms, app.utc_offset_s);
        let time = time.trim_end_matches(" UTC").to_string();
        let style = if event.failed { t.slowdown() } else { t.text() };
        lines.push(Line::from(vec![
            Span::styled(format!("{time} "), t.dim()),
            Span::styled(event.text.as_str(), style),
        ]));
    }
    Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false })
        .render(area, buf);
}

/// The first line: what the daemon is doing, in words, and how loud.
fn daemon_words(app: &App, dog: &WatchdogView) -> (String, Style) {
    let t = &app.theme;
    let at = &dog.address;
    match &dog.daemon {
        DaemonLine::Acting => (
            format!("daemon running on {at}"),
            t.level(super::super::theme::Level::Normal),
        ),
        DaemonLine::DryRun => (
            format!("daemon running on {at} · DRY RUN: nothing is changed"),
            t.slowdown(),
        ),
        DaemonLine::DriverNotAnswering { dry_run } => (
            format!(
                "daemon running on {at}{} · the GPU driver does not answer",
                if *dry_run { " (dry run)" } else { "" }
            ),
            t.alarm(),
        ),
        DaemonLine::Stopped(why) => (
            format!("daemon NOT RUNNING: no answer on {at} ({why}); nothing is guarded"),
            t.alarm(),
        ),
        DaemonLine::CannotAsk(why) => (
            format!("daemon state unknown: {why}; rules from its event log"),
            t.dim(),
        ),
        DaemonLine::Unknown => (format!("asking the daemon on {at}…"), t.dim()),
    }
}
