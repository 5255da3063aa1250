//! `gpuwarden watch`: the watchdog loop — sample → policy → dispatch — under systemd.
//!
//! One sampler thread feeds snapshots; the pure engine decides on its own monotonic clock
//! ([`clock`]); the [`Dispatcher`] acts and every outcome lands in the event log; how each
//! restart ended goes back to the engine, which judges it. The engine's state and the caps
//! held are persisted after every decision, so a restarted daemon neither forgets caps nor
//! restarts a unit twice. SIGTERM/SIGINT undo every cap and exit cleanly; SIGHUP reloads the
//! config ([`reload`]): all of it, or none of it with a `config_rejected` event saying why.
//! `WATCHDOG=1` comes from the loop's own heartbeat, so a sick driver is an alert, not a
//! reason for systemd to kill the daemon. `gpuwarden reset` talks to it over [`control`].

pub mod clock;
pub mod control;
pub mod dispatch;
mod driver;
pub mod oncall;
pub mod persist;
mod reload;
pub mod service;

use crate::act::bounded::BoundedControl;
use crate::act::{ClockActuator, DesktopNotifier, NotifyOptions, Systemd, SystemdOptions};
use crate::events::EVENT_LOG_FILE;
use crate::events::{Event, EventKind, EventLog, EventResult};
use crate::gpu::open::{self, SourceSpec};
use crate::gpu::sampler;
use crate::gpu::{GpuControl, Snapshot};
use crate::policy::{self, Action, Config};
use anyhow::{Context, Result};
use clock::{EngineClock, wall_ms as now_ms};
use dispatch::{Dispatcher, TaskDone};
use oncall::OnCall;
use service::ServiceManager;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};

/// How `watch` was asked to run.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub config_path: PathBuf,
    pub config: Config,
    pub source: SourceSpec,
    /// `-i`: only these GPUs, matched on every sample (by index, UUID or PCI bus id).
    pub gpus: Option<crate::gpu::select::GpuList>,
    /// `--dry-run` (or `dry_run = true` in the file).
    pub dry_run: bool,
    /// Process one sample, wait for its actions, and exit.
    pub once: bool,
    /// Overrides `[watchdog] state_dir`.
    pub state_dir: Option<PathBuf>,
    /// Print each event to stdout as it happens (the journal under systemd).
    pub echo_events: bool,
    /// `--interval` from the command line: overrides `[watchdog] interval`, also on reload.
    pub interval: Option<Duration>,
}

/// Runs the watchdog until SIGTERM (or one sample with `once`).
pub fn run(opts: WatchOptions) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(Watch::start(opts)?.run())
}

struct Watch {
    opts: WatchOptions,
    config: Config,
    state: policy::State,
    state_dir: PathBuf,
    events: EventLog,
    dispatcher: Dispatcher,
    samples: tokio::sync::mpsc::Receiver<sampler::SampleResult>,
    /// The sampler's interval in ms (a reload changes it).
    interval_ms: Arc<AtomicU64>,
    /// How long a clock setter may take, in ms (`driver_timeout`; a reload changes it).
    control_bound_ms: Arc<AtomicU64>,
    /// How long the last sample took, in ns (for `/metrics`).
    sample_ns: Arc<AtomicU64>,
    service: ServiceManager,
    oncall: OnCall,
    /// XIDs from NVML events and the kernel log (`crate::health`).
    xids: tokio::sync::mpsc::Receiver<crate::health::XidReport>,
    clock: EngineClock,
    driver: driver::DriverWatch,
    /// [`policy::State::growth_mark`] when the state was last persisted.
    growth_saved: u64,
}

