//! The GPU table: one compact row per GPU — utilization and memory bars, temperature and
//! power colored by thresholds, SM clock, active throttle reasons (after the GPU's recent
//! XID, when the watchdog logged one, and `REPLACE` / `RESET` / `ECC` for memory that needs a
//! person) — and lost GPUs in alarm.
//!
//! A GPU in MIG mode has a line under it per MIG device (profile, utilization where the
//! driver gives it, memory used of the instance's own total, `MIG-…` UUID).
//!
//! Columns are laid out by hand so the two bars take whatever width is left; on a narrow
//! terminal the name and the power limit drop first. When the rows run out, the table scrolls
//! (its position on the bottom border) or, where the width allows, becomes the compact grid
//! of `gpu_grid`.

use super::super::app::{App, Focus};
use super::super::theme::{Level, Theme};
use super::bar::{self, fit, gib_short};
use super::gpu_grid;
use super::text::{self, Boxed};
use crate::gpu::{Field, GpuSample, MigDevice, ThrottleReasons};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

/// Column widths for one terminal width.
struct Columns {
    name: u16,
    util: u16,
    mem: u16,
    temp: u16,
    power: u16,
    clock: u16,
    reasons: u16,
    wide_power: bool,
}

impl Columns {
    fn for_width(w: u16) -> Columns {
        let wide = w >= 110;
        let name = if wide { 15 } else { 0 };
        let (power, wide_power) = if w >= 96 { (10, true) } else { (5, false) };
        let reasons = if wide {
            22
        } else if w >= 70 {
            12
        } else {
            0
        };
        let clock = if w >= 60 { 8 } else { 0 };
        let temp = 6;
        // Selection mark and index take 4; each present column is preceded by one space.
        let fixed = 4
            + [name, temp, power, clock, reasons]
                .iter()
                .filter(|c| **c > 0)
                .map(|c| c + 1)
                .sum::<u16>()
            + 2;
        let bars = w.saturating_sub(fixed);
        let util = bars * 2 / 5;
        Columns {
            name,
            util,
            mem: bars - util,
            temp,
            power,
            clock,
            reasons,
            wide_power,
        }
    }
}

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let focused = app.focus == Focus::Gpus && !app.detail;
    let title = Line::from(vec![
        Span::styled(" GPUs ", t.title()),
        Span::styled(format!("· {} ", app.gpus().len()), t.dim()),
    ]);
    let border = if focused {
        t.border_focused()
    } else {
        t.border()
    };
    let inner = Boxed::inner(area);
    Boxed::new(title, border).render(area, buf);
    if inner.height == 0 || inner.width < 10 {
        return;
    }
    let gpus = app.gpus();
    let selected = app.selected_gpu().map(|g| g.uuid.as_str());
    let sel_pos = gpus
        .iter()
        .position(|g| Some(g.uuid.as_str()) == selected)
        .unwrap_or(0);
    let table_rows = inner.height.saturating_sub(1) as usize;
    let grid_cols = gpu_grid::columns(inner.width) as usize;
    if gpus.len() > table_rows && grid_cols >= 2 {
        // Rows ran out: one cell per GPU, several per line.
        let lines = inner.height as usize;
        let sel_line = sel_pos / grid_cols;
        let first = sel_line.saturating_sub(lines.saturating_sub(1));
        gpu_grid::render(app, inner, first, buf);
        scroll_note(
            app,
            area,
            first * grid_cols,
            lines * grid_cols,
            "compact",
            buf,
        );
        return;
    }
    let cols = Columns::for_width(inner.width);
    header_row(t, &cols, Rect { height: 1, ..inner }, buf);

    let rows = table_rows;
    // One line per GPU, and under a GPU in MIG mode one per MIG device.
    let lines: Vec<(usize, Option<usize>)> = gpus
        .iter()
        .enumerate()
        .flat_map(|(i, g)| {
            let migs = g.mig.value().map_or(0, Vec::len);
            std::iter::once((i, None)).chain((0..migs).map(move |m| (i, Some(m))))
        })
        .collect();
    let sel_line = lines
        .iter()
        .position(|&(i, m)| i == sel_pos && m.is_none())
        .unwrap_or(0);
    // Scroll so the selected GPU stays visible when the table is taller than its panel.
    let first = sel_line.saturating_sub(rows.saturating_sub(1));
    if lines.len() > rows {
        scroll_note(app, area, first, rows, "", buf);
    }
    for (n, &(i, mig)) in lines.iter().enumerate().skip(first).take(rows) {
        let y = inner.y + 1 + (n - first) as u16;
        let row = Rect::new(inner.x, y, inner.width, 1);
        let gpu = &gpus[i];
        match mig.and_then(|m| gpu.mig.value().and_then(|d| d.get(m))) {
            Some(device) => mig_row(app, &cols, device, row, buf),
            None => {
                let is_sel = Some(gpu.uuid.as_str()) == selected;
                if is_sel {
                    buf.set_style(row, t.selected());
                }
                gpu_row(app, &cols, gpu, is_sel, row, buf);
            }
        }
    }
}

