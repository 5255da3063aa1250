//! The on-disk outbox of one alert sink: nothing is lost between "the watchdog decided to
//! alert" and "the sink accepted it".
//!
//! The outbox is a journal of JSON lines (`<dir>/<sink>.jsonl`): adding an alert appends an
//! `add` record and fsyncs before [`push`](Outbox::push) returns; an alert leaves only through
//! a `done` record written after the sink accepted it (or refused it for good). Reopening
//! replays the journal, so pending alerts survive a crash or restart. A record torn by a crash
//! mid-write is cut off on open; any other unreadable line is an error naming file and line.
//! The journal is rewritten (temp file, fsync, rename) when it holds mostly finished records.
//! A `<sink>.lock` file held with `flock` keeps two processes from sharing one outbox.
//!
//! The outbox is bounded: beyond `max_entries` the oldest alert is dropped, counted, and the
//! caller is told so it can report the loss (see `dispatch`).

use super::Alert;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The rule of the alert that reports drops; it neither counts against the bound nor is
/// ever dropped itself.
pub const OVERFLOW_RULE: &str = "alert-outbox-overflow";

/// One alert waiting for its sink.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub alert: Alert,
}

/// How an alert left the outbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// The sink accepted it.
    Delivered,
    /// The sink refused it for good (HTTP 4xx).
    Rejected,
    /// The outbox was full.
    Dropped,
    /// A newer alert with the same identity and status took its place before it was sent.
    Replaced,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Record {
    Add { id: u64, alert: Alert },
    Done { id: u64, outcome: Outcome },
    Stats(Counters),
}

/// What happened to alerts over the outbox's whole life (kept across compactions).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub delivered: u64,
    pub rejected: u64,
    pub dropped: u64,
    pub next_id: u64,
}

/// The outbox of one sink.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    file: File,
    _lock: File,
    pending: Vec<Entry>,
    counters: Counters,
    max_entries: usize,
    /// Journal records that no longer describe a pending alert.
    dead_records: usize,
}

/// Why an outbox could not be opened or written.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: unreadable outbox record: {detail}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        detail: String,
    },
    #[error("{path} is in use by another gpuwarden process")]
    Locked { path: PathBuf },
}

