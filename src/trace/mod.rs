//! Recorded traces read back as a stream of [`Snapshot`]s: gpuwarden's own JSON lines
//! (`gpuwarden record`, whole snapshots or the compact changes-only form) and nvidia-smi CSV
//! logs (`nvidia-smi --query-gpu=... --format=csv -l 1`). The format and the encoding
//! (plain, zstd, UTF-16) are told from the content, never from the file name.
//!
//! Readers are iterators that hold one line and one pending snapshot at a time, so a day of
//! an 8-GPU node replays in constant memory. Problems come out of the same iterator as
//! [`TraceError`]s naming file and line: a malformed line is skipped (or stops the trace with
//! `strict`), a fatal one ends it. `replay`, `top --trace` and the tests all read through
//! [`open`], so every consumer sees the same samples; [`replay`] drives the watchdog's
//! engine over them.

pub mod clock;
pub mod compact;
pub mod dmon;
pub mod encoding;
mod error;
pub mod jsonl;
pub mod lines;
pub mod nvsmi;
pub mod recording;
pub mod replay;
pub mod sniff;
pub mod table;

pub use error::{Problem, Severity, TraceError};

use crate::gpu::Snapshot;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

/// A stream of snapshots, or the problems met reading them.
pub type TraceStream = Box<dyn Iterator<Item = Result<Snapshot, TraceError>> + Send>;

/// How to read a trace; filled from the command line.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// A malformed line stops the trace instead of being skipped.
    pub strict: bool,
    /// Time between samples for traces without a `timestamp` column.
    pub interval: Option<Duration>,
    /// The `--query-gpu` list of a CSV recorded with `noheader`.
    pub columns: Option<Vec<String>>,
}

/// Which kind of file a trace is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceFormat {
    /// One whole snapshot per line.
    JsonLines,
    /// A full snapshot, then only what changed ([`compact`]).
    Compact,
    NvidiaSmiCsv,
    /// `nvidia-smi dmon`, one GPU per row ([`dmon`]).
    NvidiaSmiDmon,
    /// `nvidia-smi pmon`, one process per row ([`dmon`]).
    NvidiaSmiPmon,
    /// The plain `nvidia-smi` table printed in a loop ([`table`]).
    NvidiaSmiTable,
}

impl TraceFormat {
    /// The name `replay` prints and `--json` carries.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::JsonLines => "gpuwarden-jsonl",
            TraceFormat::Compact => "gpuwarden-compact",
            TraceFormat::NvidiaSmiCsv => "nvidia-smi-csv",
            TraceFormat::NvidiaSmiDmon => "nvidia-smi-dmon",
            TraceFormat::NvidiaSmiPmon => "nvidia-smi-pmon",
            TraceFormat::NvidiaSmiTable => "nvidia-smi-table",
        }
    }
}

/// Opens a trace file, telling its encoding from its first bytes and its format from its
/// first line.
pub fn open(path: &Path, options: &TraceOptions) -> Result<(TraceFormat, TraceStream), TraceError> {
    open_described(path, options).map(|(format, _, stream)| (format, stream))
}

/// [`open`], also saying how the file is stored.
pub fn open_described(
    path: &Path,
    options: &TraceOptions,
) -> Result<(TraceFormat, encoding::Encoding, TraceStream), TraceError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| TraceError::new(&name, None, Problem::Io(e)))?;
    let raw = BufReader::with_capacity(64 * 1024, file);
    detect(raw, &name, &host_name(path), options)
}

/// Reads a trace of unknown format from any buffered input: the encoding from its first
/// bytes, the format from its first lines, as [`open`] does for a file.
pub fn detect<R: BufRead + Send + 'static>(
    mut raw: R,
    name: &str,
    host: &str,
    options: &TraceOptions,
) -> Result<(TraceFormat, encoding::Encoding, TraceStream), TraceError> {
    let io_error = |e| TraceError::new(name, None, Problem::Io(e));
    let stored = encoding::sniff(&mut raw).map_err(io_error)?;
    let mut input = encoding::decode(raw, stored, name).map_err(io_error)?;
    let head = input.fill_buf().map_err(io_error)?;
    let format = sniff::format(head, options.columns.is_some())
        .map_err(|what| TraceError::new(name, None, Problem::Unreadable(what)))?;
    Ok((
        format,
        stored,
        from_reader(format, input, name, host, options),
    ))
}

/// The host a trace without one is said to come from: the file name without its extension
/// (both of them for `gpu.csv.zst`).
fn host_name(path: &Path) -> String {
    let path = match path.extension() {
        Some(ext) if ext == "zst" => path.with_extension(""),
        _ => path.to_path_buf(),
    };
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "trace".into())
}

/// Reads a trace of a known format from any buffered input (tests, benchmarks, stdin).
pub fn from_reader<R: BufRead + Send + 'static>(
    format: TraceFormat,
    input: R,
    name: &str,
    host: &str,
    options: &TraceOptions,
) -> TraceStream {
    match format {
        TraceFormat::JsonLines => Box::new(jsonl::JsonLinesReader::new(input, name, options)),
        TraceFormat::Compact => Box::new(compact::CompactReader::new(input, name, options)),
        TraceFormat::NvidiaSmiCsv => Box::new(nvsmi::CsvReader::new(input, name, host, options)),
        TraceFormat::NvidiaSmiDmon | TraceFormat::NvidiaSmiPmon => {
            Box::new(dmon::MonitorReader::new(input, name, host, options))
        }
        TraceFormat::NvidiaSmiTable => {
            Box::new(table::TableReader::new(input, name, host, options))
        }
    }
}
