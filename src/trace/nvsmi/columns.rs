//! The `--query-gpu` fields of nvidia-smi that gpuwarden understands, under every name
//! nvidia-smi accepts or prints for them (`clocks.sm` is printed `clocks.current.sm [MHz]`,
//! older drivers say `clocks_throttle_reasons.*`, newer ones `clocks_event_reasons.*`).

use crate::gpu::ThrottleReason;

/// What one CSV column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Timestamp,
    Index,
    Uuid,
    Name,
    PciBusId,
    DriverVersion,
    Temperature,
    /// Degrees left to T.Limit (the slowdown temperature), newer drivers.
    TemperatureMargin,
    UtilizationGpu,
    UtilizationMemory,
    MemoryUsed,
    MemoryTotal,
    MemoryFree,
    PowerDraw,
    PowerLimit,
    EnforcedPowerLimit,
    ClockSm,
    ClockSmMax,
    ClockMem,
    ClockMemMax,
    FanSpeed,
    Pstate,
    /// The `.active` hex bitmask of every reason.
    ThrottleActive,
    /// One reason's own `Active` / `Not Active` column.
    ThrottleOne(ThrottleReason),
    EccUncorrected,
    /// A field gpuwarden does not model; its values are not read.
    Ignored,
}

/// nvidia-smi's names for each reason, after the `clocks_*_reasons.` prefix.
const REASONS: &[(&str, ThrottleReason)] = &[
    ("gpu_idle", ThrottleReason::GpuIdle),
    ("applications_clocks_setting", ThrottleReason::AppClocks),
    ("sw_power_cap", ThrottleReason::SwPowerCap),
    ("hw_slowdown", ThrottleReason::HwSlowdown),
    ("sync_boost", ThrottleReason::SyncBoost),
    ("sw_thermal_slowdown", ThrottleReason::SwThermal),
    ("hw_thermal_slowdown", ThrottleReason::HwThermal),
    ("hw_power_brake_slowdown", ThrottleReason::HwPowerBrake),
    ("display_clock_setting", ThrottleReason::DisplayClocks),
];

/// nvidia-smi's column name for one reason (the `clocks_event_reasons.` spelling).
pub fn reason_column(reason: ThrottleReason) -> String {
    let name = REASONS
        .iter()
        .find(|(_, r)| *r == reason)
        .map_or("unknown", |(n, _)| n);
    format!("clocks_event_reasons.{name}")
}

/// The field name of a header cell or `--columns` entry: `memory.used [MiB]` → `memory.used`.
pub fn field_name(cell: &str) -> &str {
    let cell = cell.trim();
    match cell.find(" [") {
        Some(i) if cell.ends_with(']') => cell[..i].trim_end(),
        _ => cell,
    }
}

impl Column {
    /// The column for a field name, or `None` for a name gpuwarden does not know.
    pub fn from_name(name: &str) -> Option<Column> {
        let name = field_name(name).to_ascii_lowercase();
        let col = match name.as_str() {
            "timestamp" => Column::Timestamp,
            "index" => Column::Index,
            "uuid" | "gpu_uuid" => Column::Uuid,
            "name" | "gpu_name" => Column::Name,
            "pci.bus_id" | "gpu_bus_id" => Column::PciBusId,
            "driver_version" => Column::DriverVersion,
            "temperature.gpu" => Column::Temperature,
            "temperature.gpu.tlimit" => Column::TemperatureMargin,
            "utilization.gpu" => Column::UtilizationGpu,
            "utilization.memory" => Column::UtilizationMemory,
            "memory.used" => Column::MemoryUsed,
            "memory.total" => Column::MemoryTotal,
            "memory.free" => Column::MemoryFree,
            "power.draw" | "power.draw.instant" | "power.draw.average" => Column::PowerDraw,
            "power.limit" => Column::PowerLimit,
            "enforced.power.limit" => Column::EnforcedPowerLimit,
            "clocks.sm" | "clocks.current.sm" => Column::ClockSm,
            "clocks.max.sm" | "clocks.max.sm_clock" => Column::ClockSmMax,
            "clocks.mem" | "clocks.current.memory" => Column::ClockMem,
            "clocks.max.mem" | "clocks.max.memory" => Column::ClockMemMax,
            "fan.speed" => Column::FanSpeed,
            "pstate" => Column::Pstate,
            "ecc.errors.uncorrected.volatile.total" => Column::EccUncorrected,
            _ => return Self::throttle(&name),
        };
        Some(col)
    }

