//! The dashboard's state and the one function that changes it: [`App::update`].
//!
//! Everything the view draws is here, as plain data; the view only borrows it
//! (`impl Widget for &App` in `view`). Messages come from the sampler (snapshots, source
//! errors), from the keyboard (via `input`) and from the host reader. Freezing keeps a copy of
//! what was on screen while new samples still flow into the live history.

use super::theme::{Theme, Thresholds};
use super::watchdog::WatchdogView;
use crate::gpu::{GpuProcess, GpuSample, Snapshot};
use crate::history::History;
use crate::host::HostReading;

/// Something that happened; [`App::update`] turns it into a new state.
#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    /// A new snapshot from the sampler.
    Sample(Box<Snapshot>),
    /// The source failed this time; the text says why.
    SourceError(String),
    /// The sample in progress has been stuck in the driver this long (`None`: it answered).
    DriverStalled(Option<std::time::Duration>),
    /// A fresh reading of the host's CPU and RAM.
    Host(HostReading),
    Quit,
    /// Move the selection in the focused panel (negative: up).
    Move(i32),
    /// Select the GPU with this index.
    PickGpu(u32),
    /// `:` opens the go-to prompt (an index, a UUID or its start, a PCI bus id).
    JumpStart,
    /// `/` opens the process filter prompt (the Enter of [`Msg::JumpGo`] applies it).
    FilterStart,
    /// `K` (or F9): ask to signal the selected process.
    KillAsk,
    /// The answer: `Some(signal)` sends it, `None` cancels.
    KillAnswer(Option<i32>),
    JumpInput(char),
    JumpErase,
    /// Enter in the prompt: select what was typed.
    JumpGo,
    /// Replay: pause or go on.
    ReplayPause,
    /// Replay: jump forward (1) or back (-1) by ten seconds times the speed.
    ReplaySeek(i32),
    /// Replay: twice as fast (1) or half as fast (-1).
    ReplaySpeed(i32),
    /// Switch focus to the next panel.
    NextFocus,
    /// Open or close the detail view of the selected GPU.
    ToggleDetail,
    ToggleFreeze,
    /// `o`: the overview's charts of the selected GPU, or every GPU overlaid per metric.
    ToggleOverlay,
    /// Sort the process table by the next column.
    NextSort,
    /// Reverse the process table's order.
    ReverseSort,
    /// Show the processes of every GPU or only of the selected one.
    ToggleProcessScope,
    ToggleHelp,
    /// Esc: close the innermost overlay or view, or quit when none is open.
    Back,
    /// The terminal changed size; nothing to update but a redraw.
    Resize,
}

/// Which panel the arrow keys move in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Gpus,
    Processes,
}

/// The process table's sort column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Memory,
    Pid,
    User,
    Owner,
    Gpu,
    Command,
    Sm,
    Cpu,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        SortKey::Memory,
        SortKey::Pid,
        SortKey::User,
        SortKey::Owner,
        SortKey::Gpu,
        SortKey::Command,
        SortKey::Sm,
        SortKey::Cpu,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Memory => "gpu mem",
            SortKey::Pid => "pid",
            SortKey::User => "user",
            SortKey::Owner => "owner",
            SortKey::Gpu => "gpu",
            SortKey::Command => "command",
            SortKey::Sm => "sm",
            SortKey::Cpu => "cpu",
        }
    }

    fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }

    /// Memory and load read best largest first; names and numbers smallest first.
    fn natural_descending(self) -> bool {
        matches!(self, SortKey::Memory | SortKey::Sm | SortKey::Cpu)
    }
}

/// A process row with the GPU it runs on.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessRow<'a> {
    pub gpu: u32,
    pub process: &'a GpuProcess,
    /// The GPU is lost: this is the process as last seen, not a current reading.
    pub lost: bool,
}

/// What the dashboard last saw of a GPU while it answered, so a lost GPU keeps its name,
/// PCI address and processes on screen.
#[derive(Clone, Debug, Default)]
struct LastSeen {
    name: Option<String>,
    pci_bus_id: Option<String>,
    processes: Vec<GpuProcess>,
    /// When the GPU was first seen lost (since it last answered).
    lost_since_ms: Option<u64>,
}

