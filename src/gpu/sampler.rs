//! Runs a [`Source`] on its own thread at a fixed interval and hands snapshots to async code.
//!
//! NVML calls block (PCIe throughput alone waits ~20 ms), so sampling never happens on the UI
//! or the daemon's event loop. The channel is small and lossy: if a consumer stalls, new
//! snapshots are dropped rather than queued without bound.

use super::model::Snapshot;
use super::source::{Source, SourceError};
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
pub fn spawn(mut source: Box<dyn Source>, interval: Duration) -> mpsc::Receiver<SampleResult> {
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
                next += interval;
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
