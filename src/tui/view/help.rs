//! The `?` overlay: every key, the thresholds in force and what the marks mean.

use super::super::app::App;
use super::super::input::KEYS;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Widget, Wrap};

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let mut lines: Vec<Line<'_>> = KEYS
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<16}"), t.key()),
                Span::styled(*what, t.text()),
            ])
        })
        .collect();
    let th = &app.thresholds;
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled(" thresholds      ", t.label()),
        Span::raw(format!(
            "{:.0} °C, {:.0} % memory, {:.0} % of power limit",
            th.temperature_c, th.memory_pct, th.power_pct
        )),
    ]));
    lines.push(Line::from(vec![
        Span::styled(" marks           ", t.label()),
        Span::raw("! near a threshold, !! past it; ▶ selected"),
    ]));
    let h = (lines.len() as u16 + 2).min(area.height);
    let w = 72.min(area.width);
    let [row] = Layout::vertical([Constraint::Length(h)])
        .flex(Flex::Center)
        .areas(area);
    let [popup] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(row);
    Clear.render(popup, buf);
    Paragraph::new(lines)
        .wrap(Wrap { trim: false })
        .block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.border_focused())
                .title(Line::styled(" Keys — ? or Esc closes ", t.title())),
        )
        .render(popup, buf);
}
