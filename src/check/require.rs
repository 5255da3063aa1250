//! `--require LIST`: what this node must have, e.g. `gpus=8,memory=80GiB,driver>=550,
//! pcie=gen5x16`, parsed with errors that name the bad item, and judged against a sample.
//!
//! Only items whose data a sample carries exist; `ecc=on|off` and `mig=on|off` compare the
//! current mode each GPU reports (a GPU that cannot say is `not_checked`, not passed).

use super::builtin::{missing, skipped};
use super::{Finding, GpuRef, Severity, Verdict};
use crate::gpu::{GpuSample, Snapshot};

/// The items `--require` knows.
pub const KNOWN: &[&str] = &["gpus", "memory", "driver", "pcie", "ecc", "mig"];

const GIB: u64 = 1 << 30;

const ECC_ACTION: &str = "drain the node; set the ECC mode with `nvidia-smi -i N -e 1` (or 0) \
                          and reboot";
const MIG_ACTION: &str = "drain the node; set the MIG mode with `nvidia-smi -i N -mig 0` (or 1) \
                          and reset the GPU";

/// A GPU counts as busy for the PCIe generation check from this utilization on: idle GPUs
/// lower their link generation to save power, so an idle gen-1 link is normal.
pub const PCIE_BUSY_PCT: u32 = 50;

/// How an item compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Exactly,
    /// `>=`
    AtLeast,
}

/// What one item asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Want {
    /// `gpus=N` exactly N GPUs (lost ones count: they get their own finding); `gpus>=N`.
    Gpus(Op, usize),
    /// `memory=SIZE` / `memory>=SIZE`: each GPU's total memory, rounded up to a whole GiB,
    /// is at least SIZE (an "80 GB" H100 reports 79.6 GiB).
    Memory(u64),
    /// `driver=550.54` the version starts with these numbers; `driver>=550` at least.
    Driver(Op, Vec<u64>),
    /// `pcie=gen5x16` (or `gen5`, `x16`): each GPU's current link is at least this wide
    /// always, and at least this generation while busy.
    Pcie {
        generation: Option<u32>,
        width: Option<u32>,
    },
    /// `ecc=on` / `ecc=off`: every GPU's current ECC mode.
    Ecc(bool),
    /// `mig=on` / `mig=off`: every GPU's current MIG mode.
    Mig(bool),
}

/// One `--require` item: what it asks for, and how the user wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub text: String,
    pub want: Want,
}

/// Parses `gpus=8,memory=80GiB,...`; the error names the first bad item.
pub fn parse_requirements(list: &str) -> Result<Vec<Requirement>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_item)
        .collect()
}

fn parse_item(item: &str) -> Result<Requirement, String> {
    let bad = |why: String| format!("--require item {item:?}: {why}");
    let (key, op, value) = if let Some((k, v)) = item.split_once(">=") {
        (k, Op::AtLeast, v)
    } else if let Some((k, v)) = item.split_once('=') {
        (k, Op::Exactly, v)
    } else {
        return Err(bad("expected KEY=VALUE or KEY>=VALUE".into()));
    };
    let (key, value) = (key.trim(), value.trim());
    let want = match key {
        "gpus" => Want::Gpus(
            op,
            value
                .parse()
                .map_err(|_| bad("expected a number of GPUs".into()))?,
        ),
        "memory" => Want::Memory(parse_size(value).map_err(bad)?),
        "driver" => Want::Driver(
            op,
            parse_version(value)
                .ok_or_else(|| bad("expected a driver version such as 550 or 550.54.15".into()))?,
        ),
        "pcie" => parse_pcie(value)
            .ok_or_else(|| bad("expected gen<N>x<W>, gen<N> or x<W>, e.g. gen5x16".into()))?,
        "ecc" | "mig" => {
            if op == Op::AtLeast {
                return Err(bad(format!("{key} takes = on or = off, not >=")));
            }
            let on = match value.to_ascii_lowercase().as_str() {
                "on" | "1" | "true" | "enabled" => true,
                "off" | "0" | "false" | "disabled" => false,
                _ => return Err(bad("expected on or off".into())),
            };
            if key == "ecc" {
                Want::Ecc(on)
            } else {
                Want::Mig(on)
            }
        }
        _ => {
            return Err(bad(format!(
                "unknown item {key:?} (known items: {})",
                KNOWN.join(", ")
            )));
        }
    };
    Ok(Requirement {
        text: item.to_string(),
        want,
    })
}

