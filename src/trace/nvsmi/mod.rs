//! nvidia-smi CSV logs, as people record them with
//! `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits] -l 1 >> gpu.csv`.
//!
//! Rows are one GPU each; rows of one polling round become one [`Snapshot`]. A round is
//! rows with the same timestamp, or rows of *different* GPUs less than
//! [`ROUND_MS`] after the round's first row (nvidia-smi stamps each row as it reads it). A
//! GPU seen again starts the next round. Without a `timestamp` column, rounds are spaced by
//! `--interval`. Header lines may come back (appended logs) and may change the columns.
//! Which GPU a row is: its `index`, else the order of first appearance of its `uuid`,
//! else its place in the round (with a notice). Its uuid: the `uuid` cell, else the
//! `pci.bus_id`, else `trace-gpu-<index>`.

pub mod columns;
mod lost;
mod row;
pub mod values;
pub mod write;

use self::columns::Layout;
use self::row::{Row, parse_row};
use super::error::{Problem, TraceError};
use super::lines::{Line, LineReader};
use super::{TraceOptions, clock};
use crate::gpu::Snapshot;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::BufRead;
use std::sync::Arc;

/// Rows of different GPUs this close to a round's first row belong to that round.
pub const ROUND_MS: u64 = 500;

/// The source name snapshots read from nvidia-smi logs carry.
pub const SOURCE_NAME: &str = "nvidia-smi";

/// Streams snapshots out of an nvidia-smi CSV log.
pub struct CsvReader<R> {
    lines: LineReader<R>,
    file: Arc<str>,
    host: String,
    strict: bool,
    interval_ms: Option<u64>,
    layout: Option<Layout>,
    noted_no_identity: bool,
    round: Option<Snapshot>,
    rounds: u64,
    uuid_by_index: HashMap<u32, String>,
    /// GPUs by bus address (see [`lost::bus_key`]), to name the GPU of a "GPU is lost" line.
    gpu_by_bus: HashMap<String, (u32, String)>,
    /// Lost GPUs reported before their round's first row; they join the next round.
    lost_next_round: Vec<(u32, String)>,
    index_by_key: HashMap<String, u32>,
    done: bool,
}

