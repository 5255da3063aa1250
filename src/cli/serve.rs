//! `gpuwarden serve`: the exporter mode — sampling and the read-only HTTP endpoint, no
//! watchdog. Any source works (`--demo` included), so Prometheus, the fleet view and tests can
//! use it on machines where the watchdog does not run.

use super::args::ServeArgs;
use super::{Cli, EXIT_OK};
use crate::gpu::open;
use crate::gpu::sampler;
use crate::serve::ServeState;
use anyhow::{Context, Result};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub fn run(cli: &Cli, args: &ServeArgs) -> Result<ExitCode> {
    let token = args
        .token_file
        .as_deref()
        .map(crate::serve::read_token)
        .transpose()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(crate::serve::tls::acceptor(cert, key)?),
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    crate::rlimit::raise_nofile_at_start();
    let source = open::open(&cli.source.spec())?;
    let interval = cli.common.interval;
    // Three missed samples (at least 5 s) and /healthz turns 503.
    let stale_after = (interval * 3).max(Duration::from_secs(5));
    let state = ServeState::new(stale_after, token);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let limits = crate::serve::Limits::default();
        let (addr, server) = crate::serve::bind_tls(args.listen, state.clone(), limits, tls)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        eprintln!("gpuwarden serve: listening on {scheme}://{addr}");
        let (timed, last_ns) = sampler::Timed::wrap(source);
        let mut samples = sampler::spawn(Box::new(timed), interval);
        let gpus = cli.source.gpu_list().cloned();
        let host = args.host_name.clone();
        let publish = async {
            while let Some(result) = samples.recv().await {
                match result {
                    Ok(mut snap) => {
                        if let Some(gpus) = &gpus {
                            gpus.select(&mut snap);
                        }
                        if let Some(h) = &host {
                            snap.host.clone_from(h);
                        }
                        let took = Duration::from_nanos(last_ns.load(Ordering::Relaxed));
                        state.publish(snap, took);
                    }
                    Err(e) => {
                        tracing::warn!("sample failed: {e}");
                        state.record_failure(e);
                    }
                }
            }
        };
        tokio::select! {
            r = server => r.context("serving HTTP")?,
            () = publish => anyhow::bail!("the sampling thread stopped"),
            () = shutdown_signal() => {}
        }
        Ok(())
    })?;
    Ok(ExitCode::from(EXIT_OK))
}

/// A source that remembers how long its last sample took (`gpuwarden_sample_duration_seconds`).
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = term => {}
    }
}
