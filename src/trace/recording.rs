//! Where `gpuwarden record` writes: stdout, a plain file, or a zstd-compressed file, in one of
//! three line formats, optionally rotated by size and age with a cap on the disk all the
//! rotated files of a recording may take.
//!
//! Every sample is flushed as it is written (through the compressor too), so a recorder that
//! is killed leaves a trace that reads up to its last sample. A rotated file is renamed beside
//! the live one with the time of its first sample, `gpu.jsonl.zst` →
//! `gpu.20240513-000000.jsonl.zst`, and starts with a full snapshot, so each file replays on
//! its own. At each rotation the oldest rotated files are removed until they and the new live
//! file, counted at its full size (`max_bytes`, else the size of the file just rotated), fit in
//! `max_total`.

use super::compact::CompactWriter;
use super::nvsmi::write::{self as csv, CsvStyle};
use crate::gpu::{Snapshot, UnixMs};
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The `--query-gpu` fields a recording in nvidia-smi CSV carries.
pub const CSV_FIELDS: &[&str] = &[
    "timestamp",
    "index",
    "name",
    "uuid",
    "pci.bus_id",
    "temperature.gpu",
    "utilization.gpu",
    "utilization.memory",
    "memory.used",
    "memory.total",
    "power.draw",
    "power.limit",
    "clocks.sm",
    "clocks.max.sm",
    "fan.speed",
    "pstate",
    "clocks_event_reasons.active",
];

/// What each line holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LineFormat {
    /// One whole snapshot per line (the snapshot schema; easiest for `jq`)
    Jsonl,
    /// A whole snapshot, then only what changed (the smallest)
    Compact,
    /// nvidia-smi `--query-gpu` CSV, for tools that read nvidia-smi logs
    NvidiaSmiCsv,
}

/// When to start a new file, and how much the rotated files may take.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rotation {
    /// Start a new file once the live one holds this many bytes (as stored).
    pub max_bytes: Option<u64>,
    /// Start a new file once the live one spans this much trace time.
    pub max_age_ms: Option<u64>,
    /// Remove the oldest rotated files while all of them and the live one take more.
    pub max_total_bytes: Option<u64>,
}

impl Rotation {
    pub fn is_on(&self) -> bool {
        self.max_bytes.is_some() || self.max_age_ms.is_some()
    }
}

/// Counts what goes through to the file.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

type FileOut = Counted<BufWriter<File>>;

enum Sink {
    Stdout(BufWriter<io::Stdout>),
    Plain(FileOut),
    Zstd(zstd::stream::write::Encoder<'static, FileOut>),
}

impl Sink {
    fn writer(&mut self) -> &mut dyn Write {
        match self {
            Sink::Stdout(w) => w,
            Sink::Plain(w) => w,
            Sink::Zstd(w) => w,
        }
    }

    /// Bytes in the file so far.
    fn stored(&self) -> u64 {
        match self {
            Sink::Stdout(_) => 0,
            Sink::Plain(w) => w.bytes,
            Sink::Zstd(w) => w.get_ref().bytes,
        }
    }

    /// Ends the file: the last zstd frame is closed.
    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Stdout(mut w) => w.flush(),
            Sink::Plain(mut w) => w.flush(),
            Sink::Zstd(w) => w.finish()?.flush(),
        }
    }
}

/// zstd's level for recordings: fast enough for a 1 s sampler, most of the ratio of higher ones.
const ZSTD_LEVEL: i32 = 9;

/// A 256 KiB window: change lines repeat within seconds, so a larger window buys nothing on a
/// day of samples (it measured slightly worse) and costs every reader that much memory.
const ZSTD_WINDOW_LOG: u32 = 18;

/// An open recording.
pub struct Recording {
    path: Option<PathBuf>,
    format: LineFormat,
    compress: bool,
    rotation: Rotation,
    sink: Option<Sink>,
    compact: CompactWriter,
    /// Trace time of the live file's first sample.
    started_at: Option<UnixMs>,
    line: String,
}

