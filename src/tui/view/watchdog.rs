//! The watchdog panel: rules (firing ones marked with the GPUs they fire on) and recent
//! events, newest first. Drawn only when a watchdog fills `App::watchdog`.

use super::super::app::App;
use super::super::watchdog::WatchdogView;
use super::header::clock;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

pub(super) fn render(app: &App, dog: &WatchdogView, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Line::styled(" Watchdog ", t.title()));
    let mut lines: Vec<Line<'_>> = Vec::new();
    for rule in &dog.rules {
        let (mark, style) = if rule.active_on.is_empty() {
            ("  ", t.text())
        } else {
            ("● ", t.slowdown())
        };
        let mut spans = vec![
            Span::styled(mark, style),
            Span::styled(rule.name.as_str(), style),
            Span::styled(format!("  {}", rule.summary), t.label()),
        ];
        if !rule.active_on.is_empty() {
            let on: Vec<String> = rule.active_on.iter().map(u32::to_string).collect();
            spans.push(Span::styled(format!("  on GPU {}", on.join(",")), style));
        }
        lines.push(Line::from(spans));
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
    Paragraph::new(lines).block(block).render(area, buf);
}
