//! How a [`Verdict`] is shown: a line per finding plus a summary (people), one short line
//! (`--brief`, for node-problem-detector and shell prompts), or JSON (`--json`, schema in
//! the README's "Health: `gpuwarden check`" section).

use super::{SCHEMA_VERSION, Verdict};
use crate::gpu::Snapshot;
use serde::Serialize;
use std::collections::BTreeMap;

/// What `check` concluded: the three exit codes as words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Healthy,
    Unhealthy,
    /// The check could not run (no driver, bad usage, scontrol failed).
    Unknown,
}

/// What the Slurm integration did, for the report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SlurmOutcome {
    pub node: String,
    /// `drained`, `resumed`, `already drained`, `left drained`, or `none`.
    pub action: String,
    /// The node's drain reason after the run, when it has one.
    pub reason: Option<String>,
}

/// The `check --json` document.
#[derive(Clone, Debug, Serialize)]
pub struct JsonReport<'a> {
    pub schema: u32,
    pub status: Status,
    pub host: Option<&'a str>,
    pub source: Option<&'a str>,
    pub at_ms: Option<u64>,
    #[serde(flatten)]
    pub verdict: Option<&'a Verdict>,
    pub error: Option<String>,
    pub slurm: Option<&'a SlurmOutcome>,
    /// Each GPU's state, from its findings (also `--require` ones on that GPU).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub health: Vec<GpuState>,
}

/// One GPU and its state in a check report.
#[derive(Clone, Debug, Serialize)]
pub struct GpuState {
    #[serde(flatten)]
    pub target: super::GpuRef,
    pub state: super::HealthState,
}

/// Every GPU of `snap` with the state its findings in `v` amount to.
pub fn gpu_states(snap: &Snapshot, v: &Verdict) -> Vec<GpuState> {
    snap.gpus
        .iter()
        .map(|g| {
            let mine: Vec<_> = v
                .findings
                .iter()
                .filter(|f| f.target.gpu == Some(g.index))
                .cloned()
                .collect();
            GpuState {
                target: super::GpuRef::of(g),
                state: super::HealthState::of(&mine),
            }
        })
        .collect()
}

impl<'a> JsonReport<'a> {
    pub fn judged(snap: &'a Snapshot, v: &'a Verdict, slurm: Option<&'a SlurmOutcome>) -> Self {
        JsonReport {
            schema: SCHEMA_VERSION,
            status: if v.healthy() {
                Status::Healthy
            } else {
                Status::Unhealthy
            },
            host: Some(&snap.host),
            source: Some(&snap.source),
            at_ms: Some(snap.at_ms),
            verdict: Some(v),
            error: None,
            slurm,
            health: gpu_states(snap, v),
        }
    }

    /// The document for a run that could not judge anything.
    pub fn unknown(error: String) -> Self {
        JsonReport {
            schema: SCHEMA_VERSION,
            status: Status::Unknown,
            host: None,
            source: None,
            at_ms: None,
            verdict: None,
            error: Some(error),
            slurm: None,
            health: Vec::new(),
        }
    }
}

/// One line: `OK: 8 GPUs healthy`, or the first finding's short form and how many follow.
pub fn brief(v: &Verdict) -> String {
    match v.findings.split_first() {
        None => format!("OK: {} GPUs healthy", v.gpus),
        Some((first, [])) => first.short(),
        Some((first, rest)) => format!("{} (+{} more)", first.short(), rest.len()),
    }
}

/// The brief line for a run that could not judge: `unknown: <first line of the error>`.
pub fn brief_unknown(error: &str) -> String {
    format!("unknown: {}", error.lines().next().unwrap_or_default())
}

/// A line per finding, then the summary and what was not checked.
pub fn text(v: &Verdict, slurm: Option<&SlurmOutcome>) -> String {
    let mut out = String::new();
    for f in &v.findings {
        out.push_str(&f.line());
        out.push('\n');
    }
    let summary = if v.healthy() {
        format!("healthy: {} GPUs", v.gpus)
    } else {
        format!(
            "unhealthy: {} findings on {} GPUs",
            v.findings.len(),
            v.gpus
        )
    };
    out.push_str(&format!("{summary} (checks: {})\n", v.checks.join(", ")));
    for line in not_checked_lines(v) {
        out.push_str(&line);
        out.push('\n');
    }
    if let Some(s) = slurm {
        let reason = s
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        out.push_str(&format!("slurm: node {}: {}{reason}\n", s.node, s.action));
    }
    out
}

/// `not checked: pcie on GPUs 0, 1: <reason>`, one line per check and reason.
fn not_checked_lines(v: &Verdict) -> Vec<String> {
    let mut groups: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for n in &v.not_checked {
        let who = n.target.gpu.map_or("node".to_string(), |i| i.to_string());
        groups.entry((&n.check, &n.reason)).or_default().push(who);
    }
    groups
        .into_iter()
        .map(|((check, reason), who)| {
            let on = match who.as_slice() {
                [one] if one == "node" => String::new(),
                [one] => format!(" on GPU {one}"),
                many => format!(" on GPUs {}", many.join(", ")),
            };
            format!("not checked: {check}{on}: {reason}")
        })
        .collect()
}
