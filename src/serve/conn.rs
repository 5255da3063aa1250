//! The endpoint's accept loop and what bounds it: a cap on open connections (the ones beyond
//! it are closed as soon as they are accepted, and counted), a deadline for each request head,
//! one for each response, and one for a connection on which no byte moves.
//!
//! Any local user can connect to the endpoint, and every open connection costs the process a
//! file descriptor — the same descriptors the watchdog needs to restart units and persist its
//! state. So no client, however many, holds more than [`Limits::max_connections`] of them,
//! and none holds one for long without talking. Over TLS the handshake counts as part of the
//! first request head.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use axum::response::IntoResponse;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;

/// What one client may cost the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; one more is closed right after `accept` (default 128).
    pub max_connections: usize,
    /// A connection must deliver a whole request head this long after it opens or after the
    /// previous response (default 10 s): the slowloris guard, and the keep-alive idle limit.
    pub header_timeout: Duration,
    /// A request must be answered within this (default 30 s), else 503.
    pub request_timeout: Duration,
    /// A connection on which no byte moves either way for this long is closed (default 60 s):
    /// a client that stops reading a response, or stops sending a body.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 128,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Connection counters, for `/metrics` (`gpuwarden_http_connections_*`).
#[derive(Debug, Default)]
pub struct ConnStats {
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicU64,
    max: AtomicU64,
}

impl ConnStats {
    /// The counters as `/metrics` shows them.
    pub fn counts(&self) -> crate::metrics::http::HttpMetrics {
        crate::metrics::http::HttpMetrics {
            open: self.open.load(Ordering::Relaxed),
            max: self.max.load(Ordering::Relaxed),
            accepted_total: self.accepted.load(Ordering::Relaxed),
            refused_total: self.refused.load(Ordering::Relaxed),
        }
    }
}

/// Holds a connection's place under the cap; gives it back when the connection ends.
struct Slot {
    _permit: OwnedSemaphorePermit,
    stats: Arc<ConnStats>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Accepts connections on `listener` until the future is dropped, each served on its own
/// task of the current runtime, over TLS when `tls` is given. Accept errors (out of
/// descriptors included) are logged and retried after a pause; they never end the loop.
pub async fn accept_loop(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    stats: Arc<ConnStats>,
    tls: Option<TlsAcceptor>,
) -> io::Result<()> {
    let max = limits.max_connections.max(1);
    stats.max.store(max as u64, Ordering::Relaxed);
    let slots = Arc::new(Semaphore::new(max));
    let mut last_warning: Option<Instant> = None;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // EMFILE and friends: the backlog keeps the client waiting; spinning would not
                // help it and would burn the CPU the watchdog shares.
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!("the HTTP endpoint could not accept a connection: {e}");
                    last_warning = Some(Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            stats.refused.fetch_add(1, Ordering::Relaxed);
            drop(stream);
            continue;
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        stats.open.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            _permit: permit,
            stats: Arc::clone(&stats),
        };
        let router = router.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            match tls {
                None => serve_connection(stream, router, limits).await,
                // The handshake gets the same deadline as a request head: a client that
                // opens a connection and says nothing holds its slot no longer over TLS.
                Some(tls) => {
                    match tokio::time::timeout(limits.header_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => serve_connection(stream, router, limits).await,
                        Ok(Err(e)) => tracing::debug!("TLS handshake failed: {e}"),
                        Err(_) => tracing::debug!("TLS handshake timed out"),
                    }
                }
            }
            drop(slot);
        });
    }
}

async fn serve_connection<S>(stream: S, router: Router, limits: Limits)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(IdleIo::new(stream, limits.idle_timeout));
    let inner = TowerToHyperService::new(router);
    let request_timeout = limits.request_timeout;
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let answer = hyper::service::Service::call(&inner, req);
        async move {
            match tokio::time::timeout(request_timeout, answer).await {
                Ok(response) => response,
                Err(_) => Ok::<_, Infallible>(timed_out()),
            }
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(io, service);
    if let Err(e) = conn.await {
        tracing::debug!("HTTP connection closed: {e}");
    }
}

fn timed_out() -> Response<Body> {
    (StatusCode::SERVICE_UNAVAILABLE, "request timed out\n").into_response()
}

/// A stream that fails with `TimedOut` once no byte has moved for `idle`.
struct IdleIo<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<T> IdleIo<T> {
    fn new(inner: T, idle: Duration) -> Self {
        IdleIo {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn moved(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    /// Called when the inner stream is pending: pending too, unless the deadline passed.
    fn pending<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "no traffic on the connection",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.pending(cx),
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.pending(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.moved();
                }
                Poll::Ready(r)
            }
            Poll::Pending => this.pending(cx),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Ready(r) => Poll::Ready(r),
            Poll::Pending => this.pending(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;
