//! The NVIDIA source: NVML through nvml-wrapper, with `libnvidia-ml.so.1` loaded at run time
//! so the binary starts (and `--demo` works) on machines without a driver.
//!
//! `NvmlSource` owns the library handle (shared through an `Arc` with [`NvmlControl`], which
//! the watchdog uses from another thread) and a cache of what never changes while NVML is
//! initialised: UUID, name, PCI bus id, clock maxima, temperature thresholds, the driver
//! version. Everything else is read again on every sample by `read`, field by field, so one
//! unsupported metric or one lost GPU never fails the whole snapshot; `processes` remembers
//! who each GPU process is, so `/proc` is read once per process rather than per sample.

mod control;
mod processes;
mod read;

pub use control::NvmlControl;

use super::field::Field;
use super::model::{Snapshot, UnixMs};
use super::source::{GpuControl, Source, SourceError};
use nvml_wrapper::Nvml;
use processes::ProcessDescriptions;
use read::{DeviceReader, StaticInfo};
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;

/// The library name NVML is loaded by.
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

/// NVIDIA GPUs through NVML.
pub struct NvmlSource {
    nvml: Arc<Nvml>,
    host: String,
    driver_version: Field<String>,
    /// Per NVML index: identity and limits, read once.
    statics: Vec<StaticInfo>,
    processes: ProcessDescriptions,
}

impl NvmlSource {
    /// Loads NVML from `lib` (or the loader's search path) and initialises it.
    pub fn open(lib: Option<&Path>) -> Result<Self, SourceError> {
        let mut builder = Nvml::builder();
        if let Some(path) = lib {
            builder.lib_path(OsStr::new(path));
        }
        let nvml = builder.init().map_err(|e| SourceError::LibraryNotFound {
            library: lib
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| NVML_LIBRARY.to_string()),
            detail: e.to_string(),
            hint: "install the NVIDIA driver (it ships libnvidia-ml.so.1), point --nvml-lib at \
                   the library, or run `gpuwarden --demo` to see a simulated fleet"
                .to_string(),
        })?;
        Ok(NvmlSource {
            nvml: Arc::new(nvml),
            host: crate::host::hostname(),
            driver_version: Field::default(),
            statics: Vec::new(),
            processes: ProcessDescriptions::new("/proc"),
        })
    }

    /// The concrete control handle (the trait object comes from [`Source::control`]).
    pub fn nvml_control(&self) -> NvmlControl {
        NvmlControl::new(Arc::clone(&self.nvml))
    }
}

impl Source for NvmlSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        let nvml = &*self.nvml;
        let count = nvml.device_count().map_err(|e| SourceError::Failed {
            what: "nvml: counting GPUs".into(),
            detail: e.to_string(),
        })?;
        if !read::settled(&self.driver_version) {
            self.driver_version =
                read::classify_global("driver version", nvml.sys_driver_version());
        }
        self.statics
            .resize_with(count as usize, StaticInfo::default);
        let mut snap = Snapshot::new(at_ms, self.host.clone(), "nvml");
        snap.gpus.reserve(count as usize);
        for (index, statics) in (0..count).zip(self.statics.iter_mut()) {
            let reader = DeviceReader::new(nvml, index);
            snap.gpus
                .push(reader.sample(statics, &self.driver_version, &mut self.processes));
        }
        self.processes.end_sample();
        Ok(snap)
    }

    fn control(&self) -> Option<Box<dyn GpuControl>> {
        Some(Box::new(self.nvml_control()))
    }
}