/// `80GiB`, `80GB`, `81920MiB`, `1TiB`; a unit is required.
fn parse_size(s: &str) -> Result<u64, String> {
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| "expected a size such as 80GiB or 80GB".to_string())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "mib" => (1u64 << 20) as f64,
        "gib" => GIB as f64,
        "tib" => (1u64 << 40) as f64,
        "mb" => 1e6,
        "gb" => 1e9,
        "tb" => 1e12,
        "" => return Err("a size needs a unit (MiB, GiB, TiB, MB, GB, TB)".into()),
        other => {
            return Err(format!(
                "unknown size unit {other:?} (MiB, GiB, TiB, MB, GB, TB)"
            ));
        }
    };
    Ok((n * scale).round() as u64)
}

fn parse_version(s: &str) -> Option<Vec<u64>> {
    let parts: Option<Vec<u64>> = s.split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

fn parse_pcie(s: &str) -> Option<Want> {
    let s = s.to_ascii_lowercase();
    let (gen_part, width_part) = match s.split_once('x') {
        Some((g, w)) => (g, Some(w)),
        None => (s.as_str(), None),
    };
    let generation = match gen_part {
        "" => None,
        g => Some(g.strip_prefix("gen")?.parse().ok()?),
    };
    let width = match width_part {
        None => None,
        Some(w) => Some(w.parse().ok()?),
    };
    (generation.is_some() || width.is_some()).then_some(Want::Pcie { generation, width })
}

impl Requirement {
    fn check(&self) -> String {
        let key = match self.want {
            Want::Gpus(..) => "gpus",
            Want::Memory(_) => "memory",
            Want::Driver(..) => "driver",
            Want::Pcie { .. } => "pcie",
            Want::Ecc(_) => "ecc",
            Want::Mig(_) => "mig",
        };
        format!("require:{key}")
    }

    fn unmet(&self, target: GpuRef, message: String, action: &str) -> Finding {
        Finding {
            target,
            check: self.check(),
            severity: Severity::Critical,
            message: format!("requires {}, {message}", self.text),
            action: action.into(),
        }
    }

    /// Adds a finding to `v` for every way `snap` falls short of this requirement.
    pub fn judge(&self, snap: &Snapshot, v: &mut Verdict) {
        v.checks.push(self.check());
        match &self.want {
            Want::Gpus(op, n) => {
                let have = snap.gpus.len();
                let ok = match op {
                    Op::Exactly => have == *n,
                    Op::AtLeast => have >= *n,
                };
                if !ok {
                    v.findings.push(self.unmet(
                        GpuRef::node(),
                        format!("found {have} GPUs"),
                        "drain the node; check that every GPU is seated, powered and seen by \
                         the driver (nvidia-smi -L, dmesg for Xid or PCIe errors)",
                    ));
                }
            }
            Want::Driver(op, want) => self.judge_driver(snap, *op, want, v),
            Want::Memory(bytes) => {
                for g in snap.gpus.iter().filter(|g| !g.is_lost()) {
                    self.judge_memory(g, *bytes, v);
                }
            }
            Want::Pcie { generation, width } => {
                for g in snap.gpus.iter().filter(|g| !g.is_lost()) {
                    self.judge_pcie(g, *generation, *width, v);
                }
            }
            Want::Ecc(on) => {
                for g in snap.gpus.iter().filter(|g| !g.is_lost()) {
                    self.judge_mode(g, "ECC", &g.ecc_enabled, *on, ECC_ACTION, v);
                }
            }
            Want::Mig(on) => {
                for g in snap.gpus.iter().filter(|g| !g.is_lost()) {
                    self.judge_mode(g, "MIG", &g.mig_enabled, *on, MIG_ACTION, v);
                }
            }
        }
    }

    fn judge_mode(
        &self,
        g: &GpuSample,
        mode: &str,
        have: &crate::gpu::Field<bool>,
        want: bool,
        action: &str,
        v: &mut Verdict,
    ) {
        let word = |on: bool| if on { "on" } else { "off" };
        match have.get() {
            Some(on) if on == want => {}
            Some(on) => v.findings.push(self.unmet(
                GpuRef::of(g),
                format!("{mode} is {}", word(on)),
                action,
            )),
            None => skipped(g, &self.check(), missing(&format!("{mode} mode"), have), v),
        }
    }

    fn judge_driver(&self, snap: &Snapshot, op: Op, want: &[u64], v: &mut Verdict) {
        let Some(have) = snap.driver_version() else {
            v.not_checked.push(super::NotChecked {
                target: GpuRef::node(),
                check: self.check(),
                reason: "no GPU reported a driver version".into(),
            });
            return;
        };
        let parts: Vec<u64> = have.split('.').map(|p| p.parse().unwrap_or(0)).collect();
        let ok = match op {
            Op::Exactly => parts.len() >= want.len() && parts[..want.len()] == *want,
            Op::AtLeast => {
                let pad = |p: &[u64], i: usize| p.get(i).copied().unwrap_or(0);
                let n = parts.len().max(want.len());
                let a: Vec<u64> = (0..n).map(|i| pad(&parts, i)).collect();
                let b: Vec<u64> = (0..n).map(|i| pad(want, i)).collect();
                a >= b
            }
        };
        if !ok {
            v.findings.push(self.unmet(
                GpuRef::node(),
                format!("the driver is {have}"),
                "install the required NVIDIA driver and reboot or reload it",
            ));
        }
    }

    fn judge_memory(&self, g: &GpuSample, bytes: u64, v: &mut Verdict) {
        let Some(total) = g.memory_total_bytes.get() else {
            let why = missing("total memory", &g.memory_total_bytes);
            skipped(g, &self.check(), why, v);
            return;
        };
        if total.div_ceil(GIB) * GIB < bytes {
            v.findings.push(self.unmet(
                GpuRef::of(g),
                format!("the GPU has {:.1} GiB", total as f64 / GIB as f64),
                "this node does not have the GPUs the job needs; fix the node's inventory or \
                 the requirement",
            ));
        }
    }

    fn judge_pcie(
        &self,
        g: &GpuSample,
        generation: Option<u32>,
        width: Option<u32>,
        v: &mut Verdict,
    ) {
        let Some(link) = g.pcie_link.get() else {
            skipped(g, &self.check(), missing("PCIe link", &g.pcie_link), v);
            return;
        };
        let action = "drain the node and reseat the GPU or its riser; a narrow or slow link \
                      often follows a bad seat or a damaged slot";
        if let Some(w) = width
            && link.width < w
        {
            let msg = format!("the link runs at x{} (gen{})", link.width, link.generation);
            v.findings.push(self.unmet(GpuRef::of(g), msg, action));
            return;
        }
        let Some(want_gen) = generation else { return };
        match g.utilization_gpu_pct.get() {
            Some(u) if u >= PCIE_BUSY_PCT => {
                if link.generation < want_gen {
                    let msg = format!(
                        "the link runs at gen{} (x{}) while the GPU is {u}% busy",
                        link.generation, link.width
                    );
                    v.findings.push(self.unmet(GpuRef::of(g), msg, action));
                }
            }
            Some(u) => skipped(
                g,
                &self.check(),
                format!(
                    "PCIe generation not judged: the GPU is {u}% busy (below {PCIE_BUSY_PCT}%), \
                     and idle GPUs lower their link generation to save power"
                ),
                v,
            ),
            None => skipped(
                g,
                &self.check(),
                missing("utilization", &g.utilization_gpu_pct),
                v,
            ),
        }
    }
}
