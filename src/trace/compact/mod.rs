//! gpuwarden's compact trace: JSON lines that say only what changed since the sample before,
//! as `gpuwarden record -o FILE.jsonl.zst` writes them (zstd-compressed, see
//! [`super::zst`]; the text is the same compressed or not).
//!
//! Two kinds of line:
//! - a *full* line, `{"snapshot":{…}}`, holding a whole [`Snapshot`] in the snapshot schema.
//!   Every file starts with one, and one is written again whenever the host, the source, the
//!   schema or the set of GPUs (their uuids, in order) changes;
//! - a *change* line, `{"dt":1000,"gpus":[{"temperature_c":71.0},{},…]}`: the milliseconds
//!   since the previous sample, and for each GPU of the previous sample (same order) the
//!   fields whose value changed, in the snapshot schema's names and encodings. `{}` is a GPU
//!   that did not change; `"gpus"` is left out when none did.
//!
//! So static fields (name, uuid, bus id, memory total, limits) are written once per file, and a
//! change line is read by decoding only the fields it names.

mod fields;
mod read;
mod write;

pub use read::CompactReader;
pub use write::CompactWriter;

/// The key a full line starts with; it tells a compact trace from plain JSON lines.
pub const FULL_KEY: &str = "snapshot";

/// Whether the first line of a JSON-lines trace is a compact trace's full line.
pub fn is_compact(first_bytes: &[u8]) -> bool {
    let text = first_bytes.trim_ascii_start();
    let Some(rest) = text.strip_prefix(b"{") else {
        return false;
    };
    let rest = rest.trim_ascii_start();
    rest.starts_with(b"\"snapshot\"") || rest.starts_with(b"\"dt\"")
}

#[cfg(test)]
mod tests;
