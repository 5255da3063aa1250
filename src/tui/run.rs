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
use super::watchdog_feed::WatchdogFeed;
use crate::gpu::Source;
use crate::gpu::sampler::{self, SampleResult, SampleWatch};
use crate::host::{HostReading, HostStats};
use anyhow::{Context, Result, bail};
use crossterm::event::Event;
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
    /// `--trace`: the replay's controls; the header then shows the replay, never this
    /// machine's CPU and RAM.
    pub replay: Option<crate::gpu::trace::ReplayControl>,
    /// The source is this machine's driver (not the demo fleet): `K` may signal its PIDs.
    pub local_pids: bool,
}

/// Runs the dashboard on the real terminal until the user quits.
/// With `watchdog`, its config's thresholds color the bars and its event log fills the
/// watchdog panel, refreshed with every sample.
pub fn run(
    source: Box<dyn Source>,
    options: &Options,
    mut watchdog: Option<WatchdogFeed>,
) -> Result<()> {
    if !io::stdout().is_terminal() {
        bail!("the dashboard needs a terminal; for one sample as text try `gpuwarden snapshot`");
    }
    // Timers only: the loop waits on channels (samples, terminal events) and a timer, so no
    // I/O driver and its epoll are needed; parking is a futex wait.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .context("starting the event loop")?;
    let mut app = App::new(Theme::new(options.color));
    app.interval_ms = options.interval.as_millis() as u64;
    app.gpu_filter = options.gpus.clone();
    app.utc_offset_s = local_utc_offset_s();
    app.replay = options.replay.clone();
    let live = options.replay.is_none();
    app.local_pids = live && options.local_pids;

    runtime.block_on(async {
        let (timed, _) = sampler::Timed::wrap(source);
        let stall = Stall {
            watch: timed.watch(),
            bound: STALL_BOUND,
        };
        let samples = sampler::spawn(Box::new(timed), options.interval);
        let _restore = RestoreTerminal;
        let mut terminal = super::terminal::open().context("setting up the terminal")?;
        let mut host = HostStats::new();
        // At most every two seconds: `/proc/stat` is costly for the kernel to produce on
        // big hosts, and a CPU figure over a short span only flickers.
        let mut host_read_at: Option<std::time::Instant> = None;
        run_loop_with(
            &mut terminal,
            &mut app,
            samples,
            super::keys::events().context("reading the terminal")?,
            move || {
                let due = host_read_at.is_none_or(|at| at.elapsed() >= HOST_EVERY);
                (live && due).then(|| {
                    host_read_at = Some(std::time::Instant::now());
                    host.read()
                })
            },
            |app| {
                if let Some(feed) = &mut watchdog {
                    feed.refresh(app);
                }
            },
            Some(stall),
        )
        .await
    })
}

/// Restores the terminal when dropped, whichever way `run` leaves.
pub(super) struct RestoreTerminal;

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
    samples: Receiver<SampleResult>,
    events: E,
    host: impl FnMut() -> Option<HostReading>,
) -> Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    run_loop_with(terminal, app, samples, events, host, |_| {}, None).await
}

/// How often the header's host CPU and RAM are read again (at most): the kernel builds all
/// of `/proc/stat` (every CPU, every interrupt) for each read, ~50 µs on this small machine.
const HOST_EVERY: Duration = Duration::from_millis(1950);

/// A sample stuck in the driver this long is said on screen (the daemon's default
/// `driver_timeout`).
pub const STALL_BOUND: Duration = Duration::from_secs(5);

/// How the loop sees a sampler stuck inside the driver: the keys keep working, and the screen
/// says the values are old.
pub struct Stall {
    pub watch: SampleWatch,
    pub bound: Duration,
}

impl Stall {
    fn look(&self) -> Option<Duration> {
        self.watch.busy_for().filter(|d| *d >= self.bound)
    }

    /// How long until the next look is worth it: a stuck sample cannot reach the bound
    /// sooner. While stalled, twice a second (the shown seconds tick on); during a sample,
    /// when it would reach the bound; between samples, one interval (the next sample's
    /// start at the latest) plus the bound. So a sampler that answers costs no wake-ups.
    fn next_look(&self, interval: Duration) -> Duration {
        match self.watch.busy_for() {
            Some(d) if d >= self.bound => Duration::from_millis(500),
            Some(d) => self.bound - d,
            None => interval + self.bound,
        }
    }
}

/// [`run_loop`] with `after_sample` called on the app after each sample was taken in (the
/// watchdog feed refreshes thresholds and the panel there), and with `stall`, a look at a
/// sample stuck in the driver whenever one could have reached the bound (see
/// [`Stall::next_look`]).
pub async fn run_loop_with<B, E>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    mut samples: Receiver<SampleResult>,
    mut events: E,
    mut host: impl FnMut() -> Option<HostReading>,
    mut after_sample: impl FnMut(&mut App),
    stall: Option<Stall>,
) -> Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut sampling = true;
    let interval = Duration::from_millis(app.interval_ms.max(1));
    let first = stall
        .as_ref()
        .map_or(Duration::from_secs(3600), |s| s.next_look(interval));
    let look = tokio::time::sleep(first);
    tokio::pin!(look);
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
                Some(Ok(event)) => match input::message_for(
                    &event,
                    app.jump.is_some(),
                    app.kill_ask.is_some(),
                ) {
                    Some(msg) => msg,
                    None => continue,
                },
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => return Ok(()),
            },
            _ = &mut look, if stall.is_some() => {
                let next = stall.as_ref().map_or(interval, |s| s.next_look(interval));
                look.as_mut().reset(tokio::time::Instant::now() + next);
                let now = stall.as_ref().and_then(Stall::look);
                // Redraw only when the state or the shown seconds change.
                if now.map(|d| d.as_secs()) == app.driver_stalled.map(|d| d.as_secs()) {
                    continue;
                }
                Msg::DriverStalled(now)
            }
        };
        let sampled = matches!(msg, Msg::Sample(_));
        app.update(msg);
        if sampled {
            after_sample(app);
            if let Some(s) = &stall {
                look.as_mut()
                    .reset(tokio::time::Instant::now() + s.next_look(interval));
            }
        }
        if app.quit {
            return Ok(());
        }
        terminal.draw(|f| f.render_widget(&*app, f.area()))?;
    }
}

/// The local time zone's offset from UTC, so the header shows the user's clock.
pub(super) fn local_utc_offset_s() -> i32 {
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