/// The number of lines the table needs: one per GPU and one per MIG device.
pub(super) fn table_lines(app: &App) -> usize {
    app.gpus()
        .iter()
        .map(|g| 1 + g.mig.value().map_or(0, Vec::len))
        .sum()
}

/// A MIG device under its GPU: profile, utilization where the driver gives it, memory, and
/// its `MIG-…` UUID in the throttle column.
fn mig_row(app: &App, c: &Columns, mig: &MigDevice, row: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let profile = mig.profile.value().map_or("MIG", String::as_str);
    let mut x = row.x + 4;
    let mut next = |w: u16| {
        let r = Rect::new(x, row.y, w, 1);
        x += if w > 0 { w + 1 } else { 0 };
        r
    };
    let name = next(c.name);
    let util = next(c.util);
    let mem = next(c.mem);
    let _ = (next(c.temp), next(c.power), next(c.clock));
    let reasons = next(c.reasons);
    let lead = if c.name > 0 {
        name
    } else {
        Rect::new(row.x, row.y, 4, 1)
    };
    text::set_stringn(
        buf,
        lead.x,
        lead.y,
        format!("└ {profile}"),
        lead.width.max(4) as usize,
        t.dim(),
    );
    let u = mig.utilization_gpu_pct.get().map(f64::from);
    let label = missing_or(&mig.utilization_gpu_pct, |v| format!("{v:>3}%"));
    bar::render(buf, util, u, &label, t.util_bar(), t.bar_empty());
    let (used, total) = (mig.memory_used_bytes.get(), mig.memory_total_bytes.get());
    let pct = match (used, total) {
        (Some(u), Some(tot)) if tot > 0 => Some(u as f64 / tot as f64 * 100.0),
        _ => None,
    };
    let level = pct.map_or(Level::Normal, |p| app.thresholds.memory(p));
    let label = match (used, total) {
        (Some(u), Some(tot)) => format!("{:>4}/{}{}", gib_short(u), gib_short(tot), t.mark(level)),
        _ => missing_or(&mig.memory_used_bytes, |_| String::new()),
    };
    bar::render(buf, mem, pct, &label, t.level(level), t.bar_empty());
    if reasons.width > 0 {
        text::set_stringn(
            buf,
            reasons.x,
            reasons.y,
            fit(&mig.uuid, reasons.width as usize),
            reasons.width as usize,
            t.dim(),
        );
    }
}

fn header_row(t: &Theme, c: &Columns, area: Rect, buf: &mut Buffer) {
    let mut x = area.x;
    let mut put = |text: &str, w: u16, right: bool| {
        if w == 0 {
            return;
        }
        let s = if right {
            format!("{text:>w$}", w = w as usize)
        } else {
            format!("{text:<w$}", w = w as usize)
        };
        text::set_stringn(
            buf,
            x,
            area.y,
            fit(&s, w as usize),
            w as usize,
            t.header_row(),
        );
        x += w + 1;
    };
    put("  #", 3, false);
    put("NAME", c.name, false);
    put("UTIL", c.util, false);
    put("MEMORY GiB", c.mem, false);
    put("TEMP", c.temp, true);
    put(
        if c.wide_power { "POWER W" } else { "PWR W" },
        c.power,
        true,
    );
    put("SM CLK", c.clock, true);
    put("THROTTLE", c.reasons, false);
}

