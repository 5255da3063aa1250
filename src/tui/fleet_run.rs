//! The fleet dashboard's loop: a fetcher thread asks the [`FleetSource`] for every host once
//! per interval (blocking HTTP, timeouts and all, never on the UI thread) and hands the
//! reports over a channel; [`run_fleet_loop`] waits on that channel and the terminal's events
//! and redraws when either brings news, so keys are answered while a slow fetch is running.

use super::fleet::FleetApp;
use super::input;
use super::run::{RestoreTerminal, local_utc_offset_s};
use super::theme::Theme;
use crate::fleet::{FleetSource, HostReport};
use crate::gpu::UnixMs;
use crate::gpu::sampler::now_ms;
use anyhow::{Context, Result, bail};
use crossterm::event::Event;
use futures_util::{Stream, StreamExt};
use ratatui::Terminal;
use ratatui::backend::Backend;
use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{self, Receiver};

/// One fetch of every host, and when it was made.
pub type Fetch = (Vec<HostReport>, UnixMs);

/// Fetches every host now and then once per `interval` on a thread of its own, until the
/// receiver is dropped.
pub fn spawn_fetcher(mut source: Box<dyn FleetSource>, interval: Duration) -> Receiver<Fetch> {
    let (tx, rx) = mpsc::channel(2);
    std::thread::Builder::new()
        .name("fleet-fetch".into())
        .spawn(move || {
            loop {
                let started = Instant::now();
                let at = now_ms();
                let reports = source.fetch(at);
                if tx.blocking_send((reports, at)).is_err() {
                    return;
                }
                std::thread::sleep(interval.saturating_sub(started.elapsed()));
            }
        })
        .ok();
    rx
}

/// Runs the fleet dashboard on the real terminal until the user quits.
pub fn run_fleet(mut app: FleetApp, source: Box<dyn FleetSource>, color: bool) -> Result<()> {
    if !io::stdout().is_terminal() {
        bail!("the dashboard needs a terminal");
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the event loop")?;
    app.theme = Theme::new(color);
    app.utc_offset_s = local_utc_offset_s();
    let interval = Duration::from_millis(app.interval_ms);
    runtime.block_on(async {
        let fetches = spawn_fetcher(source, interval);
        let _restore = RestoreTerminal;
        let mut terminal = super::terminal::open().context("setting up the terminal")?;
        run_fleet_loop(
            &mut terminal,
            &mut app,
            fetches,
            super::keys::events().context("reading the terminal")?,
        )
        .await
    })
}

/// The loop: fetches and terminal events in, frames out, until `app.quit`.
pub async fn run_fleet_loop<B, E>(
    terminal: &mut Terminal<B>,
    app: &mut FleetApp,
    mut fetches: Receiver<Fetch>,
    mut events: E,
) -> Result<()>
where
    B: Backend,
    B::Error: Send + Sync + 'static,
    E: Stream<Item = io::Result<Event>> + Unpin,
{
    let mut fetching = true;
    terminal.draw(|f| f.render_widget(&*app, f.area()))?;
    loop {
        tokio::select! {
            biased;
            fetch = fetches.recv(), if fetching => match fetch {
                Some((reports, at)) => app.on_fetch(reports, at),
                None => fetching = false,
            },
            event = events.next() => match event {
                Some(Ok(event)) => match input::message(&event) {
                    Some(msg) => app.update(msg),
                    None => continue,
                },
                Some(Err(e)) => return Err(e).context("reading the terminal"),
                None => return Ok(()),
            },
        }
        if app.quit {
            return Ok(());
        }
        terminal.draw(|f| f.render_widget(&*app, f.area()))?;
    }
}