/// What the view shows when frozen: the screen as it was.
#[derive(Clone, Debug)]
struct Frozen {
    snapshot: Option<Snapshot>,
    history: History,
    /// The host's CPU and RAM at the moment of freezing: the header stays still too.
    host: Option<HostReading>,
    health: std::collections::HashMap<String, crate::check::HealthState>,
}

/// The whole dashboard state.
#[derive(Clone, Debug)]
pub struct App {
    pub theme: Theme,
    pub thresholds: Thresholds,
    /// The sampling interval, shown in the header.
    pub interval_ms: u64,
    /// Offset of the local time zone, for the clock in the header (0 shows UTC).
    pub utc_offset_s: i32,
    /// `-i` selection, applied to every snapshot.
    pub gpu_filter: Option<Vec<u32>>,
    snapshot: Option<Snapshot>,
    history: History,
    frozen: Option<Frozen>,
    pub host: Option<HostReading>,
    /// The latest source error, cleared by the next good sample.
    pub source_error: Option<String>,
    /// How long the sample in progress has been stuck in the driver, once past the bound.
    pub driver_stalled: Option<std::time::Duration>,
    /// UUID of the selected GPU.
    selected: Option<String>,
    pub focus: Focus,
    pub detail: bool,
    pub help: bool,
    /// The overview's chart strip overlays every GPU (one chart per metric) instead of the
    /// selected GPU's four charts.
    pub overlay: bool,
    pub sort: SortKey,
    pub sort_descending: bool,
    /// Processes of every GPU (`true`) or only the selected one.
    pub all_processes: bool,
    /// Selected row in the process table.
    pub process_row: usize,
    /// By UUID: what each GPU looked like when it last answered.
    last_seen: std::collections::HashMap<String, LastSeen>,
    /// By UUID: each GPU's health state in the latest sample, judged once when it came in.
    health: std::collections::HashMap<String, crate::check::HealthState>,
    /// What the `:` / `/` prompt is for, while it is open.
    pub prompt: Prompt,
    /// `/`: only processes whose user, owner, command or pid contain this (any case).
    pub process_filter: Option<String>,
    /// The PIDs on screen are this machine's (a live local source): only then may `K`
    /// signal them. Never for the demo fleet, a replay or a remote host.
    pub local_pids: bool,
    /// `K` asked about this process: (pid, how it is named in the question).
    pub kill_ask: Option<(u32, String)>,
    /// What the last `K` did, until the next key.
    pub kill_said: Option<String>,
    /// `top --trace`: the replay's controls and position (`None` for live data).
    pub replay: Option<crate::gpu::trace::ReplayControl>,
    /// What was typed in the `:` prompt while it is open.
    pub jump: Option<String>,
    /// Why the last `:` found nothing, until the next key.
    pub jump_error: Option<String>,
    /// Rules and events of the watchdog, when one runs alongside (filled by the watchdog).
    pub watchdog: Option<WatchdogView>,
    pub quit: bool,
}

impl App {
    pub fn new(theme: Theme) -> Self {
        App {
            theme,
            thresholds: Thresholds::default(),
            interval_ms: 1000,
            utc_offset_s: 0,
            gpu_filter: None,
            snapshot: None,
            history: History::default(),
            frozen: None,
            host: None,
            source_error: None,
            driver_stalled: None,
            selected: None,
            focus: Focus::Gpus,
            detail: false,
            help: false,
            overlay: false,
            sort: SortKey::Memory,
            sort_descending: true,
            all_processes: true,
            process_row: 0,
            last_seen: Default::default(),
            jump: None,
            jump_error: None,
            replay: None,
            prompt: Prompt::GoTo,
            process_filter: None,
            local_pids: false,
            kill_ask: None,
            kill_said: None,
            health: Default::default(),
            watchdog: None,
            quit: false,
        }
    }

