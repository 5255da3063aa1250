//! The sampling core: the GPU model and the sources that fill it.
//!
//! `model` and `field` define what a sample is; `source` is the trait every backend
//! implements; `sampler` runs a source on its own thread; `sim` is the simulated fleet behind
//! `--demo`; `select` is which GPUs `-i` names; `trace` plays a recorded trace; `nvml` talks to NVIDIA's driver through
//! nvml-wrapper; `amd` reads AMD cards from sysfs; `intel` reads Intel cards
//! (i915, xe) from sysfs; `multi` merges vendors into one snapshot. `processes` describes
//! GPU processes for every source, and `drm_clients` finds the AMD and Intel ones.

pub mod amd;
pub mod cadence;
pub mod drm_clients;
pub mod field;
pub mod intel;
pub mod model;
pub mod multi;
pub mod nvml;
pub mod open;
pub mod processes;
pub mod sampler;
pub mod select;
pub mod sim;
pub mod source;
pub mod throttle;
pub mod trace;

pub use field::{Field, Missing};
pub use model::{
    GpuProcess, GpuSample, GpuStatus, MigDevice, OwnerKind, PcieLink, ProcessOwner, RowRemap,
    SCHEMA_VERSION, Snapshot, UnixMs, Vendor,
};
pub use source::{ControlError, GpuControl, Source, SourceError};
pub use throttle::{ThrottleReason, ThrottleReasons};
