//! Drawing: `impl Widget for &App` lays out the screen and hands each area to a panel.
//!
//! The layout degrades with the terminal: at 120×40 the overview has the GPU table, a strip of
//! four history charts for the selected GPU and the process table; at 80×24 the strip keeps
//! utilization and temperature; on shorter terminals the charts go first (they stay in the
//! detail view), then the processes, and a terminal too small for anything gets a one-line
//! note instead of a panic.

mod area_chart;
mod bar;
mod charts;
mod detail;
mod gpu_grid;
mod gpus;
mod header;
mod help;
mod hosts;
mod overlay;
mod processes;
mod text;
mod watchdog;

use super::app::App;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// Smallest area worth drawing panels into.
const MIN_WIDTH: u16 = 30;
const MIN_HEIGHT: u16 = 6;

/// Splits a screen into header, body and footer lines — or, below the smallest usable size,
/// says so in the space there is and returns `None`.
pub(super) fn frame(area: Rect, buf: &mut Buffer) -> Option<[Rect; 3]> {
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let note = format!("gpuwarden: {}×{} is too small", area.width, area.height);
        Paragraph::new(note)
            .wrap(Wrap { trim: true })
            .render(area, buf);
        return None;
    }
    Some(
        Layout::vertical([
            Constraint::Length(1),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(area),
    )
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let Some([top, body, bottom]) = frame(area, buf) else {
            return;
        };
        header::render_header(self, top, buf);
        header::render_footer(self, bottom, buf);

        let problem = self.source_error.clone().or_else(|| {
            self.driver_stalled.map(|d| {
                format!(
                    "the GPU driver has not answered for {}s; the values shown are from \
                     before it stopped",
                    d.as_secs()
                )
            })
        });
        let body = match &problem {
            Some(error) => {
                let [line, rest] =
                    Layout::vertical([Constraint::Length(1), Constraint::Fill(1)]).areas(body);
                header::render_error(self, error, line, buf);
                rest
            }
            None => body,
        };
        if self.snapshot().is_none() {
            let text = if self.source_error.is_some() {
                "no sample yet; retrying every interval"
            } else {
                "waiting for the first sample…"
            };
            Paragraph::new(Line::styled(text, self.theme.dim())).render(body, buf);
        } else if self.detail {
            detail::render(self, body, buf);
        } else {
            overview(self, body, buf);
        }
        if self.help {
            help::render(self, area, buf);
        }
    }
}

/// GPU table, then (when there is room) charts of the selected GPU, then processes.
fn overview(app: &App, area: Rect, buf: &mut Buffer) {
    let gpu_rows = gpus::table_lines(app) as u16;
    // Many GPUs must not push the selected GPU's charts and processes off the screen: the
    // table gets what is left after them (at least half), and scrolls or turns compact.
    let budget = area.height.saturating_sub(12).max(area.height / 2);
    let mut gpus_h = (gpu_rows + 3).min(budget).min(area.height);
    let grid_cols = gpu_grid::columns(area.width.saturating_sub(2));
    if gpu_rows + 3 > budget && grid_cols >= 2 {
        // The compact grid needs fewer lines than the table would.
        gpus_h = ((app.gpus().len() as u16).div_ceil(grid_cols) + 2).min(budget);
    }
    let rest = area.height - gpus_h;
    // Processes keep room for their rows (at least 5 lines, at most half), and for the
    // watchdog panel below them on a narrow terminal; charts take every line left, so a tall
    // terminal grows the charts rather than an empty process box.
    let watchdog_below = app.watchdog.is_some() && area.width < 110;
    // The watchdog panel, beside or below the processes, shows its state, rules and the
    // newest events: it keeps at least 14 lines when there is room.
    let least = if app.watchdog.is_some() { 14 } else { 8 };
    let procs_h = (app.processes().len() as u16 + 3 + if watchdog_below { 6 } else { 0 })
        .max(least)
        .min(rest / 2)
        .max(5);
    let charts_h = match rest.saturating_sub(procs_h) {
        h if h >= 7 && area.width >= 60 => h,
        _ => 0,
    };
    let [gpus_area, charts_area, lower] = Layout::vertical([
        Constraint::Length(gpus_h),
        Constraint::Length(charts_h),
        Constraint::Fill(1),
    ])
    .areas(area);
    gpus::render(app, gpus_area, buf);
    if charts_h > 0 && app.overlay {
        overlay::render_strip(app, charts_area, buf);
    } else if charts_h > 0 {
        charts::render_strip(app, charts_area, buf);
    }
    if lower.height >= 3 {
        processes_and_watchdog(app, lower, buf);
    }
}

/// The process table, sharing its row with the watchdog panel when a watchdog is attached.
fn processes_and_watchdog(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(dog) = &app.watchdog else {
        processes::render(app, area, buf);
        return;
    };
    if area.width >= 110 {
        let [p, w] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Fill(1)]).areas(area);
        processes::render(app, p, buf);
        watchdog::render(app, dog, w, buf);
    } else if area.height >= 12 {
        let [p, w] = Layout::vertical([Constraint::Fill(1), Constraint::Length(6)]).areas(area);
        processes::render(app, p, buf);
        watchdog::render(app, dog, w, buf);
    } else {
        processes::render(app, area, buf);
    }
}