impl<R: BufRead> CsvReader<R> {
    pub fn new(input: R, file: &str, host: &str, options: &TraceOptions) -> Self {
        let layout = options
            .columns
            .as_ref()
            .map(|names| Layout::from_names(names.iter().map(String::as_str)));
        CsvReader {
            lines: LineReader::new(input),
            file: file.into(),
            host: host.to_string(),
            strict: options.strict,
            interval_ms: options.interval.map(|d| d.as_millis() as u64),
            layout,
            noted_no_identity: false,
            round: None,
            rounds: 0,
            uuid_by_index: HashMap::new(),
            gpu_by_bus: HashMap::new(),
            lost_next_round: Vec::new(),
            index_by_key: HashMap::new(),
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

    /// Reads one line; returns what it completes, if anything.
    fn step(&mut self) -> Option<Result<Snapshot, TraceError>> {
        let line = match self.lines.next_line() {
            Err(e) => return Some(Err(self.error(Problem::Io(e)))),
            Ok(None) => {
                self.done = true;
                return self.round.take().map(Ok);
            }
            Ok(Some(line)) => line,
        };
        let (text, terminated) = match line {
            Line::TooLong => return Some(Err(self.error(Problem::TooLong))),
            Line::NotUtf8 => return Some(Err(self.error(Problem::NotUtf8))),
            Line::Text { text, terminated } => (text, terminated),
        };
        let text = text.trim();
        if text.is_empty() {
            return None;
        }
        if let Some((bus, is_lost)) = lost::device_handle_line(text) {
            let text = text.to_string();
            return self.device_handle(&bus, is_lost, text);
        }
        let cells: Vec<&str> = text.split(',').map(str::trim).collect();
        if columns::is_header(cells.iter().copied()) {
            let layout = Layout::from_names(cells.iter().copied());
            return self.header(layout);
        }
        let parsed = match &self.layout {
            Some(layout) => parse_row(layout, &cells),
            None if columns::names_only(cells.iter().copied()) => {
                let what = format!(
                    "this line looks like a header but names no nvidia-smi --query-gpu field \
                     gpuwarden reads ({text}); {}",
                    super::sniff::SUPPORTED
                );
                return Some(Err(self.error(Problem::Unreadable(what))));
            }
            None => {
                return Some(Err(self.error(Problem::Unreadable(
                    "this line is not a header and no --columns were given, so the columns \
                     cannot be known: pass --columns with the --query-gpu list the trace was \
                     recorded with (e.g. --columns timestamp,index,temperature.gpu,memory.used)"
                        .into(),
                ))));
            }
        };
        match parsed {
            Ok(row) => self.row(row),
            Err(e) if !terminated => {
                let text = text.to_string();
                Some(Err(self.error(Problem::Truncated(format!("{e}: {text:?}")))))
            }
            Err(e) => Some(Err(self.error(Problem::Malformed(e)))),
        }
    }

    fn header(&mut self, layout: Layout) -> Option<Result<Snapshot, TraceError>> {
        // A repeated header (appended logs) changes nothing and says nothing; a new set of
        // columns names its unused ones once.
        let changed = self.layout.as_ref() != Some(&layout);
        let ignored = layout.ignored.join(", ");
        self.layout = Some(layout);
        (changed && !ignored.is_empty()).then(|| Err(self.error(Problem::IgnoredColumns(ignored))))
    }

    fn row(&mut self, row: Row) -> Option<Result<Snapshot, TraceError>> {
        let layout = self.layout.as_ref()?;
        let has_timestamp = layout.has(columns::Column::Timestamp);
        let has_identity = layout.has_identity();
        if !has_timestamp && self.interval_ms.is_none() {
            return Some(Err(self.error(Problem::Unreadable(
                "the trace has no timestamp column: pass --interval with the period it was \
                 recorded at (the -l/-lms of nvidia-smi, e.g. --interval 1s)"
                    .into(),
            ))));
        }
        if !has_identity && !self.noted_no_identity {
            self.noted_no_identity = true;
            // Not an error: rows are numbered by their place in the round, and the user is told.
            tracing::warn!(
                "{}: no index, uuid or pci.bus_id column: GPUs are numbered by their order \
                 within each timestamp",
                self.file
            );
        }
        let mut sample = row.sample;
        if has_identity {
            let (index, uuid) = self.identify(row.index, row.uuid, &sample);
            sample.index = index;
            sample.uuid = uuid;
        }
        let joins = match (&self.round, row.at_ms) {
            (None, _) => false,
            (Some(round), Some(at)) => {
                if at < round.at_ms {
                    let before = clock::format_timestamp(round.at_ms);
                    let now = clock::format_timestamp(at);
                    return Some(Err(self.error(Problem::TimeWentBack { before, now })));
                }
                if has_identity {
                    at - round.at_ms < ROUND_MS && round.gpu(&sample.uuid).is_none()
                } else {
                    at == round.at_ms
                }
            }
            (Some(round), None) => has_identity && round.gpu(&sample.uuid).is_none(),
        };
        if !has_identity {
            let index = match (&self.round, joins) {
                (Some(round), true) => round.gpus.len() as u32,
                _ => 0,
            };
            sample.index = index;
            sample.uuid = format!("trace-gpu-{index}");
        }
        if joins && let Some(round) = &mut self.round {
            round.gpus.push(sample);
            return None;
        }
        let at = row
            .at_ms
            .unwrap_or_else(|| self.rounds * self.interval_ms.unwrap_or(0));
        self.rounds += 1;
        let mut next = Snapshot::new(at, self.host.clone(), SOURCE_NAME);
        next.gpus.push(sample);
        for (index, uuid) in self.lost_next_round.drain(..) {
            if next.gpu(&uuid).is_none() {
                next.gpus.push(lost_sample(index, uuid));
            }
        }
        self.round.replace(next).map(Ok)
    }

    /// nvidia-smi could not reach the GPU at `bus`: a lost sample in the current round when
    /// the GPU is lost and known, else the line is reported and skipped.
    fn device_handle(
        &mut self,
        bus: &str,
        is_lost: bool,
        text: String,
    ) -> Option<Result<Snapshot, TraceError>> {
        let known = self.gpu_by_bus.get(bus).cloned();
        match (&mut self.round, known, is_lost) {
            (Some(round), Some((index, uuid)), true) => {
                if round.gpu(&uuid).is_none() {
                    round.gpus.push(lost_sample(index, uuid));
                } else {
                    // The line opens the next polling round.
                    self.lost_next_round.push((index, uuid));
                }
                None
            }
            (_, None, true) => Some(Err(self.error(Problem::Malformed(format!(
                "a GPU at bus {bus} is lost, but no earlier row with a pci.bus_id column says \
                 which GPU that is: {text:?}"
            ))))),
            _ => Some(Err(self.error(Problem::Malformed(format!(
                "nvidia-smi could not read a GPU: {text:?}"
            ))))),
        }
    }

    /// Index and uuid of a row whose layout names its GPU.
    fn identify(
        &mut self,
        index: Option<u32>,
        uuid: Option<String>,
        sample: &crate::gpu::GpuSample,
    ) -> (u32, String) {
        let bus = sample.pci_bus_id.value();
        let index = match (index, uuid.as_ref().or(bus)) {
            (Some(i), _) => i,
            (None, Some(key)) => match self.index_by_key.get(key) {
                Some(i) => *i,
                None => {
                    let i = self.index_by_key.len() as u32;
                    self.index_by_key.insert(key.clone(), i);
                    i
                }
            },
            // A marker where the only identity should be: keep it apart from real GPUs.
            (None, None) => u32::MAX,
        };
        let uuid = match uuid {
            Some(u) => u,
            None => match self.uuid_by_index.get(&index) {
                Some(u) => u.clone(),
                None => bus.cloned().unwrap_or_else(|| format!("trace-gpu-{index}")),
            },
        };
        if let Entry::Vacant(e) = self.uuid_by_index.entry(index) {
            e.insert(uuid.clone());
            if let Some(bus) = bus {
                self.gpu_by_bus
                    .insert(lost::bus_key(bus), (index, uuid.clone()));
            }
        }
        (index, uuid)
    }
}

fn lost_sample(index: u32, uuid: String) -> crate::gpu::GpuSample {
    crate::gpu::GpuSample::lost(index, uuid, crate::gpu::Vendor::Nvidia)
}

impl<R: BufRead> Iterator for CsvReader<R> {
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
