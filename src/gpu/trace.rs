//! [`TraceSource`]: a recorded trace played back as a [`Source`], for `top --trace`.
//!
//! The sampler calls [`Source::sample`] on its own clock; the trace keeps its own. The first
//! call pins trace start to that wall time, and each later call returns the last snapshot
//! whose trace time has been reached at `speed` times real time, so a dashboard redrawing
//! every second shows a 1 s trace as it happened (or ten times faster with `--speed 10`).
//! Snapshots keep their recorded timestamps. At the end the last snapshot stays on screen.

use super::model::{Snapshot, UnixMs};
use super::source::{Source, SourceError};
use crate::trace::{self, TraceOptions, TraceStream};
use std::path::Path;

/// Plays a trace at a chosen speed.
pub struct TraceSource {
    stream: TraceStream,
    speed: f64,
    /// (wall time of the first call, trace time of the first snapshot).
    origin: Option<(UnixMs, UnixMs)>,
    current: Option<Snapshot>,
    upcoming: Option<Snapshot>,
    ended: bool,
}

impl TraceSource {
    /// Opens `path` (JSON lines or nvidia-smi CSV); `speed` 1.0 is real time.
    pub fn open(path: &Path, options: &TraceOptions, speed: f64) -> Result<Self, SourceError> {
        let (_, stream) = trace::open(path, options).map_err(|e| SourceError::Failed {
            what: "opening the trace".into(),
            detail: e.to_string(),
        })?;
        Ok(Self::from_stream(stream, speed))
    }

    pub fn from_stream(stream: TraceStream, speed: f64) -> Self {
        TraceSource {
            stream,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
            origin: None,
            current: None,
            upcoming: None,
            ended: false,
        }
    }

    /// The next snapshot of the trace; skipped lines are logged, a fatal problem ends it.
    fn pull(&mut self) -> Result<Option<Snapshot>, SourceError> {
        while !self.ended {
            match self.stream.next() {
                None => self.ended = true,
                Some(Ok(snap)) => return Ok(Some(snap)),
                Some(Err(e)) if e.is_fatal() => {
                    self.ended = true;
                    return Err(SourceError::Failed {
                        what: "reading the trace".into(),
                        detail: e.to_string(),
                    });
                }
                Some(Err(e)) => tracing::warn!("{e}"),
            }
        }
        Ok(None)
    }
}

impl Source for TraceSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        if self.upcoming.is_none() && !self.ended {
            self.upcoming = self.pull()?;
        }
        let (wall0, trace0) = match (self.origin, &self.upcoming) {
            (Some(o), _) => o,
            (None, Some(first)) => *self.origin.insert((at_ms, first.at_ms)),
            (None, None) => {
                return Err(SourceError::Failed {
                    what: "reading the trace".into(),
                    detail: "the trace holds no samples".into(),
                });
            }
        };
        let elapsed = at_ms.saturating_sub(wall0) as f64 * self.speed;
        let target = trace0.saturating_add(elapsed as u64);
        while let Some(next) = self.upcoming.take_if(|s| s.at_ms <= target) {
            self.current = Some(next);
            self.upcoming = self.pull()?;
        }
        self.current.clone().ok_or_else(|| SourceError::Failed {
            what: "reading the trace".into(),
            detail: "no sample yet".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::sim::{SimConfig, SimSource};

    fn stream(times: &[u64]) -> TraceStream {
        let mut sim = SimSource::new(&SimConfig::default());
        let snaps: Vec<_> = times.iter().map(|t| Ok(sim.sample(*t).unwrap())).collect();
        Box::new(snaps.into_iter())
    }

    #[test]
    fn plays_at_the_trace_pace_times_speed() {
        let mut src = TraceSource::from_stream(stream(&[10_000, 11_000, 12_000, 13_000]), 2.0);
        assert_eq!(src.sample(500_000).unwrap().at_ms, 10_000);
        // 0.4 s of wall time at 2x = 0.8 s of trace: still the first sample.
        assert_eq!(src.sample(500_400).unwrap().at_ms, 10_000);
        assert_eq!(src.sample(500_500).unwrap().at_ms, 11_000);
        assert_eq!(src.sample(501_000).unwrap().at_ms, 12_000);
        // Past the end the last sample stays.
        assert_eq!(src.sample(509_000).unwrap().at_ms, 13_000);
        assert_eq!(src.sample(510_000).unwrap().at_ms, 13_000);
    }

    #[test]
    fn an_empty_trace_is_an_error() {
        let mut src = TraceSource::from_stream(Box::new(std::iter::empty()), 1.0);
        assert!(src.sample(0).is_err());
    }
}
