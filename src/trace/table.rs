//! The plain `nvidia-smi` table, printed in a loop (`nvidia-smi -l 1 >> gpu.log`, or a
//! wrapper script's `while true; do date -Is; nvidia-smi; sleep 5; done`).
//!
//! ```text
//! Mon Jan 15 10:00:00 2024
//! +---------------------------------------------------------------------------------------+
//! | NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
//! |-----------------------------------------+----------------------+----------------------+
//! | GPU  Name                 Persistence-M | Bus-Id        Disp.A | Volatile Uncorr. ECC |
//! | Fan  Temp   Perf          Pwr:Usage/Cap |         Memory-Usage | GPU-Util  Compute M. |
//! |=========================================+======================+======================|
//! |   0  NVIDIA H100 80GB HBM3          On  | 00000000:18:00.0 Off |                    0 |
//! | N/A   34C    P0              71W / 700W |      4MiB / 81559MiB |      0%      Default |
//! ```
//!
//! Each table is one [`Snapshot`], dated by the line before it (the table's own
//! `Mon Jan 15 10:00:00 2024`, or an ISO-8601 or epoch stamp from a wrapper script). The GPU
//! rows give name, bus id, uncorrected ECC, fan, temperature, performance state, power and its
//! cap, memory, and utilization; the processes section gives each GPU's processes. Older
//! drivers' narrower layout reads the same way.

use super::error::{Problem, TraceError};
use super::lines::{Line, LineReader};
use super::{TraceOptions, clock};
use crate::gpu::{Field, GpuProcess, GpuSample, Missing, Snapshot, UnixMs, Vendor};
use std::io::BufRead;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

/// Whether `text` is the `| NVIDIA-SMI 535.104.05   Driver Version: …` line a table opens with.
pub fn is_table_line(text: &str) -> bool {
    text.trim().starts_with("| NVIDIA-SMI ")
}

/// A line that dates the next table.
fn stamp(text: &str) -> Option<UnixMs> {
    clock::parse_ctime(text).or_else(|| clock::parse_timestamp(text))
}

/// Streams snapshots out of a log of nvidia-smi tables.
pub struct TableReader<R> {
    lines: LineReader<R>,
    file: Arc<str>,
    host: String,
    strict: bool,
    interval_ms: Option<u64>,
    /// The time for the table being read (or the next one).
    at: Option<UnixMs>,
    tables: u64,
    driver: Option<String>,
    current: Option<Snapshot>,
    /// The first of a GPU's two lines was read; its second comes next.
    half: Option<GpuSample>,
    in_processes: bool,
    last_at: Option<UnixMs>,
    done: bool,
}

impl<R: BufRead> TableReader<R> {
    pub fn new(input: R, file: &str, host: &str, options: &TraceOptions) -> Self {
        TableReader {
            lines: LineReader::new(input),
            file: file.into(),
            host: host.to_string(),
            strict: options.strict,
            interval_ms: options.interval.map(|d| d.as_millis() as u64),
            at: None,
            tables: 0,
            driver: None,
            current: None,
            half: None,
            in_processes: false,
            last_at: None,
            done: false,
        }
    }

    fn error(&mut self, problem: Problem) -> TraceError {
        let mut e = TraceError::new(&self.file, Some(self.lines.number()), problem);
        e.strict = self.strict;
        if e.is_fatal() {
            self.done = true;
        }
        e
    }

    /// Hands out the table read so far, if it holds GPUs.
    fn close(&mut self) -> Option<Result<Snapshot, TraceError>> {
        self.half = None;
        self.in_processes = false;
        let snap = self.current.take()?;
        if snap.gpus.is_empty() {
            return None;
        }
        if let Some(before) = self.last_at
            && snap.at_ms < before
        {
            let (before, now) = (
                clock::format_timestamp(before),
                clock::format_timestamp(snap.at_ms),
            );
            return Some(Err(self.error(Problem::TimeWentBack { before, now })));
        }
        self.last_at = Some(snap.at_ms);
        Some(Ok(snap))
    }

