//! Reads a compact trace back into whole [`Snapshot`]s: a full line replaces the current
//! snapshot, a change line updates a copy of it field by field.

use super::fields;
use crate::gpu::{SCHEMA_VERSION, Snapshot};
use crate::trace::error::{Problem, TraceError};
use crate::trace::lines::{Line, LineReader};
use crate::trace::{TraceOptions, clock};
use serde::Deserialize;
use serde::de::{MapAccess, Visitor};
use serde_json::value::RawValue;
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

/// One line, either kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Record<'a> {
    #[serde(default)]
    snapshot: Option<Snapshot>,
    #[serde(default)]
    dt: Option<u64>,
    #[serde(default, borrow)]
    gpus: Option<Vec<Changes<'a>>>,
}

/// The changed fields of one GPU, as names and undecoded values.
struct Changes<'a>(Vec<(&'a str, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Changes<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Changes<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of changed GPU fields")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<&'de str, &'de RawValue>()? {
                    out.push(entry);
                }
                Ok(Changes(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// Streams snapshots out of a compact trace; blank lines are allowed.
pub struct CompactReader<R> {
    lines: LineReader<R>,
    file: Arc<str>,
    strict: bool,
    current: Option<Snapshot>,
    done: bool,
}

impl<R: BufRead> CompactReader<R> {
    pub fn new(input: R, file: &str, options: &TraceOptions) -> Self {
        CompactReader {
            lines: LineReader::new(input),
            file: file.into(),
            strict: options.strict,
            current: None,
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

    fn parse(
        current: &Option<Snapshot>,
        text: &str,
        terminated: bool,
    ) -> Result<Snapshot, Problem> {
        let record: Record = serde_json::from_str(text).map_err(|e| {
            if !terminated && e.is_eof() {
                Problem::Truncated(e.to_string())
            } else {
                Problem::Malformed(format!("not a line of a compact gpuwarden trace: {e}"))
            }
        })?;
        match (record.snapshot, record.dt) {
            (Some(snap), None) if record.gpus.is_none() => {
                if snap.schema > SCHEMA_VERSION {
                    return Err(Problem::Unreadable(format!(
                        "snapshot schema {} is newer than this gpuwarden reads \
                         ({SCHEMA_VERSION}); replay with the gpuwarden that recorded it",
                        snap.schema
                    )));
                }
                if let Some(before) = current
                    && snap.at_ms < before.at_ms
                {
                    return Err(Problem::TimeWentBack {
                        before: clock::format_timestamp(before.at_ms),
                        now: clock::format_timestamp(snap.at_ms),
                    });
                }
                Ok(snap)
            }
            (None, Some(dt)) => {
                let Some(before) = current else {
                    return Err(Problem::Malformed(
                        "a change line before any full {\"snapshot\":…} line: there is \
                         nothing to apply it to"
                            .into(),
                    ));
                };
                let mut next = before.clone();
                next.at_ms = next
                    .at_ms
                    .checked_add(dt)
                    .ok_or_else(|| Problem::Malformed(format!("dt {dt} is too large")))?;
                let changes = record.gpus.unwrap_or_default();
                if changes.len() > next.gpus.len() {
                    return Err(Problem::Malformed(format!(
                        "changes for {} GPUs, but the sample before has {}",
                        changes.len(),
                        next.gpus.len()
                    )));
                }
                for (gpu, Changes(fields)) in next.gpus.iter_mut().zip(changes) {
                    for (name, value) in fields {
                        fields::set(gpu, name, value).map_err(Problem::Malformed)?;
                    }
                }
                Ok(next)
            }
            _ => Err(Problem::Malformed(
                "a line of a compact trace holds either \"snapshot\" or \"dt\" (with \
                 \"gpus\"), not both or neither"
                    .into(),
            )),
        }
    }
}

impl<R: BufRead> Iterator for CompactReader<R> {
    type Item = Result<Snapshot, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let parsed = match self.lines.next_line() {
                Err(e) => return Some(Err(self.error(Problem::Io(e)))),
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Ok(Some(Line::TooLong)) => Err(Problem::TooLong),
                Ok(Some(Line::NotUtf8)) => Err(Problem::NotUtf8),
                Ok(Some(Line::Text { text, terminated })) => {
                    let text = text.trim();
                    if text.is_empty() {
                        continue;
                    }
                    Self::parse(&self.current, text, terminated)
                }
            };
            return Some(match parsed {
                Ok(snap) => {
                    self.current = Some(snap.clone());
                    Ok(snap)
                }
                Err(problem) => Err(self.error(problem)),
            });
        }
        None
    }
}
