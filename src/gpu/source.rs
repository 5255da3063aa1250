//! The `Source` trait every backend implements, and the `GpuControl` trait for the few that
//! can change a GPU (clock locks, power limits).
//!
//! A source is blocking and owned by one sampling thread (see `sampler`); time is passed in,
//! never read inside, so the simulated fleet and trace replays are deterministic.

use super::model::{Snapshot, UnixMs};
use thiserror::Error;

/// Something that can take a [`Snapshot`] of its GPUs.
pub trait Source: Send {
    /// Samples every GPU at `at_ms`. Per-field and per-GPU failures live inside the snapshot;
    /// an `Err` means the source as a whole is unusable right now.
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError>;

    /// A handle that can change clocks and power limits of this source's GPUs, if it can.
    fn control(&self) -> Option<Box<dyn GpuControl>> {
        None
    }
}

/// Why a source could not be opened or sampled.
#[derive(Debug, Error)]
pub enum SourceError {
    #[error("could not load {library}: {detail}\n  hint: {hint}")]
    LibraryNotFound {
        library: String,
        detail: String,
        hint: String,
    },
    #[error("{what}: {detail}")]
    Failed { what: String, detail: String },
}

/// Changes a GPU's clocks or power limit. The only code that does is an actuator.
pub trait GpuControl: Send {
    /// Locks the SM (graphics) clock into `[min_mhz, max_mhz]`.
    fn lock_sm_clocks(
        &mut self,
        uuid: &str,
        min_mhz: u32,
        max_mhz: u32,
    ) -> Result<(), ControlError>;
    /// Undoes [`lock_sm_clocks`](Self::lock_sm_clocks).
    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError>;
    /// Sets the enforced power limit in watts.
    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError>;
    /// Restores the default power limit.
    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError>;
}

/// Why a control call failed; the watchdog turns each into an event and moves on.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("not supported on this GPU")]
    NotSupported,
    #[error("no permission (needs root)")]
    NoPermission,
    #[error("gpu is lost")]
    GpuLost,
    #[error("no GPU with uuid {0}")]
    UnknownGpu(String),
    /// The driver did not answer within the bound (`[watchdog] driver_timeout`); whether the
    /// setting took effect is unknown.
    #[error("the driver did not answer within {}", crate::policy::human_duration(*.0))]
    TimedOut(std::time::Duration),
    /// An earlier call is still stuck in the driver, so this one was not made.
    #[error("not tried: the driver has not returned from an earlier call")]
    DriverNotAnswering,
    #[error("{0}")]
    Other(String),
}