    fn open_table(&mut self) -> Option<Result<Snapshot, TraceError>> {
        let done = self.close();
        let at = match (self.at.take(), self.interval_ms) {
            (Some(at), _) => at,
            (None, Some(step)) => self.tables * step,
            (None, None) => {
                let e = self.error(Problem::Unreadable(
                    "this nvidia-smi table has no date line before it: pass --interval with \
                     the period it was printed at (e.g. --interval 1s)"
                        .into(),
                ));
                return Some(Err(e));
            }
        };
        self.tables += 1;
        self.current = Some(Snapshot::new(
            at,
            self.host.clone(),
            super::nvsmi::SOURCE_NAME,
        ));
        done
    }

    fn step(&mut self) -> Option<Result<Snapshot, TraceError>> {
        let text = match self.lines.next_line() {
            Err(e) => return Some(Err(self.error(Problem::Io(e)))),
            Ok(None) => {
                self.done = true;
                return self.close();
            }
            Ok(Some(Line::TooLong)) => return Some(Err(self.error(Problem::TooLong))),
            Ok(Some(Line::NotUtf8)) => return Some(Err(self.error(Problem::NotUtf8))),
            Ok(Some(Line::Text { text, .. })) => text.trim().to_string(),
        };
        if text.is_empty() {
            return None;
        }
        if let Some(at) = stamp(&text) {
            let done = self.close();
            self.at = Some(at);
            return done;
        }
        if text.starts_with("| NVIDIA-SMI ") {
            self.driver = text
                .split("Driver Version:")
                .nth(1)
                .and_then(|r| r.split_whitespace().next())
                .map(str::to_string);
            return self.open_table();
        }
        if !text.starts_with('|') || self.current.is_none() {
            return None;
        }
        if text.starts_with("| Processes") {
            self.in_processes = true;
            return None;
        }
        let result = if self.in_processes {
            self.process_row(&text)
        } else {
            self.gpu_row(&text)
        };
        result.err().map(|e| Err(self.error(Problem::Malformed(e))))
    }

    /// A line of the GPU section: the first or second line of a GPU, or anything else (skipped).
    fn gpu_row(&mut self, text: &str) -> Result<(), String> {
        let cells: Vec<&str> = text.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 3 {
            return Ok(());
        }
        if let Some(mut sample) = self.half.take() {
            second_line(&mut sample, &cells)?;
            if let Some(snap) = &mut self.current {
                snap.gpus.push(sample);
            }
            return Ok(());
        }
        let mut words = cells[0].split_whitespace();
        let Some(index) = words.next().and_then(|w| w.parse::<u32>().ok()) else {
            return Ok(()); // a heading or the MIG line
        };
        let rest: Vec<&str> = words.collect();
        let name = match rest.split_last() {
            Some((last, name)) if matches!(*last, "On" | "Off") => name.join(" "),
            _ => rest.join(" "),
        };
        let bus = cells[1].split_whitespace().next().unwrap_or_default();
        let mut sample = GpuSample {
            index,
            uuid: if bus.is_empty() {
                format!("trace-gpu-{index}")
            } else {
                bus.to_string()
            },
            vendor: Vendor::Nvidia,
            name: Field::Value(name),
            pci_bus_id: text_field(bus),
            driver_version: self
                .driver
                .clone()
                .map_or_else(Field::default, Field::Value),
            ..GpuSample::default()
        };
        sample.ecc_uncorrected = value(cells[2], "")?;
        self.half = Some(sample);
        Ok(())
    }