    /// Applies one message.
    pub fn update(&mut self, msg: Msg) {
        if !matches!(msg, Msg::Sample(_) | Msg::Host(_) | Msg::DriverStalled(_)) {
            self.jump_error = None;
            self.kill_said = None;
        }
        match msg {
            Msg::Sample(snapshot) => self.take_in(*snapshot, true),
            Msg::SourceError(e) => {
                self.history.record_gap();
                self.source_error = Some(e);
            }
            Msg::DriverStalled(d) => self.driver_stalled = d,
            Msg::Host(h) => self.host = Some(h),
            Msg::Quit => self.quit = true,
            Msg::Move(delta) => match self.focus {
                Focus::Gpus => self.move_gpu(delta),
                Focus::Processes => {
                    let n = self.processes().len();
                    self.process_row = step(self.process_row, delta, n);
                }
            },
            Msg::PickGpu(index) => {
                if let Some(g) = self.gpus().iter().find(|g| g.index == index) {
                    self.selected = Some(g.uuid.clone());
                    self.process_row = 0;
                }
            }
            Msg::ReplayPause => {
                if let Some(r) = &self.replay {
                    let mut c = r.lock();
                    c.paused = !c.paused;
                }
            }
            Msg::ReplaySeek(dir) => {
                if let Some(r) = &self.replay {
                    let mut c = r.lock();
                    let by = (10_000.0 * c.speed.max(1.0)) as i64;
                    c.seek_ms += i64::from(dir.signum()) * by;
                }
            }
            Msg::ReplaySpeed(dir) => {
                if let Some(r) = &self.replay {
                    let mut c = r.lock();
                    let s = if dir > 0 {
                        c.speed * 2.0
                    } else {
                        c.speed / 2.0
                    };
                    c.speed = s.clamp(0.25, crate::gpu::trace::MAX_SPEED);
                }
            }
            Msg::JumpStart => {
                self.prompt = Prompt::GoTo;
                self.jump = Some(String::new());
            }
            Msg::FilterStart => {
                self.prompt = Prompt::Filter;
                self.jump = Some(String::new());
            }
            Msg::KillAsk => self.ask_kill(),
            Msg::KillAnswer(signal) => {
                if let (Some((pid, what)), Some(sig)) = (self.kill_ask.take(), signal) {
                    self.kill_said = Some(send_signal(pid, sig, &what));
                }
            }
            Msg::JumpInput(c) => {
                if let Some(j) = &mut self.jump {
                    j.push(c);
                }
            }
            Msg::JumpErase => {
                if let Some(j) = &mut self.jump {
                    j.pop();
                }
            }
            Msg::JumpGo => {
                if let Some(wanted) = self.jump.take() {
                    match self.prompt {
                        Prompt::GoTo => self.go_to(wanted.trim()),
                        Prompt::Filter => {
                            let f = wanted.trim().to_string();
                            self.process_filter = (!f.is_empty()).then_some(f);
                            self.process_row = 0;
                        }
                    }
                }
            }
            Msg::NextFocus => {
                self.focus = match self.focus {
                    Focus::Gpus => Focus::Processes,
                    Focus::Processes => Focus::Gpus,
                }
            }
            Msg::ToggleDetail => {
                self.detail = !self.detail;
                self.process_row = 0;
            }
            Msg::ToggleFreeze => {
                self.frozen = match self.frozen {
                    Some(_) => None,
                    None => Some(Frozen {
                        snapshot: self.snapshot.clone(),
                        history: self.history.clone(),
                        host: self.host.clone(),
                        health: self.health.clone(),
                    }),
                };
                self.keep_selection_valid();
            }
            Msg::NextSort => {
                self.sort = self.sort.next();
                self.sort_descending = self.sort.natural_descending();
            }
            Msg::ReverseSort => self.sort_descending = !self.sort_descending,
            Msg::ToggleProcessScope => {
                self.all_processes = !self.all_processes;
                self.process_row = 0;
            }
            Msg::ToggleHelp => self.help = !self.help,
            Msg::ToggleOverlay => self.overlay = !self.overlay,
            Msg::Back => {
                if self.kill_ask.is_some() {
                    self.kill_ask = None;
                } else if self.jump.is_some() {
                    self.jump = None;
                } else if self.help {
                    self.help = false;
                } else if self.detail {
                    self.detail = false;
                } else {
                    self.quit = true;
                }
            }
            Msg::Resize => {}
        }
    }