    fn throttle(name: &str) -> Option<Column> {
        let rest = name
            .strip_prefix("clocks_event_reasons.")
            .or_else(|| name.strip_prefix("clocks_throttle_reasons."))?;
        if rest == "active" {
            return Some(Column::ThrottleActive);
        }
        REASONS
            .iter()
            .find(|(n, _)| *n == rest)
            .map(|(_, r)| Column::ThrottleOne(*r))
    }

    /// The unit nvidia-smi appends to values of this column (without `nounits`).
    pub fn unit(self) -> Option<&'static str> {
        Some(match self {
            Column::UtilizationGpu | Column::UtilizationMemory | Column::FanSpeed => "%",
            Column::MemoryUsed | Column::MemoryTotal | Column::MemoryFree => "MiB",
            Column::PowerDraw | Column::PowerLimit | Column::EnforcedPowerLimit => "W",
            Column::ClockSm | Column::ClockSmMax | Column::ClockMem | Column::ClockMemMax => "MHz",
            _ => return None,
        })
    }
}

/// The columns of one CSV layout, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub columns: Vec<Column>,
    /// The field name of each column, as the file or `--columns` spelled it.
    pub names: Vec<String>,
    /// Names of columns that map to [`Column::Ignored`], for the one notice about them.
    pub ignored: Vec<String>,
}

impl Layout {
    /// A layout from header cells or a `--columns` list.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Layout {
        let mut columns = Vec::new();
        let mut ignored = Vec::new();
        let mut kept = Vec::new();
        for name in names {
            kept.push(field_name(name).to_string());
            match Column::from_name(name) {
                Some(c) => columns.push(c),
                None => {
                    columns.push(Column::Ignored);
                    ignored.push(field_name(name).to_string());
                }
            }
        }
        Layout {
            columns,
            names: kept,
            ignored,
        }
    }

    pub fn has(&self, c: Column) -> bool {
        self.columns.contains(&c)
    }

    /// Whether rows say which GPU they belong to.
    pub fn has_identity(&self) -> bool {
        self.has(Column::Index) || self.has(Column::Uuid) || self.has(Column::PciBusId)
    }
}

/// Whether every cell looks like a field name (lowercase, `_` and `.`, an optional `[unit]`),
/// known or not: a header of some other tool, when [`is_header`] says no.
pub fn names_only<'a>(cells: impl IntoIterator<Item = &'a str>) -> bool {
    cells.into_iter().all(|cell| {
        let name = field_name(cell);
        name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    })
}

/// Whether a line looks like a header: every cell a field name starting lowercase (with an optional
/// `[unit]`) and at least one of them a field gpuwarden knows. Data rows never look like
/// this: values are numbers, `[N/A]`, `P0`, uppercase names, or UUIDs starting `GPU-`.
pub fn is_header<'a>(cells: impl IntoIterator<Item = &'a str>) -> bool {
    let mut known = false;
    for cell in cells {
        let name = field_name(cell);
        let looks_like_name = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
        if !looks_like_name {
            return false;
        }
        known |= Column::from_name(name).is_some();
    }
    known
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_query_names_and_printed_header_names() {
        assert_eq!(Column::from_name("clocks.sm"), Some(Column::ClockSm));
        assert_eq!(
            Column::from_name(" clocks.current.sm [MHz]"),
            Some(Column::ClockSm)
        );
        assert_eq!(
            Column::from_name("memory.used [MiB]"),
            Some(Column::MemoryUsed)
        );
        assert_eq!(
            Column::from_name("clocks_throttle_reasons.hw_thermal_slowdown"),
            Some(Column::ThrottleOne(ThrottleReason::HwThermal))
        );
        assert_eq!(
            Column::from_name(&reason_column(ThrottleReason::SwPowerCap)),
            Some(Column::ThrottleOne(ThrottleReason::SwPowerCap))
        );
        assert_eq!(
            Column::from_name("clocks_event_reasons.active"),
            Some(Column::ThrottleActive)
        );
        assert_eq!(Column::from_name("encoder.stats.sessionCount"), None);
    }

    #[test]
    fn tells_header_lines_from_data_rows() {
        assert!(is_header([
            "timestamp",
            " index",
            " memory.used [MiB]",
            " encoder.stats.x"
        ]));
        assert!(!is_header(["2024/01/15 10:00:00.000", " 0", " 1024 MiB"]));
        assert!(!is_header(["GPU-0b1c", " NVIDIA H100"]));
        assert!(!is_header(["foo", "bar"]));
        assert!(is_header(["index", "encoder.stats.sessionCount"]));
        assert!(names_only(["time", "gpu_temp"]) && !is_header(["time", "gpu_temp"]));
        assert!(!names_only(["2024/01/15 10:00:00.000", " 0"]));
    }
}
