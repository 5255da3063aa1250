//! The validated watchdog policy: what `watchdog.toml` means once every value was checked.
//!
//! Second phase of loading (like ripgrep's high-level args): durations are parsed, clear
//! levels sit on the right side of their thresholds, unit names are valid systemd names,
//! allowlist globs are compiled, ladders are in order. Everything downstream — the engine,
//! `check-config`, the daemon, the dashboard's threshold colors — reads only these types.
//! [`super::build`] turns a [`super::raw::RawConfig`] into a [`Config`].

use crate::gpu::{GpuSample, ThrottleReason};
use globset::GlobSet;
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the daemon and `check-config` look when no path is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/gpuwarden/watchdog.toml";

/// The whole validated policy. Serializes (for `check-config --json` and the HTTP API) with
/// the same key names as `watchdog.toml` and every default filled in.
#[derive(Clone, Debug, Serialize)]
pub struct Config {
    pub watchdog: Watchdog,
    pub restarts: RestartPolicy,
    pub units: Units,
    /// The default clock cap for `cap_clocks` steps of rules without their own `cap`.
    pub clock_cap: Option<CapSpec>,
    #[serde(rename = "rule")]
    pub rules: Vec<Rule>,
    /// `[alerts]`: Alertmanager and webhook sinks, when configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alerts: Option<super::alerts::AlertsConfig>,
    /// Legal settings that probably do not do what was meant (a rule that may flap), located.
    #[serde(skip)]
    pub warnings: Vec<super::error::ConfigWarning>,
}

impl Config {
    /// The thresholds rules put on `metric` for this GPU, most severe first — what the
    /// dashboard colors its bars with.
    pub fn limits(&self, metric: Metric, index: u32, uuid: &str) -> Vec<Limit<'_>> {
        let mut out: Vec<Limit<'_>> = self
            .rules
            .iter()
            .filter(|r| r.gpus.matches(index, uuid))
            .filter_map(|r| {
                let (m, above, threshold) = match r.condition {
                    Condition::Above {
                        metric, threshold, ..
                    } => (metric, true, threshold),
                    Condition::Below {
                        metric, threshold, ..
                    } => (metric, false, threshold),
                    _ => return None,
                };
                (m == metric).then_some(Limit {
                    rule: &r.name,
                    above,
                    threshold,
                    severity: r.severity,
                })
            })
            .collect();
        out.sort_by_key(|l| std::cmp::Reverse(l.severity));
        out
    }
}

/// One rule's threshold on one metric (see [`Config::limits`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limit<'a> {
    pub rule: &'a str,
    /// True for `above = N`, false for `below = N`.
    pub above: bool,
    pub threshold: f64,
    pub severity: Severity,
}

impl Limit<'_> {
    /// Whether `value` is past this threshold.
    pub fn exceeded_by(&self, value: f64) -> bool {
        if self.above {
            value > self.threshold
        } else {
            value < self.threshold
        }
    }
}

/// `[watchdog]`: how the daemon runs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Watchdog {
    /// Time between samples (default 1 s, floor 100 ms).
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Decide and log every action, change nothing.
    pub dry_run: bool,
    /// Where state and the event log live (default `/var/lib/gpuwarden`).
    pub state_dir: PathBuf,
    /// Address of the HTTP endpoint (`/metrics`, `/healthz`, API); default `127.0.0.1:9844`.
    pub listen: SocketAddr,
    /// Kernel log the XID reader follows; `None` = `/dev/kmsg`, an empty path = off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kmsg: Option<PathBuf>,
    /// File holding the bearer token every route but `/healthz` asks for; read at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// PEM certificate chain and private key of the endpoint: with both, it serves HTTPS
    /// only; read at start.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// A sample that has not returned after this long means the driver is not answering
    /// (default 5 s).
    #[serde(with = "humantime_serde")]
    pub driver_timeout: Duration,
}

/// `[restarts]`: limits on restarting any one unit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RestartPolicy {
    /// At most this many restarts of one unit in one firing (fired → cleared), and within
    /// any `window` (default 3, per firing and per 1 h).
    pub budget: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// How long after a restart came back the reading must have improved (be no longer past
    /// the threshold); otherwise restarting did not help and the rule pages instead of
    /// restarting again (default 2 min).
    #[serde(with = "humantime_serde")]
    pub verify: Duration,
    /// Minimum time between two restarts of one unit (default 10 min).
    #[serde(with = "humantime_serde")]
    pub cooldown: Duration,
    /// How long the systemd actuator waits for a restart job to finish (default 90 s).
    #[serde(with = "humantime_serde")]
    pub job_timeout: Duration,
}

