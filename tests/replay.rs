//! Record and replay: the trace readers on real-world nvidia-smi logs (CSV, dmon, pmon, the
//! table), property tests and a mutation fuzz loop over every reader, the compact zstd
//! recording, and the `record` / `replay` commands end to end.

#[path = "replay/cli.rs"]
mod cli;
#[path = "replay/compact.rs"]
mod compact;
#[path = "replay/fixtures.rs"]
mod fixtures;
#[path = "replay/formats.rs"]
mod formats;
#[path = "replay/fuzz.rs"]
mod fuzz;
#[path = "replay/long_trace.rs"]
mod long_trace;
#[path = "replay/roundtrip.rs"]
mod roundtrip;
#[path = "replay/support.rs"]
mod support;
