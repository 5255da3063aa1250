//! The fields of a [`GpuSample`] by their snapshot-schema names, for the compact trace: which
//! changed between two samples (writing), and decoding one in place from the line being read
//! (reading, with no copy of the line and no intermediate value).
//!
//! One list serves both directions; a test checks it names every serialized field, so a field
//! added to `GpuSample` cannot be silently dropped from compact traces.

use crate::gpu::GpuSample;
use serde::de::{Error, MapAccess};
use std::fmt::Write;

macro_rules! sample_fields {
    ($($field:ident),* $(,)?) => {
        /// Every field of a [`GpuSample`] as it is named in JSON.
        #[cfg(test)]
        pub const NAMES: &[&str] = &[$(stringify!($field)),*];

        /// Appends `"name":value` for each field of `now` that differs from `before`,
        /// comma-separated; returns how many were written.
        pub fn write_changes(out: &mut String, before: &GpuSample, now: &GpuSample) -> usize {
            let mut n = 0;
            $(
                if before.$field != now.$field {
                    if n > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "\"{}\":", stringify!($field));
                    // A field is plain data; encoding it cannot fail.
                    out.push_str(&serde_json::to_string(&now.$field).unwrap_or_default());
                    n += 1;
                }
            )*
            n
        }

        /// Sets the field named `name` from the map's next value; the error names the field.
        pub fn set_next<'de, M: MapAccess<'de>>(
            sample: &mut GpuSample,
            name: &str,
            map: &mut M,
        ) -> Result<(), M::Error> {
            let named = |e: M::Error| M::Error::custom(format_args!("field {name}: {e}"));
            match name {
                $(stringify!($field) => sample.$field = map.next_value().map_err(named)?,)*
                _ => return Err(M::Error::custom(format_args!("no GPU field is named {name:?}"))),
            }
            Ok(())
        }
    };
}

sample_fields!(
    index,
    uuid,
    vendor,
    status,
    name,
    pci_bus_id,
    driver_version,
    utilization_gpu_pct,
    utilization_memory_pct,
    memory_used_bytes,
    memory_total_bytes,
    temperature_c,
    temperature_slowdown_c,
    temperature_shutdown_c,
    power_w,
    power_limit_w,
    clock_sm_mhz,
    clock_sm_max_mhz,
    clock_mem_mhz,
    clock_mem_max_mhz,
    fan_pct,
    pstate,
    throttle,
    encoder_pct,
    decoder_pct,
    pcie_link,
    pcie_link_max,
    pcie_replays,
    pcie_rx_bytes_per_s,
    pcie_tx_bytes_per_s,
    ecc_uncorrected,
    ecc_uncorrected_aggregate,
    row_remap,
    retired_pages_pending,
    ecc_enabled,
    mig_enabled,
    processes,
    mig,
);
