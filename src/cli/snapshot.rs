//! `gpuwarden snapshot`: one sample of every GPU as a table, JSON or CSV — the
//! `nvidia-smi --query-gpu` / gpustat use case, with a documented schema; each GPU carries its
//! health (ok / degraded / failed, see `crate::check::health`). Exit 0 when every GPU answers
//! and none has failed, 1 when one is lost or failed (`gpuwarden check` says why), 2 when `-i` names a
//! GPU that does not exist. A reader that closes the pipe early (`| head`) ends
//! it quietly.

use super::args::SnapshotArgs;
use super::{Cli, EXIT_FINDING, EXIT_OK};
use crate::gpu::sampler::now_ms;
use crate::gpu::{Field, GpuSample, Snapshot, open};
use crate::units;
use anyhow::{Context, Result};
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;

pub fn run(cli: &Cli, args: &SnapshotArgs) -> Result<ExitCode> {
    let mut source = open::open(&cli.source.spec())?;
    let mut snap = source.sample(now_ms()).context("taking a sample")?;
    // `-i` by UUID or PCI bus id comes down to the indices of the first sample.
    let wanted = match cli.source.gpu_list() {
        Some(list) => Some(list.resolve(&snap)?),
        None => None,
    };
    snap.select(wanted.as_deref());
    let Some(every) = args.repeat else {
        let out = if args.json {
            let mut s = serde_json::to_string_pretty(&crate::check::health::snapshot_json(&snap))?;
            s.push('\n');
            s
        } else if let Some(fields) = &args.csv {
            csv_of(&snap, &fields.0)
        } else {
            table(&snap)
        };
        write_out(&out)?;
        return Ok(exit_for(&snap));
    };
    // `--loop`: until the reader goes away (a closed pipe ends it quietly) or a signal.
    let mut first = true;
    loop {
        let out = if args.json {
            let mut s = serde_json::to_string(&crate::check::health::snapshot_json(&snap))?;
            s.push('\n');
            s
        } else if let Some(fields) = &args.csv {
            let all = csv_of(&snap, &fields.0);
            match (first, all.split_once('\n')) {
                (false, Some((_, rows))) => rows.to_string(),
                _ => all,
            }
        } else if first {
            table(&snap)
        } else {
            format!("\n{}", table(&snap))
        };
        if !write_out(&out)? {
            return Ok(exit_for(&snap));
        }
        first = false;
        std::thread::sleep(every);
        snap = source.sample(now_ms()).context("taking a sample")?;
        snap.select(wanted.as_deref());
    }
}

/// Writes and flushes `out`; `false` once the reader closed the pipe.
fn write_out(out: &str) -> Result<bool> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        other => other.map(|()| true).context("writing to stdout"),
    }
}

/// 1 when a GPU is lost or failed, else 0.
fn exit_for(snap: &Snapshot) -> ExitCode {
    let failed = snap.gpus.iter().any(|g| {
        g.is_lost() || crate::check::gpu_health(g).state == crate::check::HealthState::Failed
    });
    ExitCode::from(if failed { EXIT_FINDING } else { EXIT_OK })
}

/// The CSV columns, in order; a missing value is an empty cell.
pub const CSV_COLUMNS: &[&str] = &[
    "timestamp_ms",
    "index",
    "uuid",
    "vendor",
    "status",
    "name",
    "pci_bus_id",
    "driver_version",
    "utilization_gpu_pct",
    "utilization_memory_pct",
    "memory_used_bytes",
    "memory_total_bytes",
    "temperature_c",
    "temperature_slowdown_c",
    "power_w",
    "power_limit_w",
    "clock_sm_mhz",
    "clock_sm_max_mhz",
    "clock_mem_mhz",
    "fan_pct",
    "pstate",
    "throttle",
    "ecc_uncorrected",
    "processes",
];

fn cell<T: Display>(f: &Field<T>) -> String {
    f.value().map(|v| v.to_string()).unwrap_or_default()
}

