//! The hosts view of the fleet dashboard: one line per host — state, GPUs (and lost ones),
//! the hottest GPU, the fullest GPU's memory, firing rules, and how old the numbers are.
//! Unreachable and stale hosts stay listed, first, with their last numbers dimmed.
//! While a host is drilled into, its own GPU dashboard (`impl Widget for &App`) is drawn.

use super::super::fleet::{FleetApp, HostState};
use super::super::theme::Level;
use super::bar::fit;
use super::header::clock;
use crate::check::HealthState;
use crate::fleet::Host;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Widget};

impl Widget for &FleetApp {
    fn render(self, area: Rect, buf: &mut Buffer) {
        if let Some(app) = self.drilled() {
            app.render(area, buf);
            return;
        }
        let Some([top, body, bottom]) = super::frame(area, buf) else {
            return;
        };
        header(self, top, buf);
        table(self, body, buf);
        let t = &self.theme;
        Line::from(vec![
            " ".into(),
            Span::styled("q", t.key()),
            Span::styled(" quit  ", t.label()),
            Span::styled("↑↓", t.key()),
            Span::styled(" select  ", t.label()),
            Span::styled("⏎", t.key()),
            Span::styled(" open host  ", t.label()),
            Span::styled("Esc", t.key()),
            Span::styled(" back", t.label()),
        ])
        .render(bottom, buf);
    }
}

/// The host's name, with its address when another host has the same name (two agents that
/// both call themselves `demo` must not look like one host twice).
fn host_label(app: &FleetApp, host: &Host) -> String {
    let name = host.name();
    let twins = app.fleet.hosts.iter().filter(|h| h.name() == name).count();
    if twins > 1 && name != host.address {
        format!("{name} {}", host.address)
    } else {
        name.to_string()
    }
}

/// Over the hosts that answer: lost GPUs, mean utilization of the GPUs that report one, and
/// the power drawn (W).
fn totals(app: &FleetApp) -> (usize, Option<f64>, f64) {
    let gpus = || {
        app.fleet
            .hosts
            .iter()
            .filter(|h| h.reachable)
            .filter_map(|h| h.snapshot.as_ref())
            .flat_map(|s| s.gpus.iter())
    };
    let lost = gpus().filter(|g| g.is_lost()).count();
    let utils: Vec<f64> = gpus()
        .filter_map(|g| g.utilization_gpu_pct.get().map(f64::from))
        .collect();
    let util = (!utils.is_empty()).then(|| utils.iter().sum::<f64>() / utils.len() as f64);
    let power = gpus().filter_map(|g| g.power_w.get()).sum();
    (lost, util, power)
}

fn header(app: &FleetApp, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let hosts = &app.fleet.hosts;
    let down = hosts
        .iter()
        .filter(|h| app.state(h) == HostState::Unreachable)
        .count();
    let mut spans = vec![
        Span::styled(" gpuwarden ", t.brand()),
        " ".into(),
        Span::styled("fleet", t.title()),
        Span::styled(" │ ", t.dim()),
        Span::styled(app.source.clone(), t.label()),
        Span::styled(" │ ", t.dim()),
        Span::styled(
            format!("{} hosts, {} GPUs", hosts.len(), app.fleet.gpu_count()),
            t.text(),
        ),
    ];
    let (lost, util, power) = totals(app);
    if lost > 0 {
        spans.push(Span::styled(" │ ", t.dim()));
        spans.push(Span::styled(
            format!("{lost} lost"),
            t.level(Level::Critical),
        ));
    }
    if let Some(u) = util {
        spans.push(Span::styled(" │ ", t.dim()));
        spans.push(Span::styled(format!("util {u:.0}%"), t.text()));
    }
    if power > 0.0 {
        spans.push(Span::styled(" │ ", t.dim()));
        let text = if power >= 10_000.0 {
            format!("{:.1} kW", power / 1000.0)
        } else {
            format!("{power:.0} W")
        };
        spans.push(Span::styled(text, t.text()));
    }
    if down > 0 {
        spans.push(Span::styled(" │ ", t.dim()));
        spans.push(Span::styled(
            format!("{down} unreachable"),
            t.level(Level::Critical),
        ));
    }
    Line::from(spans).render(area, buf);
    if app.now_ms > 0 {
        let time = format!("{} ", clock(app.now_ms, app.utc_offset_s));
        let w = time.chars().count() as u16;
        if w < area.width {
            buf.set_string(area.x + area.width - w, area.y, time, t.title());
        }
    }
}

/// Column widths: host, GPUs, hottest, fullest, state; rules take what is left.
const HOST_W: usize = 22;
const GPUS_W: usize = 9;
const HEALTH_W: usize = 14;
const TEMP_W: usize = 12;
const MEM_W: usize = 12;
const STATE_W: usize = 18;

