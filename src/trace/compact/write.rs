//! Turns snapshots into compact-trace lines: a full line first and whenever the GPUs or the
//! host change, else a change line with only the fields that changed.

use super::fields;
use crate::gpu::Snapshot;
use std::fmt::Write;

/// Remembers the previous snapshot to write the next one as changes.
#[derive(Debug, Default)]
pub struct CompactWriter {
    previous: Option<Snapshot>,
}

impl CompactWriter {
    pub fn new() -> Self {
        CompactWriter::default()
    }

    /// The next line is a full one (a new file starts).
    pub fn restart(&mut self) {
        self.previous = None;
    }

    /// Appends the line for `snap` (ending in `\n`) to `out`.
    pub fn line(&mut self, out: &mut String, snap: &Snapshot) -> serde_json::Result<()> {
        match &self.previous {
            Some(before) if same_frame(before, snap) => {
                let _ = write!(out, "{{\"dt\":{}", snap.at_ms - before.at_ms);
                let start = out.len();
                out.push_str(",\"gpus\":[");
                let mut changed = 0;
                for (i, (b, now)) in before.gpus.iter().zip(&snap.gpus).enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('{');
                    changed += fields::write_changes(out, b, now);
                    out.push('}');
                }
                if changed == 0 {
                    out.truncate(start);
                } else {
                    out.push(']');
                }
                out.push_str("}\n");
            }
            _ => {
                out.push_str("{\"snapshot\":");
                out.push_str(&serde_json::to_string(snap)?);
                out.push_str("}\n");
            }
        }
        self.previous = Some(snap.clone());
        Ok(())
    }
}

/// Whether `now` can be written as changes to `before`: same host, source, schema and GPUs,
/// and not earlier.
fn same_frame(before: &Snapshot, now: &Snapshot) -> bool {
    before.schema == now.schema
        && before.host == now.host
        && before.source == now.source
        && now.at_ms >= before.at_ms
        && before.gpus.len() == now.gpus.len()
        && before
            .gpus
            .iter()
            .zip(&now.gpus)
            .all(|(b, n)| b.uuid == n.uuid)
}
