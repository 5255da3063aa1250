//! History charts of the selected GPU: utilization, memory, temperature and power, newest on
//! the right. Each run of samples is its own line, so a gap (missing value, lost GPU, failed
//! sample) shows as a break; the temperature, memory and power charts carry their threshold
//! as a dotted line.

use super::super::app::App;
use super::super::theme::Level;
use crate::gpu::GpuSample;
use crate::history::{Metric, Series};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph, Widget};

/// The charts side by side (the overview's strip): all four when wide, else utilization and
/// temperature.
pub(super) fn render_strip(app: &App, area: Rect, buf: &mut Buffer) {
    let metrics: &[Metric] = if area.width >= 100 {
        &Metric::ALL
    } else {
        &[Metric::Utilization, Metric::Temperature]
    };
    let areas = Layout::horizontal(vec![Constraint::Fill(1); metrics.len()]).split(area);
    for (metric, a) in metrics.iter().zip(areas.iter()) {
        render_chart(app, *metric, *a, buf);
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
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(title);
    let inner = block.inner(area);
    if inner.height < 2 || inner.width < 8 {
        block.render(area, buf);
        return;
    }
    let Some(series) = series.filter(|s| !s.is_empty()) else {
        Paragraph::new(Line::styled("no history yet", t.dim()))
            .block(block)
            .render(area, buf);
        return;
    };

    let (lo, hi) = bounds(metric, gpu, series);
    let y_labels = [lo, hi].map(|v| Span::styled(format!("{v:.0}"), t.dim()));
    let label_w = y_labels.iter().map(Span::width).max().unwrap_or(0) as u16 + 1;
    // One sample per braille dot column: the window is as long as the chart is wide.
    let window = (f64::from(inner.width.saturating_sub(label_w)) * 2.0 - 1.0).max(1.0);
    let block = block.title_bottom(
        Line::styled(format!(" {} ", span_text(window, app.interval_ms)), t.dim()).right_aligned(),
    );

    let limit = limit(app, metric, gpu);
    // A dotted line: one braille dot every two cells.
    let limit_line: Option<Vec<(f64, f64)>> = limit.map(|v| {
        (0..=(window as usize) / 4)
            .map(|i| (-(i as f64) * 4.0, v))
            .collect()
    });
    let runs = series.runs();
    let mut datasets: Vec<Dataset<'_>> = Vec::with_capacity(runs.len() + 1);
    if let Some(line) = &limit_line {
        datasets.push(
            Dataset::default()
                .marker(Marker::Braille)
                .graph_type(GraphType::Scatter)
                .style(t.limit_line())
                .data(line),
        );
    }
    for run in &runs {
        let first = run.partition_point(|(x, _)| *x < -window);
        let visible = &run[first..];
        if visible.len() == 1 {
            datasets.push(
                Dataset::default()
                    .marker(Marker::Braille)
                    .graph_type(GraphType::Scatter)
                    .style(color)
                    .data(visible),
            );
        } else if !visible.is_empty() {
            datasets.push(line_dataset(visible, color, Marker::Braille));
        }
    }
    Chart::new(datasets)
        .block(block)
        .x_axis(Axis::default().bounds([-window, 0.0]))
        .y_axis(
            Axis::default()
                .bounds([lo, hi])
                .labels(y_labels)
                .style(t.dim()),
        )
        .render(area, buf);
}

fn line_dataset<'a>(data: &'a [(f64, f64)], style: Style, marker: Marker) -> Dataset<'a> {
    Dataset::default()
        .marker(marker)
        .graph_type(GraphType::Line)
        .style(style)
        .data(data)
}

fn name(metric: Metric) -> &'static str {
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
fn bounds(metric: Metric, gpu: &GpuSample, series: &Series) -> (f64, f64) {
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
fn limit(app: &App, metric: Metric, gpu: &GpuSample) -> Option<f64> {
    match metric {
        Metric::Utilization => None,
        Metric::MemoryUsed => Some(app.thresholds.memory_pct),
        Metric::Temperature => Some(app.thresholds.temperature_c),
        Metric::Power => gpu.power_limit_w.get(),
    }
}

/// How much time a window of `samples` covers: `last 2m`, `last 45s`.
fn span_text(samples: f64, interval_ms: u64) -> String {
    let secs = (samples * interval_ms as f64 / 1000.0).round() as u64;
    if secs >= 120 {
        format!("last {}m", secs / 60)
    } else {
        format!("last {secs}s")
    }
}