/// `[units]`: which units belong to which GPU, and which may be restarted at all.
#[derive(Clone, Debug, Serialize)]
pub struct Units {
    /// Also take the units owning each GPU's processes (from `/proc/PID/cgroup`).
    pub auto: bool,
    /// Only units matching one of these globs are ever restarted.
    pub allow: Allowlist,
    /// `allow_any_unit = true`: a glob in `allow` that matches every unit is meant.
    pub allow_any_unit: bool,
    /// Units pinned to a GPU by index or UUID.
    pub map: Vec<UnitMapping>,
}

impl Units {
    /// The units to restart for this GPU: pinned ones plus (with `auto`) the units that own
    /// its processes, sorted and without repeats. The allowlist is NOT applied here: the engine
    /// applies it so that every refusal becomes a visible action.
    pub fn for_gpu(&self, gpu: &GpuSample) -> Vec<String> {
        let mut out: Vec<String> = self
            .map
            .iter()
            .filter(|m| m.gpu.matches(gpu.index, &gpu.uuid))
            .flat_map(|m| m.units.iter().cloned())
            .collect();
        if self.auto
            && let Some(procs) = gpu.processes.value()
        {
            out.extend(procs.iter().filter_map(restartable_unit));
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The unit `auto` restarts for a process: the unit that owns it. A process owned by a
/// container, a pod or a Slurm job is not restarted through the scope it runs in
/// (`docker-<id>.scope`, `slurmstepd.scope`): restarting that would not restart its owner.
/// A process recorded before owners were read (no owner) is taken by its unit.
fn restartable_unit(p: &crate::gpu::GpuProcess) -> Option<String> {
    match &p.owner {
        Some(o) if o.kind == crate::gpu::OwnerKind::Unit => Some(o.id.clone()),
        Some(_) => None,
        None => p.unit.clone(),
    }
}

/// Unit name globs; a unit outside them is never restarted. Serializes as the list of globs.
#[derive(Clone, Debug)]
pub struct Allowlist {
    pub patterns: Vec<String>,
    pub(crate) set: GlobSet,
}

impl Allowlist {
    /// Builds an allowlist from globs; a bad glob is an error naming it (the config loader
    /// reports it with its line instead).
    pub fn new<S: AsRef<str>>(globs: &[S]) -> Result<Self, globset::Error> {
        let mut builder = globset::GlobSetBuilder::new();
        for glob in globs {
            builder.add(globset::Glob::new(glob.as_ref())?);
        }
        Ok(Allowlist {
            patterns: globs.iter().map(|g| g.as_ref().to_string()).collect(),
            set: builder.build()?,
        })
    }

    pub fn allows(&self, unit: &str) -> bool {
        self.set.is_match(unit)
    }
}

impl Serialize for Allowlist {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.patterns.serialize(s)
    }
}

/// `[[units.map]]`: units pinned to one GPU.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitMapping {
    pub gpu: GpuRef,
    pub units: Vec<String>,
}

/// A GPU named in the config: by index (as nvidia-smi shows it) or by UUID.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GpuRef {
    Index(u32),
    Uuid(String),
}

impl GpuRef {
    pub fn matches(&self, index: u32, uuid: &str) -> bool {
        match self {
            GpuRef::Index(i) => *i == index,
            GpuRef::Uuid(u) => u.eq_ignore_ascii_case(uuid),
        }
    }
}

impl fmt::Display for GpuRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GpuRef::Index(i) => write!(f, "GPU {i}"),
            GpuRef::Uuid(u) => f.write_str(u),
        }
    }
}

/// How to slow a GPU down: a locked SM clock range and/or a power limit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CapSpec {
    /// Locked SM clock range in MHz (`nvidia-smi -lgc min,max`).
    pub sm_clock_mhz: Option<(u32, u32)>,
    pub power_limit: Option<PowerLimit>,
    /// Undo the cap when the rule clears (default true); otherwise it stays until the daemon
    /// stops.
    pub undo_on_clear: bool,
    /// Re-apply while held, because limits do not survive a driver reload (default 1 min).
    #[serde(with = "humantime_serde")]
    pub reapply_every: Duration,
}