    /// Takes in a new snapshot: the one on screen from now on, and (when `record`) one more
    /// slot of history.
    fn take_in(&mut self, mut snapshot: Snapshot, record: bool) {
        snapshot.select(self.gpu_filter.as_deref());
        self.remember(&mut snapshot);
        if let Some(replay) = self.replay.as_ref().filter(|_| record) {
            // A replay charts every trace sample at its own place, also those that fell
            // between two frames, and a repeated one (paused, or the trace's next sample not
            // reached yet) only once.
            for mut passed in replay.take_passed() {
                passed.select(self.gpu_filter.as_deref());
                self.history.record(&passed);
            }
            if self.history.last_at_ms() != Some(snapshot.at_ms) {
                self.history.record(&snapshot);
            }
        } else if record {
            self.history.record(&snapshot);
        }
        self.source_error = None;
        self.driver_stalled = None;
        self.snapshot = Some(snapshot);
        self.keep_selection_valid();
    }

    /// Opens on a history kept while nobody looked (a fleet host's, recorded on every fetch),
    /// with `newest` on screen; `newest` is recorded only when the history does not have it
    /// yet.
    pub fn resume(&mut self, history: History, newest: Option<Snapshot>) {
        self.history = history;
        if let Some(s) = newest {
            let recorded = self.history.last_at_ms().is_some_and(|at| at >= s.at_ms);
            self.take_in(s, !recorded);
        }
    }

    /// Hands the live history over (to be kept while the view is closed), leaving an empty
    /// one of the same capacity.
    pub fn take_history(&mut self) -> History {
        let capacity = self.history.capacity();
        std::mem::replace(&mut self.history, History::new(capacity))
    }

    /// Keeps what answering GPUs look like, and gives a lost GPU its last known name and PCI
    /// address (a lost GPU's sample carries neither when the source never cached them).
    fn remember(&mut self, snapshot: &mut Snapshot) {
        // Kept between samples: a GPU already known updates its entry in place.
        for g in &snapshot.gpus {
            let state = crate::check::gpu_health(g).state;
            match self.health.get_mut(&g.uuid) {
                Some(s) => *s = state,
                None => {
                    self.health.insert(g.uuid.clone(), state);
                }
            }
        }
        let gpus = &snapshot.gpus;
        self.health
            .retain(|uuid, _| gpus.iter().any(|g| g.uuid == *uuid));
        for g in &mut snapshot.gpus {
            let seen = self.last_seen.entry(g.uuid.clone()).or_default();
            if g.is_lost() {
                seen.lost_since_ms.get_or_insert(snapshot.at_ms);
                if g.name.value().is_none()
                    && let Some(n) = &seen.name
                {
                    g.name = crate::gpu::Field::Value(n.clone());
                }
                if g.pci_bus_id.value().is_none()
                    && let Some(p) = &seen.pci_bus_id
                {
                    g.pci_bus_id = crate::gpu::Field::Value(p.clone());
                }
            } else {
                seen.lost_since_ms = None;
                seen.name = g.name.value().cloned().or(seen.name.take());
                seen.pci_bus_id = g.pci_bus_id.value().cloned().or(seen.pci_bus_id.take());
                if let Some(p) = g.processes.value() {
                    seen.processes.clone_from(p);
                }
            }
        }
    }

    /// `K` on the focused process table: asks about the selected process, or says why not.
    fn ask_kill(&mut self) {
        if !self.local_pids {
            self.kill_said = Some(
                "K signals only this machine's processes (not the demo fleet, a replay or a \
                 remote host)"
                    .into(),
            );
            return;
        }
        if self.focus != Focus::Processes {
            self.kill_said = Some("Tab to the process table first, then K".into());
            return;
        }
        let rows = self.processes();
        let Some(r) = rows.get(self.process_row) else {
            return;
        };
        let p = r.process;
        let what = format!(
            "PID {} ({}, user {}, GPU {})",
            p.pid,
            p.command.as_deref().unwrap_or("?"),
            p.user.as_deref().unwrap_or("?"),
            r.gpu
        );
        self.kill_ask = Some((p.pid, what));
    }

