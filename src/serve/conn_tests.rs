//! The accept loop's limits, with short ones so nothing waits long. Every wait is bounded by a
//! deadline that fails the test; none is a measure of speed.

use super::*;
use crate::serve::{ServeState, router};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Instant as StdInstant;

fn limits(max: usize, header: u64, request: u64, idle: u64) -> Limits {
    Limits {
        max_connections: max,
        header_timeout: Duration::from_millis(header),
        request_timeout: Duration::from_millis(request),
        idle_timeout: Duration::from_millis(idle),
    }
}

/// Serves `app` on a thread of its own, as the daemon does, counting into `stats`.
fn serve_with(app: Router, limits: Limits, stats: Arc<ConnStats>) -> (SocketAddr, Arc<ConnStats>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let s = Arc::clone(&stats);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let _ = accept_loop(listener, app, limits, s, None).await;
        });
    });
    (rx.recv().unwrap(), stats)
}

/// Serves the endpoint's own routes, whose `/metrics` shows `stats`.
fn serve(limits: Limits) -> (SocketAddr, Arc<ConnStats>) {
    let state = ServeState::new(Duration::from_secs(5), None);
    let stats = Arc::clone(&state.connections);
    serve_with(router(state), limits, stats)
}

/// Reads until the server closes the connection; fails if it is still open after 10 s.
fn read_until_closed(stream: &mut std::net::TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return got,
            Err(e) => panic!("the server kept the connection open: {e}"),
        }
    }
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    String::from_utf8_lossy(&read_until_closed(&mut s)).into_owned()
}

/// Polls `get` until it answers, for at most 10 s.
fn get_eventually(addr: SocketAddr, path: &str) -> String {
    let deadline = StdInstant::now() + std::time::Duration::from_secs(10);
    loop {
        let answer = get(addr, path);
        if answer.starts_with("HTTP/1.1 ") {
            return answer;
        }
        assert!(StdInstant::now() < deadline, "{path} never answered");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once_and_counted() {
    let (addr, stats) = serve(limits(2, 30_000, 30_000, 30_000));
    let a = std::net::TcpStream::connect(addr).unwrap();
    let b = std::net::TcpStream::connect(addr).unwrap();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    // Two idle connections hold both places: the third is closed without a word.
    assert!(read_until_closed(&mut c).is_empty());
    let counts = stats.counts();
    assert_eq!(counts.refused_total, 1);
    assert_eq!(counts.open, 2);
    assert_eq!(counts.max, 2);
    // Their places come back when they go.
    drop((a, b));
    let page = get_eventually(addr, "/metrics");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let refused = page
        .lines()
        .find_map(|l| l.strip_prefix("gpuwarden_http_connections_refused_total "))
        .and_then(|v| v.parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 1), "{page}");
}

#[test]
fn a_client_sending_half_a_header_is_cut_after_the_header_timeout() {
    let (addr, stats) = serve(limits(8, 200, 30_000, 30_000));
    let mut slow = std::net::TcpStream::connect(addr).unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let answer = String::from_utf8_lossy(&read_until_closed(&mut slow)).into_owned();
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer}"
    );
    assert_eq!(stats.counts().accepted_total, 1);
}

#[test]
fn a_kept_alive_connection_that_goes_quiet_is_closed_after_the_idle_timeout() {
    let (addr, _) = serve(limits(8, 30_000, 30_000, 200));
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    // The answer comes, keep-alive holds the connection, then silence closes it.
    let got = String::from_utf8_lossy(&read_until_closed(&mut s)).into_owned();
    assert!(got.starts_with("HTTP/1.1 503"), "{got}");
    assert!(got.contains("\"status\":\"stale\""), "{got}");
}

#[test]
fn a_request_not_answered_in_time_gets_503() {
    let slow = Router::new().route(
        "/slow",
        axum::routing::get(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            "late"
        }),
    );
    let (addr, _) = serve_with(slow, limits(8, 30_000, 200, 30_000), Default::default());
    let answer = get(addr, "/slow");
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.ends_with("request timed out\n"), "{answer}");
}