/// A power limit in watts or as a share of the limit in force when the GPU is first capped.
/// Serializes as `{"watts": 300.0}` or `{"percent": 70.0}`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PowerLimit {
    Watts(f64),
    /// Percent of the enforced limit the GPU reported just before gpuwarden first capped it
    /// (the snapshot does not carry the board's default limit).
    Percent(f64),
}

/// How bad a rule is when it fires.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

impl Severity {
    pub const NAMES: [&'static str; 3] = ["info", "warning", "critical"];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which GPUs a rule watches. Serializes as `"all"` or `{"only": [0, "GPU-…"]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GpuSelector {
    #[default]
    All,
    Only(Vec<GpuRef>),
}

impl GpuSelector {
    pub fn matches(&self, index: u32, uuid: &str) -> bool {
        match self {
            GpuSelector::All => true,
            GpuSelector::Only(refs) => refs.iter().any(|r| r.matches(index, uuid)),
        }
    }
}

/// One `[[rule]]`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Rule {
    /// Unique; the identity of the rule in events, alerts and metrics.
    pub name: String,
    pub description: Option<String>,
    #[serde(flatten)]
    pub condition: Condition,
    /// How long the condition must hold before the rule fires (`for`).
    #[serde(rename = "for", with = "humantime_serde")]
    pub sustain: Duration,
    /// How long the clear condition must hold before the rule clears (`clear_for`).
    #[serde(rename = "clear_for", with = "humantime_serde")]
    pub clear_sustain: Duration,
    pub severity: Severity,
    pub gpus: GpuSelector,
    /// The escalation ladder, ordered by `after`.
    pub steps: Vec<Step>,
    /// The cap its `cap_clocks` step applies (its own `cap`, else `[clock_cap]`).
    pub cap: Option<CapSpec>,
}

/// When a rule fires and when it clears.
#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    /// Fires while `metric > threshold`; clears once `metric <= clear` (`clear <= threshold`).
    Above {
        metric: Metric,
        threshold: f64,
        clear: f64,
    },
    /// Fires while `metric < threshold`; clears once `metric >= clear` (`clear >= threshold`).
    Below {
        metric: Metric,
        threshold: f64,
        clear: f64,
    },
    /// Fires while the GPU reports this clocks-event (throttle) reason, or any slowdown.
    Throttle(ThrottleWatch),
    /// Fires while the GPU has fallen off the bus.
    GpuLost,
    /// `metric = "memory_growth_pct"`: fires while used memory (the GPU's, or one unit's share)
    /// grew steadily by more than `threshold` percent of the total over `window` (`within` in
    /// the file; see [`super::growth`]); clears once the growth is at or below `clear`.
    MemoryGrowth {
        window: Duration,
        threshold: f64,
        clear: f64,
    },
    /// Fires while more than `more_than` XIDs with one of `codes` (any code when empty) were
    /// counted on the GPU within the last `within`; clears once they age out.
    Xid {
        codes: Vec<u32>,
        within: Duration,
        more_than: u32,
    },
}

/// The name of the leak metric in `watchdog.toml`.
pub const MEMORY_GROWTH_PCT: &str = "memory_growth_pct";

impl Condition {
    pub fn is_gpu_lost(&self) -> bool {
        matches!(self, Condition::GpuLost)
    }

    /// Rules that keep watching a GPU that fell off the bus (XID 79 comes with a lost GPU).
    pub fn watches_lost_gpus(&self) -> bool {
        matches!(self, Condition::GpuLost | Condition::Xid { .. })
    }

    /// Rules that watch each MIG instance of a GPU in MIG mode rather than the GPU: the
    /// memory ones, since an instance has memory of its own (see `policy::mig`).
    pub fn watches_mig_instances(&self) -> bool {
        match self {
            Condition::Above { metric, .. } | Condition::Below { metric, .. } => {
                *metric == Metric::MemoryUsedPct
            }
            Condition::MemoryGrowth { .. } => true,
            _ => false,
        }
    }
}

