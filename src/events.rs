//! The watchdog's audit trail: an append-only JSON-lines file `events.jsonl` in the state
//! directory, one [`Event`] per line — when, what kind, which GPU and rule, what was done and how
//! it ended.
//!
//! Every actuator outcome maps into an event through [`EventOutcome`], so a watchdog action is
//! never a silent side effect. Lines are written with one `write` each and no user-space buffer,
//! so a reader (the dashboard, the HTTP API) sees whole lines; a torn last line (a write in
//! progress, a crash) is skipped by [`read_last`], never fatal.
//!
//! The log rotates like logrotate's numbered scheme: once `events.jsonl` holds
//! [`ROTATE_BYTES`] it becomes `events.jsonl.1` (`.1` becomes `.2`, …) and the oldest beyond
//! [`ROTATE_KEEP`] is removed, so the audit trail takes bounded disk. [`read_last`] reads
//! across the rotated files, newest last, as if they were one log.

use crate::gpu::UnixMs;
use serde::{Deserialize, Serialize};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The file name of the event log inside the state directory.
pub const EVENT_LOG_FILE: &str = "events.jsonl";

/// The live log is rotated once it holds this many bytes (some 40,000 events).
pub const ROTATE_BYTES: u64 = 8 << 20;

/// How many rotated files (`events.jsonl.1` … `.N`) are kept.
pub const ROTATE_KEEP: u32 = 4;

/// One line of the event log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// When it happened (Unix milliseconds).
    pub at_ms: UnixMs,
    pub kind: EventKind,
    /// UUID of the GPU concerned, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu: Option<String>,
    /// Index of that GPU, for people reading the log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_index: Option<u32>,
    /// Name of the rule that caused it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What was done, in words: "restart fake-infer@0.service", "lock SM clocks 900-1200 MHz".
    pub action: String,
    pub result: EventResult,
    /// The error, the job result, or anything else worth knowing about the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What an event is about. An event about a decision of the engine has that action's name
/// (`fired`, `cap_clocks`, `restart_unit`, `page`, …), the same as in `replay --json`, the API
/// and the README; the others are the daemon's own (`started`, `config_reloaded`, `xid`, …).
/// Logs written before the names were unified (`rule_fired`, `clock_cap`, `unit_restart`, …)
/// still read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The daemon started watching.
    Started,
    /// The daemon stopped (SIGTERM, shutdown).
    Stopped,
    /// A new config was loaded (SIGHUP).
    ConfigReloaded,
    /// A new config was invalid; the old one stays.
    ConfigRejected,
    /// A rule's condition held for its sustain time.
    #[serde(alias = "rule_fired")]
    Fired,
    /// A rule's condition cleared.
    #[serde(alias = "rule_cleared")]
    Cleared,
    /// A clock lock or power limit was applied.
    #[serde(alias = "clock_cap")]
    CapClocks,
    /// A remembered cap was applied again (limits do not survive a driver reload).
    #[serde(alias = "clock_reapply")]
    ReapplyCap,
    /// A cap was undone (or, for a lost GPU, held until it is back).
    #[serde(alias = "clock_undo")]
    UndoCap,
    /// A systemd unit was restarted (or refused: the result says which).
    #[serde(alias = "unit_restart")]
    RestartUnit,
    /// A firing rule stopped restarting units (budget spent, restarts did not help or kept
    /// failing) until it clears or a person resets it.
    RestartsStopped,
    /// A person reset a rule's restart budget (`gpuwarden reset`).
    Reset,
    /// A desktop notification was sent.
    Notify,
    /// A firing alert went to the on-call sinks' outboxes (or nowhere: the result says).
    Page,
    /// A resolved alert went to the on-call sinks' outboxes.
    Resolve,
    /// The alert sinks themselves: started, failed to start.
    Alert,
    /// The driver reported an XID error on a GPU (NVML event or kernel log).
    Xid,
    /// A sample has not returned within `driver_timeout`: the driver is not answering.
    DriverNotAnswering,
    /// The driver answers again after not answering.
    DriverAnswering,
}

impl EventKind {
    /// The snake_case name used in the event log, metrics labels and printed lines.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Started => "started",
            EventKind::Stopped => "stopped",
            EventKind::ConfigReloaded => "config_reloaded",
            EventKind::ConfigRejected => "config_rejected",
            EventKind::Fired => "fired",
            EventKind::Cleared => "cleared",
            EventKind::CapClocks => "cap_clocks",
            EventKind::ReapplyCap => "reapply_cap",
            EventKind::UndoCap => "undo_cap",
            EventKind::RestartUnit => "restart_unit",
            EventKind::RestartsStopped => "restarts_stopped",
            EventKind::Reset => "reset",
            EventKind::Notify => "notify",
            EventKind::Page => "page",
            EventKind::Resolve => "resolve",
            EventKind::Alert => "alert",
            EventKind::Xid => "xid",
            EventKind::DriverNotAnswering => "driver_not_answering",
            EventKind::DriverAnswering => "driver_answering",
        }
    }
}