impl Recording {
    /// Writes to `path` (replaced if it exists), or stdout; compressed when `path` ends in `.zst`.
    pub fn create(path: Option<&Path>, format: LineFormat, rotation: Rotation) -> io::Result<Self> {
        let compress = path.is_some_and(|p| p.extension().is_some_and(|e| e == "zst"));
        let mut r = Recording {
            path: path.map(Path::to_path_buf),
            format,
            compress,
            rotation,
            sink: None,
            compact: CompactWriter::new(),
            started_at: None,
            line: String::new(),
        };
        r.sink = Some(r.open_sink()?);
        Ok(r)
    }

    fn open_sink(&self) -> io::Result<Sink> {
        let Some(path) = &self.path else {
            return Ok(Sink::Stdout(BufWriter::new(io::stdout())));
        };
        let file = File::create(path).map_err(|e| with_path(e, path))?;
        let out = Counted {
            inner: BufWriter::new(file),
            bytes: 0,
        };
        Ok(if self.compress {
            let mut encoder = zstd::stream::write::Encoder::new(out, ZSTD_LEVEL)?;
            encoder.window_log(ZSTD_WINDOW_LOG)?;
            Sink::Zstd(encoder)
        } else {
            Sink::Plain(out)
        })
    }

    /// Appends one sample and flushes it to the file, rotating first when it is time.
    pub fn write(&mut self, snap: &Snapshot) -> io::Result<()> {
        if self.due(snap.at_ms) {
            self.rotate()?;
        }
        self.line.clear();
        let first = self.started_at.is_none();
        match self.format {
            LineFormat::Jsonl => {
                self.line
                    .push_str(&serde_json::to_string(snap).map_err(io::Error::other)?);
                self.line.push('\n');
            }
            LineFormat::Compact => self
                .compact
                .line(&mut self.line, snap)
                .map_err(io::Error::other)?,
            LineFormat::NvidiaSmiCsv => {
                if first {
                    self.line.push_str(&csv::header(CSV_FIELDS));
                    self.line.push('\n');
                }
                csv::rows(&mut self.line, CSV_FIELDS, snap, CsvStyle::default());
            }
        }
        self.started_at.get_or_insert(snap.at_ms);
        let sink = self
            .sink
            .as_mut()
            .ok_or_else(|| io::Error::other("recording closed"))?;
        let w = sink.writer();
        w.write_all(self.line.as_bytes())?;
        w.flush()
    }

    /// Whether the live file is full or old enough to start a new one before `at_ms`.
    fn due(&self, at_ms: UnixMs) -> bool {
        let (Some(started), Some(sink)) = (self.started_at, &self.sink) else {
            return false;
        };
        self.path.is_some()
            && (self
                .rotation
                .max_bytes
                .is_some_and(|max| sink.stored() >= max)
                || self
                    .rotation
                    .max_age_ms
                    .is_some_and(|age| at_ms.saturating_sub(started) >= age))
    }

    /// Closes the live file, renames it after its first sample and opens a new one.
    fn rotate(&mut self) -> io::Result<()> {
        let (Some(path), Some(started)) = (self.path.clone(), self.started_at) else {
            return Ok(());
        };
        if let Some(sink) = self.sink.take() {
            sink.finish()?;
        }
        let rotated = rotated_name(&path, started);
        fs::rename(&path, &rotated).map_err(|e| with_path(e, &rotated))?;
        let live = match self.rotation.max_bytes {
            Some(max) => max,
            None => fs::metadata(&rotated).map_or(0, |m| m.len()),
        };
        self.started_at = None;
        self.compact.restart();
        self.sink = Some(self.open_sink()?);
        if let Some(cap) = self.rotation.max_total_bytes {
            enforce_cap(&path, cap.saturating_sub(live))?;
        }
        Ok(())
    }