    /// `|    0   N/A  N/A     12345      C   python      1024MiB |` (older drivers have no
    /// GI/CI columns); `No running processes found` leaves every GPU with none.
    fn process_row(&mut self, text: &str) -> Result<(), String> {
        let Some(snap) = &mut self.current else {
            return Ok(());
        };
        let inner = text.trim_matches('|').trim();
        if inner.starts_with("No running processes") {
            for g in &mut snap.gpus {
                g.processes = Field::Value(Vec::new());
            }
            return Ok(());
        }
        let words: Vec<&str> = inner.split_whitespace().collect();
        let Some(index) = words.first().and_then(|w| w.parse::<u32>().ok()) else {
            return Ok(()); // the section's headings
        };
        let Some(kind) = words
            .iter()
            .position(|w| matches!(*w, "C" | "G" | "C+G" | "M" | "M+C"))
        else {
            return Err(format!(
                "a process line without a type (C, G, C+G): {inner:?}"
            ));
        };
        let pid = words
            .get(kind.wrapping_sub(1))
            .and_then(|w| w.parse::<u32>().ok())
            .ok_or_else(|| format!("a process line without a process id: {inner:?}"))?;
        let (memory, command) = match words[kind + 1..].split_last() {
            Some((last, name)) if last.ends_with("MiB") || *last == "N/A" => (
                last.strip_suffix("MiB").and_then(|m| m.parse::<u64>().ok()),
                name.join(" "),
            ),
            _ => (None, words[kind + 1..].join(" ")),
        };
        let process = GpuProcess {
            pid,
            used_memory_bytes: memory.and_then(|m| m.checked_mul(MIB)),
            command: (!command.is_empty()).then_some(command),
            ..GpuProcess::default()
        };
        if let Some(g) = snap.gpus.iter_mut().find(|g| g.index == index) {
            match &mut g.processes {
                Field::Value(list) => list.push(process),
                other => *other = Field::Value(vec![process]),
            }
        }
        Ok(())
    }
}

/// `| N/A   34C    P0    71W / 700W |      4MiB / 81559MiB |      0%      Default |`
fn second_line(s: &mut GpuSample, cells: &[&str]) -> Result<(), String> {
    let words: Vec<&str> = cells[0].split_whitespace().collect();
    let [fan, temp, perf, power @ ..] = words.as_slice() else {
        return Err(format!(
            "expected fan, temperature, performance state and power, found {:?}",
            cells[0]
        ));
    };
    s.fan_pct = value(fan, "%")?;
    s.temperature_c = value(temp, "C")?;
    s.pstate = match *perf {
        "N/A" => Field::missing(Missing::NotSupported),
        p => Field::Value(
            p.strip_prefix('P')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("expected a performance state like P0, found {p:?}"))?,
        ),
    };
    let power = power.join(" ");
    let (draw, cap) = power.split_once('/').unwrap_or((&power, "N/A"));
    s.power_w = value(draw.trim(), "W")?;
    s.power_limit_w = value(cap.trim(), "W")?;
    let (used, total) = cells[1].split_once('/').unwrap_or((cells[1], "N/A"));
    // A number of MiB no GPU has (past u64 in bytes) is a bad line, not an overflow.
    let mib = |c: &str| -> Result<Field<u64>, String> {
        match value::<u64>(c.trim(), "MiB")? {
            Field::Value(m) => m
                .checked_mul(MIB)
                .map(Field::Value)
                .ok_or_else(|| format!("{} MiB is more memory than any GPU has", m)),
            other => Ok(other),
        }
    };
    s.memory_used_bytes = mib(used)?;
    s.memory_total_bytes = mib(total)?;
    let util = cells[2].split_whitespace().next().unwrap_or("N/A");
    s.utilization_gpu_pct = value(util, "%")?;
    Ok(())
}

/// `34C`, `71W`, `N/A`: the number before `unit`, or not supported.
fn value<T: std::str::FromStr>(cell: &str, unit: &str) -> Result<Field<T>, String> {
    let cell = cell.trim();
    if cell == "N/A" || cell == "[N/A]" || cell == "-" {
        return Ok(Field::missing(Missing::NotSupported));
    }
    let n = cell.strip_suffix(unit).unwrap_or(cell).trim();
    n.parse().map(Field::Value).map_err(|_| {
        format!(
            "expected a number{}, found {cell:?}",
            if unit.is_empty() {
                String::new()
            } else {
                format!(" in {unit}")
            }
        )
    })
}

fn text_field(s: &str) -> Field<String> {
    match s {
        "" | "N/A" => Field::missing(Missing::NotSupported),
        s => Field::Value(s.to_string()),
    }
}

impl<R: BufRead> Iterator for TableReader<R> {
    type Item = Result<Snapshot, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            if let Some(item) = self.step() {
                return Some(item);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