/// `{"above": 85.0, "metric": "temperature_c", "clear": 80.0}`, `{"throttle": "hw-thermal"}`,
/// `{"metric": "gpu_lost"}` — the words of `watchdog.toml`.
impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        match self {
            Condition::Above {
                metric,
                threshold,
                clear,
            } => {
                m.serialize_entry("metric", metric)?;
                m.serialize_entry("above", threshold)?;
                m.serialize_entry("clear_below", clear)?;
            }
            Condition::Below {
                metric,
                threshold,
                clear,
            } => {
                m.serialize_entry("metric", metric)?;
                m.serialize_entry("below", threshold)?;
                m.serialize_entry("clear_above", clear)?;
            }
            Condition::Throttle(r) => m.serialize_entry("throttle", r.name())?,
            Condition::GpuLost => m.serialize_entry("metric", "gpu_lost")?,
            Condition::MemoryGrowth {
                window,
                threshold,
                clear,
            } => {
                m.serialize_entry("metric", MEMORY_GROWTH_PCT)?;
                m.serialize_entry("above", threshold)?;
                m.serialize_entry("clear_below", clear)?;
                m.serialize_entry("within", &humantime::format_duration(*window).to_string())?;
            }
            Condition::Xid {
                codes,
                within,
                more_than,
            } => {
                m.serialize_entry("metric", "xid")?;
                if !codes.is_empty() {
                    m.serialize_entry("xid", codes)?;
                }
                m.serialize_entry("within", &humantime::format_duration(*within).to_string())?;
                m.serialize_entry("above", more_than)?;
            }
        }
        m.end()
    }
}

/// What a `throttle` rule watches: one clocks-event reason, or `slowdown` — any reason that
/// slows the card against its will (`hw-slowdown`, `sw-thermal`, `hw-thermal`,
/// `hw-power-brake`); idle, application clocks, the power cap, sync boost and display clocks
/// never count, so "slow" means slow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThrottleWatch {
    Reason(ThrottleReason),
    Slowdown,
}

impl ThrottleWatch {
    /// The word in `watchdog.toml`.
    pub fn name(self) -> &'static str {
        match self {
            ThrottleWatch::Reason(r) => r.name(),
            ThrottleWatch::Slowdown => "slowdown",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        if s == "slowdown" {
            return Some(ThrottleWatch::Slowdown);
        }
        ThrottleReason::from_name(s).map(ThrottleWatch::Reason)
    }

    /// Whether these active reasons are what the rule watches.
    pub fn active(self, reasons: crate::gpu::ThrottleReasons) -> bool {
        match self {
            ThrottleWatch::Reason(r) => reasons.contains(r),
            ThrottleWatch::Slowdown => reasons.iter().any(ThrottleReason::is_slowdown),
        }
    }
}

impl fmt::Display for ThrottleWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A numeric metric a rule can compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    TemperatureC,
    /// Degrees left below the GPU's own slowdown temperature (fires `below`).
    TemperatureMarginC,
    MemoryUsedPct,
    UtilizationPct,
    PowerPctOfLimit,
    /// Uncorrected ECC errors since the driver loaded.
    EccUncorrected,
    /// 1 while a row remap or a page retirement waits for a GPU reset, else 0.
    RowRemapPending,
    /// 1 once a row remap failed (no spare rows left: replace the GPU), else 0.
    RowRemapFailure,
    /// The GPU's health as `gpuwarden check` judges its sample: 0 ok, 1 degraded, 2 failed
    /// (`above = 0` fires on degraded or failed, `above = 1` on failed only).
    Health,
}

impl Metric {
    pub const ALL: [Metric; 9] = [
        Metric::TemperatureC,
        Metric::TemperatureMarginC,
        Metric::MemoryUsedPct,
        Metric::UtilizationPct,
        Metric::PowerPctOfLimit,
        Metric::EccUncorrected,
        Metric::RowRemapPending,
        Metric::RowRemapFailure,
        Metric::Health,
    ];

    /// The name used in `watchdog.toml`.
    pub fn name(self) -> &'static str {
        match self {
            Metric::TemperatureC => "temperature_c",
            Metric::TemperatureMarginC => "temperature_margin_c",
            Metric::MemoryUsedPct => "memory_used_pct",
            Metric::UtilizationPct => "utilization_pct",
            Metric::PowerPctOfLimit => "power_pct_of_limit",
            Metric::EccUncorrected => "ecc_uncorrected",
            Metric::RowRemapPending => "row_remap_pending",
            Metric::RowRemapFailure => "row_remap_failure",
            Metric::Health => "health",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Words for summaries: "temperature", "memory used".
    pub fn label(self) -> &'static str {
        match self {
            Metric::TemperatureC => "temperature",
            Metric::TemperatureMarginC => "temperature margin",
            Metric::MemoryUsedPct => "memory used",
            Metric::UtilizationPct => "utilization",
            Metric::PowerPctOfLimit => "power",
            Metric::EccUncorrected => "uncorrected ECC errors",
            Metric::RowRemapPending => "memory repair pending a reset",
            Metric::RowRemapFailure => "failed row remap",
            Metric::Health => "health",
        }
    }