impl Watch {
    fn start(opts: WatchOptions) -> Result<Self> {
        let config = opts.config.clone();
        let token = config.watchdog.token_file.as_deref();
        let token = token.map(crate::serve::read_token).transpose()?;
        let state_dir = opts
            .state_dir
            .clone()
            .unwrap_or_else(|| config.watchdog.state_dir.clone());
        let events = EventLog::open(&state_dir).with_context(|| {
            format!(
                "opening the event log in {} (set [watchdog] state_dir or --state-dir to a \
                 writable directory)",
                state_dir.display()
            )
        })?;
        let source = open::open(&opts.source)?;
        // Setters wait at most driver_timeout (a reload changes it), on a thread of their own.
        let control_bound_ms = Arc::new(AtomicU64::new(
            config.watchdog.driver_timeout.as_millis() as u64
        ));
        let control = match source.control() {
            Some(inner) => Some(Box::new(
                BoundedControl::new(inner, Arc::clone(&control_bound_ms))
                    .context("starting the clock setter thread")?,
            ) as Box<dyn GpuControl>),
            None => None,
        };
        let (persisted, warning) = persist::load(&state_dir);
        let clock = EngineClock::resume(persisted.clock.as_ref());
        let dry_run = opts.dry_run || config.watchdog.dry_run;
        let clocks = ClockActuator::restore(control, persisted.caps);
        let systemd = Systemd::system(systemd_options(&config));
        let notifier = DesktopNotifier::session(NotifyOptions::default());
        let dispatcher = Dispatcher::new(clocks, Arc::new(systemd), Arc::new(notifier), dry_run);
        let (timed, sample_ns) = sampler::Timed::wrap(source);
        let driver = driver::DriverWatch::new(timed.watch(), config.watchdog.driver_timeout);
        let interval_ms = Arc::new(AtomicU64::new(config.watchdog.interval.as_millis() as u64));
        let samples = sampler::spawn_adjustable(Box::new(timed), Arc::clone(&interval_ms));
        let xids = crate::health::start(&opts.source, config.watchdog.kmsg.as_deref());
        let host = crate::host::hostname();
        let (oncall, oncall_problem) =
            OnCall::start(&config, &host, &state_dir.join(EVENT_LOG_FILE), &state_dir);
        oncall.serve.set_token(token);
        let mut watch = Watch {
            state: persisted.policy,
            opts,
            config,
            state_dir,
            events,
            dispatcher,
            samples,
            interval_ms,
            control_bound_ms,
            sample_ns,
            service: ServiceManager::new(),
            oncall,
            xids: xids.reports,
            clock,
            driver,
            growth_saved: 0,
        };
        let mode = if dry_run { " (dry run)" } else { "" };
        let started = Event::new(now_ms(), EventKind::Started, format!("watch{mode}")).result(
            EventResult::Ok,
            Some(watch.opts.config_path.display().to_string()),
        );
        watch.log(started);
        for w in &watch.config.warnings {
            tracing::warn!("config warning: {w}");
        }
        if let Some(why) = oncall_problem {
            let e = Event::new(now_ms(), EventKind::Alert, "start alert sinks")
                .result(EventResult::Failed, Some(why));
            watch.log(e);
        }
        for why in xids.problems {
            watch.log(
                Event::new(now_ms(), EventKind::Xid, "read the kernel log")
                    .result(EventResult::Failed, Some(why)),
            );
        }
        if let Some(why) = warning {
            let e = Event::new(now_ms(), EventKind::Started, "load state")
                .result(EventResult::Failed, Some(why));
            watch.log(e);
        }
        for e in watch.oncall.resolve_orphans(&watch.state, now_ms()) {
            watch.log(e);
        }
        // Caps remembered from the last run: the driver may have reloaded since.
        if !dry_run {
            let at = now_ms();
            for outcome in watch.dispatcher.clocks.reapply_all() {
                let e = outcome.to_event(at);
                watch.log(e);
            }
        }
        Ok(watch)
    }

