//! The compact GPU grid: when one row per GPU no longer fits (64, 256 GPUs), each GPU becomes
//! a cell of [`CELL_W`] columns — index, utilization bar and percent, temperature, memory
//! used — laid out in as many columns as the width holds, scrolled so the selected GPU stays
//! on screen. Colors and `!` marks follow the same thresholds as the table; a lost GPU reads
//! `LOST`, one that needs a person (failed health, an XID) ends in `!`.

use super::super::app::App;
use super::super::theme::Level;
use super::bar;
use super::text;
use crate::check::HealthState;
use crate::gpu::GpuSample;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;

/// One cell: `▶ 12 ████▌  93% 70°C  78%!` and a space.
pub(super) const CELL_W: u16 = 28;

/// How many cells fit side by side in `width`.
pub(super) fn columns(width: u16) -> u16 {
    (width / CELL_W).max(1)
}

/// Draws the GPUs from row `first_row` on into `area` (rows of `columns(area.width)` cells).
pub(super) fn render(app: &App, area: Rect, first_row: usize, buf: &mut Buffer) {
    let cols = columns(area.width) as usize;
    let gpus = app.gpus();
    let selected = app.selected_gpu().map(|g| g.uuid.as_str());
    for (i, gpu) in gpus.iter().enumerate().skip(first_row * cols) {
        let (row, col) = (i / cols - first_row, i % cols);
        if row >= area.height as usize {
            break;
        }
        let x = area.x + col as u16 * CELL_W;
        let cell = Rect::new(x, area.y + row as u16, CELL_W - 1, 1);
        let is_sel = Some(gpu.uuid.as_str()) == selected;
        draw_cell(app, gpu, is_sel, cell, buf);
    }
}

fn draw_cell(app: &App, gpu: &GpuSample, selected: bool, cell: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    if selected {
        buf.set_style(cell, t.selected());
    }
    let mark = if selected { "▶" } else { " " };
    text::set_stringn(
        buf,
        cell.x,
        cell.y,
        format!("{mark}{:>3} ", gpu.index),
        usize::MAX,
        t.text(),
    );
    if gpu.is_lost() {
        text::set_stringn(buf, cell.x + 5, cell.y, "LOST", usize::MAX, t.alarm());
        return;
    }
    let util = gpu.utilization_gpu_pct.get();
    let label = util.map_or("  ?%".to_string(), |u| format!("{u:>3}%"));
    let bar_area = Rect::new(cell.x + 5, cell.y, 10, 1);
    bar::render(
        buf,
        bar_area,
        util.map(f64::from),
        &label,
        t.util_bar(),
        t.bar_empty(),
    );
    let (temp, level) = match gpu.temperature_c.get() {
        Some(c) => {
            let l = app.thresholds.temperature(c);
            (format!("{}{c:.0}°C", t.mark(l)), l)
        }
        None => ("  –".to_string(), Level::Normal),
    };
    text::set_stringn(
        buf,
        cell.x + 16,
        cell.y,
        format!("{temp:>5}"),
        usize::MAX,
        t.level(level),
    );
    let (mem, level) = match gpu.memory_used_pct() {
        Some(p) => {
            let l = app.thresholds.memory(p);
            (format!("{}{p:.0}%", t.mark(l)), l)
        }
        None => ("–".to_string(), Level::Normal),
    };
    text::set_stringn(
        buf,
        cell.x + 22,
        cell.y,
        format!("{mem:>4}"),
        usize::MAX,
        t.level(level),
    );
    let needs_a_person = app
        .watchdog
        .as_ref()
        .is_some_and(|w| w.xid_on.contains_key(&gpu.index))
        || app.health_state(&gpu.uuid) == Some(HealthState::Failed);
    if needs_a_person {
        text::set_stringn(buf, cell.x + 26, cell.y, "!", usize::MAX, t.alarm());
    }
}
