//! History charts of the selected GPU: utilization, memory, temperature and power as filled
//! area charts ([`AreaChart`]), newest on the right, with the scale's top, middle and bottom
//! on the left and the time axis (`-47s` … `now`) on the bottom edge. A gap (missing value,
//! lost GPU, failed sample) is an empty column; the temperature, memory and power charts
//! carry their threshold as a dotted line.

use super::super::app::App;
use super::super::theme::Level;
use super::area_chart::AreaChart;
use super::text::Boxed;
use crate::gpu::GpuSample;
use crate::history::{Metric, Series};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

/// The charts side by side (the overview's strip): all four when wide, else utilization and
/// temperature.
pub(super) fn render_strip(app: &App, area: Rect, buf: &mut Buffer) {
    let metrics = strip_metrics(area);
    let areas = Layout::horizontal(vec![Constraint::Fill(1); metrics.len()]).split(area);
    for (metric, a) in metrics.iter().zip(areas.iter()) {
        render_chart(app, *metric, *a, buf);
    }
}

/// The metrics a strip of charts this wide shows.
pub(super) fn strip_metrics(area: Rect) -> &'static [Metric] {
    if area.width >= 100 {
        &Metric::ALL
    } else {
        &[Metric::Utilization, Metric::Temperature]
    }
}

/// The four charts in a 2×2 grid (the detail view).
pub(super) fn render_grid(app: &App, area: Rect, buf: &mut Buffer) {
    let [top, bottom] = Layout::vertical([Constraint::Fill(1); 2]).areas(area);
    let [a, b] = Layout::horizontal([Constraint::Fill(1); 2]).areas(top);
    let [c, d] = Layout::horizontal([Constraint::Fill(1); 2]).areas(bottom);
    for (metric, r) in Metric::ALL.into_iter().zip([a, b, c, d]) {
        render_chart(app, metric, r, buf);
    }
}

fn render_chart(app: &App, metric: Metric, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let Some(gpu) = app.selected_gpu() else {
        return;
    };
    let series = app.history().gpu(&gpu.uuid).map(|h| h.series(metric));
    let color = t.chart(metric as usize);
    // The current value turns to the warning colors when it nears its threshold.
    let level = match (metric, metric.of(gpu)) {
        (Metric::Temperature, Some(c)) => app.thresholds.temperature(c),
        (Metric::MemoryUsed, Some(p)) => app.thresholds.memory(p),
        _ => Level::Normal,
    };
    let now_style = if level == Level::Normal {
        color
    } else {
        t.level(level)
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} ", name(metric)), t.title()),
        Span::styled(now_text(metric, gpu), now_style),
        Span::raw(" "),
    ]);
    let mut frame = Boxed::new(title, t.border());
    let inner = Boxed::inner(area);
    if inner.height < 2 || inner.width < 8 {
        frame.render(area, buf);
        return;
    }
    let Some(series) = series.filter(|s| !s.is_empty()) else {
        frame.render(area, buf);
        Paragraph::new(Line::styled("no history yet", t.dim())).render(inner, buf);
        return;
    };

    let (lo, hi) = bounds(metric, gpu, series);
    let label_w = AreaChart::label_width(lo, hi);
    // Two samples per cell column: the window is twice as long as the plot is wide.
    let window = AreaChart::window(inner, label_w);
    frame.bottom_left = Some(Line::styled(
        format!(" -{} ", span_text(window, app.chart_interval_ms())),
        t.dim(),
    ));
    frame.bottom_right = Some(Line::styled(" now ", t.dim()).right_aligned());
    frame.render(area, buf);
    AreaChart {
        series,
        lo,
        hi,
        limit: limit(app, metric, gpu),
        fill: color,
        limit_style: t.limit_line(),
        label_style: t.dim(),
    }
    .render(inner, label_w, buf);
}

pub(super) fn name(metric: Metric) -> &'static str {
    match metric {
        Metric::Utilization => "Util",
        Metric::MemoryUsed => "Memory",
        Metric::Temperature => "Temp",
        Metric::Power => "Power",
    }
}

/// The current value in the chart's title.
fn now_text(metric: Metric, gpu: &GpuSample) -> String {
    match (metric, metric.of(gpu)) {
        (Metric::Utilization, Some(v)) => format!("{v:.0}%"),
        (Metric::MemoryUsed, Some(v)) => format!("{v:.0}%"),
        (Metric::Temperature, Some(v)) => format!("{v:.0}°C"),
        (Metric::Power, Some(v)) => format!("{v:.0} W"),
        (_, None) => {
            let why = match metric {
                Metric::Utilization => gpu.utilization_gpu_pct.why(),
                Metric::MemoryUsed => gpu.memory_used_bytes.why(),
                Metric::Temperature => gpu.temperature_c.why(),
                Metric::Power => gpu.power_w.why(),
            };
            why.map_or("-", |w| w.short()).to_string()
        }
    }
}

/// Fixed, honest ranges: percentages 0–100, temperature 20–100 °C (wider if needed), power
/// from 0 to the limit.
pub(super) fn bounds(metric: Metric, gpu: &GpuSample, series: &Series) -> (f64, f64) {
    match metric {
        Metric::Utilization | Metric::MemoryUsed => (0.0, 100.0),
        Metric::Temperature => {
            let lo = series.min().map_or(20.0, |m| (m - 5.0).min(20.0)).max(0.0);
            let hi = series.max().map_or(100.0, |m| (m + 5.0).max(100.0));
            ((lo / 10.0).floor() * 10.0, (hi / 10.0).ceil() * 10.0)
        }
        Metric::Power => {
            let limit = gpu.power_limit_w.get().unwrap_or(0.0);
            let hi = series.max().unwrap_or(0.0).max(limit).max(50.0);
            (0.0, (hi / 50.0).ceil() * 50.0)
        }
    }
}

/// The threshold drawn on a chart, if it has one.
pub(super) fn limit(app: &App, metric: Metric, gpu: &GpuSample) -> Option<f64> {
    match metric {
        Metric::Utilization => None,
        Metric::MemoryUsed => Some(app.thresholds.memory_pct),
        Metric::Temperature => Some(app.thresholds.temperature_c),
        Metric::Power => gpu.power_limit_w.get(),
    }
}

/// How much time a window of `samples` covers: `2m`, `45s`.
pub(super) fn span_text(samples: usize, interval_ms: u64) -> String {
    let secs = (samples as f64 * interval_ms as f64 / 1000.0).round() as u64;
    if secs >= 120 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}