fn gpu_row(app: &App, c: &Columns, gpu: &GpuSample, selected: bool, row: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let mark = if selected { "▶" } else { " " };
    text::set_stringn(
        buf,
        row.x,
        row.y,
        format!("{mark}{:>2}", gpu.index),
        usize::MAX,
        t.title(),
    );
    let mut x = row.x + 4;
    let xid = app
        .watchdog
        .as_ref()
        .and_then(|w| w.xid_on.get(&gpu.index).copied());
    if gpu.is_lost() {
        let why = xid.map_or(String::new(), |code| format!("XID {code} · "));
        let text = format!(
            " LOST  {}  {why}stopped answering (fallen off the bus?) ",
            fit(&gpu.uuid, 20)
        );
        let w = row.width.saturating_sub(5);
        text::set_stringn(buf, x, row.y, fit(&text, w as usize), w as usize, t.alarm());
        return;
    }
    let mut next = |w: u16| {
        let r = Rect::new(x, row.y, w, 1);
        x += if w > 0 { w + 1 } else { 0 };
        r
    };
    let name = next(c.name);
    let util = next(c.util);
    let mem = next(c.mem);
    let temp = next(c.temp);
    let power = next(c.power);
    let clock = next(c.clock);
    let reasons = next(c.reasons);

    if c.name > 0 {
        let short = gpu.display_name().trim_start_matches("NVIDIA ");
        text::set_stringn(
            buf,
            name.x,
            name.y,
            fit(short, c.name as usize),
            c.name as usize,
            t.text(),
        );
    }
    let u = gpu.utilization_gpu_pct.get().map(f64::from);
    let label = missing_or(&gpu.utilization_gpu_pct, |v| format!("{v:>3}%"));
    bar::render(buf, util, u, &label, t.util_bar(), t.bar_empty());

    let mem_pct = gpu.memory_used_pct();
    let level = mem_pct.map_or(Level::Normal, |p| app.thresholds.memory(p));
    let label = match (gpu.memory_used_bytes.get(), gpu.memory_total_bytes.get()) {
        (Some(u), Some(tot)) => {
            format!("{:>4}/{}{}", gib_short(u), gib_short(tot), t.mark(level))
        }
        _ => missing_or(&gpu.memory_used_bytes, |_| String::new()),
    };
    bar::render(buf, mem, mem_pct, &label, t.level(level), t.bar_empty());

    let (text, style) = match gpu.temperature_c.get() {
        Some(c) => {
            let l = app.thresholds.temperature(c);
            (format!("{}{c:.0}°C", t.mark(l)), t.level(l))
        }
        None => (missing_or(&gpu.temperature_c, |_| String::new()), t.dim()),
    };
    right(buf, temp, &text, style);

    let (text, style) = match (gpu.power_w.get(), gpu.power_pct_of_limit()) {
        (Some(w), pct) => {
            let l = pct.map_or(Level::Normal, |p| app.thresholds.power(p));
            let text = match gpu.power_limit_w.get() {
                Some(limit) if c.wide_power => format!("{}{w:.0}/{limit:.0}", t.mark(l)),
                _ => format!("{}{w:.0}", t.mark(l)),
            };
            (text, t.level(l))
        }
        (None, _) => (missing_or(&gpu.power_w, |_| String::new()), t.dim()),
    };
    right(buf, power, &text, style);

    if c.clock > 0 {
        let text = missing_or(&gpu.clock_sm_mhz, |m| format!("{m}MHz"));
        right(buf, clock, &text, t.text());
    }
    if c.reasons > 0 {
        let mark = match (xid.map(|code| format!("XID {code}")), memory_mark(gpu)) {
            (Some(x), Some(m)) => Some(format!("{x} {m}")),
            (x, m) => x.or(m.map(str::to_string)),
        };
        let used = mark.as_ref().map_or(0, |m| m.len() + 1);
        let width = (c.reasons as usize).saturating_sub(used);
        let mut line = throttle_spans(t, &gpu.throttle, width);
        if let Some(m) = mark {
            line.spans.insert(0, Span::raw(" "));
            line.spans.insert(0, Span::styled(m, t.alarm()));
        }
        line.render(reasons, buf);
    }
}