    /// Selects the GPU `wanted` names: its index, its UUID (or the start of it, `GPU-fa4e`),
    /// or its PCI bus id (as NVML or the kernel writes it).
    fn go_to(&mut self, wanted: &str) {
        let lower = wanted.to_ascii_lowercase();
        let pci = crate::health::normalize_pci(wanted);
        let found = self.gpus().iter().find(|g| {
            wanted.parse::<u32>().is_ok_and(|i| i == g.index)
                || (!wanted.is_empty() && g.uuid.to_ascii_lowercase().starts_with(&lower))
                || pci.is_some()
                    && g.pci_bus_id
                        .value()
                        .and_then(|p| crate::health::normalize_pci(p))
                        == pci
        });
        match found.map(|g| g.uuid.clone()) {
            Some(uuid) => {
                self.selected = Some(uuid);
                self.focus = Focus::Gpus;
                self.process_row = 0;
            }
            None if wanted.is_empty() => {}
            None => {
                self.jump_error = Some(format!(
                    "no GPU {wanted:?} (an index, a UUID or a PCI bus id)"
                ))
            }
        }
    }

    /// The time between two chart columns' samples: the trace's own period in a replay
    /// (every trace sample is charted), else the sampling interval.
    pub fn chart_interval_ms(&self) -> u64 {
        self.replay
            .as_ref()
            .and_then(|r| r.lock().interval_ms)
            .unwrap_or(self.interval_ms)
    }

    /// The health state of the GPU `uuid` on screen (frozen with the view).
    pub fn health_state(&self, uuid: &str) -> Option<crate::check::HealthState> {
        match &self.frozen {
            Some(f) => f.health.get(uuid).copied(),
            None => self.health.get(uuid).copied(),
        }
    }

    /// When the GPU `uuid` was first seen lost; `None` while it answers.
    pub fn lost_since(&self, uuid: &str) -> Option<u64> {
        self.last_seen.get(uuid)?.lost_since_ms
    }

    /// The snapshot on screen: the frozen one while frozen, else the latest.
    pub fn snapshot(&self) -> Option<&Snapshot> {
        match &self.frozen {
            Some(f) => f.snapshot.as_ref(),
            None => self.snapshot.as_ref(),
        }
    }

    /// The host reading on screen (frozen with the view); none on a replay, where this
    /// machine's CPU and RAM would pass for those of the host the trace was recorded on.
    pub fn host_shown(&self) -> Option<&HostReading> {
        if self.replay.is_some() {
            return None;
        }
        match &self.frozen {
            Some(f) => f.host.as_ref(),
            None => self.host.as_ref(),
        }
    }

    /// The history on screen (frozen with the view).
    pub fn history(&self) -> &History {
        match &self.frozen {
            Some(f) => &f.history,
            None => &self.history,
        }
    }

    /// The live history, which keeps filling while the view is frozen.
    pub fn live_history(&self) -> &History {
        &self.history
    }

    pub fn is_frozen(&self) -> bool {
        self.frozen.is_some()
    }

    /// GPUs on screen, in index order as the source reported them.
    pub fn gpus(&self) -> &[GpuSample] {
        self.snapshot().map(|s| s.gpus.as_slice()).unwrap_or(&[])
    }

    pub fn selected_gpu(&self) -> Option<&GpuSample> {
        let uuid = self.selected.as_deref()?;
        self.gpus().iter().find(|g| g.uuid == uuid)
    }

