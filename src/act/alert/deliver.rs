//! Delivery: one thread per sink sends what its outbox holds, oldest first, and removes an
//! alert only after the sink accepted it.
//!
//! A sink that is down (connection refused, timeout, HTTP 5xx, 408, 429) is retried with
//! exponential backoff and jitter (`delay = c/2 + random(0..c/2)`, `c = min(max, initial·2ⁿ)`);
//! a `Retry-After` of N seconds (what PagerDuty and Slack send with a 429) stretches that delay
//! to N seconds, up to `retry_max`;
//! an HTTP 4xx is a permanent refusal: the alert is recorded as rejected and logged, so one
//! malformed alert cannot block the ones behind it. A TLS failure (an untrusted certificate)
//! is retried like a sink that is down, so the alert is kept until the CA is fixed. Every
//! HTTP call runs with timeouts.

use super::Alert;
use super::outbox::{Outbox, Outcome};
use crate::http_client::{ClientTls, TlsFileError, explain};
use crate::policy::alerts::Backoff;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Why a send did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth retrying later (network, 5xx, 408, 429).
    #[error("{0}")]
    Retry(String),
    /// Worth retrying, not before the sink's `Retry-After`.
    #[error("{0} (retry after {1:?})")]
    RetryAfter(String, Duration),
    /// The sink refused these alerts for good (other 4xx).
    #[error("refused: {0}")]
    Rejected(String),
}

/// Something that takes alerts: Alertmanager, a webhook.
pub trait Sink: Send {
    /// The sink's name (outbox file, metrics label).
    fn name(&self) -> &str;
    /// How many alerts one request may carry.
    fn max_batch(&self) -> usize;
    /// Sends the alerts; `now_ms` is the wall-clock time of sending.
    fn send(&mut self, alerts: &[&Alert], now_ms: u64) -> Result<(), SendError>;
}

/// The outbox and the wake-up signal shared by the dispatcher and the delivery thread.
pub struct Shared {
    pub outbox: Mutex<Outbox>,
    wake: Condvar,
    signal: Mutex<Signal>,
}

#[derive(Default)]
struct Signal {
    stop: bool,
    /// Something was queued since the delivery thread last looked.
    queued: bool,
}

impl Shared {
    pub fn new(outbox: Outbox) -> Arc<Self> {
        Arc::new(Shared {
            outbox: Mutex::new(outbox),
            wake: Condvar::new(),
            signal: Mutex::new(Signal::default()),
        })
    }

    pub fn lock(&self) -> MutexGuard<'_, Outbox> {
        // The outbox mirrors its journal; a panic mid-update leaves the journal authoritative.
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn signal(&self) -> MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the delivery thread that alerts were queued.
    pub fn notify(&self) {
        self.signal().queued = true;
        self.wake.notify_all();
    }

    fn stopped(&self) -> bool {
        self.signal().stop
    }

    pub fn request_stop(&self) {
        self.signal().stop = true;
        self.wake.notify_all();
    }

