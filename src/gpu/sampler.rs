//! Runs a [`Source`] on its own thread at a fixed interval and hands snapshots to async code.
//!
//! NVML calls block (PCIe throughput alone waits ~20 ms), so sampling never happens on the UI
//! or the daemon's event loop. The channel is small and lossy: if a consumer stalls, new
//! snapshots are dropped rather than queued without bound.

use super::model::Snapshot;
use super::model::UnixMs;
use super::source::{Source, SourceError};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// What the sampling thread sends: a snapshot, or why the source failed this time.
pub type SampleResult = Result<Snapshot, String>;

/// The current wall-clock time in ms since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Starts sampling `source` every `interval`; the thread stops when the receiver is dropped.
pub fn spawn(source: Box<dyn Source>, interval: Duration) -> mpsc::Receiver<SampleResult> {
    spawn_adjustable(
        source,
        Arc::new(AtomicU64::new(interval.as_millis() as u64)),
    )
}

/// Like [`spawn`], with the interval (in ms) read before each wait, so a reload can change it.
pub fn spawn_adjustable(
    mut source: Box<dyn Source>,
    interval_ms: Arc<AtomicU64>,
) -> mpsc::Receiver<SampleResult> {
    let (tx, rx) = mpsc::channel(4);
    thread::Builder::new()
        .name("gpuwarden-sampler".into())
        .spawn(move || {
            let mut next = Instant::now();
            loop {
                let result = source
                    .sample(now_ms())
                    .map_err(|e: SourceError| e.to_string());
                match tx.try_send(result) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
                next += Duration::from_millis(interval_ms.load(Ordering::Relaxed).max(1));
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                } else {
                    // Sampling took longer than the interval: start again from now
                    // instead of firing a burst of catch-up samples.
                    next = now;
                }
                if tx.is_closed() {
                    return;
                }
            }
        })
        .expect("spawning the sampler thread");
    rx
}

/// A source that remembers how long its last sample took (for the sample-duration metric).
pub struct Timed {
    inner: Box<dyn Source>,
    last_ns: Arc<AtomicU64>,
    busy: SampleWatch,
}

/// Whether a sample is in progress, and since when: how a caller sees a driver that hangs
/// (the sampler thread is stuck inside it, so only another thread can tell).
#[derive(Clone, Debug, Default)]
pub struct SampleWatch {
    /// ms since [`epoch`] when the sample in progress started, plus one; 0 when none is.
    since: Arc<AtomicU64>,
}

fn epoch() -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

impl SampleWatch {
    fn start(&self) {
        let ms = epoch().elapsed().as_millis() as u64;
        self.since.store(ms + 1, Ordering::Relaxed);
    }

    fn end(&self) {
        self.since.store(0, Ordering::Relaxed);
    }

    /// How long the sample in progress has been running; `None` between samples.
    pub fn busy_for(&self) -> Option<Duration> {
        match self.since.load(Ordering::Relaxed) {
            0 => None,
            t => {
                let now = epoch().elapsed().as_millis() as u64;
                Some(Duration::from_millis(now.saturating_sub(t - 1)))
            }
        }
    }
}

impl Timed {
    /// Wraps `inner`; the returned counter holds the last sample's duration in nanoseconds.
    pub fn wrap(inner: Box<dyn Source>) -> (Timed, Arc<AtomicU64>) {
        let last_ns = Arc::new(AtomicU64::new(0));
        let timed = Timed {
            inner,
            last_ns: Arc::clone(&last_ns),
            busy: SampleWatch::default(),
        };
        (timed, last_ns)
    }

    /// A handle that tells, from another thread, whether a sample is stuck.
    pub fn watch(&self) -> SampleWatch {
        self.busy.clone()
    }
}

impl Source for Timed {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        let start = Instant::now();
        self.busy.start();
        let r = self.inner.sample(at_ms);
        self.busy.end();
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_ns.store(ns, Ordering::Relaxed);
        r
    }

    fn control(&self) -> Option<Box<dyn super::source::GpuControl>> {
        self.inner.control()
    }
}
