//! gpuwarden's own trace format: one [`Snapshot`] as JSON per line, as `gpuwarden record`
//! writes it (the schema in `docs/snapshot-schema.md`).

use super::error::{Problem, TraceError};
use super::lines::{Line, LineReader};
use super::{TraceOptions, clock};
use crate::gpu::{SCHEMA_VERSION, Snapshot, UnixMs};
use std::io::BufRead;
use std::sync::Arc;

/// Streams snapshots out of JSON lines; blank lines are allowed.
pub struct JsonLinesReader<R> {
    lines: LineReader<R>,
    file: Arc<str>,
    strict: bool,
    last_at: Option<UnixMs>,
    done: bool,
}

impl<R: BufRead> JsonLinesReader<R> {
    pub fn new(input: R, file: &str, options: &TraceOptions) -> Self {
        JsonLinesReader {
            lines: LineReader::new(input),
            file: file.into(),
            strict: options.strict,
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

    fn parse(&mut self, text: &str, terminated: bool) -> Result<Snapshot, Problem> {
        let snap: Snapshot = serde_json::from_str(text).map_err(|e| {
            if !terminated && e.is_eof() {
                Problem::Truncated(e.to_string())
            } else {
                Problem::Malformed(format!("not a gpuwarden snapshot: {e}"))
            }
        })?;
        if snap.schema > SCHEMA_VERSION {
            return Err(Problem::Unreadable(format!(
                "snapshot schema {} is newer than this gpuwarden reads ({SCHEMA_VERSION}); \
                 replay with the gpuwarden that recorded it",
                snap.schema
            )));
        }
        if let Some(before) = self.last_at
            && snap.at_ms < before
        {
            return Err(Problem::TimeWentBack {
                before: clock::format_timestamp(before),
                now: clock::format_timestamp(snap.at_ms),
            });
        }
        self.last_at = Some(snap.at_ms);
        Ok(snap)
    }
}

impl<R: BufRead> Iterator for JsonLinesReader<R> {
    type Item = Result<Snapshot, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (text, terminated) = match self.lines.next_line() {
                Err(e) => return Some(Err(self.error(Problem::Io(e)))),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(Line::TooLong)) => return Some(Err(self.error(Problem::TooLong))),
                Ok(Some(Line::NotUtf8)) => return Some(Err(self.error(Problem::NotUtf8))),
                Ok(Some(Line::Text { text, terminated })) => (text.trim().to_owned(), terminated),
            };
            if text.is_empty() {
                continue;
            }
            return Some(match self.parse(&text, terminated) {
                Ok(snap) => Ok(snap),
                Err(problem) => Err(self.error(problem)),
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Source;
    use crate::gpu::sim::{SimConfig, SimSource};

    #[test]
    fn reads_recorded_snapshots_and_skips_a_truncated_tail() {
        let mut sim = SimSource::new(&SimConfig::default());
        let a = sim.sample(1_000).unwrap();
        let b = sim.sample(2_000).unwrap();
        let mut text = format!(
            "{}\n\n{}\n",
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
        let full = serde_json::to_string(&b).unwrap();
        text.push_str(&full[..full.len() / 2]);
        let items: Vec<_> =
            JsonLinesReader::new(text.as_bytes(), "t.jsonl", &TraceOptions::default()).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap(), &a);
        assert_eq!(items[1].as_ref().unwrap(), &b);
        let err = items[2].as_ref().unwrap_err();
        assert!(matches!(err.problem, Problem::Truncated(_)), "{err}");
        assert_eq!(err.line, Some(4));
        assert!(!err.is_fatal());
    }

    #[test]
    fn strict_stops_at_the_first_bad_line() {
        let opts = TraceOptions {
            strict: true,
            ..TraceOptions::default()
        };
        let items: Vec<_> = JsonLinesReader::new(&b"{oops}\n{}\n"[..], "t.jsonl", &opts).collect();
        assert_eq!(items.len(), 1);
        let err = items[0].as_ref().unwrap_err();
        assert!(err.is_fatal());
        assert!(
            err.to_string()
                .starts_with("t.jsonl:1: not a gpuwarden snapshot"),
            "{err}"
        );
    }
}
