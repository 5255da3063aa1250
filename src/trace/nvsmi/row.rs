//! One nvidia-smi CSV data row read into a [`GpuSample`] under a known [`Layout`].
//!
//! Which GPU the row belongs to (index, uuid) is settled by the reader, which remembers the
//! GPUs it has seen; here the row only says what it holds.

use super::columns::{Column, Layout};
use super::values::{self, CellError};
use crate::gpu::{Field, GpuSample, GpuStatus, Missing, ThrottleReasons, UnixMs};

const MIB: u64 = 1 << 20;

/// What one row says.
#[derive(Debug, Default)]
pub struct Row {
    pub at_ms: Option<UnixMs>,
    pub index: Option<u32>,
    /// The `uuid` cell, when it held one.
    pub uuid: Option<String>,
    pub sample: GpuSample,
}

/// Reads the cells of a data row. The error names the column.
pub fn parse_row(layout: &Layout, cells: &[&str]) -> Result<Row, CellError> {
    if cells.len() != layout.columns.len() {
        return Err(format!(
            "expected {} columns, found {}",
            layout.columns.len(),
            cells.len()
        ));
    }
    let mut row = Row::default();
    let mut parts = Parts::default();
    for (i, (&column, &cell)) in layout.columns.iter().zip(cells).enumerate() {
        apply(&mut row, &mut parts, column, cell)
            .map_err(|e| format!("column {} ({}): {e}", i + 1, layout.names[i]))?;
    }
    if parts.lost {
        row.sample.status = GpuStatus::Lost;
    }
    parts.finish(&mut row.sample);
    Ok(row)
}

/// Values that combine with others once the whole row is read.
#[derive(Default)]
struct Parts {
    lost: bool,
    margin: Option<Field<f64>>,
    memory_free: Option<Field<u64>>,
    enforced_limit: Option<Field<f64>>,
    /// The individual reason columns: bits seen active, or the first marker met.
    reasons: Option<Field<u64>>,
}

impl Parts {
    fn finish(self, s: &mut GpuSample) {
        if let Some(margin) = self.margin {
            // T.Limit margin is relative to the current temperature: slowdown = temp + margin.
            s.temperature_slowdown_c = match (s.temperature_c.get(), margin) {
                (Some(t), Field::Value(m)) => Field::Value(t + m),
                (_, Field::Missing { missing }) => Field::missing(missing),
                (None, Field::Value(_)) => s.temperature_c.clone(),
            };
        }
        if let Some(free) = self.memory_free
            && matches!(s.memory_used_bytes.why(), Some(Missing::NotRecorded))
        {
            s.memory_used_bytes = match (s.memory_total_bytes.get(), free) {
                (Some(t), Field::Value(f)) => Field::Value(t.saturating_sub(f)),
                (_, Field::Missing { missing }) => Field::missing(missing),
                (None, Field::Value(_)) => Field::default(),
            };
        }
        if let Some(limit) = self.enforced_limit {
            s.power_limit_w = limit;
        }
        if let Some(reasons) = self.reasons
            && matches!(s.throttle.why(), Some(Missing::NotRecorded))
        {
            s.throttle = reasons.map(ThrottleReasons);
        }
    }
}

/// A cell as a field: a marker becomes its reason, an empty cell "not recorded".
fn field<T>(
    cell: &str,
    lost: &mut bool,
    parse: impl FnOnce(&str) -> Result<T, CellError>,
) -> Result<Field<T>, CellError> {
    if cell.is_empty() {
        return Ok(Field::default());
    }
    if let Some(why) = values::marker(cell) {
        *lost |= why == Missing::GpuLost;
        return Ok(Field::missing(why));
    }
    parse(cell).map(Field::Value)
}

fn apply(row: &mut Row, parts: &mut Parts, column: Column, cell: &str) -> Result<(), CellError> {
    let unit = column.unit();
    let lost = &mut parts.lost;
    let s = &mut row.sample;
    let u32f = |c: &str| values::parse_u32(c, unit);
    let f64f = |c: &str| values::parse_f64(c, unit);
    let mib = |c: &str| {
        values::parse_u64(c, unit)?
            .checked_mul(MIB)
            .ok_or_else(|| format!("{c:?} MiB is too large"))
    };
    match column {
        Column::Timestamp => {
            let at = super::super::clock::parse_timestamp(cell).ok_or_else(|| {
                format!(
                    "expected a timestamp like 2024/01/15 10:23:45.123, 2024-01-15T10:23:45+00:00 \
                     or 1705314225, found {cell:?}"
                )
            })?;
            row.at_ms = Some(at);
        }
        Column::Index => row.index = Some(values::parse_u32(cell, None)?),
        Column::Uuid => {
            if values::marker(cell).is_none() && !cell.is_empty() {
                row.uuid = Some(cell.to_string());
            }
        }
        Column::Name => s.name = field(cell, lost, |c| Ok(c.to_string()))?,
        Column::PciBusId => s.pci_bus_id = field(cell, lost, |c| Ok(c.to_string()))?,
        Column::DriverVersion => s.driver_version = field(cell, lost, |c| Ok(c.to_string()))?,
        Column::Temperature => s.temperature_c = field(cell, lost, |c| values::parse_f64(c, None))?,
        Column::TemperatureMargin => {
            parts.margin = Some(field(cell, lost, |c| values::parse_f64(c, None))?);
        }
        Column::UtilizationGpu => s.utilization_gpu_pct = field(cell, lost, u32f)?,
        Column::UtilizationMemory => s.utilization_memory_pct = field(cell, lost, u32f)?,
        Column::MemoryUsed => s.memory_used_bytes = field(cell, lost, mib)?,
        Column::MemoryTotal => s.memory_total_bytes = field(cell, lost, mib)?,
        Column::MemoryFree => parts.memory_free = Some(field(cell, lost, mib)?),
        Column::PowerDraw => s.power_w = field(cell, lost, f64f)?,
        Column::PowerLimit => s.power_limit_w = field(cell, lost, f64f)?,
        Column::EnforcedPowerLimit => parts.enforced_limit = Some(field(cell, lost, f64f)?),
        Column::ClockSm => s.clock_sm_mhz = field(cell, lost, u32f)?,
        Column::ClockSmMax => s.clock_sm_max_mhz = field(cell, lost, u32f)?,
        Column::ClockMem => s.clock_mem_mhz = field(cell, lost, u32f)?,
        Column::ClockMemMax => s.clock_mem_max_mhz = field(cell, lost, u32f)?,
        Column::FanSpeed => s.fan_pct = field(cell, lost, u32f)?,
        Column::Pstate => s.pstate = field(cell, lost, values::parse_pstate)?,
        Column::EccUncorrected => {
            s.ecc_uncorrected = field(cell, lost, |c| values::parse_u64(c, None))?
        }
        Column::ThrottleActive => {
            s.throttle = field(cell, lost, values::parse_hex)?.map(ThrottleReasons);
        }
        Column::ThrottleOne(reason) => {
            let active = field(cell, lost, values::parse_active)?;
            parts.reasons = Some(match (parts.reasons.take(), active) {
                (Some(Field::Missing { missing }), _) => Field::missing(missing),
                (_, Field::Missing { missing }) => Field::missing(missing),
                (bits, Field::Value(on)) => {
                    let bits = bits.and_then(|b| b.get()).unwrap_or(0);
                    Field::Value(if on { bits | reason.bit() } else { bits })
                }
            });
        }
        Column::Ignored => {}
    }
    Ok(())
}