/// How an action ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventResult {
    /// It was done.
    Ok,
    /// Dry run: it would have been done.
    DryRun,
    /// The hardware or the peer cannot do it (the ladder moves on).
    NotSupported,
    /// The daemon lacks the privilege (root, a capability, the polkit rule).
    NoPermission,
    /// The daemon itself declined (outside the allowlist, budget spent, backing off).
    Refused,
    /// No answer in time.
    TimedOut,
    /// It was tried and failed.
    Failed,
    /// An alert is in every sink's outbox, on disk; each sink gets it as soon as it answers
    /// (`gpuwarden_alert_outbox_*` on `/metrics` counts what was delivered).
    Queued,
}

impl EventResult {
    /// The snake_case name used in the event log, metrics labels and printed lines.
    pub fn name(self) -> &'static str {
        match self {
            EventResult::Ok => "ok",
            EventResult::DryRun => "dry_run",
            EventResult::NotSupported => "not_supported",
            EventResult::NoPermission => "no_permission",
            EventResult::Refused => "refused",
            EventResult::TimedOut => "timed_out",
            EventResult::Failed => "failed",
            EventResult::Queued => "queued",
        }
    }

    /// True when the action took effect (or would have, in a dry run).
    pub fn is_ok(self) -> bool {
        matches!(
            self,
            EventResult::Ok | EventResult::DryRun | EventResult::Queued
        )
    }
}

/// An actuator outcome that can be written down as the result of an event.
pub trait EventOutcome {
    /// How it ended, in the event log's terms.
    fn result(&self) -> EventResult;
    /// The error or other detail worth recording.
    fn detail(&self) -> Option<String>;
}

impl Event {
    /// An event of `kind` at `at_ms` saying `action` was done with result `Ok`; fill in the rest
    /// with the builder methods.
    pub fn new(at_ms: UnixMs, kind: EventKind, action: impl Into<String>) -> Self {
        Event {
            at_ms,
            kind,
            gpu: None,
            gpu_index: None,
            rule: None,
            action: action.into(),
            result: EventResult::Ok,
            detail: None,
        }
    }

    /// The GPU concerned.
    pub fn gpu(mut self, uuid: impl Into<String>, index: Option<u32>) -> Self {
        self.gpu = Some(uuid.into());
        self.gpu_index = index;
        self
    }

    /// The rule that caused it.
    pub fn rule(mut self, rule: impl Into<String>) -> Self {
        self.rule = Some(rule.into());
        self
    }

    /// Result and detail taken from an actuator outcome.
    pub fn outcome(mut self, outcome: &impl EventOutcome) -> Self {
        self.result = outcome.result();
        self.detail = outcome.detail();
        self
    }

    /// An explicit result and detail.
    pub fn result(mut self, result: EventResult, detail: Option<String>) -> Self {
        self.result = result;
        self.detail = detail;
        self
    }
}

/// The open event log, appending.
#[derive(Debug)]
pub struct EventLog {
    path: PathBuf,
    file: File,
    /// Bytes in the live file.
    len: u64,
    rotate_bytes: u64,
    keep: u32,
}

impl EventLog {
    /// Opens (creating if needed) `events.jsonl` in `state_dir`, creating the directory too.
    pub fn open(state_dir: &Path) -> io::Result<EventLog> {
        fs::create_dir_all(state_dir).map_err(|e| with_path(e, state_dir))?;
        Self::open_file(&state_dir.join(EVENT_LOG_FILE))
    }