impl Outbox {
    /// Opens (or creates) the outbox of `sink` under `dir` and replays it.
    pub fn open(dir: &Path, sink: &str, max_entries: usize) -> Result<Outbox, OutboxError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| OutboxError::Io { path, source }
        };
        fs::create_dir_all(dir).map_err(io_err(dir))?;
        let lock_path = dir.join(format!("{sink}.lock"));
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        // SAFETY: flock on a descriptor we own; released when `lock` is closed.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(OutboxError::Locked { path: lock_path });
        }
        let path = dir.join(format!("{sink}.jsonl"));
        let (pending, counters) = replay(&path)?;
        let file = rewrite(&path, &pending, &counters)?;
        Ok(Outbox {
            path,
            file,
            _lock: lock,
            pending,
            counters,
            max_entries: max_entries.max(1),
            dead_records: 0,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Alerts not yet accepted, oldest first.
    pub fn pending(&self) -> &[Entry] {
        &self.pending
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Adds an alert durably. A pending alert with the same identity and status that is the
    /// newest of its identity is replaced (re-sends do not pile up). Returns how many older
    /// alerts were dropped to stay within the bound.
    pub fn push(&mut self, alert: Alert) -> Result<u64, OutboxError> {
        self.push_inner(alert, true)
    }

    /// Like [`push`](Self::push) but never drops: for the one alert that reports drops.
    pub fn push_unbounded(&mut self, alert: Alert) -> Result<u64, OutboxError> {
        self.push_inner(alert, false)
    }

    fn push_inner(&mut self, alert: Alert, bounded: bool) -> Result<u64, OutboxError> {
        let mut records = Vec::new();
        let identity = alert.identity();
        if let Some(pos) = self
            .pending
            .iter()
            .rposition(|e| e.alert.identity() == identity)
            .filter(|&p| self.pending[p].alert.status == alert.status)
        {
            let old = self.pending.remove(pos);
            records.push(Record::Done {
                id: old.id,
                outcome: Outcome::Replaced,
            });
        }
        let mut dropped = 0;
        let counted = |p: &[Entry]| p.iter().filter(|e| e.alert.rule != OVERFLOW_RULE).count();
        while bounded && counted(&self.pending) >= self.max_entries {
            let Some(oldest) = self
                .pending
                .iter()
                .position(|e| e.alert.rule != OVERFLOW_RULE)
            else {
                break;
            };
            let old = self.pending.remove(oldest);
            records.push(Record::Done {
                id: old.id,
                outcome: Outcome::Dropped,
            });
            dropped += 1;
        }
        let id = self.counters.next_id;
        self.counters.next_id += 1;
        self.counters.dropped += dropped;
        let entry = Entry { id, alert };
        records.push(Record::Add {
            id,
            alert: entry.alert.clone(),
        });
        self.dead_records += records.len() - 1;
        self.pending.push(entry);
        self.append(&records)?;
        Ok(dropped)
    }

    /// Records that the alerts `ids` left the outbox with `outcome`.
    pub fn finish(&mut self, ids: &[u64], outcome: Outcome) -> Result<(), OutboxError> {
        let before = self.pending.len();
        self.pending.retain(|e| !ids.contains(&e.id));
        let n = (before - self.pending.len()) as u64;
        match outcome {
            Outcome::Delivered => self.counters.delivered += n,
            Outcome::Rejected => self.counters.rejected += n,
            Outcome::Dropped => self.counters.dropped += n,
            Outcome::Replaced => {}
        }
        let records: Vec<Record> = ids.iter().map(|&id| Record::Done { id, outcome }).collect();
        self.dead_records += 2 * records.len();
        self.append(&records)?;
        if self.dead_records >= 256 && self.dead_records > 4 * self.pending.len() {
            self.file = rewrite(&self.path, &self.pending, &self.counters)?;
            self.dead_records = 0;
        }
        Ok(())
    }

    fn append(&mut self, records: &[Record]) -> Result<(), OutboxError> {
        let mut buf = Vec::with_capacity(512 * records.len());
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| self.io(e.into()))?;
            buf.push(b'\n');
        }
        self.file.write_all(&buf).map_err(|e| self.io(e))?;
        self.file.sync_data().map_err(|e| self.io(e))
    }

    fn io(&self, source: io::Error) -> OutboxError {
        OutboxError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

fn replay(path: &Path) -> Result<(Vec<Entry>, Counters), OutboxError> {
    let io_err = |source| OutboxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut pending: Vec<Entry> = Vec::new();
    let mut counters = Counters::default();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((pending, counters)),
        Err(e) => return Err(io_err(e)),
    };
    let mut reader = BufReader::new(file);
    let mut line = String::new();
    let mut number = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(io_err)? == 0 {
            break;
        }
        number += 1;
        if !line.ends_with('\n') {
            // Torn by a crash during the write: push() never returned, nothing was promised.
            tracing::warn!("{}:{number}: cutting off a torn record", path.display());
            break;
        }
        let record: Record =
            serde_json::from_str(line.trim_end()).map_err(|e| OutboxError::Corrupt {
                path: path.to_path_buf(),
                line: number,
                detail: e.to_string(),
            })?;
        match record {
            Record::Add { id, alert } => {
                counters.next_id = counters.next_id.max(id + 1);
                pending.push(Entry { id, alert });
            }
            Record::Done { id, outcome } => {
                pending.retain(|e| e.id != id);
                match outcome {
                    Outcome::Delivered => counters.delivered += 1,
                    Outcome::Rejected => counters.rejected += 1,
                    Outcome::Dropped => counters.dropped += 1,
                    Outcome::Replaced => {}
                }
            }
            Record::Stats(c) => counters = c,
        }
    }
    Ok((pending, counters))
}

/// Writes a fresh journal holding only the pending alerts and returns it open for appending.
fn rewrite(path: &Path, pending: &[Entry], counters: &Counters) -> Result<File, OutboxError> {
    let io_err = |source| OutboxError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("jsonl.tmp");
    let mut buf = Vec::new();
    let stats = Record::Stats(*counters);
    serde_json::to_writer(&mut buf, &stats).map_err(|e| io_err(e.into()))?;
    buf.push(b'\n');
    for e in pending {
        let add = Record::Add {
            id: e.id,
            alert: e.alert.clone(),
        };
        serde_json::to_writer(&mut buf, &add).map_err(|e| io_err(e.into()))?;
        buf.push(b'\n');
    }
    {
        let mut f = File::create(&tmp).map_err(io_err)?;
        f.write_all(&buf).map_err(io_err)?;
        f.sync_all().map_err(io_err)?;
    }
    fs::rename(&tmp, path).map_err(io_err)?;
    if let Some(dir) = path.parent() {
        File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
    }
    OpenOptions::new().append(true).open(path).map_err(io_err)
}

#[cfg(test)]
mod tests;
