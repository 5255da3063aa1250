//! Live progress while the bench burns: one line per GPU, redrawn in place on a terminal;
//! when the output is not a terminal (a log, a pipe, CI) a plain block of lines every few
//! seconds with no escape codes.

use super::Part;
use std::io::{IsTerminal, Write};

/// What one GPU's progress line shows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub index: u32,
    pub temp_c: Option<f64>,
    pub power_w: Option<f64>,
    pub power_pct: Option<f64>,
    pub sm_mhz: Option<u32>,
    pub rates: Vec<(Part, Option<f64>)>,
    pub faults: u64,
    /// `None` while running; otherwise why the GPU stopped ("lost", "error: ...").
    pub stopped: Option<String>,
}

/// One progress line (pure, so tests can pin it).
pub fn line(row: &Row, t_s: f64, duration_s: f64) -> String {
    // Health first (temperature, power, clock, faults), then the rates: on a narrow terminal
    // the line is cut from the right.
    let mut s = format!(
        "GPU {:>2} {:>4.0}/{:.0}s",
        row.index,
        t_s.min(duration_s),
        duration_s
    );
    if let Some(t) = row.temp_c {
        s.push_str(&format!("  {t:>3.0}°C"));
    }
    match (row.power_w, row.power_pct) {
        (Some(w), Some(p)) => s.push_str(&format!("  {w:>4.0} W ({p:>3.0} %)")),
        (Some(w), None) => s.push_str(&format!("  {w:>4.0} W")),
        _ => {}
    }
    if let Some(f) = row.sm_mhz {
        s.push_str(&format!("  SM {f:>4} MHz"));
    }
    s.push_str(&format!("  faults {}", row.faults));
    if let Some(why) = &row.stopped {
        s.push_str(&format!("  [{why}]"));
    }
    for (part, rate) in &row.rates {
        match rate {
            Some(r) => s.push_str(&format!("  {} {:.1} {}", part.name(), r, part.unit())),
            None => s.push_str(&format!("  {} -", part.name())),
        }
    }
    s
}

/// Draws progress on stdout (or stderr when stdout carries JSON).
pub struct Progress {
    to_stderr: bool,
    tty: bool,
    drawn: usize,
    next_plain_s: f64,
    /// Seconds between plain blocks when not on a terminal.
    pub plain_every_s: f64,
}

impl Progress {
    pub fn new(to_stderr: bool) -> Self {
        let tty = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        Progress {
            to_stderr,
            tty,
            drawn: 0,
            next_plain_s: 0.0,
            plain_every_s: 5.0,
        }
    }

    pub fn update(&mut self, rows: &[Row], t_s: f64, duration_s: f64) {
        let mut out = String::new();
        if self.tty {
            if self.drawn > 0 {
                // Up over the previous block, then rewrite each line.
                out.push_str(&format!("\x1b[{}A", self.drawn));
            }
            // A wrapped line would break the cursor-up redraw: cut at the terminal's width.
            let width =
                crossterm::terminal::size().map_or(120, |(w, _)| usize::from(w.max(20)) - 1);
            for r in rows {
                out.push_str("\r\x1b[2K");
                out.extend(line(r, t_s, duration_s).chars().take(width));
                out.push('\n');
            }
            self.drawn = rows.len();
        } else {
            if t_s + 1e-9 < self.next_plain_s {
                return;
            }
            self.next_plain_s = t_s + self.plain_every_s;
            for r in rows {
                out.push_str(&line(r, t_s, duration_s));
                out.push('\n');
            }
        }
        self.write(&out);
    }

    fn write(&self, s: &str) {
        // Progress is best effort: a closed pipe must not stop the bench.
        let _ = if self.to_stderr {
            std::io::stderr().lock().write_all(s.as_bytes())
        } else {
            std::io::stdout().lock().write_all(s.as_bytes())
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_shows_rates_temperature_power_clock_and_faults() {
        let row = Row {
            index: 1,
            temp_c: Some(71.0),
            power_w: Some(655.0),
            power_pct: Some(93.6),
            sm_mhz: Some(1980),
            rates: vec![(Part::Tensor, Some(612.34)), (Part::Copy, None)],
            faults: 0,
            stopped: None,
        };
        assert_eq!(
            line(&row, 12.4, 60.0),
            "GPU  1   12/60s   71°C   655 W ( 94 %)  SM 1980 MHz  faults 0  tensor 612.3 TFLOP/s  copy -"
        );
        let lost = Row {
            stopped: Some("lost".into()),
            ..Row::default()
        };
        assert!(
            line(&lost, 70.0, 60.0).ends_with("faults 0  [lost]"),
            "{}",
            line(&lost, 70.0, 60.0)
        );
        assert!(line(&lost, 70.0, 60.0).contains("60/60s"));
    }
}