    /// The process table's rows, filtered by scope and sorted.
    pub fn processes(&self) -> Vec<ProcessRow<'_>> {
        let selected = self.selected.as_deref();
        let mut rows: Vec<ProcessRow<'_>> = self
            .gpus()
            .iter()
            .filter(|g| self.all_processes_shown() || Some(g.uuid.as_str()) == selected)
            .flat_map(|g| {
                // A lost GPU's processes as last seen, marked: they may still hold it.
                let lost = g.is_lost();
                let procs = match g.processes.value() {
                    Some(p) => p.as_slice(),
                    None if lost => self
                        .last_seen
                        .get(&g.uuid)
                        .map_or(&[][..], |s| s.processes.as_slice()),
                    None => &[],
                };
                procs.iter().map(move |p| ProcessRow {
                    gpu: g.index,
                    process: p,
                    lost,
                })
            })
            .collect();
        if let Some(f) = &self.process_filter {
            let f = f.to_lowercase();
            let has = |s: Option<&str>| s.is_some_and(|s| s.to_lowercase().contains(&f));
            rows.retain(|r| {
                let p = r.process;
                has(p.user.as_deref())
                    || has(p.command.as_deref())
                    || has(Some(&owner_label(p)))
                    || p.pid.to_string().contains(&f)
            });
        }
        let text = |s: &Option<String>| s.clone().unwrap_or_default();
        rows.sort_by(|a, b| {
            let (pa, pb) = (a.process, b.process);
            let ord = match self.sort {
                SortKey::Memory => pa.used_memory_bytes.cmp(&pb.used_memory_bytes),
                SortKey::Pid => pa.pid.cmp(&pb.pid),
                SortKey::User => text(&pa.user).cmp(&text(&pb.user)),
                SortKey::Owner => owner_label(pa).cmp(&owner_label(pb)),
                SortKey::Gpu => a.gpu.cmp(&b.gpu),
                SortKey::Command => text(&pa.command).cmp(&text(&pb.command)),
                SortKey::Sm => pa.utilization_sm_pct.cmp(&pb.utilization_sm_pct),
                SortKey::Cpu => pa
                    .cpu_pct
                    .unwrap_or(-1.0)
                    .total_cmp(&pb.cpu_pct.unwrap_or(-1.0)),
            };
            // Ties fall back to the PID so the order never flickers between frames.
            let ord = ord.then(pa.pid.cmp(&pb.pid));
            if self.sort_descending {
                ord.reverse()
            } else {
                ord
            }
        });
        rows
    }

    /// Whether the process table lists every GPU: the detail view always shows its own GPU's.
    pub fn all_processes_shown(&self) -> bool {
        self.all_processes && !self.detail
    }

    fn move_gpu(&mut self, delta: i32) {
        let gpus = self.gpus();
        if gpus.is_empty() {
            return;
        }
        let now = self
            .selected
            .as_deref()
            .and_then(|u| gpus.iter().position(|g| g.uuid == u))
            .unwrap_or(0);
        let next = step(now, delta, gpus.len());
        self.selected = Some(gpus[next].uuid.clone());
        self.process_row = 0;
    }

    /// Selects the first GPU when nothing (or a vanished GPU) is selected.
    fn keep_selection_valid(&mut self) {
        let valid = self
            .selected
            .as_deref()
            .is_some_and(|u| self.gpus().iter().any(|g| g.uuid == u));
        if !valid {
            self.selected = self.gpus().first().map(|g| g.uuid.clone());
        }
        let n = self.processes().len();
        self.process_row = self.process_row.min(n.saturating_sub(1));
    }
}

/// Moves `now` by `delta` inside `0..len`, stopping at the ends.
fn step(now: usize, delta: i32, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    let next = now as i64 + i64::from(delta);
    next.clamp(0, len as i64 - 1) as usize
}

/// What the OWNER column shows: the owner in few words, else the unit, else nothing.
/// What the `:` / `/` prompt edits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Prompt {
    #[default]
    GoTo,
    Filter,
}

/// Sends `signal` to `pid` and says what happened, in words.
fn send_signal(pid: u32, signal: i32, what: &str) -> String {
    let name = if signal == libc::SIGKILL {
        "SIGKILL"
    } else {
        "SIGTERM"
    };
    let Ok(pid_t) = libc::pid_t::try_from(pid) else {
        return format!("{pid} is not a process id");
    };
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    if unsafe { libc::kill(pid_t, signal) } == 0 {
        format!("sent {name} to {what}")
    } else {
        format!(
            "could not send {name} to PID {pid}: {}",
            std::io::Error::last_os_error()
        )
    }
}

pub fn owner_label(p: &GpuProcess) -> String {
    match (&p.owner, &p.unit) {
        (Some(o), _) => o.label(),
        (None, Some(u)) => u.clone(),
        (None, None) => String::new(),
    }
}
