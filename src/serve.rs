//! The read-only HTTP endpoint: `/metrics`, `/healthz`, `/api/v1/snapshot`, `/api/v1/events`,
//! `/api/v1/rules`, `/api/v1/health` (the GPUs' health as `gpuwarden check` judges it).
//!
//! The sampling loop (the watchdog daemon or `gpuwarden serve`) publishes each snapshot into a
//! [`ServeState`]; requests read the newest one. A scrape only clones an `Arc` under a lock
//! held for nanoseconds and renders outside it, so scrapes never delay sampling. Only `GET`
//! routes exist: nothing here can change a GPU or a unit. With a bearer token configured,
//! every route but `/healthz` asks for `Authorization: Bearer TOKEN`.
//!
//! Connections go through our own accept loop (`conn`): at most [`Limits::max_connections`]
//! at once, deadlines for request heads, responses and silent connections, and counters for
//! what was refused. [`spawn_thread`] runs the endpoint on a thread and runtime of its own,
//! so a flood of requests and the watchdog's blocking work never wait on each other. With a
//! certificate and key (`tls`), the endpoint speaks HTTPS only.

mod conn;
pub mod tls;

pub use conn::{ConnStats, Limits};

use crate::gpu::Snapshot;
use crate::metrics::{self, SamplingMetrics, WatchdogMetrics};
use anyhow::Context;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

/// The default address, loopback only: exposing GPU data is the operator's decision.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9844";

/// Recent watchdog events as JSON, newest last; the daemon's event log implements this.
pub trait EventFeed: Send + Sync {
    fn recent(&self, limit: usize) -> Vec<serde_json::Value>;
}

impl<F> EventFeed for F
where
    F: Fn(usize) -> Vec<serde_json::Value> + Send + Sync,
{
    fn recent(&self, limit: usize) -> Vec<serde_json::Value> {
        self(limit)
    }
}

/// The watchdog's event log (`crate::events`) as the `/api/v1/events` feed: the last lines of
/// the JSON-lines file, read on request.
pub struct EventLogFeed(pub std::path::PathBuf);

impl EventFeed for EventLogFeed {
    fn recent(&self, limit: usize) -> Vec<serde_json::Value> {
        match crate::events::read_last(&self.0, limit) {
            Ok(events) => events
                .iter()
                .filter_map(|e| serde_json::to_value(e).ok())
                .collect(),
            Err(e) => {
                tracing::warn!("reading the event log for /api/v1/events: {e}");
                Vec::new()
            }
        }
    }
}

#[derive(Default)]
struct Latest {
    snapshot: Option<Arc<Snapshot>>,
    at: Option<Instant>,
    duration: Duration,
    samples_total: u64,
    failures_total: u64,
    last_error: Option<String>,
}

/// What the endpoint serves; the sampling loop updates it after each sample.
pub struct ServeState {
    latest: RwLock<Latest>,
    watchdog: RwLock<Option<Arc<WatchdogMetrics>>>,
    events: RwLock<Option<Arc<dyn EventFeed>>>,
    stale_after: Duration,
    token: RwLock<Option<String>>,
    connections: Arc<ConnStats>,
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    // The values behind these locks are replaced whole, never left half-written.
    l.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|e| e.into_inner())
}

impl ServeState {
    /// `stale_after`: how old the newest sample may get before `/healthz` answers 503.
    pub fn new(stale_after: Duration, token: Option<String>) -> Arc<Self> {
        Arc::new(ServeState {
            latest: RwLock::new(Latest::default()),
            watchdog: RwLock::new(None),
            events: RwLock::new(None),
            stale_after,
            token: RwLock::new(token.filter(|t| !t.is_empty())),
            connections: Arc::new(ConnStats::default()),
        })
    }

    /// Sets (or, with `None`, drops) the bearer token every route but `/healthz` asks for.
    pub fn set_token(&self, token: Option<String>) {
        *write(&self.token) = token.filter(|t| !t.is_empty());
    }

    /// The endpoint's connection counters.
    pub fn connections(&self) -> &ConnStats {
        &self.connections
    }

    /// Publishes a new sample that took `duration` to take.
    pub fn publish(&self, snapshot: Snapshot, duration: Duration) {
        let snapshot = Arc::new(snapshot);
        let mut l = write(&self.latest);
        l.snapshot = Some(snapshot);
        l.at = Some(Instant::now());
        l.duration = duration;
        l.samples_total += 1;
        l.last_error = None;
    }

    /// Records a sample that failed as a whole; the previous snapshot stays (and ages).
    pub fn record_failure(&self, error: String) {
        let mut l = write(&self.latest);
        l.failures_total += 1;
        l.last_error = Some(error);
    }