    /// The readings a GPU can report, inclusive: a threshold or clear level outside them could
    /// never be reached or never be left.
    pub fn range(self) -> (f64, f64) {
        match self {
            Metric::TemperatureC => (0.0, 150.0),
            Metric::TemperatureMarginC => (-150.0, 150.0),
            Metric::MemoryUsedPct | Metric::UtilizationPct => (0.0, 100.0),
            // Draw can overshoot the enforced limit for a moment, never by twice.
            Metric::PowerPctOfLimit => (0.0, 200.0),
            Metric::EccUncorrected => (0.0, 1e9),
            Metric::RowRemapPending | Metric::RowRemapFailure => (0.0, 1.0),
            Metric::Health => (0.0, 2.0),
        }
    }

    /// The unit after a number in messages: "°C", "%", "% of the power limit", "errors".
    pub fn unit(self) -> &'static str {
        match self {
            Metric::TemperatureC | Metric::TemperatureMarginC => "°C",
            Metric::MemoryUsedPct | Metric::UtilizationPct => "%",
            Metric::PowerPctOfLimit => "% of the power limit",
            Metric::EccUncorrected => "errors",
            Metric::RowRemapPending | Metric::RowRemapFailure => "(0 or 1)",
            Metric::Health => "(0 ok, 1 degraded, 2 failed)",
        }
    }

    /// A value with its unit: "91.0 °C", "87.5 %", "3".
    pub fn format(self, v: f64) -> String {
        match self {
            Metric::TemperatureC | Metric::TemperatureMarginC => format!("{v:.1} °C"),
            Metric::MemoryUsedPct | Metric::UtilizationPct => format!("{v:.1} %"),
            Metric::PowerPctOfLimit => format!("{v:.1} % of limit"),
            Metric::EccUncorrected | Metric::RowRemapPending | Metric::RowRemapFailure => {
                format!("{v:.0}")
            }
            Metric::Health => match v.round() as i64 {
                0 => "ok".to_string(),
                1 => "degraded".to_string(),
                2 => "failed".to_string(),
                _ => format!("{v:.0}"),
            },
        }
    }

    /// The metric's value in this sample, if the GPU reported it.
    pub fn read(self, gpu: &GpuSample) -> Option<f64> {
        match self {
            Metric::TemperatureC => gpu.temperature_c.get(),
            Metric::TemperatureMarginC => gpu.temperature_margin_c(),
            Metric::MemoryUsedPct => gpu.memory_used_pct(),
            Metric::UtilizationPct => gpu.utilization_gpu_pct.get().map(f64::from),
            Metric::PowerPctOfLimit => gpu.power_pct_of_limit(),
            Metric::EccUncorrected => gpu.ecc_uncorrected.get().map(|v| v as f64),
            Metric::RowRemapPending => {
                let remap = gpu.row_remap.value().map(|r| r.pending);
                let pages = gpu.retired_pages_pending.get();
                match (remap, pages) {
                    (None, None) => None,
                    (a, b) => Some(f64::from(u8::from(a == Some(true) || b == Some(true)))),
                }
            }
            Metric::RowRemapFailure => gpu
                .row_remap
                .value()
                .map(|r| f64::from(u8::from(r.failure))),
            Metric::Health => Some(crate::check::gpu_health(gpu).state.level()),
        }
    }
}

/// One rung of the ladder: do `action` once the rule has been firing for `after`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Step {
    #[serde(with = "humantime_serde")]
    pub after: Duration,
    #[serde(rename = "do")]
    pub action: StepAction,
}

/// What a ladder step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepAction {
    /// A desktop notification.
    Notify,
    /// Apply the rule's clock cap to the GPU.
    CapClocks,
    /// Restart the GPU's allowlisted units (repeats after the cooldown while the rule still
    /// fires, until the restart budget is spent; then pages).
    RestartUnits,
    /// A firing alert for whoever is on call; resolved when the rule clears.
    Page,
}

impl StepAction {
    pub const ALL: [StepAction; 4] = [
        StepAction::Notify,
        StepAction::CapClocks,
        StepAction::RestartUnits,
        StepAction::Page,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StepAction::Notify => "notify",
            StepAction::CapClocks => "cap_clocks",
            StepAction::RestartUnits => "restart_units",
            StepAction::Page => "page",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == s)
    }
}

impl fmt::Display for StepAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