    /// Sleeps up to `d`; returns early on stop and, with `until_queued`, when alerts are queued
    /// (also when they were queued just before the call: no wake-up is lost).
    fn sleep(&self, d: Duration, until_queued: bool) {
        let deadline = Instant::now() + d;
        let mut s = self.signal();
        loop {
            if s.stop || (until_queued && s.queued) {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = self
                .wake
                .wait_timeout(s, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        if until_queued {
            s.queued = false;
        }
    }
}

/// Starts the delivery thread of one sink.
pub fn spawn(
    mut sink: Box<dyn Sink>,
    shared: Arc<Shared>,
    backoff: Backoff,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("gpuwarden-alert-{}", sink.name()))
        .spawn(move || run(&mut *sink, &shared, backoff))
}

fn run(sink: &mut dyn Sink, shared: &Shared, backoff: Backoff) {
    let mut attempt = 0u32;
    let mut random = seed();
    while !shared.stopped() {
        let batch: Vec<(u64, Alert)> = shared
            .lock()
            .pending()
            .iter()
            .take(sink.max_batch())
            .map(|e| (e.id, e.alert.clone()))
            .collect();
        if batch.is_empty() {
            attempt = 0;
            shared.sleep(Duration::from_secs(60), true);
            continue;
        }
        let alerts: Vec<&Alert> = batch.iter().map(|(_, a)| a).collect();
        let ids: Vec<u64> = batch.iter().map(|(id, _)| *id).collect();
        let result = sink.send(&alerts, crate::gpu::sampler::now_ms());
        let hint = match &result {
            Err(SendError::RetryAfter(_, after)) => Some(*after),
            _ => None,
        };
        let outcome = match result {
            Ok(()) => Some(Outcome::Delivered),
            Err(SendError::Rejected(why)) => {
                tracing::error!(
                    "alert sink {} refused {} alert(s): {why}",
                    sink.name(),
                    ids.len()
                );
                Some(Outcome::Rejected)
            }
            Err(SendError::Retry(why) | SendError::RetryAfter(why, _)) => {
                random = xorshift(random);
                let d = retry_delay(&backoff, attempt, random, hint);
                tracing::warn!(
                    "alert sink {} unreachable ({why}); {} alert(s) kept, retry in {d:?}",
                    sink.name(),
                    ids.len()
                );
                attempt = attempt.saturating_add(1);
                // New alerts do not cut the backoff short: the sink is down for them too.
                shared.sleep(d, false);
                None
            }
        };
        if let Some(outcome) = outcome {
            attempt = 0;
            if let Err(e) = shared.lock().finish(&ids, outcome) {
                // The alerts stay in the journal and go out again: at least once, never lost.
                tracing::error!("alert outbox: {e}");
                shared.sleep(Duration::from_secs(1), false);
            }
        }
    }
}

/// The wait before the next attempt: the backoff's, or the sink's `Retry-After` when longer
/// (never past `retry_max`).
pub fn retry_delay(
    backoff: &Backoff,
    attempt: u32,
    random: u64,
    retry_after: Option<Duration>,
) -> Duration {
    let d = backoff.delay(attempt, random);
    match retry_after {
        Some(after) => d.max(after.min(backoff.max)),
        None => d,
    }
}

/// A `Retry-After` header in seconds (the form rate limiters send); an HTTP date is ignored.
pub fn retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (t ^ u64::from(std::process::id()).rotate_left(32)) | 1
}

fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Sends JSON with `agent` and sorts the answer into success, retry or refusal.
pub fn post_json(
    agent: &ureq::Agent,
    url: &str,
    bearer: Option<&str>,
    body: &serde_json::Value,
) -> Result<(), SendError> {
    let mut req = agent.post(url);
    if let Some(token) = bearer {
        req = req.header("Authorization", &format!("Bearer {token}"));
    }
    match req.send_json(body) {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match status {
                200..=299 => Ok(()),
                408 | 429 => {
                    let why = format!("{url}: HTTP {status}");
                    let after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(retry_after);
                    Err(match after {
                        Some(after) => SendError::RetryAfter(why, after),
                        None => SendError::Retry(why),
                    })
                }
                400..=499 => {
                    let text = resp.into_body().read_to_string().unwrap_or_default();
                    Err(SendError::Rejected(format!(
                        "{url}: HTTP {status}: {}",
                        text.trim()
                    )))
                }
                _ => Err(SendError::Retry(format!("{url}: HTTP {status}"))),
            }
        }
        // A certificate problem is retried too: the alert waits in the outbox until the
        // config names the right CA (a reload), rather than being dropped.
        Err(e) => Err(SendError::Retry(explain(url, &e))),
    }
}

/// An HTTP(S) client for sinks: never waits longer than `timeout` for one request; trusts
/// what `tls` says.
pub fn agent(timeout: Duration, tls: &ClientTls) -> Result<ureq::Agent, TlsFileError> {
    tls.agent(timeout, Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_stretches_the_backoff_up_to_retry_max() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(10),
        };
        assert!(retry_delay(&b, 0, 7, None) <= Duration::from_millis(100));
        let after = |s| Some(Duration::from_secs(s));
        assert_eq!(retry_delay(&b, 0, 7, after(3)), Duration::from_secs(3));
        assert_eq!(retry_delay(&b, 0, 7, after(3600)), Duration::from_secs(10));
        assert_eq!(retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
    }

    #[test]
    fn backoff_grows_to_its_ceiling_and_stays_within_jitter_bounds() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(2),
        };
        for (attempt, ceiling_ms) in [(0, 100), (1, 200), (3, 800), (5, 2000), (30, 2000)] {
            for r in [0u64, 7, u64::MAX / 3, u64::MAX] {
                let d = b.delay(attempt, r).as_millis() as u64;
                assert!(
                    d >= ceiling_ms / 2 && d <= ceiling_ms,
                    "attempt {attempt}: {d} ms"
                );
            }
        }
    }
}
