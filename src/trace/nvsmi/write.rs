//! Writes snapshots the way `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`
//! prints them: `, ` between cells, units after values unless `nounits`, and the header
//! always naming units in brackets. Benchmarks and property tests use it to make traces
//! that are byte for byte what the reader meets in the wild.

use super::columns::Column;
use super::values::marker_text;
use crate::gpu::{Field, GpuSample, Snapshot};
use crate::trace::clock;
use std::fmt::{Display, Write};

const MIB: u64 = 1 << 20;

/// Which of nvidia-smi's `--format=csv` options to imitate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CsvStyle {
    pub noheader: bool,
    pub nounits: bool,
}

/// The header line nvidia-smi prints for these `--query-gpu` fields (without newline).
pub fn header(fields: &[&str]) -> String {
    let cells: Vec<String> = fields
        .iter()
        .map(|f| match Column::from_name(f).and_then(Column::unit) {
            Some(unit) => format!("{f} [{unit}]"),
            None => f.to_string(),
        })
        .collect();
    cells.join(", ")
}

/// Appends one line per GPU of `snap` (each ending in `\n`) to `out`.
pub fn rows(out: &mut String, fields: &[&str], snap: &Snapshot, style: CsvStyle) {
    let columns: Vec<Column> = fields
        .iter()
        .map(|f| Column::from_name(f).unwrap_or(Column::Ignored))
        .collect();
    for gpu in &snap.gpus {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            cell(out, *column, snap.at_ms, gpu, style);
        }
        out.push('\n');
    }
}

/// A whole file: the header (unless `noheader`) and every snapshot.
pub fn file(fields: &[&str], snaps: &[Snapshot], style: CsvStyle) -> String {
    let mut out = String::new();
    if !style.noheader {
        out.push_str(&header(fields));
        out.push('\n');
    }
    for snap in snaps {
        rows(&mut out, fields, snap, style);
    }
    out
}

fn put<T: Display>(out: &mut String, f: &Field<T>, unit: Option<&str>, style: CsvStyle) {
    match f {
        Field::Value(v) => {
            let _ = write!(out, "{v}");
            if let (Some(u), false) = (unit, style.nounits) {
                let _ = write!(out, " {u}");
            }
        }
        Field::Missing { missing } => out.push_str(marker_text(*missing)),
    }
}

fn cell(out: &mut String, column: Column, at_ms: u64, g: &GpuSample, style: CsvStyle) {
    let unit = column.unit();
    let mib = |f: &Field<u64>| f.clone().map(|b| b / MIB);
    match column {
        Column::Timestamp => out.push_str(&clock::format_nvidia_smi(at_ms)),
        Column::Index => {
            let _ = write!(out, "{}", g.index);
        }
        Column::Uuid => out.push_str(&g.uuid),
        Column::Name => put(out, &g.name, None, style),
        Column::PciBusId => put(out, &g.pci_bus_id, None, style),
        Column::DriverVersion => put(out, &g.driver_version, None, style),
        Column::Temperature => put(out, &g.temperature_c, None, style),
        Column::TemperatureMargin => {
            let margin = match (&g.temperature_slowdown_c, &g.temperature_c) {
                (Field::Value(s), Field::Value(t)) => Field::Value(s - t),
                (Field::Missing { missing }, _) | (_, Field::Missing { missing }) => {
                    Field::missing(*missing)
                }
            };
            put(out, &margin, None, style);
        }
        Column::UtilizationGpu => put(out, &g.utilization_gpu_pct, unit, style),
        Column::UtilizationMemory => put(out, &g.utilization_memory_pct, unit, style),
        Column::MemoryUsed => put(out, &mib(&g.memory_used_bytes), unit, style),
        Column::MemoryTotal => put(out, &mib(&g.memory_total_bytes), unit, style),
        Column::MemoryFree => {
            let free = match (&g.memory_total_bytes, &g.memory_used_bytes) {
                (Field::Value(t), Field::Value(u)) => Field::Value(t.saturating_sub(*u) / MIB),
                (Field::Missing { missing }, _) | (_, Field::Missing { missing }) => {
                    Field::missing(*missing)
                }
            };
            put(out, &free, unit, style);
        }
        Column::PowerDraw => put(out, &g.power_w.clone().map(Watts), unit, style),
        Column::PowerLimit | Column::EnforcedPowerLimit => {
            put(out, &g.power_limit_w.clone().map(Watts), unit, style)
        }
        Column::ClockSm => put(out, &g.clock_sm_mhz, unit, style),
        Column::ClockSmMax => put(out, &g.clock_sm_max_mhz, unit, style),
        Column::ClockMem => put(out, &g.clock_mem_mhz, unit, style),
        Column::ClockMemMax => put(out, &g.clock_mem_max_mhz, unit, style),
        Column::FanSpeed => put(out, &g.fan_pct, unit, style),
        Column::Pstate => put(out, &g.pstate.clone().map(|p| format!("P{p}")), None, style),
        Column::ThrottleActive => {
            let hex = g.throttle.clone().map(|t| format!("0x{:016x}", t.0));
            put(out, &hex, None, style);
        }
        Column::ThrottleOne(reason) => {
            let word = g.throttle.clone().map(|t| {
                if t.contains(reason) {
                    "Active"
                } else {
                    "Not Active"
                }
            });
            put(out, &word, None, style);
        }
        Column::EccUncorrected => put(out, &g.ecc_uncorrected, None, style),
        Column::Ignored => out.push_str("[N/A]"),
    }
}

/// Watts as nvidia-smi prints them: two decimals.
struct Watts(f64);

impl Display for Watts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}