    /// Opens (creating if needed) the event log at exactly `path`.
    pub fn open_file(path: &Path) -> io::Result<EventLog> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| with_path(e, path))?;
        let len = file.metadata().map_err(|e| with_path(e, path))?.len();
        Ok(EventLog {
            path: path.to_path_buf(),
            file,
            len,
            rotate_bytes: ROTATE_BYTES,
            keep: ROTATE_KEEP,
        })
    }

    /// Rotates at `bytes` instead of [`ROTATE_BYTES`], keeping `keep` (at least 1) old files.
    pub fn with_rotation(mut self, bytes: u64, keep: u32) -> Self {
        self.rotate_bytes = bytes.max(1);
        self.keep = keep.max(1);
        self
    }

    /// Where the log lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one event as one line, written by a single `write` to an `O_APPEND` file.
    pub fn append(&mut self, event: &Event) -> io::Result<()> {
        let mut line = serde_json::to_vec(event).map_err(io::Error::other)?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|()| self.file.flush())
            .map_err(|e| with_path(e, &self.path))?;
        self.len += line.len() as u64;
        if self.len >= self.rotate_bytes {
            self.rotate()?;
        }
        Ok(())
    }

    /// `events.jsonl` → `.1`, `.1` → `.2`, …; the one past `keep` goes; a new live file opens.
    fn rotate(&mut self) -> io::Result<()> {
        let _ = fs::remove_file(rotated(&self.path, self.keep));
        for k in (1..self.keep).rev() {
            let from = rotated(&self.path, k);
            if from.exists() {
                let to = rotated(&self.path, k + 1);
                fs::rename(&from, &to).map_err(|e| with_path(e, &to))?;
            }
        }
        let first = rotated(&self.path, 1);
        fs::rename(&self.path, &first).map_err(|e| with_path(e, &first))?;
        *self = EventLog::open_file(&self.path)?.with_rotation(self.rotate_bytes, self.keep);
        Ok(())
    }
}

/// The `k`th rotated file of the log at `path`: `events.jsonl.k`.
pub fn rotated(path: &Path, k: u32) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(format!(".{k}"));
    PathBuf::from(name)
}

fn with_path(err: io::Error, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

/// The last `n` events of the log at `path` and its rotated files (`path.1`, `path.2`, …),
/// oldest first. Reads each file backwards, so a long log costs no more than its tail. A
/// missing file is an empty log; lines that are not events (a torn last line, a hand edit)
/// are skipped with a warning naming the line.
pub fn read_last(path: &Path, n: usize) -> io::Result<Vec<Event>> {
    let mut events = read_last_of_file(path, n)?;
    let mut k = 1;
    while events.len() < n {
        let older_path = rotated(path, k);
        if !older_path.exists() {
            break;
        }
        let mut older = read_last_of_file(&older_path, n - events.len())?;
        older.append(&mut events);
        events = older;
        k += 1;
    }
    Ok(events)
}

/// The last `n` events of one file.
fn read_last_of_file(path: &Path, n: usize) -> io::Result<Vec<Event>> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(with_path(e, path)),
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let tail = read_tail_lines(&mut file, n).map_err(|e| with_path(e, path))?;
    let mut events = Vec::with_capacity(n);
    for (i, line) in tail.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Event>(line) {
            Ok(event) => events.push(event),
            Err(err) => tracing::warn!(
                "{}: skipping a line that is not an event ({} from the end): {err}",
                path.display(),
                tail.lines().count() - i
            ),
        }
    }
    let excess = events.len().saturating_sub(n);
    events.drain(..excess);
    Ok(events)
}

