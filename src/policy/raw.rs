//! The serde shape of `watchdog.toml`: exactly what the user typed, nothing checked yet.
//!
//! First phase of loading (like ripgrep's low-level args): every table rejects unknown keys,
//! and every value that the second phase ([`super::build`]) still has to judge keeps its
//! byte span, so an error can point at `file:line:col`. Durations stay strings here and are
//! parsed with humantime in the second phase, which gives better messages than serde would.

use serde::Deserialize;
use toml::Spanned;

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub watchdog: RawWatchdog,
    #[serde(default)]
    pub restarts: RawRestarts,
    #[serde(default)]
    pub units: RawUnits,
    pub clock_cap: Option<Spanned<RawCap>>,
    #[serde(default)]
    pub rule: Vec<Spanned<RawRule>>,
    /// `[alerts]`: on-call sinks (checked by `super::alerts`).
    pub alerts: Option<Spanned<super::alerts::RawAlertsConfig>>,
}

/// `[watchdog]`: how the daemon runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWatchdog {
    pub interval: Option<Spanned<String>>,
    pub dry_run: Option<bool>,
    pub state_dir: Option<Spanned<String>>,
    pub listen: Option<Spanned<String>>,
    /// Kernel log to read XID lines from (`/dev/kmsg` when unset, `""` = off).
    pub kmsg: Option<String>,
    pub token_file: Option<Spanned<String>>,
    /// PEM certificate chain and key: the endpoint serves HTTPS only.
    pub tls_cert: Option<Spanned<String>>,
    pub tls_key: Option<Spanned<String>>,
    pub driver_timeout: Option<Spanned<String>>,
}

/// `[restarts]`: the restart budget and cooldown shared by every unit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestarts {
    pub budget: Option<Spanned<i64>>,
    pub window: Option<Spanned<String>>,
    pub cooldown: Option<Spanned<String>>,
    pub job_timeout: Option<Spanned<String>>,
    pub verify: Option<Spanned<String>>,
}

/// `[units]`: which systemd units run on which GPU, and which may ever be restarted.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnits {
    pub auto: Option<bool>,
    pub allow: Option<Spanned<Vec<Spanned<String>>>>,
    pub allow_any_unit: Option<bool>,
    #[serde(default)]
    pub map: Vec<Spanned<RawUnitMap>>,
}

/// `[[units.map]]`: units pinned to one GPU.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUnitMap {
    pub gpu: Spanned<RawGpuRef>,
    pub units: Vec<Spanned<String>>,
}

/// A GPU as the user names it: an index (`0`) or a UUID (`"GPU-…"`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RawGpuRef {
    Index(i64),
    Uuid(String),
}

/// `[clock_cap]` or a rule's `cap`: how to slow a GPU down.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCap {
    pub sm_clock_mhz: Option<Spanned<Vec<Spanned<i64>>>>,
    pub power_limit_w: Option<Spanned<f64>>,
    pub power_limit_pct: Option<Spanned<f64>>,
    pub undo_on_clear: Option<bool>,
    pub reapply_every: Option<Spanned<String>>,
}

/// `[[rule]]`: one condition on one metric and what to do while it holds.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub metric: Option<Spanned<String>>,
    pub throttle: Option<Spanned<String>>,
    pub above: Option<Spanned<f64>>,
    pub below: Option<Spanned<f64>>,
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    pub clear_below: Option<Spanned<f64>>,
    pub clear_above: Option<Spanned<f64>>,
    pub clear_for: Option<Spanned<String>>,
    /// `metric = "xid"`: the XID codes that count (every code when left out).
    pub xid: Option<Spanned<Vec<Spanned<i64>>>>,
    /// How far back the rule looks: `metric = "xid"` counts XIDs within it (default 10m),
    /// `metric = "memory_growth_pct"` reads the growth over it (required).
    pub within: Option<Spanned<String>>,
    pub severity: Option<Spanned<String>>,
    pub gpus: Option<Spanned<Vec<Spanned<RawGpuRef>>>>,
    pub cap: Option<Spanned<RawCap>>,
    #[serde(default)]
    pub steps: Vec<Spanned<RawStep>>,
}

/// One rung of a rule's escalation ladder.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStep {
    pub after: Option<Spanned<String>>,
    #[serde(rename = "do")]
    pub action: Spanned<String>,
}
