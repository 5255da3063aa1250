//! Reads a compact trace back into whole [`Snapshot`]s: a full line replaces the current
//! snapshot, a change line is decoded straight into it, field by field, and a copy is handed
//! out. A change line found bad halfway keeps the fields it set before the fault (it is
//! reported and skipped; the next lines apply to what was read).

use super::fields;
use crate::gpu::{GpuSample, SCHEMA_VERSION, Snapshot};
use crate::trace::error::{Problem, TraceError};
use crate::trace::lines::{Line, LineReader};
use crate::trace::{TraceOptions, clock};
use serde::Deserializer;
use serde::de::{DeserializeSeed, Error, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::io::BufRead;
use std::sync::Arc;

/// What a line did.
enum Read {
    Full(Box<Snapshot>),
    /// The current snapshot was updated in place.
    Changed,
}

/// Decodes one line against the current snapshot.
struct LineSeed<'s>(&'s mut Option<Snapshot>);

impl<'de> DeserializeSeed<'de> for LineSeed<'_> {
    type Value = Read;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Read, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for LineSeed<'_> {
    type Value = Read;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a line of a compact trace")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Read, M::Error> {
        let mut full: Option<Snapshot> = None;
        let mut dt_seen = false;
        let either = "a line of a compact trace holds either \"snapshot\" or \"dt\" (with \
                      \"gpus\"), not both or neither";
        while let Some(key) = map.next_key::<&str>()? {
            match key {
                "snapshot" if !dt_seen && full.is_none() => full = Some(map.next_value()?),
                "dt" if full.is_none() && !dt_seen => {
                    let dt: u64 = map.next_value()?;
                    let current = self.0.as_mut().ok_or_else(|| {
                        M::Error::custom(
                            "a change line before any full {\"snapshot\":…} line: there is \
                             nothing to apply it to",
                        )
                    })?;
                    current.at_ms = current
                        .at_ms
                        .checked_add(dt)
                        .ok_or_else(|| M::Error::custom(format_args!("dt {dt} is too large")))?;
                    dt_seen = true;
                }
                "gpus" if dt_seen => {
                    if let Some(current) = self.0.as_mut() {
                        map.next_value_seed(GpusSeed(&mut current.gpus))?;
                    }
                }
                "snapshot" | "dt" | "gpus" => return Err(M::Error::custom(either)),
                other => {
                    return Err(M::Error::custom(format_args!(
                        "unknown key {other:?}: {either}"
                    )));
                }
            }
        }
        match full {
            Some(snap) => Ok(Read::Full(Box::new(snap))),
            None if dt_seen => Ok(Read::Changed),
            None => Err(M::Error::custom(either)),
        }
    }
}

/// The `gpus` array: changes for each GPU of the current snapshot, in order.
struct GpusSeed<'s>(&'s mut [GpuSample]);

impl<'de> DeserializeSeed<'de> for GpusSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for GpusSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of changed GPU fields")
    }

    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let n = self.0.len();
        for gpu in self.0.iter_mut() {
            if seq.next_element_seed(GpuSeed(gpu))?.is_none() {
                return Ok(());
            }
        }
        if seq.next_element::<serde::de::IgnoredAny>()?.is_some() {
            return Err(S::Error::custom(format_args!(
                "changes for more GPUs than the {n} of the sample before"
            )));
        }
        Ok(())
    }
}

/// One GPU's changed fields, set in place.
struct GpuSeed<'s>(&'s mut GpuSample);

impl<'de> DeserializeSeed<'de> for GpuSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for GpuSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of changed GPU fields")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        while let Some(name) = map.next_key::<&str>()? {
            fields::set_next(self.0, name, &mut map)?;
        }
        Ok(())
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

    /// Applies one line to `current`; returns the sample it stands for.
    fn apply(
        current: &mut Option<Snapshot>,
        text: &str,
        terminated: bool,
    ) -> Result<Snapshot, Problem> {
        let mut de = serde_json::Deserializer::from_str(text);
        let read = LineSeed(current)
            .deserialize(&mut de)
            .and_then(|r| de.end().map(|()| r))
            .map_err(|e| {
                if !terminated && e.is_eof() {
                    Problem::Truncated(e.to_string())
                } else {
                    Problem::Malformed(format!("not a line of a compact gpuwarden trace: {e}"))
                }
            })?;
        match read {
            // A change line is only read with a current snapshot (see `LineSeed`).
            Read::Changed => current
                .clone()
                .ok_or_else(|| Problem::Malformed("a change line with nothing to apply to".into())),
            Read::Full(snap) => {
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
                *current = Some((*snap).clone());
                Ok(*snap)
            }
        }
    }
}

impl<R: BufRead> Iterator for CompactReader<R> {
    type Item = Result<Snapshot, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let applied = match self.lines.next_line() {
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
                    Self::apply(&mut self.current, text, terminated)
                }
            };
            return Some(applied.map_err(|problem| self.error(problem)));
        }
        None
    }
}