/// The complete lines among the last `n` of `file` (a final line without `\n` is dropped).
fn read_tail_lines(file: &mut File, n: usize) -> io::Result<String> {
    const CHUNK: u64 = 64 * 1024;
    let len = file.seek(SeekFrom::End(0))?;
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    // Stop once the buffer holds n+1 newlines: n whole lines plus the end of the one before.
    while start > 0 && bytecount(&buf, b'\n') <= n {
        let step = CHUNK.min(start);
        start -= step;
        file.seek(SeekFrom::Start(start))?;
        let mut chunk = vec![0u8; usize::try_from(step).map_err(io::Error::other)?];
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    // Drop a torn last line, then a partial first line (unless we reached the file's start).
    match buf.iter().rposition(|b| *b == b'\n') {
        Some(end) => buf.truncate(end + 1),
        None => buf.clear(),
    }
    if start > 0 {
        let first = buf
            .iter()
            .position(|b| *b == b'\n')
            .map_or(buf.len(), |p| p + 1);
        buf.drain(..first);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn bytecount(buf: &[u8], byte: u8) -> usize {
    buf.iter().filter(|b| **b == byte).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serialized_names() {
        let kinds = [
            EventKind::Started,
            EventKind::Stopped,
            EventKind::ConfigReloaded,
            EventKind::ConfigRejected,
            EventKind::Fired,
            EventKind::Cleared,
            EventKind::CapClocks,
            EventKind::ReapplyCap,
            EventKind::UndoCap,
            EventKind::RestartUnit,
            EventKind::RestartsStopped,
            EventKind::Reset,
            EventKind::Notify,
            EventKind::Page,
            EventKind::Resolve,
            EventKind::Alert,
            EventKind::Xid,
            EventKind::DriverNotAnswering,
            EventKind::DriverAnswering,
        ];
        for k in kinds {
            assert_eq!(serde_json::to_value(k).unwrap(), k.name());
        }
        // logs written before the names were unified still read
        let old: EventKind = serde_json::from_str("\"unit_restart\"").unwrap();
        assert_eq!(old, EventKind::RestartUnit);
        let results = [
            EventResult::Ok,
            EventResult::DryRun,
            EventResult::NotSupported,
            EventResult::NoPermission,
            EventResult::Refused,
            EventResult::TimedOut,
            EventResult::Failed,
            EventResult::Queued,
        ];
        for r in results {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
        }
    }

    fn event(i: u64) -> Event {
        Event::new(
            1_000 + i,
            EventKind::RestartUnit,
            format!("restart unit-{i}.service"),
        )
        .gpu("GPU-abc", Some(0))
        .rule("hot")
    }

    #[test]
    fn appended_events_read_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(&dir.path().join("state")).unwrap();
        for i in 0..5 {
            log.append(&event(i)).unwrap();
        }
        let last = read_last(log.path(), 3).unwrap();
        assert_eq!(last, vec![event(2), event(3), event(4)]);
        assert_eq!(read_last(log.path(), 50).unwrap().len(), 5);
    }

    #[test]
    fn each_line_is_one_json_object_with_stable_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        let e = Event::new(7, EventKind::CapClocks, "lock SM clocks 900-1200 MHz")
            .gpu("GPU-1", Some(1))
            .result(EventResult::NoPermission, Some("needs root".into()));
        log.append(&e).unwrap();
        let text = fs::read_to_string(dir.path().join(EVENT_LOG_FILE)).unwrap();
        assert_eq!(
            text,
            "{\"at_ms\":7,\"kind\":\"cap_clocks\",\"gpu\":\"GPU-1\",\"gpu_index\":1,\
             \"action\":\"lock SM clocks 900-1200 MHz\",\"result\":\"no_permission\",\
             \"detail\":\"needs root\"}\n"
        );
    }

    #[test]
    fn torn_last_line_and_garbage_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENT_LOG_FILE);
        let mut log = EventLog::open_file(&path).unwrap();
        log.append(&event(1)).unwrap();
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"not json\n").unwrap();
        log.append(&event(2)).unwrap();
        f.write_all(b"{\"at_ms\":3,\"ki").unwrap();
        assert_eq!(read_last(&path, 10).unwrap(), vec![event(1), event(2)]);
    }

    #[test]
    fn tail_of_a_log_longer_than_one_chunk() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path()).unwrap();
        for i in 0..3_000 {
            log.append(&event(i)).unwrap();
        }
        assert!(fs::metadata(log.path()).unwrap().len() > 3 * 64 * 1024);
        let last = read_last(log.path(), 1_000).unwrap();
        assert_eq!(last.len(), 1_000);
        assert_eq!(last[0], event(2_000));
        assert_eq!(last[999], event(2_999));
    }

    #[test]
    fn rotates_by_size_keeps_a_count_and_reads_across_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EVENT_LOG_FILE);
        let line = serde_json::to_vec(&event(0)).unwrap().len() as u64 + 1;
        // Ten events per file, three old files kept.
        let mut log = EventLog::open_file(&path)
            .unwrap()
            .with_rotation(10 * line, 3);
        for i in 0..45 {
            log.append(&event(i)).unwrap();
        }
        let lines = |p: &Path| fs::read_to_string(p).unwrap().lines().count();
        assert_eq!(lines(&path), 5);
        assert_eq!(lines(&rotated(&path, 1)), 10);
        assert_eq!(lines(&rotated(&path, 3)), 10);
        assert!(!rotated(&path, 4).exists());
        // events 0..10 went with the oldest file; the rest read as one log
        let all = read_last(&path, 1_000).unwrap();
        assert_eq!(all, (10..45).map(event).collect::<Vec<_>>());
        let last = read_last(&path, 12).unwrap();
        assert_eq!(last, (33..45).map(event).collect::<Vec<_>>());
        // a log reopened after a restart goes on counting its size
        drop(log);
        let mut log = EventLog::open_file(&path)
            .unwrap()
            .with_rotation(10 * line, 3);
        for i in 45..50 {
            log.append(&event(i)).unwrap();
        }
        assert_eq!(lines(&path), 0);
        assert_eq!(
            read_last(&path, 3).unwrap(),
            (47..50).map(event).collect::<Vec<_>>()
        );
    }

    #[test]
    fn missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_last(&dir.path().join("nope.jsonl"), 5)
                .unwrap()
                .is_empty()
        );
    }
}