    pub fn set_watchdog(&self, w: WatchdogMetrics) {
        *write(&self.watchdog) = Some(Arc::new(w));
    }

    pub fn set_events(&self, feed: Arc<dyn EventFeed>) {
        *write(&self.events) = Some(feed);
    }

    /// The newest snapshot, if any.
    pub fn snapshot(&self) -> Option<Arc<Snapshot>> {
        read(&self.latest).snapshot.clone()
    }

    /// The watchdog's numbers, if a watchdog publishes any.
    pub fn watchdog(&self) -> Option<Arc<WatchdogMetrics>> {
        read(&self.watchdog).clone()
    }

    fn sampling(&self) -> (Option<Arc<Snapshot>>, SamplingMetrics, Option<String>) {
        let l = read(&self.latest);
        let age = l.at.map_or(f64::NAN, |at| at.elapsed().as_secs_f64());
        let m = SamplingMetrics {
            duration_seconds: l.duration.as_secs_f64(),
            age_seconds: age,
            samples_total: l.samples_total,
            failures_total: l.failures_total,
        };
        (l.snapshot.clone(), m, l.last_error.clone())
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        let token = read(&self.token);
        let Some(token) = token.as_deref() else {
            return true;
        };
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(given.as_bytes(), token.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

type Shared = State<Arc<ServeState>>;

/// The routes, for [`serve`] or for tests that drive the router directly.
pub fn router(state: Arc<ServeState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_page))
        .route("/healthz", get(healthz))
        .route("/api/v1/snapshot", get(snapshot))
        .route("/api/v1/events", get(events))
        .route("/api/v1/rules", get(rules))
        .route("/api/v1/watchdog", get(watchdog))
        .route("/api/v1/health", get(health))
        .with_state(state)
}

/// Binds `listen` and returns the bound address (port 0 picks a free one) and the server,
/// with the default [`Limits`].
pub async fn bind(
    listen: SocketAddr,
    state: Arc<ServeState>,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
)> {
    bind_with(listen, state, Limits::default()).await
}

/// [`bind`] with chosen limits. The server spawns one task per connection on the runtime
/// that polls it.
pub async fn bind_with(
    listen: SocketAddr,
    state: Arc<ServeState>,
    limits: Limits,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
)> {
    bind_tls(listen, state, limits, None).await
}

/// [`bind_with`], serving HTTPS when `tls` is given (see [`tls::acceptor`]).
pub async fn bind_tls(
    listen: SocketAddr,
    state: Arc<ServeState>,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<(
    SocketAddr,
    impl std::future::Future<Output = std::io::Result<()>> + Send + 'static,
)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let stats = Arc::clone(&state.connections);
    let server = conn::accept_loop(listener, router(state), limits, stats, tls);
    Ok((addr, server))
}

/// Runs the endpoint on a thread of its own (`gpuwarden-http`) with its own single-threaded
/// runtime, and returns once it listens. The thread serves until the process exits.
pub fn spawn_thread(
    listen: SocketAddr,
    state: Arc<ServeState>,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
) -> std::io::Result<SocketAddr> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("gpuwarden-http".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                match bind_tls(listen, state, limits, tls).await {
                    Ok((addr, server)) => {
                        let _ = tx.send(Ok(addr));
                        if let Err(e) = server.await {
                            tracing::error!("the HTTP endpoint stopped: {e}");
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Err(e));
                    }
                }
            });
        })?;
    rx.recv().unwrap_or_else(|_| {
        Err(std::io::Error::other(
            "the HTTP endpoint's thread ended before listening",
        ))
    })
}

/// Reads a bearer token file: its content without surrounding whitespace. An empty file is
/// an error, not an open endpoint.
pub fn read_token(path: &Path) -> anyhow::Result<String> {
    let token = std::fs::read_to_string(path)
        .with_context(|| format!("reading the bearer token from {}", path.display()))?;
    let token = token.trim();
    anyhow::ensure!(
        !token.is_empty(),
        "the bearer token file {} is empty",
        path.display()
    );
    Ok(token.to_string())
}

fn unauthorized() -> Response {
    let mut r = (StatusCode::UNAUTHORIZED, "bearer token required\n").into_response();
    r.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    r
}

async fn metrics_page(State(s): Shared, headers: HeaderMap) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let (snap, sampling, _) = s.sampling();
    let watchdog = s.watchdog();
    let mut body = metrics::render(snap.as_deref(), &sampling, watchdog.as_deref());
    body.push_str(&metrics::http::render(&s.connections.counts()));
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}

