//! The process table: GPU, PID, user, systemd unit, GPU memory and command, for every GPU or
//! only the selected one, sorted by the column `s` picks (marked ▼/▲ in the header).

use super::super::app::{App, Focus, SortKey};
use super::bar::fit;
use crate::units::gib;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Paragraph, Row, StatefulWidget, Table, TableState, Widget,
};

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let focused = app.focus == Focus::Processes;
    let rows = app.processes();
    let scope = match (app.all_processes_shown(), app.selected_gpu()) {
        (false, Some(g)) => format!("GPU {}", g.index),
        _ => "all GPUs".to_string(),
    };
    let title = Line::from(vec![
        Span::styled(" Processes ", t.title()),
        Span::styled(format!("· {scope} · {} ", rows.len()), t.dim()),
    ]);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            t.border_focused()
        } else {
            t.border()
        })
        .title(title);

    if rows.is_empty() {
        let why = match (app.all_processes_shown(), app.selected_gpu()) {
            (false, Some(g)) => match g.processes.why() {
                Some(m) => format!("processes of GPU {}: {m}", g.index),
                None => format!("no processes on GPU {}", g.index),
            },
            _ => "no GPU processes".to_string(),
        };
        Paragraph::new(Line::styled(why, t.dim()))
            .block(block)
            .render(area, buf);
        return;
    }

    let narrow = area.width < 90;
    let head = |key: SortKey, text: &str| {
        let arrow = match (app.sort == key, app.sort_descending) {
            (true, true) => "▼",
            (true, false) => "▲",
            (false, _) => "",
        };
        Cell::from(format!("{text}{arrow}"))
    };
    let mut header = vec![
        head(SortKey::Gpu, "GPU"),
        head(SortKey::Pid, "PID"),
        head(SortKey::User, "USER"),
        head(SortKey::Unit, "UNIT"),
        head(SortKey::Memory, "GPU MEM"),
        head(SortKey::Command, "COMMAND"),
    ];
    let mut widths = vec![
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(if narrow { 15 } else { 20 }),
        Constraint::Length(9),
        Constraint::Fill(1),
    ];
    if area.width < 60 {
        // Unit and user give way to the command on very narrow terminals.
        header.drain(2..4);
        widths.drain(2..4);
    }
    let unit_w = if narrow { 15 } else { 20 };
    let body = rows.iter().map(|r| {
        let p = r.process;
        let mem = p.used_memory_bytes.map_or("n/a".to_string(), gib);
        let mut cells = vec![
            Cell::from(format!("{:>3}", r.gpu)),
            Cell::from(format!("{:>7}", p.pid)),
            Cell::from(fit(p.user.as_deref().unwrap_or("?"), 8)),
            Cell::from(Span::styled(
                fit(p.unit.as_deref().unwrap_or("—"), unit_w),
                t.label(),
            )),
            Cell::from(format!("{mem:>9}")),
            Cell::from(if r.lost {
                Span::styled(
                    format!(
                        "(GPU lost; last seen) {}",
                        p.command.as_deref().unwrap_or("?")
                    ),
                    t.alarm(),
                )
            } else {
                Span::raw(p.command.clone().unwrap_or_else(|| "?".to_string()))
            }),
        ];
        if area.width < 60 {
            cells.drain(2..4);
        }
        Row::new(cells)
    });
    let table = Table::new(body, widths)
        .header(Row::new(header).style(t.header_row()))
        .block(block)
        .column_spacing(1)
        .row_highlight_style(if focused { t.selected() } else { t.text() });
    let mut state = TableState::default().with_selected(focused.then_some(app.process_row));
    StatefulWidget::render(table, area, buf, &mut state);
}
