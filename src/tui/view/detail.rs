//! The detail view of the selected GPU: every number the sample has (identity, clocks with
//! their maxima, thresholds, PCIe, encoder/decoder, ECC, throttle reasons), the four history
//! charts in a grid, and the GPU's own processes; the GPU's health (ok / degraded / failed)
//! in the title, with what is wrong and what to do under the numbers; a GPU in MIG mode also
//! lists its MIG devices (UUID, profile, memory, utilization where the driver gives it).

use super::super::app::App;
use super::super::theme::{Level, Theme};
use super::bar::{fit, gib_short, rate};
use super::{charts, gpus, processes};
use crate::check::{GpuHealth, HealthState, Severity};
use crate::gpu::{Field, GpuSample};
use crate::units::or_missing;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

pub(super) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(gpu) = app.selected_gpu() else {
        return;
    };
    let procs = app.processes().len() as u16;
    let health = crate::check::gpu_health(gpu);
    // One line per finding under the numbers, at most three.
    let finding_rows = health.findings.len().min(MAX_FINDINGS) as u16;
    let info_h = if area.height >= 18 {
        7 + finding_rows
    } else {
        0
    };
    let procs_h = if area.height >= 20 {
        (procs.max(1) + 3).min(8)
    } else {
        0
    };
    let migs = gpu.mig.value().map_or(0, Vec::len) as u16;
    let mig_h = if migs > 0 && area.height >= 24 {
        (migs + 2).min(9)
    } else {
        0
    };
    let [info, mig_area, chart_area, proc_area] = Layout::vertical([
        Constraint::Length(info_h),
        Constraint::Length(mig_h),
        Constraint::Fill(1),
        Constraint::Length(procs_h),
    ])
    .areas(area);
    if info_h > 0 {
        render_info(app, gpu, &health, info, buf);
    }
    if mig_h > 0 {
        render_mig(app, gpu, mig_area, buf);
    }
    charts::render_grid(app, chart_area, buf);
    if procs_h > 0 {
        processes::render(app, proc_area, buf);
    }
}

/// Findings listed in the detail view; `gpuwarden check` lists them all.
const MAX_FINDINGS: usize = 3;

