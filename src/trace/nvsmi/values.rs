//! One nvidia-smi CSV cell read into a value or the reason it is missing.
//!
//! Values come with or without their unit (`72 %` / `72`, `1024 MiB`, `250.00 W`,
//! `1980 MHz`); bracketed markers say why a value is absent: `[N/A]` and `[Not Supported]`
//! (not supported), `[Insufficient Permissions]`, `[GPU is lost]`, `[Unknown Error]`. A cell
//! that is none of these is an error naming the column, never a guess.

use crate::gpu::Missing;

/// A cell that could not be read.
pub type CellError = String;

/// The reason a bracketed marker stands for, or `None` for a cell that is not a marker.
pub fn marker(cell: &str) -> Option<Missing> {
    let inner = cell.strip_prefix('[')?.strip_suffix(']')?;
    Some(match inner {
        "N/A" | "Not Supported" => Missing::NotSupported,
        "Insufficient Permissions" | "No Permission" => Missing::NoPermission,
        "GPU is lost" | "GPU Is Lost" => Missing::GpuLost,
        // "[Unknown Error]", "[Not Found]", "[Requires Reset]" and whatever a driver invents.
        _ => Missing::Error,
    })
}

/// The marker nvidia-smi writes for a reason (used when writing traces).
pub fn marker_text(why: Missing) -> &'static str {
    match why {
        Missing::NotSupported | Missing::NotRecorded | Missing::WarmingUp => "[N/A]",
        Missing::NoPermission => "[Insufficient Permissions]",
        Missing::GpuLost => "[GPU is lost]",
        Missing::Error => "[Unknown Error]",
    }
}

/// The number in `cell`, with the column's unit after it or not.
pub fn number<'a>(cell: &'a str, unit: Option<&str>) -> &'a str {
    match unit {
        Some(u) => cell.strip_suffix(u).map_or(cell, |rest| rest.trim_end()),
        None => cell,
    }
}

pub fn parse_u32(cell: &str, unit: Option<&str>) -> Result<u32, CellError> {
    let n = number(cell, unit);
    n.parse::<u32>()
        .map_err(|_| expected("a whole number", cell, unit))
}

pub fn parse_u64(cell: &str, unit: Option<&str>) -> Result<u64, CellError> {
    let n = number(cell, unit);
    n.parse::<u64>()
        .map_err(|_| expected("a whole number", cell, unit))
}

pub fn parse_f64(cell: &str, unit: Option<&str>) -> Result<f64, CellError> {
    let n = number(cell, unit);
    match n.parse::<f64>() {
        Ok(v) if v.is_finite() && !n.starts_with(['+', 'i', 'I', 'n', 'N']) => Ok(v),
        _ => Err(expected("a number", cell, unit)),
    }
}

/// `P0` … `P15`.
pub fn parse_pstate(cell: &str) -> Result<u32, CellError> {
    cell.strip_prefix('P')
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| *n <= 15)
        .ok_or_else(|| format!("expected a performance state P0..P15, found {cell:?}"))
}

/// The `.active` bitmask: `0x0000000000000044`.
pub fn parse_hex(cell: &str) -> Result<u64, CellError> {
    cell.strip_prefix("0x")
        .or_else(|| cell.strip_prefix("0X"))
        .filter(|h| !h.is_empty() && h.len() <= 16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(|| format!("expected a hex bitmask like 0x0000000000000004, found {cell:?}"))
}

/// `Active` / `Not Active`.
pub fn parse_active(cell: &str) -> Result<bool, CellError> {
    match cell {
        "Active" => Ok(true),
        "Not Active" => Ok(false),
        _ => Err(format!("expected Active or Not Active, found {cell:?}")),
    }
}

fn expected(what: &str, cell: &str, unit: Option<&str>) -> CellError {
    match unit {
        Some(u) => format!("expected {what} (optionally followed by {u}), found {cell:?}"),
        None => format!("expected {what}, found {cell:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_values_with_and_without_units() {
        assert_eq!(parse_u32("72 %", Some("%")), Ok(72));
        assert_eq!(parse_u32("72", Some("%")), Ok(72));
        assert_eq!(parse_u64("1024 MiB", Some("MiB")), Ok(1024));
        assert_eq!(parse_f64("250.00 W", Some("W")), Ok(250.0));
        assert_eq!(parse_u32("1980 MHz", Some("MHz")), Ok(1980));
        assert!(parse_u32("1980 GHz", Some("MHz")).is_err());
        assert!(parse_f64("NaN", None).is_err());
        assert!(parse_f64("inf W", Some("W")).is_err());
        assert_eq!(parse_pstate("P8"), Ok(8));
        assert!(parse_pstate("P16").is_err());
        assert_eq!(parse_hex("0x0000000000000044"), Ok(0x44));
        assert!(parse_hex("0x").is_err());
        assert_eq!(parse_active("Not Active"), Ok(false));
    }

    #[test]
    fn reads_every_missing_marker() {
        assert_eq!(marker("[N/A]"), Some(Missing::NotSupported));
        assert_eq!(marker("[Not Supported]"), Some(Missing::NotSupported));
        assert_eq!(marker("[GPU is lost]"), Some(Missing::GpuLost));
        assert_eq!(marker("[Unknown Error]"), Some(Missing::Error));
        assert_eq!(
            marker("[Insufficient Permissions]"),
            Some(Missing::NoPermission)
        );
        assert_eq!(marker("72"), None);
        for why in [
            Missing::NotSupported,
            Missing::NoPermission,
            Missing::GpuLost,
            Missing::Error,
        ] {
            assert_eq!(marker(marker_text(why)), Some(why));
        }
    }
}
