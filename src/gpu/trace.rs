//! [`TraceSource`]: a recorded trace played back as a [`Source`], for `top --trace`.
//!
//! The sampler calls [`Source::sample`] on its own clock; the trace keeps its own. Trace time
//! advances by the wall time between calls times the speed (so a dashboard redrawing every
//! second shows a 1 s trace as it happened, or ten times faster with `--speed 10`), and each
//! call returns the last snapshot whose trace time has been reached. Snapshots keep their
//! recorded timestamps. At the end the last snapshot stays on screen.
//!
//! [`ReplayControl`] is shared with the dashboard: it pauses, changes the speed and seeks
//! (back by reopening the file), and reads where the replay is and whether it has ended — so
//! a replay can never be mistaken for live data.

use super::model::{Snapshot, UnixMs};
use super::source::{Source, SourceError};
use crate::trace::{self, TraceOptions, TraceStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What the dashboard asks of the replay and sees of it.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayState {
    /// Times real time; at most [`MAX_SPEED`].
    pub speed: f64,
    pub paused: bool,
    /// Trace time to jump by on the next sample (negative: back).
    pub seek_ms: i64,
    /// Trace time of the snapshot on screen.
    pub at_ms: Option<UnixMs>,
    /// Trace time of the first snapshot.
    pub first_ms: Option<UnixMs>,
    /// The last snapshot has been reached.
    pub ended: bool,
    /// The file, for the badge.
    pub name: String,
    /// The period the trace was recorded at: the shortest gap between two of its samples
    /// seen so far (a failed sample leaves a longer one); `None` before two were read.
    pub interval_ms: Option<u64>,
}

/// The fastest replay: a day in under 20 minutes.
pub const MAX_SPEED: f64 = 100.0;

/// Shared between the [`TraceSource`] (on the sampler thread) and the dashboard.
#[derive(Clone, Debug)]
pub struct ReplayControl(Arc<Mutex<ReplayState>>, Arc<Mutex<Vec<Snapshot>>>);

/// The most snapshots kept for the dashboard between two of its samples (a chart's worth).
pub const PASSED_KEPT: usize = 1200;

impl ReplayControl {
    fn new(state: ReplayState) -> Self {
        ReplayControl(Arc::new(Mutex::new(state)), Arc::default())
    }

    pub fn lock(&self) -> MutexGuard<'_, ReplayState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The snapshots the replay moved past since the last call, oldest first: at `--speed
    /// 20` most trace samples fall between two of the dashboard's, and each is charted at its
    /// own place all the same.
    pub fn take_passed(&self) -> Vec<Snapshot> {
        std::mem::take(&mut *self.1.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn pass(&self, snapshot: Snapshot) {
        let mut passed = self.1.lock().unwrap_or_else(|e| e.into_inner());
        if passed.len() >= PASSED_KEPT {
            passed.remove(0);
        }
        passed.push(snapshot);
    }

    fn forget_passed(&self) {
        self.1.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// A copy of the state, to draw.
    pub fn state(&self) -> ReplayState {
        self.lock().clone()
    }
}

/// Plays a trace at a chosen speed.
pub struct TraceSource {
    stream: TraceStream,
    /// Where to reopen the trace from for a seek back (`None` for an in-memory stream).
    reopen: Option<(PathBuf, TraceOptions)>,
    control: ReplayControl,
    /// Wall time of the previous call, and the trace time reached then.
    clock: Option<(UnixMs, UnixMs)>,
    current: Option<Snapshot>,
    upcoming: Option<Snapshot>,
    ended: bool,
}

fn clamp_speed(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed.min(MAX_SPEED)
    } else {
        1.0
    }
}

impl TraceSource {
    /// Opens `path` (any format `replay` reads); `speed` 1.0 is real time.
    pub fn open(path: &Path, options: &TraceOptions, speed: f64) -> Result<Self, SourceError> {
        let stream = open_stream(path, options)?;
        let mut src = Self::from_stream(stream, speed);
        src.reopen = Some((path.to_path_buf(), options.clone()));
        src.control.lock().name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        );
        Ok(src)
    }

    pub fn from_stream(stream: TraceStream, speed: f64) -> Self {
        TraceSource {
            stream,
            reopen: None,
            control: ReplayControl::new(ReplayState {
                speed: clamp_speed(speed),
                paused: false,
                seek_ms: 0,
                at_ms: None,
                first_ms: None,
                ended: false,
                name: "trace".into(),
                interval_ms: None,
            }),
            clock: None,
            current: None,
            upcoming: None,
            ended: false,
        }
    }

    /// The handle the dashboard pauses, speeds up and seeks with.
    pub fn control(&self) -> ReplayControl {
        self.control.clone()
    }

    /// The trace's first sample, without starting its clock (to check `-i` against).
    pub fn first_snapshot(&mut self) -> Result<Snapshot, SourceError> {
        if self.upcoming.is_none() && self.current.is_none() && !self.ended {
            self.upcoming = self.pull()?;
        }
        self.current
            .as_ref()
            .or(self.upcoming.as_ref())
            .cloned()
            .ok_or_else(|| SourceError::Failed {
                what: "reading the trace".into(),
                detail: "the trace holds no samples".into(),
            })
    }

    /// The next snapshot of the trace; skipped lines are logged, a fatal problem ends it.
    fn pull(&mut self) -> Result<Option<Snapshot>, SourceError> {
        while !self.ended {
            match self.stream.next() {
                None => self.ended = true,
                Some(Ok(snap)) => {
                    let before = self.upcoming.as_ref().or(self.current.as_ref());
                    if let Some(gap) = before
                        .map(|b| snap.at_ms.saturating_sub(b.at_ms))
                        .filter(|g| *g > 0)
                    {
                        let mut c = self.control.lock();
                        c.interval_ms = Some(c.interval_ms.map_or(gap, |i| i.min(gap)));
                    }
                    return Ok(Some(snap));
                }
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

    /// Starts the trace over from its first line (for a seek back).
    fn rewind(&mut self) -> Result<(), SourceError> {
        let Some((path, options)) = &self.reopen else {
            return Ok(());
        };
        self.stream = open_stream(path, options)?;
        self.current = None;
        self.upcoming = None;
        self.ended = false;
        Ok(())
    }
}

fn open_stream(path: &Path, options: &TraceOptions) -> Result<TraceStream, SourceError> {
    trace::open(path, options)
        .map(|(_, stream)| stream)
        .map_err(|e| SourceError::Failed {
            what: "opening the trace".into(),
            detail: e.to_string(),
        })
}

impl Source for TraceSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        if self.upcoming.is_none() && self.current.is_none() && !self.ended {
            self.upcoming = self.pull()?;
        }
        let (speed, paused, seek) = {
            let mut c = self.control.lock();
            (c.speed, c.paused, std::mem::take(&mut c.seek_ms))
        };
        let first = match (&self.current, &self.upcoming) {
            (Some(s), _) | (None, Some(s)) => s.at_ms,
            (None, None) => {
                return Err(SourceError::Failed {
                    what: "reading the trace".into(),
                    detail: "the trace holds no samples".into(),
                });
            }
        };
        let (wall0, trace0) = *self.clock.get_or_insert((at_ms, first));
        let step = if paused {
            0
        } else {
            (at_ms.saturating_sub(wall0) as f64 * speed) as u64
        };
        let mut target = trace0.saturating_add(step).saturating_add_signed(seek);
        if seek < 0 && self.current.as_ref().is_some_and(|c| c.at_ms > target) {
            let start = self.control.lock().first_ms.unwrap_or(first);
            target = target.max(start);
            self.rewind()?;
            self.upcoming = self.pull()?;
            // A jump back: what was passed before it is not charted after it.
            self.control.forget_passed();
        }
        self.clock = Some((at_ms, target));
        // The snapshot returned last time was shown already; the ones reached and left
        // behind within this call were not: kept for the dashboard's charts.
        let mut moved = false;
        while let Some(next) = self.upcoming.take_if(|s| s.at_ms <= target) {
            if let Some(left) = self.current.replace(next)
                && moved
            {
                self.control.pass(left);
            }
            moved = true;
            self.upcoming = self.pull()?;
        }
        if self.current.is_none() {
            // Seeking back past the start lands on the first sample.
            self.current = self.upcoming.take();
            self.upcoming = self.pull()?;
        }
        let snap = self.current.clone().ok_or_else(|| SourceError::Failed {
            what: "reading the trace".into(),
            detail: "no sample yet".into(),
        })?;
        let mut c = self.control.lock();
        c.first_ms.get_or_insert(first);
        c.at_ms = Some(snap.at_ms);
        c.ended = self.ended && self.upcoming.is_none();
        Ok(snap)
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
        assert!(!src.control().state().ended);
        // Past the end the last sample stays, and the replay says it ended.
        assert_eq!(src.sample(509_000).unwrap().at_ms, 13_000);
        assert_eq!(src.sample(510_000).unwrap().at_ms, 13_000);
        assert!(src.control().state().ended);
    }

    #[test]
    fn samples_passed_between_two_calls_are_kept_in_order() {
        let times: Vec<u64> = (0..30).map(|i| 10_000 + i * 1_000).collect();
        let mut src = TraceSource::from_stream(stream(&times), 10.0);
        let control = src.control();
        assert_eq!(src.sample(0).unwrap().at_ms, 10_000);
        assert!(control.take_passed().is_empty());
        // 1 s of wall time at 10x: ten trace samples on, nine of them passed over.
        assert_eq!(src.sample(1_000).unwrap().at_ms, 20_000);
        let passed: Vec<u64> = control.take_passed().iter().map(|s| s.at_ms).collect();
        assert_eq!(passed, (11..20).map(|i| i * 1_000).collect::<Vec<_>>());
        // Nothing new reached: nothing passed, the same snapshot again.
        assert_eq!(src.sample(1_050).unwrap().at_ms, 20_000);
        assert!(control.take_passed().is_empty());
    }

    #[test]
    fn pause_speed_and_seek_forward() {
        let times: Vec<u64> = (0..20).map(|i| 10_000 + i * 1000).collect();
        let mut src = TraceSource::from_stream(stream(&times), 1.0);
        let c = src.control();
        assert_eq!(src.sample(0).unwrap().at_ms, 10_000);
        c.lock().paused = true;
        assert_eq!(src.sample(5_000).unwrap().at_ms, 10_000, "paused");
        c.lock().paused = false;
        c.lock().speed = 4.0;
        assert_eq!(src.sample(6_000).unwrap().at_ms, 14_000, "1 s at 4x");
        c.lock().seek_ms = 3_000;
        assert_eq!(src.sample(6_000).unwrap().at_ms, 17_000);
        assert_eq!(c.state().at_ms, Some(17_000));
        assert_eq!(c.state().first_ms, Some(10_000));
    }

    #[test]
    fn seeking_back_reopens_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        let mut sim = SimSource::new(&SimConfig::default());
        let lines: Vec<String> = (0..10)
            .map(|i| serde_json::to_string(&sim.sample(10_000 + i * 1000).unwrap()).unwrap())
            .collect();
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        let mut src = TraceSource::open(&path, &TraceOptions::default(), 1.0).unwrap();
        let c = src.control();
        assert_eq!(c.state().name, "t.jsonl");
        assert_eq!(src.sample(0).unwrap().at_ms, 10_000);
        assert_eq!(src.sample(6_000).unwrap().at_ms, 16_000);
        c.lock().seek_ms = -4_000;
        assert_eq!(src.sample(6_000).unwrap().at_ms, 12_000);
        c.lock().seek_ms = -60_000;
        assert_eq!(
            src.sample(6_000).unwrap().at_ms,
            10_000,
            "not before the start"
        );
    }

    #[test]
    fn the_recorded_period_is_the_shortest_gap_and_peeking_starts_no_clock() {
        let mut src = TraceSource::from_stream(stream(&[10_000, 12_000, 16_000, 18_000]), 1.0);
        assert_eq!(src.first_snapshot().unwrap().at_ms, 10_000);
        assert_eq!(src.control().state().interval_ms, None);
        assert_eq!(src.sample(900_000).unwrap().at_ms, 10_000);
        assert_eq!(src.control().state().interval_ms, Some(2_000));
        assert_eq!(src.sample(904_000).unwrap().at_ms, 12_000);
        assert_eq!(src.sample(906_000).unwrap().at_ms, 16_000);
        assert_eq!(
            src.control().state().interval_ms,
            Some(2_000),
            "a gap of 4 s"
        );
    }

    #[test]
    fn an_empty_trace_is_an_error() {
        let mut src = TraceSource::from_stream(Box::new(std::iter::empty()), 1.0);
        assert!(src.sample(0).is_err());
    }
}