    async fn run(mut self) -> Result<()> {
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut hup = signal(SignalKind::hangup()).context("installing SIGHUP handler")?;
        self.serve_http().await;
        let mut control = match control::listen(&self.state_dir) {
            Ok(rx) => Some(rx),
            Err(e) => {
                let e = Event::new(now_ms(), EventKind::Started, "open the control socket").result(
                    EventResult::Failed,
                    Some(format!("{e}; `gpuwarden reset` will not reach this daemon")),
                );
                self.log(e);
                None
            }
        };
        // The loop's own heartbeat: WATCHDOG=1 whenever the loop turns, whatever the driver
        // says (a sick GPU is an alert, not a reason for systemd to kill the watchdog).
        let mut heartbeat = self.service.ping_every().map(tokio::time::interval);
        // The driver is looked at from here: the sampler thread may be stuck inside it.
        let mut driver_check = tokio::time::interval(Duration::from_millis(500));
        let mut ready = false;
        loop {
            tokio::select! {
                sample = self.samples.recv() => {
                    let Some(sample) = sample else { break };
                    match sample {
                        Ok(snap) => self.on_sample(snap),
                        Err(e) => {
                            tracing::warn!("sampling failed: {e}");
                            self.service.status(&format!("sampling failed: {e}"));
                        }
                    }
                    if !ready {
                        self.service.ready(&self.status_line());
                        ready = true;
                    }
                    if self.opts.once {
                        self.drain(Duration::from_secs(120)).await;
                        break;
                    }
                }
                Some(done) = self.dispatcher.tasks.join_next() => {
                    if let Ok(done) = done {
                        self.on_task_done(done);
                    }
                }
                Some(report) = self.xids.recv() => {
                    let now = self.clock.now_ms();
                    let (config, state) = (&self.config, &mut self.state);
                    if let Some(e) = self.oncall.on_xid(report, config, state, now) {
                        self.log(e);
                        self.oncall.dry_run = self.dispatcher.dry_run();
                        self.oncall.tick(&self.config, &self.state, now, now_ms());
                    }
                }
                Some(pending) = async {
                    match control.as_mut() {
                        Some(rx) => rx.recv().await,
                        None => std::future::pending().await,
                    }
                } => self.on_control(pending),
                _ = async {
                    match heartbeat.as_mut() {
                        Some(h) => { h.tick().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => self.service.ping(),
                _ = driver_check.tick() => self.check_driver(),
                _ = hup.recv() => self.reload(),
                _ = term.recv() => { self.shutdown("SIGTERM").await; return Ok(()); }
                _ = int.recv() => { self.shutdown("SIGINT").await; return Ok(()); }
            }
        }
        if !self.opts.once {
            self.shutdown("sampler stopped").await;
        } else {
            self.save();
            self.oncall.shutdown();
        }
        Ok(())
    }

    /// Starts the HTTP endpoint on `[watchdog] listen`, on its own thread and runtime (see
    /// `crate::serve::spawn_thread`); a port in use is reported, not fatal: guarding the GPUs
    /// matters more than being scraped.
    async fn serve_http(&mut self) {
        let listen = self.config.watchdog.listen;
        let state = Arc::clone(&self.oncall.serve);
        let w = &self.config.watchdog;
        let tls = match (&w.tls_cert, &w.tls_key) {
            (Some(cert), Some(key)) => match crate::serve::tls::acceptor(cert, key) {
                Ok(a) => Some(a),
                Err(e) => {
                    // Never fall back to plain http: the admin asked for TLS.
                    let e = Event::new(now_ms(), EventKind::Started, format!("listen on {listen}"))
                        .result(EventResult::Failed, Some(format!("{e:#}")));
                    self.log(e);
                    return;
                }
            },
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        match crate::serve::spawn_thread(listen, state, crate::serve::Limits::default(), tls) {
            Ok(addr) => tracing::info!("serving /metrics and /api/v1 on {scheme}://{addr}"),
            Err(e) => {
                let e = Event::new(now_ms(), EventKind::Started, format!("listen on {listen}"))
                    .result(EventResult::Failed, Some(e.to_string()));
                self.log(e);
            }
        }
    }

    fn on_sample(&mut self, mut snap: Snapshot) {
        if let Some(gpus) = &self.opts.gpus {
            gpus.select(&mut snap);
        }
        let wall = snap.at_ms;
        let now = self.clock.now_ms();
        if self.oncall.driver_sampled(wall) {
            let e = Event::new(wall, EventKind::DriverAnswering, "sample the GPUs").result(
                EventResult::Ok,
                Some("the GPU driver answers; it did not for the daemon before".into()),
            );
            self.log(e);
        }
        for e in self
            .oncall
            .learn_gpus(&snap, &self.config, &mut self.state, now)
        {
            self.log(e);
        }
        let actions = policy::step(&self.config, &mut self.state, &snap, now);
        let took = Duration::from_nanos(self.sample_ns.load(Ordering::Relaxed));
        self.oncall.serve.publish(snap, took);
        // Leak history is worth keeping through a crash too: persist it once per new bucket
        // (a few times a minute at most), not only along with actions.
        let mark = self.state.growth_mark();
        let quiet = actions.is_empty();
        self.act(actions, now, wall);
        if quiet && mark != self.growth_saved {
            self.save();
        }
        self.growth_saved = mark;
        self.oncall.dry_run = self.dispatcher.dry_run();
        self.oncall.tick(&self.config, &self.state, now, wall);
        self.service.status(&self.status_line());
    }

    /// Carries out actions the engine decided at engine time `decided`, shown at wall time
    /// `wall`: alerts, actuators, event log, and the state on disk.
    fn act(&mut self, mut actions: Vec<Action>, decided: u64, wall: u64) {
        if actions.is_empty() {
            return;
        }
        for a in &mut actions {
            a.at_ms = wall;
        }
        for e in self.oncall.on_actions(&actions, wall) {
            self.log(e);
        }
        for e in self.dispatcher.dispatch(&actions, decided) {
            self.log(e);
        }
        self.save();
    }

    /// A restart or notification ended: log it, and tell the engine how the restart went.
    fn on_task_done(&mut self, done: TaskDone) {
        for e in done.events {
            self.log(e);
        }
        let Some(r) = done.restart else { return };
        let now = self.clock.now_ms();
        let actions = policy::restart_result(
            &self.config,
            &mut self.state,
            &r.unit,
            r.decided_ms,
            r.succeeded,
            now,
        );
        self.act(actions, now, now_ms());
        self.save();
    }

    /// A sample that hangs past `driver_timeout` is news; so is the driver answering again.
    fn check_driver(&mut self) {
        let Some(change) = self.driver.check() else {
            if !self.driver.answering() {
                // No samples arrive: keep the endpoint's numbers and the alert re-sends going.
                self.oncall
                    .tick(&self.config, &self.state, self.clock.now_ms(), now_ms());
            }
            return;
        };
        let at = now_ms();
        let (event, answering, summary) = match change {
            driver::Change::NotAnswering(d) => {
                let summary = format!(
                    "the GPU driver has not answered a sample for {} (driver_timeout {}); \
                     watching goes on, actions wait for it",
                    crate::policy::human_duration(d),
                    crate::policy::human_duration(self.config.watchdog.driver_timeout)
                );
                let e = Event::new(at, EventKind::DriverNotAnswering, "sample the GPUs")
                    .result(EventResult::TimedOut, Some(summary.clone()));
                (e, false, summary)
            }
            driver::Change::Answering => {
                let summary = "the GPU driver answers again".to_string();
                let e = Event::new(at, EventKind::DriverAnswering, "sample the GPUs")
                    .result(EventResult::Ok, Some(summary.clone()));
                (e, true, summary)
            }
        };
        self.log(event);
        self.oncall.driver(answering, &summary, at);
        self.oncall
            .tick(&self.config, &self.state, self.clock.now_ms(), now_ms());
        self.service.status(&if answering {
            self.status_line()
        } else {
            format!("driver not answering; {}", self.status_line())
        });
    }

    /// A request on the control socket (`gpuwarden reset`).
    fn on_control(&mut self, pending: control::Pending) {
        let control::Request::Reset { rule, gpu } = &pending.request;
        let gpu_ref = gpu.as_deref().map(|g| match g.parse::<u32>() {
            Ok(i) => policy::GpuRef::Index(i),
            Err(_) => policy::GpuRef::Uuid(g.to_string()),
        });
        let now = self.clock.now_ms();
        let actions = policy::reset(
            &self.config,
            &mut self.state,
            rule.as_deref(),
            gpu_ref.as_ref(),
            now,
        );
        let reset: Vec<control::ResetDone> = actions
            .iter()
            .map(|a| control::ResetDone {
                gpu: a.gpu.index,
                uuid: a.gpu.uuid.clone(),
                rule: a.rule.clone().unwrap_or_default(),
            })
            .collect();
        let message = if reset.is_empty() {
            "nothing to reset: no firing rule matches".to_string()
        } else {
            format!("reset {} firing(s)", reset.len())
        };
        self.act(actions, now, now_ms());
        let _ = pending.reply.send(control::Reply {
            ok: !reset.is_empty(),
            reset,
            message,
        });
    }

    fn status_line(&self) -> String {
        let firing = self.state.active_rules().len();
        let caps = self.dispatcher.clocks.applied().gpus.len();
        format!(
            "watching{}: {firing} rule(s) firing, {caps} GPU(s) capped",
            if self.dispatcher.dry_run() {
                " (dry run)"
            } else {
                ""
            }
        )
    }

    async fn shutdown(&mut self, why: &str) {
        self.service.stopping();
        let at = now_ms();
        let now = self.clock.now_ms();
        let mut actions = policy::shutdown(&mut self.state, now);
        for a in &mut actions {
            a.at_ms = at;
        }
        for e in self.dispatcher.dispatch(&actions, now) {
            self.log(e);
        }
        // Whatever the engine and the actuator disagree on, no cap outlives the daemon.
        if !self.dispatcher.dry_run() {
            for outcome in self.dispatcher.clocks.undo_all() {
                let e = outcome.to_event(at);
                self.log(e);
            }
        }
        self.drain(Duration::from_secs(10)).await;
        self.save();
        self.oncall
            .tick(&self.config, &self.state, self.clock.now_ms(), now_ms());
        self.oncall.shutdown();
        let _ = std::fs::remove_file(control::path(&self.state_dir));
        self.log(
            Event::new(now_ms(), EventKind::Stopped, "stop")
                .result(EventResult::Ok, Some(why.into())),
        );
    }

    /// Waits (bounded) for restarts and notifications in flight, logging their events.
    async fn drain(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.dispatcher.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.dispatcher.tasks.join_next()).await {
                Ok(Some(Ok(done))) => self.on_task_done(done),
                Ok(Some(Err(_))) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }

    fn save(&self) {
        let p = persist::Persisted {
            policy: self.state.clone(),
            caps: self.dispatcher.clocks.applied().clone(),
            clock: Some(self.clock.base().clone()),
        };
        if let Err(e) = persist::save(&self.state_dir, &p) {
            tracing::error!(
                "could not persist state in {}: {e}",
                self.state_dir.display()
            );
        }
    }

    fn log(&mut self, event: Event) {
        self.oncall.on_event(&event);
        if self.opts.echo_events {
            println!("{}", describe(&event));
        }
        if let Err(e) = self.events.append(&event) {
            tracing::error!(
                "could not write the event log {}: {e}",
                self.events.path().display()
            );
        }
    }
}

/// The systemd actuator's settings from the config: the engine's own allowlist (one list,
/// checked twice) and the job timeout.
fn systemd_options(config: &Config) -> SystemdOptions {
    SystemdOptions {
        call_timeout: Duration::from_secs(5),
        job_timeout: config.restarts.job_timeout,
        allowlist: Some(config.units.allow.clone()),
    }
}

/// One line for people: time, GPU, rule, what, result.
pub fn describe(e: &Event) -> String {
    let secs = (e.at_ms / 1000) % 86_400;
    let time = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    let gpu = e.gpu_index.map(|i| format!("GPU{i} ")).unwrap_or_default();
    let rule = e
        .rule
        .as_deref()
        .map(|r| format!("[{r}] "))
        .unwrap_or_default();
    let result = e.result.name();
    let detail = e
        .detail
        .as_deref()
        .map(|d| format!(" — {d}"))
        .unwrap_or_default();
    format!(
        "{time} {gpu}{rule}{}: {} ({result}){detail}",
        e.kind.name(),
        e.action
    )
}
