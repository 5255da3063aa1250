//! Changing NVIDIA GPUs: locked SM clocks and the enforced power limit, through NVML.
//!
//! `NvmlControl` shares the source's `Nvml` (NVML is thread-safe), so the watchdog can act
//! from its own thread while the sampler keeps sampling. GPUs are found by UUID on every
//! call; NVML's errors become [`ControlError`]s the watchdog reports as events.

use crate::gpu::source::{ControlError, GpuControl};
use nvml_wrapper::enums::device::GpuLockedClocksSetting;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::{Device, Nvml};
use std::sync::Arc;

/// Clock and power-limit control of the GPUs an [`NvmlSource`](super::NvmlSource) sees.
#[derive(Clone)]
pub struct NvmlControl {
    nvml: Arc<Nvml>,
}

impl NvmlControl {
    pub(super) fn new(nvml: Arc<Nvml>) -> Self {
        NvmlControl { nvml }
    }

    fn device(&self, uuid: &str) -> Result<Device<'_>, ControlError> {
        self.nvml.device_by_uuid(uuid).map_err(|e| match e {
            NvmlError::NotFound | NvmlError::InvalidArg | NvmlError::NulError(_) => {
                ControlError::UnknownGpu(uuid.to_string())
            }
            other => control_error(other),
        })
    }
}

fn control_error(err: NvmlError) -> ControlError {
    match err {
        NvmlError::NotSupported
        | NvmlError::FailedToLoadSymbol(_)
        | NvmlError::FunctionNotFound => ControlError::NotSupported,
        NvmlError::NoPermission => ControlError::NoPermission,
        NvmlError::GpuLost => ControlError::GpuLost,
        other => ControlError::Other(format!("nvml: {other}")),
    }
}

/// Watts as NVML's milliwatts, refusing what no card accepts.
fn to_milliwatts(watts: f64) -> Result<u32, ControlError> {
    let mw = (watts * 1000.0).round();
    if !mw.is_finite() || mw < 1.0 || mw > f64::from(u32::MAX) {
        return Err(ControlError::Other(format!(
            "power limit {watts} W is out of range"
        )));
    }
    Ok(mw as u32)
}

impl GpuControl for NvmlControl {
    fn lock_sm_clocks(
        &mut self,
        uuid: &str,
        min_mhz: u32,
        max_mhz: u32,
    ) -> Result<(), ControlError> {
        if min_mhz > max_mhz {
            return Err(ControlError::Other(format!(
                "clock range {min_mhz}..{max_mhz} MHz is empty"
            )));
        }
        let mut device = self.device(uuid)?;
        device
            .set_gpu_locked_clocks(GpuLockedClocksSetting::Numeric {
                min_clock_mhz: min_mhz,
                max_clock_mhz: max_mhz,
            })
            .map_err(control_error)
    }

    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
        let mut device = self.device(uuid)?;
        device.reset_gpu_locked_clocks().map_err(control_error)
    }

    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError> {
        let mw = to_milliwatts(watts)?;
        let mut device = self.device(uuid)?;
        device.set_power_management_limit(mw).map_err(control_error)
    }

    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
        let mut device = self.device(uuid)?;
        let default = device
            .power_management_limit_default()
            .map_err(control_error)?;
        device
            .set_power_management_limit(default)
            .map_err(control_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watts_become_milliwatts_and_nonsense_is_refused() {
        assert_eq!(to_milliwatts(250.0), Ok(250_000));
        assert_eq!(to_milliwatts(299.9996), Ok(300_000));
        assert!(to_milliwatts(0.0).is_err());
        assert!(to_milliwatts(-5.0).is_err());
        assert!(to_milliwatts(f64::NAN).is_err());
        assert!(to_milliwatts(1e12).is_err());
    }

    #[test]
    fn nvml_errors_map_to_control_errors() {
        assert_eq!(
            control_error(NvmlError::NotSupported),
            ControlError::NotSupported
        );
        assert_eq!(
            control_error(NvmlError::FailedToLoadSymbol("x".into())),
            ControlError::NotSupported
        );
        assert_eq!(
            control_error(NvmlError::NoPermission),
            ControlError::NoPermission
        );
        assert_eq!(control_error(NvmlError::GpuLost), ControlError::GpuLost);
        assert!(matches!(
            control_error(NvmlError::Unknown),
            ControlError::Other(_)
        ));
    }
}
