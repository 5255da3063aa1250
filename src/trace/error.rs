//! What can go wrong reading a trace, always with the file and (when there is one) the line.

use std::fmt;
use std::sync::Arc;

/// How bad a problem is for the replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Worth telling; nothing was lost (e.g. a column gpuwarden does not use).
    Note,
    /// One line's data was skipped; the trace goes on.
    Skipped,
    /// The trace cannot be read further.
    Fatal,
}

/// The problem itself.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Malformed(String),
    #[error("the file ends in the middle of this line (recorder stopped mid-write?): {0}")]
    Truncated(String),
    #[error("line is longer than {} bytes", super::lines::MAX_LINE_BYTES)]
    TooLong,
    #[error("line is not UTF-8 text")]
    NotUtf8,
    #[error("timestamp {now} is before the previous sample's {before}")]
    TimeWentBack { before: String, now: String },
    #[error("ignoring columns gpuwarden does not use: {0}")]
    IgnoredColumns(String),
    #[error("{0}")]
    Unreadable(String),
}

/// A problem at a place in a trace file.
#[derive(Debug)]
pub struct TraceError {
    pub file: Arc<str>,
    /// 1-based line number, when the problem belongs to a line.
    pub line: Option<u64>,
    pub problem: Problem,
    /// Set when `--strict` turned a skipped line into the end of the trace.
    pub strict: bool,
}

impl TraceError {
    pub fn new(file: &str, line: Option<u64>, problem: Problem) -> Self {
        TraceError {
            file: file.into(),
            line,
            problem,
            strict: false,
        }
    }

    pub fn severity(&self) -> Severity {
        match self.problem {
            Problem::IgnoredColumns(_) => Severity::Note,
            Problem::Io(_) | Problem::Unreadable(_) => Severity::Fatal,
            _ if self.strict => Severity::Fatal,
            _ => Severity::Skipped,
        }
    }

    pub fn is_fatal(&self) -> bool {
        self.severity() == Severity::Fatal
    }
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(n) => write!(f, "{}:{n}: {}", self.file, self.problem)?,
            None => write!(f, "{}: {}", self.file, self.problem)?,
        }
        match self.severity() {
            Severity::Skipped => f.write_str(" (line skipped; --strict stops here instead)"),
            Severity::Fatal if self.strict => f.write_str(" (--strict)"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for TraceError {}
