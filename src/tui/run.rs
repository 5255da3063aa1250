//! The terminal and the event loop.
//!
//! [`run`] owns the real terminal: raw mode and the alternate screen on entry, restored on
//! exit, on error (a guard's `Drop`) and on panic (ratatui's panic hook). [`run_loop`] is the
//! loop itself, generic over the backend and the event stream so tests drive the whole app on
//! a `TestBackend`: it waits on the sample channel and the terminal's events with
//! `tokio::select!` and redraws only when something changed — there is no fast tick, which
//! keeps an idle dashboard near zero CPU.

use super::app::{App, Msg};
use super::input;
use super::theme::Theme;
use crate::gpu::Source;
use crate::gpu::sampler::{self, SampleResult};
use crate::host::{HostReading, HostStats};
use anyhow::{Context, Result, bail};
use crossterm::event::{Event, EventStream};
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use std::io::{self, IsTerminal};
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

/// How the dashboard was asked to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub interval: Duration,
    pub color: bool,
    /// `-i 0,2`: only these GPUs.
    pub gpus: Option<Vec<u32>>,
}

/// Runs the dashboard on the real terminal until the user quits.
pub fn run(source: Box<dyn Source>, options: &Options) -> Result<()> {
    if !io::stdout().is_terminal() {
        bail!("the dashboard needs a terminal; for one sample as text try `gpuwarden snapshot`");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    let mut app = App::new(Theme::new(options.color));
    app.interval_ms = options.interval.as_millis() as u64;
    app.gpu_filter = options.gpus.clone();
    app.utc_offset_s = local_utc_offset_s();

    runtime.block_on(async {
        let samples = sampler::spawn(source, options.interval);
        let _restore = RestoreTerminal;
        let mut terminal = ratatui::try_init().context("setting up the terminal")?;
        let mut host = HostStats::new();
        run_loop(
            &mut terminal,
            &mut app,
            samples,
            EventStream::new(),
            move || Some(host.read()),
        )
        .await
    })
}

/// Restores the terminal when dropped, whichever way `run` leaves.
struct RestoreTerminal;

impl Drop for RestoreTerminal {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// The event loop: samples and terminal events in, frames out, until `app.quit`.
///
/// `host` is asked for a fresh CPU/RAM reading with every sample. When the event stream ends
/// the loop ends; when the sampler stops, the last error stays on screen.
pub async fn run_loop<B, E>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut samples: Receiver<SampleResult>,
    mut events: E,
    mut host: impl FnMut() -> Option<HostReading>,
) -> Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut sampling = true;
    terminal.draw(|f| f.render_widget(&*app, f.area()))?;
    loop {
        let msg = tokio::select! {
            // Samples first: a queued sample is shown before the key that follows it.
            biased;
            sample = samples.recv(), if sampling => match sample {
                Some(Ok(snapshot)) => {
                    if let Some(reading) = host() {
                        app.update(Msg::Host(reading));
                    }
                    Msg::Sample(Box::new(snapshot))
                }
                Some(Err(error)) => Msg::SourceError(error),
                None => {
                    sampling = false;
                    Msg::SourceError("the sampler stopped".to_string())
                }
            },
            event = events.next() => match event {
                Some(Ok(event)) => match input::message(&event) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => return Ok(()),
            },
        };
        app.update(msg);
        if app.quit {
            return Ok(());
        }
        terminal.draw(|f| f.render_widget(&*app, f.area()))?;
    }
}

/// The local time zone's offset from UTC, so the header shows the user's clock.
fn local_utc_offset_s() -> i32 {
    // SAFETY: `time` and `localtime_r` only write into the locals passed to them.
    unsafe {
        let now = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&now, &mut tm).is_null() {
            0
        } else {
            tm.tm_gmtoff as i32
        }
    }
}
