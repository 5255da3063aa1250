//! The process table: GPU, PID, user, owner (unit, container, pod or Slurm job), SM %, GPU
//! memory, host CPU %, RSS, run time and command, for every GPU or only the selected one,
//! sorted by the column `s` picks (marked ▼/▲ in the header). Narrower terminals drop the
//! host columns first, then user and owner.

use super::super::app::{App, Focus, SortKey, owner_label};
use super::bar::fit;
use super::text::{self, Boxed};
use crate::units::{bytes_short, duration_short, gib};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};
use std::fmt::Write;

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
    let frame = Boxed::new(
        title,
        if focused {
            t.border_focused()
        } else {
            t.border()
        },
    );

    if rows.is_empty() {
        let why = match (app.all_processes_shown(), app.selected_gpu()) {
            (false, Some(g)) => match g.processes.why() {
                Some(m) => format!("processes of GPU {}: {m}", g.index),
                None => format!("no processes on GPU {}", g.index),
            },
            _ => "no GPU processes".to_string(),
        };
        frame.render(area, buf);
        Paragraph::new(Line::styled(why, t.dim())).render(Boxed::inner(area), buf);
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
        format!("{text}{arrow}")
    };
    // (width, header) per column; the command takes what is left (width 0 here).
    let mut columns: Vec<(u16, String)> = Vec::with_capacity(10);
    columns.push((4, head(Some(SortKey::Gpu), "GPU")));
    columns.push((8, head(Some(SortKey::Pid), "PID")));
    if named {
        columns.push((8, head(Some(SortKey::User), "USER")));
        columns.push((owner_w, head(Some(SortKey::Owner), "OWNER")));
    }
    columns.push((4, head(Some(SortKey::Sm), "SM%")));
    columns.push((9, head(Some(SortKey::Memory), "GPU MEM")));
    if host {
        columns.push((5, head(Some(SortKey::Cpu), "CPU%")));
        columns.push((5, head(None, "RSS")));
        columns.push((6, head(None, "TIME")));
    }
    columns.push((0, head(Some(SortKey::Command), "COMMAND")));

    let inner = Boxed::inner(area);
    frame.render(area, buf);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    // Where each column starts, one space apart; the command runs to the right edge.
    let right = inner.x + inner.width;
    let mut starts: Vec<(u16, u16)> = Vec::with_capacity(columns.len());
    let mut x = inner.x;
    for (i, (w, _)) in columns.iter().enumerate() {
        let w = if i + 1 == columns.len() {
            right.saturating_sub(x)
        } else {
            (*w).min(right.saturating_sub(x))
        };
        starts.push((x, w));
        x = x.saturating_add(w + 1).min(right);
    }
    let line = |y: u16| Rect::new(inner.x, y, inner.width, 1);
    buf.set_style(line(inner.y), t.header_row());
    for ((x, w), (_, text)) in starts.iter().zip(&columns) {
        text::set_stringn(buf, *x, inner.y, text, usize::from(*w), Style::default());
    }

    // The body scrolls so the selected row stays in view.
    let body_rows = usize::from(inner.height - 1);
    let selected = focused.then_some(app.process_row);
    let offset = selected.map_or(0, |s| (s + 1).saturating_sub(body_rows));
    let mut cell = String::new();
    for (n, r) in rows.iter().enumerate().skip(offset).take(body_rows) {
        let y = inner.y + 1 + (n - offset) as u16;
        let p = r.process;
        let mut col = starts.iter();
        let mut put = |text: &str, style: Style| {
            if let Some((x, w)) = col.next() {
                text::set_stringn(buf, *x, y, text, usize::from(*w), style);
            }
        };
        let plain = Style::default();
        cell.clear();
        let _ = write!(cell, "{:>3}", r.gpu);
        put(&cell, plain);
        cell.clear();
        let _ = write!(cell, "{:>7}", p.pid);
        put(&cell, plain);
        if named {
            let owner = owner_label(p);
            put(&fit(p.user.as_deref().unwrap_or("?"), 8), plain);
            put(
                &fit(if owner.is_empty() { "—" } else { &owner }, owner_w.into()),
                t.label(),
            );
        }
        cell.clear();
        match p.utilization_sm_pct {
            Some(v) => write!(cell, "{v:>3}"),
            None => write!(cell, "{:>3}", "-"),
        }
        .ok();
        put(&cell, plain);
        let mem = p.used_memory_bytes.map_or("n/a".to_string(), gib);
        cell.clear();
        let _ = write!(cell, "{mem:>9}");
        put(&cell, plain);
        if host {
            cell.clear();
            match p.cpu_pct {
                Some(c) => write!(cell, "{:>4}", format!("{c:.0}")),
                None => write!(cell, "{:>4}", "-"),
            }
            .ok();
            put(&cell, plain);
            let rss = p.rss_bytes.map_or("-".to_string(), bytes_short);
            cell.clear();
            let _ = write!(cell, "{rss:>5}");
            put(&cell, plain);
            let time = p.run_time_s.map_or("-".to_string(), duration_short);
            cell.clear();
            let _ = write!(cell, "{time:>6}");
            put(&cell, plain);
        }
        let command = p.command.as_deref().unwrap_or("?");
        if r.lost {
            cell.clear();
            let _ = write!(cell, "(GPU lost; last seen) {command}");
            put(&cell, t.alarm());
        } else {
            put(command, plain);
        }
        if selected == Some(n) {
            buf.set_style(line(y), t.selected());
        }
    }
}
