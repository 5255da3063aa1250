//! The top line (host, driver, source and interval, CPU and RAM, time, FROZEN; a replay shows
//! the trace's host and recorded period and no CPU or RAM), the bottom line (keys and sort
//! order) and the source-error line. Items drop from the right when the line is short.

use super::super::app::App;
use super::bar::gib_short;
use super::text;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

pub(super) fn render_header(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let snap = app.snapshot();
    let mut left: Vec<Span<'static>> = vec![Span::styled(" gpuwarden ", t.brand()), " ".into()];
    // (text, style, priority): when the line is short, the lowest priority goes first.
    let mut items: Vec<(String, Style, u8)> = Vec::new();
    if let Some(s) = snap {
        items.push((s.host.clone(), t.title(), 9));
        if let Some(d) = s.driver_version() {
            items.push((format!("driver {d}"), t.text(), 5));
        }
        let source = match &app.replay {
            // The trace's own period, not the pace the dashboard reads it at.
            Some(r) => match r.state().interval_ms {
                Some(ms) => format!("{} trace · {}", s.source, interval(ms)),
                None => format!("{} trace", s.source),
            },
            None => format!("{} · {}", s.source, interval(app.interval_ms)),
        };
        items.push((source, t.label(), 2));
        let n = s.gpus.len();
        items.push((
            format!("{n} GPU{}", if n == 1 { "" } else { "s" }),
            t.text(),
            1,
        ));
    }
    if let Some(h) = app.host_shown() {
        items.push((format!("CPU {:.0}% ×{}", h.cpu_pct, h.cpus), t.text(), 7));
        items.push((
            format!(
                "RAM {}/{} GiB",
                gib_short(h.mem_used_bytes),
                gib_short(h.mem_total_bytes)
            ),
            t.text(),
            6,
        ));
    }

    let mut right: Vec<Span<'static>> = Vec::new();
    if let Some(r) = &app.replay {
        right.push(Span::styled(
            replay_badge(&r.state(), app.utc_offset_s),
            t.frozen(),
        ));
        right.push(" ".into());
    }
    if app.is_frozen() {
        right.push(Span::styled(" FROZEN ", t.frozen()));
        right.push(" ".into());
    }
    if let Some(s) = snap.filter(|_| app.replay.is_none()) {
        let mut time = clock(s.at_ms, app.utc_offset_s);
        if area.width < 100 {
            time.truncate(8);
        }
        right.push(Span::styled(time, t.title()));
        right.push(" ".into());
    }
    let right_w: usize = right.iter().map(Span::width).sum();
    let brand_w: usize = left.iter().map(Span::width).sum();
    let width = |items: &[(String, Style, u8)]| {
        items
            .iter()
            .map(|(s, _, _)| s.chars().count() + 3)
            .sum::<usize>()
    };
    while !items.is_empty() && brand_w + width(&items) + right_w > area.width as usize {
        let lowest = (0..items.len()).min_by_key(|&i| items[i].2).unwrap_or(0);
        items.remove(lowest);
    }
    for (i, (text, style, _)) in items.into_iter().enumerate() {
        if i > 0 {
            left.push(Span::styled(" │ ", t.dim()));
        }
        left.push(Span::styled(text, style));
    }
    Line::from(left).render(area, buf);
    if right_w <= area.width as usize {
        let x = area.x + area.width - right_w as u16;
        text::set_line(buf, x, area.y, &Line::from(right), right_w as u16);
    }
}

/// ` REPLAY ×20 · 14:02:11 (+1h02m) · gpu.jsonl `, `⏸` when paused, `END` at the end.
fn replay_badge(r: &crate::gpu::trace::ReplayState, utc_offset_s: i32) -> String {
    let speed = if r.speed >= 1.0 {
        format!("×{:.0}", r.speed)
    } else {
        format!("×{}", r.speed)
    };
    let state = if r.ended {
        "END OF TRACE".to_string()
    } else if r.paused {
        format!("⏸ {speed}")
    } else {
        speed
    };
    let at = match (r.at_ms, r.first_ms) {
        (Some(at), Some(first)) => format!(
            " · {} (+{})",
            clock(at, utc_offset_s),
            crate::policy::human_duration(std::time::Duration::from_secs(
                at.saturating_sub(first) / 1000
            ))
        ),
        _ => String::new(),
    };
    format!(" REPLAY {state}{at} · {} ", r.name)
}

