//! The process table: GPU, PID, user, owner (unit, container, pod or Slurm job), SM %, GPU
//! memory, host CPU %, RSS, run time and command, for every GPU or only the selected one,
//! sorted by the column `s` picks (marked ▼/▲ in the header). Narrower terminals drop the
//! host columns first, then user and owner.

use super::super::app::{App, Focus, SortKey, owner_label};
use super::bar::fit;
use crate::units::{bytes_short, duration_short, gib};
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
        Span::styled(
            app.process_filter
                .as_ref()
                .map(|f| format!("· /{f} "))
                .unwrap_or_default(),
            t.key(),
        ),
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

    // Host columns (CPU %, RSS, run time) need a wide terminal; user and owner a normal one.
    let host = area.width >= 110;
    let named = area.width >= 60;
    // Pod names are long (`pod ml-team/trainer-0`): a wide terminal gives them room.
    let owner_w: u16 = match area.width {
        ..90 => 15,
        90..120 => 20,
        _ => 26,
    };
    let head = |key: Option<SortKey>, text: &str| {
        let arrow = match (key == Some(app.sort), app.sort_descending) {
            (true, true) => "▼",
            (true, false) => "▲",
            (false, _) => "",
        };
        Cell::from(format!("{text}{arrow}"))
    };
    let mut header = vec![
        head(Some(SortKey::Gpu), "GPU"),
        head(Some(SortKey::Pid), "PID"),
    ];
    let mut widths = vec![Constraint::Length(4), Constraint::Length(8)];
    if named {
        header.push(head(Some(SortKey::User), "USER"));
        header.push(head(Some(SortKey::Owner), "OWNER"));
        widths.extend([Constraint::Length(8), Constraint::Length(owner_w)]);
    }
    header.push(head(Some(SortKey::Sm), "SM%"));
    header.push(head(Some(SortKey::Memory), "GPU MEM"));
    widths.extend([Constraint::Length(4), Constraint::Length(9)]);
    if host {
        header.push(head(Some(SortKey::Cpu), "CPU%"));
        header.push(head(None, "RSS"));
        header.push(head(None, "TIME"));
        widths.extend([
            Constraint::Length(5),
            Constraint::Length(5),
            Constraint::Length(6),
        ]);
    }
    header.push(head(Some(SortKey::Command), "COMMAND"));
    widths.push(Constraint::Fill(1));
    let body = rows.iter().map(|r| {
        let p = r.process;
        let mem = p.used_memory_bytes.map_or("n/a".to_string(), gib);
        let sm = p
            .utilization_sm_pct
            .map_or("-".to_string(), |v| v.to_string());
        let mut cells = vec![
            Cell::from(format!("{:>3}", r.gpu)),
            Cell::from(format!("{:>7}", p.pid)),
        ];
        if named {
            let owner = owner_label(p);
            cells.push(Cell::from(fit(p.user.as_deref().unwrap_or("?"), 8)));
            cells.push(Cell::from(Span::styled(
                fit(if owner.is_empty() { "—" } else { &owner }, owner_w.into()),
                t.label(),
            )));
        }
        cells.push(Cell::from(format!("{sm:>3}")));
        cells.push(Cell::from(format!("{mem:>9}")));
        if host {
            let cpu = p.cpu_pct.map_or("-".to_string(), |c| format!("{c:.0}"));
            let rss = p.rss_bytes.map_or("-".to_string(), bytes_short);
            let time = p.run_time_s.map_or("-".to_string(), duration_short);
            cells.push(Cell::from(format!("{cpu:>4}")));
            cells.push(Cell::from(format!("{rss:>5}")));
            cells.push(Cell::from(format!("{time:>6}")));
        }
        cells.push(Cell::from(if r.lost {
            Span::styled(
                format!(
                    "(GPU lost; last seen) {}",
                    p.command.as_deref().unwrap_or("?")
                ),
                t.alarm(),
            )
        } else {
            Span::raw(p.command.clone().unwrap_or_else(|| "?".to_string()))
        }));
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
