//! `nvidia-smi dmon` and `nvidia-smi pmon` logs: whitespace-aligned columns under a `#` header,
//! the header and its units line printed again every screenful.
//!
//! ```text
//! #Date       Time        gpu    pwr  gtemp  mtemp     sm    mem    enc    dec   mclk   pclk
//! #YYYYMMDD   HH:MM:SS    Idx      W      C      C      %      %      %      %    MHz    MHz
//!  20240115   10:00:00      0     71     34      -     12      3      0      0   2619   1980
//! ```
//!
//! dmon rows are one GPU's readings; pmon rows are one process on a GPU (`-` in every column
//! when the GPU runs none): its pid, command and `fb` memory become the GPU's processes. The `Date`/`Time` columns (`-o DT`, `-o T`) date the rows; without
//! them rows are spaced by `--interval`, else by dmon's default of one second. Rows of one
//! polling round (same time, or until a GPU comes again) become one [`Snapshot`]. `-` is a
//! value nvidia-smi cannot read on that GPU (not supported).

use super::error::{Problem, TraceError};
use super::lines::{Line, LineReader};
use super::{TraceOptions, clock};
use crate::gpu::{Field, GpuProcess, GpuSample, Missing, Snapshot, UnixMs, Vendor};
use std::io::BufRead;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

/// Without a time column or `--interval`, rows are this far apart (dmon's `-d` default).
const DEFAULT_INTERVAL_MS: u64 = 1000;

/// What a dmon or pmon column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Col {
    Date,
    Time,
    Gpu,
    Power,
    Temperature,
    UtilSm,
    UtilMem,
    Encoder,
    Decoder,
    ClockMem,
    ClockSm,
    /// dmon `-s m` framebuffer used, pmon `fb`: MB (MiB).
    MemoryUsed,
    /// Double-bit (uncorrected) ECC errors.
    EccUncorrected,
    Pid,
    /// pmon's command, the rest of the line.
    Command,
    Ignored,
}

/// The column `name` of dmon, or of pmon (whose `sm`, `mem`, `enc`, `dec` are one process's
/// share, which no GPU field holds).
fn column(name: &str, pmon: bool) -> Col {
    match name {
        "sm" | "mem" | "enc" | "dec" if pmon => Col::Ignored,
        "date" => Col::Date,
        "time" => Col::Time,
        "gpu" => Col::Gpu,
        "pwr" => Col::Power,
        "gtemp" => Col::Temperature,
        "sm" => Col::UtilSm,
        "mem" => Col::UtilMem,
        "enc" => Col::Encoder,
        "dec" => Col::Decoder,
        "mclk" => Col::ClockMem,
        "pclk" => Col::ClockSm,
        "fb" => Col::MemoryUsed,
        "dbecc" => Col::EccUncorrected,
        "pid" => Col::Pid,
        "command" => Col::Command,
        _ => Col::Ignored,
    }
}