pub(super) fn render_footer(app: &App, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    if let Some(typed) = &app.jump {
        Line::from(vec![
            Span::styled(
                match app.prompt {
                    super::super::app::Prompt::GoTo => " go to GPU (index, UUID or PCI bus id): ",
                    super::super::app::Prompt::Filter => {
                        " show processes whose user, owner, command or pid has: "
                    }
                },
                t.key(),
            ),
            Span::styled(format!("{typed}█"), t.text()),
            Span::styled("   Enter go  Esc cancel", t.label()),
        ])
        .render(area, buf);
        return;
    }
    if let Some((_, what)) = &app.kill_ask {
        Line::from(vec![
            Span::styled(format!(" signal {what}? "), t.alarm()),
            Span::styled("y SIGTERM  9 SIGKILL  any other key: no", t.key()),
        ])
        .render(area, buf);
        return;
    }
    if let Some(said) = &app.kill_said {
        Line::styled(format!(" {said}"), t.alarm()).render(area, buf);
        return;
    }
    if let Some(why) = &app.jump_error {
        Line::styled(format!(" {why}"), t.alarm()).render(area, buf);
        return;
    }
    let hints: &[(&str, &str)] = if app.replay.is_some() {
        &[
            ("q", "quit"),
            ("space", "pause"),
            ("←→", "seek"),
            ("+-", "speed"),
            ("?", "help"),
            ("↑↓", "select"),
            ("⏎", "detail"),
            (":", "go to"),
        ]
    } else if app.detail {
        &[
            ("Esc", "back"),
            ("↑↓", "GPU"),
            ("f", "freeze"),
            ("s", "sort"),
            ("?", "help"),
            ("q", "quit"),
        ]
    } else {
        &[
            ("q", "quit"),
            ("?", "help"),
            ("↑↓", "select"),
            ("⏎", "detail"),
            (":", "go to"),
            ("Tab", "focus"),
            ("f", "freeze"),
            ("s", "sort"),
            ("a", "all/one"),
            ("o", "overlay"),
        ]
    };
    // Written straight into the buffer: the same hints on every frame, nothing to allocate.
    let mut used = 1usize;
    let mut x = area.x + 1;
    for (key, what) in hints {
        let w = key.chars().count() + what.len() + 3;
        if used + w > area.width as usize {
            break;
        }
        x = text::set_stringn(buf, x, area.y, key, w, t.key()).0;
        x = text::set_stringn(buf, x, area.y, " ", 1, t.label()).0;
        x = text::set_stringn(buf, x, area.y, what, what.len(), t.label()).0;
        x = text::set_stringn(buf, x, area.y, "  ", 2, t.label()).0;
        used += w;
    }
}

pub(super) fn render_error(app: &App, error: &str, area: Rect, buf: &mut Buffer) {
    let first = error.lines().next().unwrap_or(error);
    let text = if app.source_error.is_some() {
        format!(" source error: {first} ")
    } else {
        format!(" {first} ")
    };
    buf.set_style(area, app.theme.alarm());
    Line::styled(text, app.theme.alarm()).render(area, buf);
}

/// `1s`, `500ms`, `2.5s`.
fn interval(ms: u64) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else if ms > 1000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// Wall-clock time of a sample as `HH:MM:SS`, shifted by the local UTC offset (`UTC` is
/// written when there is none).
pub(super) fn clock(at_ms: u64, utc_offset_s: i32) -> String {
    let secs = (at_ms / 1000) as i64 + i64::from(utc_offset_s);
    let day = secs.rem_euclid(86_400);
    let (h, m, s) = (day / 3600, day % 3600 / 60, day % 60);
    if utc_offset_s == 0 {
        format!("{h:02}:{m:02}:{s:02} UTC")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_and_interval_text() {
        assert_eq!(clock(1_700_000_000_000, 0), "22:13:20 UTC");
        assert_eq!(clock(1_700_000_000_000, 3600), "23:13:20");
        assert_eq!(interval(1000), "1s");
        assert_eq!(interval(500), "500ms");
        assert_eq!(interval(2500), "2.5s");
    }
}
