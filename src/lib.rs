//! gpuwarden: look at, guard and prove GPUs, on one sampling core.
//!
//! `gpu` is the sampling core (model, sources, sampler); `host` reads the machine itself
//! (CPU, RAM, which user and systemd unit own a process); `cli` turns the command line into a
//! run of one of the jobs; `trace` reads recorded traces back as snapshots; `units` formats numbers for people.

pub mod cli;
pub mod gpu;
pub mod host;
pub mod trace;
pub mod units;