/// Whether `text` is a dmon or pmon header line (`# gpu pwr …`, `#Date Time gpu pid …`).
pub fn is_header(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('#') else {
        return false;
    };
    let names: Vec<String> = rest
        .split_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    names.iter().any(|n| n == "gpu")
        && names.len() >= 2
        && names.iter().all(|n| {
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Whether a dmon/pmon header is pmon's (it has a `pid` column).
pub fn is_pmon(text: &str) -> bool {
    text.split_whitespace()
        .any(|n| n.eq_ignore_ascii_case("pid"))
}

/// Streams snapshots out of a dmon or pmon log.
pub struct MonitorReader<R> {
    lines: LineReader<R>,
    file: Arc<str>,
    host: String,
    strict: bool,
    interval_ms: u64,
    interval_given: bool,
    columns: Option<Vec<Col>>,
    names: Vec<String>,
    ignored_told: bool,
    round: Option<Snapshot>,
    /// Time of the round when rows carry none: counts rounds.
    rounds: u64,
    /// With only a `Time` column: days added after the clock passed midnight.
    day_ms: u64,
    last_time_of_day: Option<u64>,
    done: bool,
}

impl<R: BufRead> MonitorReader<R> {
    pub fn new(input: R, file: &str, host: &str, options: &TraceOptions) -> Self {
        MonitorReader {
            lines: LineReader::new(input),
            file: file.into(),
            host: host.to_string(),
            strict: options.strict,
            interval_ms: options
                .interval
                .map_or(DEFAULT_INTERVAL_MS, |d| d.as_millis() as u64),
            interval_given: options.interval.is_some(),
            columns: None,
            names: Vec::new(),
            ignored_told: false,
            round: None,
            rounds: 0,
            day_ms: 0,
            last_time_of_day: None,
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

    fn step(&mut self) -> Option<Result<Snapshot, TraceError>> {
        let (text, terminated) = match self.lines.next_line() {
            Err(e) => return Some(Err(self.error(Problem::Io(e)))),
            Ok(None) => {
                self.done = true;
                return self.round.take().map(Ok);
            }
            Ok(Some(Line::TooLong)) => return Some(Err(self.error(Problem::TooLong))),
            Ok(Some(Line::NotUtf8)) => return Some(Err(self.error(Problem::NotUtf8))),
            Ok(Some(Line::Text { text, terminated })) => (text.trim().to_string(), terminated),
        };
        if text.is_empty() {
            return None;
        }
        if text.starts_with('#') {
            return if is_header(&text) {
                self.header(&text)
            } else {
                None
            };
        }
        let Some(columns) = self.columns.clone() else {
            return Some(Err(self.error(Problem::Malformed(
                "a dmon/pmon row before any `# gpu …` header line".into(),
            ))));
        };
        match self.parse_row(&columns, &text) {
            Ok((at, sample)) => self.add(at, sample),
            Err(e) if !terminated => {
                Some(Err(self.error(Problem::Truncated(format!("{e}: {text:?}")))))
            }
            Err(e) => Some(Err(self.error(Problem::Malformed(e)))),
        }
    }

    fn header(&mut self, text: &str) -> Option<Result<Snapshot, TraceError>> {
        let names: Vec<String> = text[1..]
            .split_whitespace()
            .map(str::to_ascii_lowercase)
            .collect();
        let pmon = names.iter().any(|n| n == "pid");
        let columns: Vec<Col> = names.iter().map(|n| column(n, pmon)).collect();
        let changed = self.columns.as_ref() != Some(&columns);
        self.columns = Some(columns.clone());
        self.names = names.clone();
        let has_time = columns.contains(&Col::Time);
        if changed && !has_time && !self.interval_given && !self.ignored_told {
            tracing::info!(
                "{}: no Date/Time columns (dmon -o DT adds them): rows are taken as {} ms \
                 apart (--interval sets another period)",
                self.file,
                self.interval_ms
            );
        }
        let ignored: Vec<&str> = names
            .iter()
            .zip(&columns)
            .filter(|(_, c)| **c == Col::Ignored)
            .map(|(n, _)| n.as_str())
            .collect();
        if changed && !ignored.is_empty() && !self.ignored_told {
            self.ignored_told = true;
            return Some(Err(self.error(Problem::IgnoredColumns(ignored.join(", ")))));
        }
        None
    }

    fn parse_row(
        &mut self,
        columns: &[Col],
        text: &str,
    ) -> Result<(Option<UnixMs>, GpuSample), String> {
        let cells: Vec<&str> = text.split_whitespace().collect();
        let command_last = columns.last() == Some(&Col::Command);
        let fits = if command_last {
            cells.len() >= columns.len()
        } else {
            cells.len() == columns.len()
        };
        if !fits {
            return Err(format!(
                "expected {} columns, found {}",
                columns.len(),
                cells.len()
            ));
        }
        let mut sample = GpuSample {
            vendor: Vendor::Nvidia,
            ..GpuSample::default()
        };
        let (mut date, mut time) = (None, None);
        let mut index = None;
        let mut process = GpuProcess::default();
        let mut has_process = false;
        for (i, col) in columns.iter().enumerate() {
            let cell = cells[i];
            let name = self.names.get(i).map_or("?", String::as_str);
            let what = |e: String| format!("column {} ({name}): {e}", i + 1);
            match col {
                Col::Date => date = Some(cell),
                Col::Time => time = Some(cell),
                Col::Gpu => {
                    index = Some(
                        cell.parse::<u32>()
                            .map_err(|_| what(format!("expected a GPU index, found {cell:?}")))?,
                    )
                }
                Col::Power => sample.power_w = number(cell).map_err(what)?,
                Col::Temperature => sample.temperature_c = number(cell).map_err(what)?,
                Col::UtilSm => sample.utilization_gpu_pct = number(cell).map_err(what)?,
                Col::UtilMem => sample.utilization_memory_pct = number(cell).map_err(what)?,
                Col::Encoder => sample.encoder_pct = number(cell).map_err(what)?,
                Col::Decoder => sample.decoder_pct = number(cell).map_err(what)?,
                Col::ClockMem => sample.clock_mem_mhz = number(cell).map_err(what)?,
                Col::ClockSm => sample.clock_sm_mhz = number(cell).map_err(what)?,
                Col::MemoryUsed => {
                    let mib: Field<u64> = number(cell).map_err(what)?;
                    let bytes = mib.map(|m| m.saturating_mul(MIB));
                    if columns.contains(&Col::Pid) {
                        process.used_memory_bytes = bytes.value().copied();
                    } else {
                        sample.memory_used_bytes = bytes;
                    }
                }
                Col::EccUncorrected => sample.ecc_uncorrected = number(cell).map_err(what)?,
                Col::Pid => {
                    if cell != "-" {
                        process.pid = cell
                            .parse()
                            .map_err(|_| what(format!("expected a process id, found {cell:?}")))?;
                        has_process = true;
                    }
                }
                Col::Command => {
                    let command = cells[i..].join(" ");
                    if command != "-" {
                        process.command = Some(command);
                    }
                }
                Col::Ignored => {}
            }
        }
        let index = index.ok_or("the header has no gpu column")?;
        sample.index = index;
        sample.uuid = format!("trace-gpu-{index}");
        if columns.contains(&Col::Pid) {
            sample.processes = Field::Value(if has_process {
                vec![process]
            } else {
                Vec::new()
            });
        }
        let at = match (date, time) {
            (Some(d), Some(t)) => Some(dated(d, t).ok_or_else(|| {
                format!("expected a date and time like 20240115 10:00:00, found {d:?} {t:?}")
            })?),
            (None, Some(t)) => Some(self.time_of_day(t)?),
            _ => None,
        };
        Ok((at, sample))
    }

    /// A `Time` column alone: the clock of day, counted on from the epoch across midnights.
    fn time_of_day(&mut self, t: &str) -> Result<UnixMs, String> {
        let ms = clock::parse_timestamp(&format!("1970-01-01 {t}"))
            .ok_or_else(|| format!("expected a time like 10:00:00, found {t:?}"))?;
        if self
            .last_time_of_day
            .is_some_and(|last| ms + 12 * 3_600_000 < last)
        {
            self.day_ms += 86_400_000;
        }
        self.last_time_of_day = Some(ms);
        Ok(self.day_ms + ms)
    }

    fn add(
        &mut self,
        at: Option<UnixMs>,
        sample: GpuSample,
    ) -> Option<Result<Snapshot, TraceError>> {
        let pmon = matches!(sample.processes, Field::Value(_));
        if let Some(round) = &mut self.round {
            let same_time = at.is_none_or(|t| t == round.at_ms);
            if let Some(t) = at
                && t < round.at_ms
            {
                let before = clock::format_timestamp(round.at_ms);
                let now = clock::format_timestamp(t);
                return Some(Err(self.error(Problem::TimeWentBack { before, now })));
            }
            let seen = round.gpus.iter().any(|g| g.index == sample.index);
            let last = round.gpus.last_mut();
            match last {
                // pmon: another process of the GPU of the row before.
                Some(g) if pmon && same_time && g.index == sample.index => {
                    if let (Field::Value(list), Field::Value(more)) =
                        (&mut g.processes, sample.processes)
                    {
                        list.extend(more);
                    }
                    return None;
                }
                _ if !seen && same_time => {
                    round.gpus.push(sample);
                    return None;
                }
                _ => {}
            }
        }
        let at = at.unwrap_or(self.rounds * self.interval_ms);
        self.rounds += 1;
        let mut next = Snapshot::new(at, self.host.clone(), super::nvsmi::SOURCE_NAME);
        next.gpus.push(sample);
        self.round.replace(next).map(Ok)
    }
}

/// `20240115` and `10:00:00`.
fn dated(date: &str, time: &str) -> Option<UnixMs> {
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    clock::parse_timestamp(&format!(
        "{}-{}-{} {time}",
        &date[..4],
        &date[4..6],
        &date[6..]
    ))
}

/// A number, or `-` for a value this GPU does not report.
fn number<T: std::str::FromStr>(cell: &str) -> Result<Field<T>, String> {
    if cell == "-" {
        return Ok(Field::missing(Missing::NotSupported));
    }
    cell.parse()
        .map(Field::Value)
        .map_err(|_| format!("expected a number or -, found {cell:?}"))
}

impl<R: BufRead> Iterator for MonitorReader<R> {
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
