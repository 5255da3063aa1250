//! Opens the source the command line asks for: the simulated fleet (`--demo`) or the real
//! drivers (NVIDIA, AMD, Intel or several, see `multi`). Every command goes through here, so
//! `--demo`, `--nvml-lib`, `--vendor`, `--sysfs-root`, `--pod-logs` and `-i` mean the same thing
//! everywhere.

use super::multi::{VendorChoice, open_drivers};
use super::sim::{Scenario, SimConfig, SimSource};
use super::source::{Source, SourceError};
use std::path::PathBuf;

/// Which source to open, as the command line described it.
#[derive(Clone, Debug, Default)]
pub struct SourceSpec {
    /// `Some` runs the simulated fleet instead of real drivers.
    pub demo: Option<SimConfig>,
    /// Explicit path to `libnvidia-ml.so.1`.
    pub nvml_lib: Option<PathBuf>,
    /// Which vendors' GPUs (`--vendor`); every vendor found by default.
    pub vendor: VendorChoice,
    /// Where AMD and Intel cards are read from instead of `/sys` (`--sysfs-root`).
    pub sysfs_root: Option<PathBuf>,
    /// Where pod names are read from instead of `/var/log/pods` (`--pod-logs`).
    pub pod_logs: Option<PathBuf>,
    /// How often NVIDIA's slow fields and process table are read again; the default reads
    /// them on every sample.
    pub cadence: super::cadence::Cadence,
}

impl SourceSpec {
    pub fn demo(gpus: u32, seed: u64, scenario: Scenario) -> Self {
        SourceSpec {
            demo: Some(SimConfig {
                gpus,
                seed,
                scenario,
            }),
            ..SourceSpec::default()
        }
    }
}

/// Opens the source described by `spec`.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    if let Some(sim) = &spec.demo {
        return Ok(Box::new(SimSource::new(sim)));
    }
    if let Some(dir) = &spec.pod_logs {
        crate::owner::pods::set_pod_logs(dir.clone());
    }
    open_drivers(spec)
}