fn table(app: &FleetApp, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focused())
        .title(Line::styled(" Hosts ", t.title()));
    let inner = block.inner(area);
    block.render(area, buf);
    if inner.height == 0 {
        return;
    }
    let heading = format!(
        "  {:<HOST_W$} {:>GPUS_W$} {:<HEALTH_W$} {:<TEMP_W$} {:<MEM_W$} {:<STATE_W$} RULES",
        "HOST", "GPUS", "HEALTH", "HOTTEST", "FULLEST", "STATE"
    );
    let w = inner.width as usize;
    Line::styled(fit(&heading, w), t.header_row()).render(row(inner, 0), buf);

    let hosts = app.hosts();
    let selected = app.selected_host().map(|h| h.address.as_str());
    let rows = inner.height.saturating_sub(1) as usize;
    // Keep the selected host on screen.
    let at = selected
        .and_then(|a| hosts.iter().position(|h| h.address == a))
        .unwrap_or(0);
    let first = at.saturating_sub(rows.saturating_sub(1));
    for (i, host) in hosts.iter().skip(first).take(rows).enumerate() {
        let area = row(inner, i as u16 + 1);
        let line = host_line(app, host, w);
        line.render(area, buf);
        if Some(host.address.as_str()) == selected {
            buf.set_style(area, t.selected());
        }
    }
}

fn row(inner: Rect, y: u16) -> Rect {
    Rect::new(inner.x, inner.y + y, inner.width, 1)
}

fn host_line<'a>(app: &FleetApp, host: &Host, width: usize) -> Line<'a> {
    let t = &app.theme;
    let th = &app.thresholds;
    let state = app.state(host);
    let live = matches!(
        state,
        HostState::Ok | HostState::Degraded | HostState::Alarm
    );
    // Numbers of a host that is down or stale are old: dimmed, never colored as if current.
    let value = |level: Level| if live { t.level(level) } else { t.dim() };
    let mark = if state == HostState::Ok { "  " } else { "! " };
    let (health, health_style) = match app.health(host) {
        None => ("–".to_string(), t.dim()),
        Some((_, HealthState::Ok)) => ("ok".to_string(), value(Level::Normal)),
        Some((i, h)) => {
            let level = match h {
                HealthState::Failed => Level::Critical,
                _ => Level::Warning,
            };
            (
                format!("{} gpu{i}{}", h.name(), t.mark(level)),
                value(level),
            )
        }
    };

    let gpus = match (host.gpu_count(), host.lost_count()) {
        (0, _) if host.snapshot.is_none() => "–".to_string(),
        (n, 0) => n.to_string(),
        (n, lost) => format!("{n} ({lost} lost)"),
    };
    let (temp, temp_style) = match host.hottest() {
        Some((i, c)) => {
            let level = th.temperature(c);
            (format!("{c:.0}°C gpu{i}{}", t.mark(level)), value(level))
        }
        None => ("–".to_string(), t.dim()),
    };
    let (mem, mem_style) = match host.fullest() {
        Some((i, p)) => {
            let level = th.memory(p);
            (format!("{p:.0}% gpu{i}{}", t.mark(level)), value(level))
        }
        None => ("–".to_string(), t.dim()),
    };
    let age = host
        .age(app.now_ms)
        .map(|a| format!(" {}", short_age(a.as_secs())));
    let state_text = match state {
        HostState::Ok | HostState::Degraded | HostState::Alarm => state.name().to_string(),
        _ => format!("{}{}", state.name(), age.unwrap_or_default()),
    };
    let state_style = match state {
        HostState::Ok => t.level(Level::Normal),
        HostState::Alarm | HostState::Unreachable => t.level(Level::Critical),
        HostState::Stale | HostState::Degraded => t.level(Level::Warning),
    };
    let rules = if state == HostState::Unreachable {
        // The reason, without the URL the fetch prefixes it with (the host column has it).
        let error = host.error.as_deref().unwrap_or_default();
        match error.split_once(": ") {
            Some((url, why)) if url.starts_with("http") => why.to_string(),
            _ => error.to_string(),
        }
    } else {
        let mut names: Vec<String> = host
            .firing
            .iter()
            .map(|r| match r.gpu {
                Some(g) => format!("{}@gpu{g}", r.rule),
                None => r.rule.clone(),
            })
            .collect();
        names.dedup();
        names.join(" ")
    };
    let rules_style = if state == HostState::Unreachable {
        t.dim()
    } else {
        t.level(Level::Critical)
    };
    let fixed = 2 + HOST_W + GPUS_W + HEALTH_W + TEMP_W + MEM_W + STATE_W + 6;
    let text_style = if live { t.text() } else { t.dim() };
    let cells: Vec<(String, Style)> = vec![
        (mark.to_string(), state_style),
        (
            format!("{:<HOST_W$} ", fit(&host_label(app, host), HOST_W)),
            text_style,
        ),
        (format!("{gpus:>GPUS_W$} "), text_style),
        (
            format!("{:<HEALTH_W$} ", fit(&health, HEALTH_W)),
            health_style,
        ),
        (format!("{:<TEMP_W$} ", fit(&temp, TEMP_W)), temp_style),
        (format!("{:<MEM_W$} ", fit(&mem, MEM_W)), mem_style),
        (
            format!("{:<STATE_W$} ", fit(&state_text, STATE_W)),
            state_style,
        ),
        (fit(&rules, width.saturating_sub(fixed)), rules_style),
    ];
    Line::from(
        cells
            .into_iter()
            .map(|(s, style)| Span::styled(s, style))
            .collect::<Vec<_>>(),
    )
}

/// `12s`, `4m`, `3h`, `2d`.
fn short_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