fn render_info(app: &App, gpu: &GpuSample, health: &GpuHealth, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let mut title = vec![
        Span::styled(format!(" GPU {} ", gpu.index), t.title()),
        Span::styled(format!("{} ", gpu.display_name()), t.text()),
    ];
    if gpu.is_lost() {
        let since = app
            .lost_since(&gpu.uuid)
            .map(|ms| format!(" since {}", super::header::clock(ms, app.utc_offset_s)))
            .unwrap_or_default();
        title.push(Span::styled(format!(" LOST{since} "), t.alarm()));
        title.push(Span::raw(" "));
    }
    let (state, style) = match health.state {
        HealthState::Ok => ("health ok", t.level(Level::Normal)),
        HealthState::Degraded => ("DEGRADED", t.level(Level::Warning)),
        HealthState::Failed => ("FAILED", t.alarm()),
    };
    // LOST already says it all.
    if !gpu.is_lost() {
        title.push(Span::styled(format!(" {state} "), style));
        title.push(Span::raw(" "));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focused())
        .title(Line::from(title));
    let inner = block.inner(area);
    block.render(area, buf);

    let mem = match (gpu.memory_used_bytes.get(), gpu.memory_total_bytes.get()) {
        (Some(u), Some(total)) => format!(
            "{} / {} GiB ({:.0}%)",
            gib_short(u),
            gib_short(total),
            gpu.memory_used_pct().unwrap_or(0.0)
        ),
        _ => or_missing(&gpu.memory_used_bytes, |_| String::new()),
    };
    let temp = match gpu.temperature_c.get() {
        Some(c) => {
            let mut s = format!("{c:.0}°C");
            if let Some(slow) = gpu.temperature_slowdown_c.get() {
                s += &format!(" · slowdown {slow:.0}");
            }
            if let Some(off) = gpu
                .temperature_shutdown_c
                .get()
                .filter(|_| area.width >= 110)
            {
                s += &format!(" · off {off:.0}");
            }
            s
        }
        None => or_missing(&gpu.temperature_c, |_| String::new()),
    };
    let power = match (gpu.power_w.get(), gpu.power_limit_w.get()) {
        (Some(w), Some(l)) => format!("{w:.0} / {l:.0} W ({:.0}%)", w * 100.0 / l.max(1.0)),
        _ => or_missing(&gpu.power_w, |w| format!("{w:.0} W")),
    };
    let temp_style = gpu
        .temperature_c
        .get()
        .map_or(t.text(), |c| t.level(app.thresholds.temperature(c)));
    let mem_style = gpu
        .memory_used_pct()
        .map_or(t.text(), |p| t.level(app.thresholds.memory(p)));
    let link = or_missing(&gpu.pcie_link, |l| {
        format!("gen{} x{}", l.generation, l.width)
    });
    let traffic = match (gpu.pcie_rx_bytes_per_s.get(), gpu.pcie_tx_bytes_per_s.get()) {
        (Some(rx), Some(tx)) => format!("{} / {}", rate(rx), rate(tx)),
        _ => or_missing(&gpu.pcie_rx_bytes_per_s, |_| String::new()),
    };
    let throttle = gpus::throttle_spans(t, &gpu.throttle, 40);
    let columns: [Vec<(&str, Line<'_>)>; 3] = [
        vec![
            (
                "uuid",
                fit(&gpu.uuid, (inner.width as usize / 2).saturating_sub(9)).into(),
            ),
            ("pci", or_missing(&gpu.pci_bus_id, String::clone).into()),
            (
                "driver",
                or_missing(&gpu.driver_version, String::clone).into(),
            ),
            (
                "pstate",
                format!(
                    "{}   fan {}",
                    or_missing(&gpu.pstate, |p| format!("P{p}")),
                    or_missing(&gpu.fan_pct, |f| format!("{f}%"))
                )
                .into(),
            ),
            ("throttle", throttle),
        ],
        vec![
            (
                "util",
                pair(
                    &gpu.utilization_gpu_pct,
                    &gpu.utilization_memory_pct,
                    "% · mem-bus ",
                    "%",
                )
                .into(),
            ),
            ("memory", Line::styled(mem, mem_style)),
            ("temp", Line::styled(temp, temp_style)),
            ("power", power.into()),
            (
                "ecc",
                or_missing(&gpu.ecc_uncorrected, |e| format!("{e} uncorrected")).into(),
            ),
        ],
        vec![
            (
                "sm clock",
                pair(&gpu.clock_sm_mhz, &gpu.clock_sm_max_mhz, " / ", " MHz").into(),
            ),
            (
                "mem clock",
                pair(&gpu.clock_mem_mhz, &gpu.clock_mem_max_mhz, " / ", " MHz").into(),
            ),
            ("pcie", link.into()),
            ("rx / tx", traffic.into()),
            (
                "enc / dec",
                format!(
                    "{} / {}",
                    or_missing(&gpu.encoder_pct, |v| format!("{v}%")),
                    or_missing(&gpu.decoder_pct, |v| format!("{v}%"))
                )
                .into(),
            ),
        ],
    ];
    let widths = if inner.width >= 110 {
        [
            Constraint::Length(49),
            Constraint::Length(38),
            Constraint::Fill(1),
        ]
    } else {
        [
            Constraint::Length(49),
            Constraint::Fill(1),
            Constraint::Length(0),
        ]
    };
    let [numbers, findings] =
        Layout::vertical([Constraint::Length(5), Constraint::Fill(1)]).areas(inner);
    let lines: Vec<Line<'_>> = health
        .findings
        .iter()
        .take(MAX_FINDINGS)
        .map(|f| {
            let level = match f.severity {
                Severity::Critical => Level::Critical,
                Severity::Warning => Level::Warning,
            };
            let text = format!("{}: {} — {}", f.check, f.message, f.action);
            Line::styled(fit(&text, findings.width as usize), t.level(level))
        })
        .collect();
    Paragraph::new(lines).render(findings, buf);
    let areas: [Rect; 3] = Layout::horizontal(widths).spacing(1).areas(numbers);
    for (col, a) in columns.into_iter().zip(areas) {
        let label_w = col.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        let lines: Vec<Line<'_>> = col
            .into_iter()
            .map(|(label, value)| kv(t, label, label_w, value))
            .collect();
        Paragraph::new(lines).render(a, buf);
    }
}

/// One line per MIG device: UUID, profile, memory used of its own, utilization.
fn render_mig(app: &App, gpu: &GpuSample, area: Rect, buf: &mut Buffer) {
    let t = &app.theme;
    let devices = gpu.mig.value().map_or(&[][..], Vec::as_slice);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.border())
        .title(Line::from(vec![
            Span::styled(" MIG ", t.title()),
            Span::styled(format!("· {} devices ", devices.len()), t.dim()),
        ]));
    let lines: Vec<Line<'_>> = devices
        .iter()
        .map(|m| {
            let mem = match (m.memory_used_bytes.get(), m.memory_total_bytes.get()) {
                (Some(u), Some(total)) => {
                    format!("{} / {} GiB", gib_short(u), gib_short(total))
                }
                _ => or_missing(&m.memory_used_bytes, |_| String::new()),
            };
            let util = or_missing(&m.utilization_gpu_pct, |u| format!("{u}%"));
            Line::from(vec![
                Span::styled(
                    format!("{:<9} ", or_missing(&m.profile, String::clone)),
                    t.label(),
                ),
                Span::raw(format!("{mem:<16} util {util:<5} ")),
                Span::styled(m.uuid.clone(), t.dim()),
            ])
        })
        .collect();
    Paragraph::new(lines).block(block).render(area, buf);
}

fn kv<'a>(t: &Theme, label: &str, w: usize, value: Line<'a>) -> Line<'a> {
    let mut spans = vec![Span::styled(format!("{label:<w$} "), t.label())];
    let style = value.style;
    spans.extend(value.spans.into_iter().map(|s| s.patch_style(style)));
    Line::from(spans)
}

/// `now<sep>max<unit>` when both are known, else what is.
fn pair(now: &Field<u32>, max: &Field<u32>, sep: &str, unit: &str) -> String {
    match (now.get(), max.get()) {
        (Some(a), Some(b)) => format!("{a}{sep}{b}{unit}"),
        _ => or_missing(now, |v| format!("{v}{unit}")),
    }
}