fn quote(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// One header row and one row per GPU, with only the columns at `picked` (indexes into [`CSV_COLUMNS`], in that order);
/// all of them when `picked` is empty.
pub fn csv_of(snap: &Snapshot, picked: &[usize]) -> String {
    let all: Vec<usize> = (0..CSV_COLUMNS.len()).collect();
    let picked = if picked.is_empty() { &all[..] } else { picked };
    let header: Vec<&str> = picked.iter().map(|&i| CSV_COLUMNS[i]).collect();
    let mut out = header.join(",");
    out.push('\n');
    for g in &snap.gpus {
        let row = [
            snap.at_ms.to_string(),
            g.index.to_string(),
            g.uuid.clone(),
            g.vendor.name().to_string(),
            format!("{:?}", g.status).to_lowercase(),
            cell(&g.name),
            cell(&g.pci_bus_id),
            cell(&g.driver_version),
            cell(&g.utilization_gpu_pct),
            cell(&g.utilization_memory_pct),
            cell(&g.memory_used_bytes),
            cell(&g.memory_total_bytes),
            cell(&g.temperature_c),
            cell(&g.temperature_slowdown_c),
            cell(&g.power_w),
            cell(&g.power_limit_w),
            cell(&g.clock_sm_mhz),
            cell(&g.clock_sm_max_mhz),
            cell(&g.clock_mem_mhz),
            cell(&g.fan_pct),
            cell(&g.pstate),
            g.throttle
                .value()
                .map(|t| t.iter().map(|r| r.name()).collect::<Vec<_>>().join(";"))
                .unwrap_or_default(),
            cell(&g.ecc_uncorrected),
            g.processes
                .value()
                .map(|p| p.len().to_string())
                .unwrap_or_default(),
        ];
        let line: Vec<String> = picked.iter().map(|&i| quote(&row[i])).collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// A short human table, one line per GPU.
pub fn table(snap: &Snapshot) -> String {
    let mut out = format!(
        "{:<3} {:<24} {:>5} {:>13} {:>19} {:>5} {:>9}  {}\n",
        "GPU", "NAME", "TEMP", "POWER", "MEMORY", "UTIL", "SM CLOCK", "THROTTLE"
    );
    for g in &snap.gpus {
        out.push_str(&row(g));
        out.push('\n');
    }
    if snap.gpus.is_empty() {
        out.push_str("(no GPUs)\n");
    }
    out
}

fn row(g: &GpuSample) -> String {
    if g.is_lost() {
        return format!(
            "{:<3} {:<24} LOST (fell off the bus or stopped answering)",
            g.index, g.uuid
        );
    }
    let name: String = g.display_name().chars().take(24).collect();
    let temp = units::or_missing(&g.temperature_c, |t| format!("{t:.0}°C"));
    let power = match (g.power_w.get(), g.power_limit_w.get()) {
        (Some(p), Some(l)) => format!("{p:.0}/{l:.0} W"),
        (Some(p), None) => format!("{p:.0} W"),
        _ => units::or_missing(&g.power_w, |_| String::new()),
    };
    let mem = match (g.memory_used_bytes.get(), g.memory_total_bytes.get()) {
        (Some(u), Some(t)) => format!("{}/{}", units::gib(u), units::gib(t)),
        _ => units::or_missing(&g.memory_used_bytes, |_| String::new()),
    };
    let util = units::or_missing(&g.utilization_gpu_pct, |u| format!("{u}%"));
    let clock = units::or_missing(&g.clock_sm_mhz, |c| format!("{c} MHz"));
    let throttle = g
        .throttle
        .value()
        .map(|t| {
            let names: Vec<&str> = t.notable().map(|r| r.name()).collect();
            if names.is_empty() {
                "-".to_string()
            } else {
                names.join(",")
            }
        })
        .unwrap_or_else(|| "n/a".into());
    format!(
        "{:<3} {:<24} {:>5} {:>13} {:>19} {:>5} {:>9}  {}",
        g.index, name, temp, power, mem, util, clock, throttle
    )
}
