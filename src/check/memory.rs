//! The `memory` check: memory that is healing itself, or no longer can.
//!
//! Ampere and later cards replace a bad row of memory with a spare one (row remapping);
//! older cards retire the bad page instead. Both take effect only at the next GPU reset, so
//! a pending remap or retirement asks for a reset when the GPU is idle. A remap that failed
//! means no spare row was left: the memory cannot heal itself any more and the GPU has to
//! be replaced. A card reports one mechanism or the other; the check is `not_checked` only
//! when it reports neither.

use super::builtin::{finding, missing, skipped};
use super::{Severity, Verdict};
use crate::gpu::GpuSample;

/// Runs the `memory` check on one GPU that answered.
pub fn memory(g: &GpuSample, v: &mut Verdict) {
    let rows = g.row_remap.get();
    let pages = g.retired_pages_pending.get();
    if rows.is_none() && pages.is_none() {
        let why = format!(
            "{}; {}",
            missing("row remapping", &g.row_remap),
            missing("retired pages", &g.retired_pages_pending)
        );
        skipped(g, "memory", why, v);
        return;
    }
    let reset = || {
        format!(
            "reset this GPU when idle (nvidia-smi -r -i {}) so the bad memory is taken out of use",
            g.index
        )
    };
    match rows {
        Some(r) if r.failure => v.findings.push(finding(
            g,
            "memory",
            Severity::Critical,
            format!(
                "a memory row remap failed: no spare row left ({} rows remapped after \
                 uncorrectable errors, {} after correctable ones)",
                r.uncorrectable, r.correctable
            ),
            "drain and replace this GPU: its memory cannot remap bad rows any more",
        )),
        Some(r) if r.pending => v.findings.push(finding(
            g,
            "memory",
            Severity::Warning,
            "a memory row remap is pending until the GPU is reset".into(),
            &reset(),
        )),
        _ => {}
    }
    if pages == Some(true) {
        v.findings.push(finding(
            g,
            "memory",
            Severity::Warning,
            "retired memory pages are pending until the GPU is reset".into(),
            &reset(),
        ));
    }
}
