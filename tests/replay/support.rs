//! Helpers shared by the replay tests: read a fixture the way `replay` does.

use gpuwarden::gpu::Snapshot;
use gpuwarden::trace::{self, TraceError, TraceOptions};
use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/nvidia-smi")
        .join(name)
}

/// Everything a fixture yields, snapshots and problems, in order.
pub fn read_all(name: &str, options: &TraceOptions) -> Vec<Result<Snapshot, TraceError>> {
    let (_, stream) = trace::open(&fixture(name), options).unwrap_or_else(|e| panic!("{e}"));
    stream.collect()
}

/// The snapshots of a fixture that must read without any problem.
pub fn read_clean(name: &str, options: &TraceOptions) -> Vec<Snapshot> {
    read_all(name, options)
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// Problems as the user sees them, with the file path cut to its name.
pub fn problems(items: &[Result<Snapshot, TraceError>]) -> Vec<String> {
    items
        .iter()
        .filter_map(|r| r.as_ref().err())
        .map(|e| {
            let text = e.to_string();
            match text.split_once("nvidia-smi/") {
                Some((_, rest)) => rest.to_string(),
                None => text,
            }
        })
        .collect()
}
