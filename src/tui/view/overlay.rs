//! The overview's overlay charts (`o`): one chart per metric with every GPU's history drawn
//! on top of each other as braille lines ([`line`]), each GPU in its own color and named by
//! index in the title (`▶` marks the selected one, which is drawn last, on top). Past the
//! theme's [`GPU_LINES`] colors it shows the selected GPU and the busiest others (by
//! utilization now), and the bottom edge says how many of how many.

use super::super::app::App;
use super::super::theme::GPU_LINES;
use super::area_chart::{AreaChart, line};
use super::charts::{bounds, limit, name, span_text, strip_metrics};
use crate::gpu::GpuSample;
use crate::history::{Metric, Series};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};
use std::cmp::Reverse;

/// The overlay charts side by side, in place of the selected GPU's chart strip.
pub(super) fn render_strip(app: &App, area: Rect, buf: &mut Buffer) {
    let shown = shown_gpus(app);
    let metrics = strip_metrics(area);
    let areas = Layout::horizontal(vec![Constraint::Fill(1); metrics.len()]).split(area);
    for (metric, a) in metrics.iter().zip(areas.iter()) {
        render_chart(app, *metric, &shown, *a, buf);
    }
}

/// The GPUs drawn, in index order: all of them when the colors go round, else the selected
/// one and the busiest others.
fn shown_gpus(app: &App) -> Vec<&GpuSample> {
    let gpus = app.gpus();
    if gpus.len() <= GPU_LINES {
        return gpus.iter().collect();
    }
    let selected = app.selected_gpu();
    let mut shown: Vec<&GpuSample> = gpus
        .iter()
        .filter(|g| selected.is_none_or(|s| s.uuid != g.uuid))
        .collect();
    shown.sort_by_key(|g| Reverse(g.utilization_gpu_pct.get().unwrap_or(0)));
    shown.truncate(GPU_LINES - usize::from(selected.is_some()));
    shown.extend(selected);
    shown.sort_by_key(|g| g.index);
    shown
}

fn render_chart(app: &App, metric: Metric, shown: &[&GpuSample], area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let selected = app.selected_gpu().map(|g| g.uuid.as_str());
    let mut title = vec![Span::styled(format!(" {} ", name(metric)), t.title())];
    for (i, g) in shown.iter().enumerate() {
        let mark = if Some(g.uuid.as_str()) == selected {
            "▶"
        } else {
            ""
        };
        title.push(Span::styled(format!("{mark}{}", g.index), t.gpu_line(i)));
        title.push(Span::raw(" "));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Line::from(title));
    let inner = block.inner(area);
    if inner.height < 2 || inner.width < 8 {
        block.render(area, buf);
        return;
    }
    let series = |g: &GpuSample| -> Option<&Series> {
        let s = app.history().gpu(&g.uuid)?.series(metric);
        (!s.is_empty()).then_some(s)
    };
    // One scale for every line: the widest of the GPUs' own.
    let Some((lo, hi)) = shown
        .iter()
        .filter_map(|g| Some(bounds(metric, g, series(g)?)))
        .reduce(|(lo, hi), (l, h)| (lo.min(l), hi.max(h)))
    else {
        Paragraph::new(Line::styled("no history yet", t.dim()))
            .block(block)
            .render(area, buf);
        return;
    };
    let label_w = AreaChart::label_width(lo, hi);
    let window = AreaChart::window(inner, label_w);
    let mut block = block
        .title_bottom(Line::styled(
            format!(" -{} ", span_text(window, app.chart_interval_ms())),
            t.dim(),
        ))
        .title_bottom(Line::styled(" now ", t.dim()).right_aligned());
    let total = app.gpus().len();
    if shown.len() < total {
        block = block.title_bottom(
            Line::styled(format!(" {} of {total}: busiest ", shown.len()), t.dim()).centered(),
        );
    }
    block.render(area, buf);
    // A threshold line only when it is the same for every GPU drawn.
    let first = shown.first().and_then(|g| limit(app, metric, g));
    let shared = first.filter(|_| shown.iter().all(|g| limit(app, metric, g) == first));
    // The scale, the threshold and a cleared plot, then the lines over it.
    AreaChart {
        series: &Series::default(),
        lo,
        hi,
        limit: shared,
        fill: t.chart(0),
        limit_style: t.limit_line(),
        label_style: t.dim(),
    }
    .render(inner, label_w, buf);
    let plot = Rect {
        x: inner.x + label_w,
        width: inner.width - label_w,
        ..inner
    };
    let on_top = |g: &&GpuSample| Some(g.uuid.as_str()) == selected;
    let order = shown.iter().enumerate();
    for (i, g) in order
        .clone()
        .filter(|(_, g)| !on_top(g))
        .chain(order.filter(|(_, g)| on_top(g)))
    {
        if let Some(s) = series(g) {
            line(s, lo, hi, t.gpu_line(i), plot, buf);
        }
    }
}
