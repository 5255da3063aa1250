//! The NVIDIA source: NVML through nvml-wrapper, the library loaded at run time.
//!
//! (Placeholder: opening works and reports a missing driver clearly; sampling lands with
//! the NVML source work.)

use super::model::{Snapshot, UnixMs};
use super::source::{Source, SourceError};
use nvml_wrapper::Nvml;
use std::ffi::OsStr;
use std::path::Path;

/// The library name NVML is loaded by.
pub const NVML_LIBRARY: &str = "libnvidia-ml.so.1";

/// NVIDIA GPUs through NVML.
pub struct NvmlSource {
    #[expect(dead_code, reason = "used once sampling lands")]
    nvml: Nvml,
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
        Ok(NvmlSource { nvml })
    }
}

impl Source for NvmlSource {
    fn sample(&mut self, _at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        Err(SourceError::Failed {
            what: "nvml".into(),
            detail: "sampling not implemented yet".into(),
        })
    }
}