/// `GPUs 12–34 of 64` (and the mode) on the panel's bottom border, when not all fit.
fn scroll_note(app: &App, area: Rect, first: usize, shown: usize, mode: &str, buf: &mut Buffer) {
    let n = app.gpus().len();
    let last = (first + shown).min(n);
    let up = if first > 0 { "▲ " } else { "" };
    let down = if last < n { " ▼" } else { "" };
    let mode = if mode.is_empty() {
        String::new()
    } else {
        format!("{mode} · ")
    };
    let text = format!(" {mode}{up}GPUs {}–{last} of {n}{down} ", first + 1);
    let w = text.chars().count() as u16;
    if area.width > w + 2 && area.height > 0 {
        let x = area.x + area.width - w - 2;
        text::set_stringn(
            buf,
            x,
            area.y + area.height - 1,
            text,
            usize::MAX,
            app.theme.dim(),
        );
    }
}

/// The GPU's memory in words a person acts on: `REPLACE` (a row remap failed: no spare rows
/// left), `RESET` (a row remap or page retirement waits for a GPU reset), `ECC` (uncorrected
/// errors since the driver loaded) — the same findings as `gpuwarden check`'s `memory`/`ecc`.
fn memory_mark(gpu: &GpuSample) -> Option<&'static str> {
    let remap = gpu.row_remap.value();
    if remap.is_some_and(|r| r.failure) {
        Some("REPLACE")
    } else if remap.is_some_and(|r| r.pending) || gpu.retired_pages_pending.get() == Some(true) {
        Some("RESET")
    } else if gpu.ecc_uncorrected.get().is_some_and(|n| n > 0) {
        Some("ECC")
    } else {
        None
    }
}

/// Active throttle reasons, slowdowns first and highlighted, cut to `width` with `+N`.
pub(super) fn throttle_spans(
    t: &Theme,
    field: &Field<ThrottleReasons>,
    width: usize,
) -> Line<'static> {
    let reasons = match field {
        Field::Value(r) => *r,
        Field::Missing { missing } => return Line::styled(missing.short(), t.dim()),
    };
    let mut list: Vec<_> = reasons.notable().collect();
    if list.is_empty() {
        let idle = reasons.iter().next().is_some();
        return Line::styled(if idle { "idle" } else { "—" }, t.dim());
    }
    list.sort_by_key(|r| !r.is_slowdown());
    let mut spans: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for (i, r) in list.iter().enumerate() {
        let left = list.len() - i;
        let name = r.name();
        let sep = usize::from(i > 0);
        let more = if left > 1 {
            format!(" +{}", left - 1).len()
        } else {
            0
        };
        if used + sep + name.len() + more > width {
            spans.push(Span::styled(format!(" +{left}"), t.throttle()));
            break;
        }
        if i > 0 {
            spans.push(Span::raw(" "));
        }
        let style = if r.is_slowdown() {
            t.slowdown()
        } else {
            t.throttle()
        };
        spans.push(Span::styled(name, style));
        used += sep + name.len();
    }
    Line::from(spans)
}

fn right(buf: &mut Buffer, area: Rect, text: &str, style: Style) {
    if area.width == 0 {
        return;
    }
    let w = area.width as usize;
    text::set_stringn(buf, area.x, area.y, format!("{text:>w$}"), w, style);
}

fn missing_or<T>(field: &Field<T>, f: impl FnOnce(&T) -> String) -> String {
    crate::units::or_missing(field, f)
}