    /// Closes the recording, finishing the compressed frame.
    pub fn finish(mut self) -> io::Result<()> {
        match self.sink.take() {
            Some(sink) => sink.finish(),
            None => Ok(()),
        }
    }
}

/// `dir/gpu.jsonl.zst` and its first sample's time → `dir/gpu.20240513-000000.jsonl.zst`
/// (`-2`, `-3`… after the time when two files start in the same second).
pub fn rotated_name(path: &Path, started: UnixMs) -> PathBuf {
    let (stem, ext) = split_name(path);
    let t = super::clock::format_timestamp(started);
    let stamp: String = t[..19]
        .chars()
        .filter_map(|c| match c {
            '-' | ':' => None,
            ' ' => Some('-'),
            c => Some(c),
        })
        .collect();
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let candidate = path.with_file_name(format!("{stem}.{stamp}{suffix}{ext}"));
        if !candidate.exists() {
            return candidate;
        }
        n += 1;
    }
}

/// `gpu.jsonl.zst` → (`gpu`, `.jsonl.zst`).
fn split_name(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    match name.find('.') {
        Some(i) if i > 0 => (name[..i].to_string(), name[i..].to_string()),
        _ => (name, String::new()),
    }
}

/// The rotated files of the recording at `path`, oldest first.
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let (stem, ext) = split_name(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let prefix = format!("{stem}.");
    let mut found: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(|e| with_path(e, &dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let middle = name.strip_prefix(&prefix)?.strip_suffix(&ext)?;
            // 20240513-000000, maybe -N: digits and dashes only.
            (middle.len() >= 15 && middle.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
                .then(|| e.path())
        })
        .collect();
    // The names sort by time; `-N` suffixes sort after the plain name of the same second.
    found.sort_by_key(|p| {
        let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        let middle = name[prefix.len()..name.len() - ext.len()].to_string();
        let (stamp, n) = match middle.get(15..) {
            Some(rest) if !rest.is_empty() => (
                middle[..15].to_string(),
                rest[1..].parse::<u32>().unwrap_or(0),
            ),
            _ => (middle.clone(), 1),
        };
        (stamp, n)
    });
    Ok(found)
}

/// Removes the oldest rotated files of the recording at `path` while they take more than `cap`.
fn enforce_cap(path: &Path, cap: u64) -> io::Result<()> {
    let size = |p: &Path| fs::metadata(p).map_or(0, |m| m.len());
    let rotated = rotated_files(path)?;
    let mut total: u64 = rotated.iter().map(|p| size(p)).sum::<u64>();
    for old in rotated {
        if total <= cap {
            break;
        }
        total -= size(&old);
        fs::remove_file(&old).map_err(|e| with_path(e, &old))?;
        tracing::info!(
            "removed {} to keep the recording under {cap} bytes",
            old.display()
        );
    }
    Ok(())
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Source;
    use crate::gpu::sim::{SimConfig, SimSource};
    use crate::trace::{self, TraceFormat, TraceOptions};

    fn record(path: &Path, format: LineFormat, rotation: Rotation, seconds: u64) {
        let mut sim = SimSource::new(&SimConfig::default());
        let mut rec = Recording::create(Some(path), format, rotation).unwrap();
        for s in 0..seconds {
            rec.write(&sim.sample(1_715_558_400_000 + s * 1000).unwrap())
                .unwrap();
        }
        rec.finish().unwrap();
    }

    fn samples(path: &Path) -> Vec<Snapshot> {
        let (_, stream) = trace::open(path, &TraceOptions::default()).unwrap();
        stream.map(|r| r.unwrap()).collect()
    }

    #[test]
    fn a_zst_file_is_compact_and_compressed_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gpu.jsonl.zst");
        record(&path, LineFormat::Compact, Rotation::default(), 60);
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes[..4], super::super::encoding::ZSTD_MAGIC);
        let text = zstd::stream::decode_all(&bytes[..]).unwrap();
        assert!(text.starts_with(b"{\"snapshot\":"));
        let (format, _) = trace::open(&path, &TraceOptions::default()).unwrap();
        assert_eq!(format, TraceFormat::Compact);
        let plain = dir.path().join("gpu.jsonl");
        record(&plain, LineFormat::Jsonl, Rotation::default(), 60);
        assert_eq!(samples(&path), samples(&plain));
    }

    #[test]
    fn rotates_by_age_and_every_file_replays_on_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gpu.jsonl.zst");
        let rotation = Rotation {
            max_age_ms: Some(60_000),
            ..Rotation::default()
        };
        record(&path, LineFormat::Compact, rotation, 150);
        let rotated = rotated_files(&path).unwrap();
        let names: Vec<String> = rotated
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "gpu.20240513-000000.jsonl.zst",
                "gpu.20240513-000100.jsonl.zst"
            ]
        );
        let counts: Vec<usize> = rotated
            .iter()
            .chain([&path])
            .map(|p| samples(p).len())
            .collect();
        assert_eq!(counts, [60, 60, 30]);
    }

    #[test]
    fn rotates_by_size_and_keeps_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gpu.jsonl");
        let rotation = Rotation {
            max_bytes: Some(200_000),
            max_total_bytes: Some(700_000),
            ..Rotation::default()
        };
        record(&path, LineFormat::Jsonl, rotation, 300);
        let rotated = rotated_files(&path).unwrap();
        let total: u64 = rotated
            .iter()
            .chain([&path])
            .map(|p| fs::metadata(p).unwrap().len())
            .sum();
        assert!(total <= 700_000, "{total}");
        assert!(rotated.len() >= 2, "{rotated:?}");
        for p in &rotated {
            let len = fs::metadata(p).unwrap().len();
            // Rotation happens at the first sample past the size: at most one line over.
            assert!((200_000..260_000).contains(&len), "{}: {len}", p.display());
        }
        // The oldest went: what is left ends with the last sample recorded.
        let kept: usize = rotated
            .iter()
            .chain([&path])
            .map(|p| samples(p).len())
            .sum();
        assert!(kept < 300, "{kept}");
        let last = samples(&path).pop().unwrap();
        assert_eq!(last.at_ms, 1_715_558_400_000 + 299 * 1000);
    }

    #[test]
    fn nvidia_smi_csv_has_its_header_in_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.csv");
        let rotation = Rotation {
            max_age_ms: Some(10_000),
            ..Rotation::default()
        };
        record(&path, LineFormat::NvidiaSmiCsv, rotation, 25);
        let files: Vec<PathBuf> = rotated_files(&path)
            .unwrap()
            .into_iter()
            .chain([path.clone()])
            .collect();
        assert_eq!(files.len(), 3);
        for f in &files {
            let text = fs::read_to_string(f).unwrap();
            assert!(text.starts_with("timestamp, index, name, uuid"), "{text}");
            assert_eq!(text.matches("timestamp").count(), 1);
            let (format, _) = trace::open(f, &TraceOptions::default()).unwrap();
            assert_eq!(format, TraceFormat::NvidiaSmiCsv);
        }
        let counts: Vec<usize> = files.iter().map(|p| samples(p).len()).collect();
        assert_eq!(counts, [10, 10, 5]);
    }

    #[test]
    fn names_rotated_files_apart_within_one_second() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.csv");
        let a = rotated_name(&path, 1_715_558_400_000);
        fs::write(&a, "x").unwrap();
        let b = rotated_name(&path, 1_715_558_400_500);
        assert_eq!(b.file_name().unwrap(), "node.20240513-000000-2.csv");
        fs::write(&b, "x").unwrap();
        fs::write(dir.path().join("node.csv.bak"), "x").unwrap();
        assert_eq!(rotated_files(&path).unwrap(), [a, b]);
    }
}
