//! `check --slurm`: drain the node through `scontrol` when a check fails, and resume it when
//! the checks pass again — but only a drain gpuwarden itself set (its reason starts with
//! `gpuwarden:`), as LBNL NHC does. A node drained by someone else stays drained, reason and
//! all.
//!
//! Slurm starts a HealthCheckProgram with almost no environment (no `PATH`), so `scontrol`
//! is looked up on `PATH` and then in the usual install directories.

use super::Verdict;
use super::report::{SlurmOutcome, brief};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every drain reason gpuwarden sets starts with this; only such drains are resumed.
pub const REASON_PREFIX: &str = "gpuwarden:";

/// Slurm accepts long reasons, but `sinfo -R` and people read them: keep them short.
const MAX_REASON_CHARS: usize = 200;

/// Where `scontrol` is looked for when `PATH` does not have it.
const FALLBACK_DIRS: &[&str] = &[
    "/usr/bin",
    "/usr/local/bin",
    "/bin",
    "/opt/slurm/bin",
    "/usr/sbin",
];

/// The node to act on: `--node`, else `SLURMD_NODENAME` (set by slurmd for its health check
/// and prolog), else the short host name.
pub fn node_name(flag: Option<&str>) -> String {
    if let Some(n) = flag {
        return n.to_string();
    }
    if let Some(n) = std::env::var("SLURMD_NODENAME")
        .ok()
        .filter(|n| !n.is_empty())
    {
        return n;
    }
    let host = crate::host::hostname();
    host.split('.').next().unwrap_or(&host).to_string()
}

/// The `scontrol` to run: the one given, else the first on `PATH` or in [`FALLBACK_DIRS`].
pub fn find_scontrol(given: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let dirs = std::env::split_paths(&path).chain(FALLBACK_DIRS.iter().map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join("scontrol");
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    bail!(
        "scontrol not found on PATH nor in {} (install slurm-client, or give --scontrol PATH)",
        FALLBACK_DIRS.join(", ")
    )
}

/// What `scontrol show node` says about the node's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeState {
    /// `IDLE+DRAIN`, `MIXED`, `DOWN+DRAIN+NOT_RESPONDING`, ...
    pub state: String,
    /// The drain/down reason without Slurm's ` [user@time]` suffix.
    pub reason: Option<String>,
}

impl NodeState {
    pub fn drained(&self) -> bool {
        self.state.split('+').any(|f| f == "DRAIN")
    }

    fn ours(&self) -> bool {
        self.reason
            .as_deref()
            .is_some_and(|r| r.starts_with(REASON_PREFIX))
    }
}

/// Parses `scontrol show node NODE` (the multi-line form): `State=` is one word of a line,
/// `Reason=` runs to the end of its line.
pub fn parse_show_node(text: &str) -> NodeState {
    let mut node = NodeState::default();
    for line in text.lines().map(str::trim) {
        if let Some(reason) = line.strip_prefix("Reason=") {
            node.reason = Some(strip_stamp(reason).to_string());
            continue;
        }
        if let Some(state) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("State="))
        {
            node.state = state.to_string();
        }
    }
    node
}

/// `gpuwarden: GPU 1 lost [root@2026-12-03T15:00:00]` → `gpuwarden: GPU 1 lost`.
fn strip_stamp(reason: &str) -> &str {
    match reason.rfind(" [") {
        Some(i) if reason.ends_with(']') => &reason[..i],
        _ => reason,
    }
}

/// The drain reason for `v`: `gpuwarden: <first finding> (+N more)`, at most 200 chars.
pub fn drain_reason(v: &Verdict) -> String {
    let reason = format!("{REASON_PREFIX} {}", brief(v));
    reason.chars().take(MAX_REASON_CHARS).collect()
}

/// Runs `scontrol`.
pub struct Scontrol {
    path: PathBuf,
}

impl Scontrol {
    pub fn new(path: PathBuf) -> Self {
        Scontrol { path }
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.path)
            .args(args)
            .output()
            .with_context(|| format!("running {}", self.path.display()))?;
        if !out.status.success() {
            bail!(
                "`scontrol {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn show_node(&self, node: &str) -> Result<NodeState> {
        Ok(parse_show_node(&self.run(&["show", "node", node])?))
    }

    pub fn drain(&self, node: &str, reason: &str) -> Result<()> {
        let (name, why) = (format!("NodeName={node}"), format!("Reason={reason}"));
        self.run(&["update", &name, "State=DRAIN", &why]).map(drop)
    }

    pub fn resume(&self, node: &str) -> Result<()> {
        let name = format!("NodeName={node}");
        self.run(&["update", &name, "State=RESUME"]).map(drop)
    }
}

/// Drains or resumes `node` after `v`. With `prolog` a healthy check never resumes: a prolog
/// runs because a job is starting, and the health check owns bringing nodes back.
pub fn apply(v: &Verdict, node: &str, scontrol: &Scontrol, prolog: bool) -> Result<SlurmOutcome> {
    let before = scontrol.show_node(node)?;
    let outcome = |action: &str, reason: Option<String>| SlurmOutcome {
        node: node.to_string(),
        action: action.to_string(),
        reason,
    };
    if !v.healthy() {
        let reason = drain_reason(v);
        if before.drained() && !before.ours() {
            return Ok(outcome("left drained", before.reason));
        }
        if before.drained() && before.reason.as_deref() == Some(reason.as_str()) {
            return Ok(outcome("already drained", before.reason));
        }
        scontrol.drain(node, &reason)?;
        return Ok(outcome("drained", Some(reason)));
    }
    if before.drained() && before.ours() && !prolog {
        scontrol.resume(node)?;
        return Ok(outcome("resumed", None));
    }
    if before.drained() {
        return Ok(outcome("left drained", before.reason));
    }
    Ok(outcome("none", None))
}