async fn healthz(State(s): Shared) -> Response {
    let (snap, sampling, error) = s.sampling();
    let fresh = snap.is_some() && sampling.age_seconds <= s.stale_after.as_secs_f64();
    let body = serde_json::json!({
        "status": if fresh { "ok" } else { "stale" },
        "last_sample_age_seconds": sampling.age_seconds.is_finite().then_some(sampling.age_seconds),
        "stale_after_seconds": s.stale_after.as_secs_f64(),
        "samples_total": sampling.samples_total,
        "last_error": error,
    });
    let code = if fresh {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

async fn snapshot(State(s): Shared, headers: HeaderMap) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    match s.snapshot() {
        Some(snap) => axum::Json(crate::check::health::snapshot_json(&snap)).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no sample yet\n").into_response(),
    }
}

/// GPU health as `gpuwarden check --json` says it, of the newest sample: 200 when healthy,
/// 503 with the same body when not — what a resource manager's health probe wants.
async fn health(State(s): Shared, headers: HeaderMap) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let Some(snap) = s.snapshot() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no sample yet\n").into_response();
    };
    let verdict = crate::check::judge(&snap, &[]);
    let code = if verdict.healthy() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let doc = crate::check::report::JsonReport::judged(&snap, &verdict, None);
    (code, axum::Json(doc)).into_response()
}

#[derive(Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn events(State(s): Shared, headers: HeaderMap, Query(q): Query<Limit>) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let limit = q.limit.unwrap_or(100).min(1000);
    let feed = read(&s.events).clone();
    let events = feed.map(|f| f.recent(limit)).unwrap_or_default();
    axum::Json(events).into_response()
}

async fn rules(State(s): Shared, headers: HeaderMap) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let rules = s.watchdog().map(|w| w.rules.clone()).unwrap_or_default();
    axum::Json(rules).into_response()
}

/// The watchdog as a whole, for the dashboard's panel: whether it acts or only says what it
/// would do, whether the driver answers, and each rule's state per GPU. 503 outside the
/// daemon (`gpuwarden serve` guards nothing).
async fn watchdog(State(s): Shared, headers: HeaderMap) -> Response {
    if !s.authorized(&headers) {
        return unauthorized();
    }
    let Some(w) = s.watchdog() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "no watchdog runs here\n").into_response();
    };
    let body = serde_json::json!({
        "mode": if w.dry_run == Some(true) { "dry_run" } else { "acting" },
        "driver_answering": w.driver_answering,
        "rules": w.rules,
    });
    axum::Json(body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison_needs_the_exact_token() {
        let s = ServeState::new(Duration::from_secs(5), Some("s3cret".into()));
        let mut h = HeaderMap::new();
        assert!(!s.authorized(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cre"),
        );
        assert!(!s.authorized(&h));
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer s3cret"),
        );
        assert!(s.authorized(&h));
        let open = ServeState::new(Duration::from_secs(5), Some(String::new()));
        assert!(open.authorized(&HeaderMap::new()));
    }

    #[test]
    fn the_event_feed_reads_the_last_events_of_the_log() {
        use crate::events::{Event, EventKind, EventLog};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("events.jsonl");
        let mut log = EventLog::open_file(&path).unwrap();
        for i in 0..5u64 {
            log.append(&Event::new(i, EventKind::Fired, "fired").rule(format!("r{i}")))
                .unwrap();
        }
        let feed = EventLogFeed(path);
        let last = feed.recent(2);
        assert_eq!(last.len(), 2);
        assert_eq!(last[1]["rule"], "r4");
        assert!(EventLogFeed(dir.path().join("none")).recent(5).is_empty());
    }

    fn status_of(url: String) -> u16 {
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build(),
        );
        agent.get(&url).call().map_or(0, |r| r.status().as_u16())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn healthz_is_503_before_the_first_sample_and_when_sampling_stalls() {
        let state = ServeState::new(Duration::from_millis(300), None);
        let (addr, server) = bind("127.0.0.1:0".parse().unwrap(), state.clone())
            .await
            .unwrap();
        let server = tokio::spawn(server);
        let url = format!("http://{addr}/healthz");
        let get = |u: String| tokio::task::spawn_blocking(move || status_of(u));
        assert_eq!(get(url.clone()).await.unwrap(), 503);
        state.publish(Snapshot::new(1, "h", "sim"), Duration::from_millis(3));
        assert_eq!(get(url.clone()).await.unwrap(), 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(get(url.clone()).await.unwrap(), 503);
        server.abort();
    }
}
