//! Every vendor at once: NVIDIA (NVML) and AMD (sysfs) GPUs in one snapshot, and
//! `--vendor nvidia|amd|all` choosing which drivers to open.
//!
//! With `all` (the default) every vendor that is found is used: a machine without the
//! NVIDIA driver but with AMD cards is fine, and the other way round. Only when no vendor
//! is found at all does opening fail, with the NVML "could not load" message extended to
//! say that no AMD GPU was found either.
//!
//! Indices: NVIDIA GPUs keep their NVML index (0, 1, …); AMD GPUs follow, numbered after the
//! highest NVIDIA index ever seen, in PCI address order. GPUs are keyed by UUID everywhere
//! else (NVIDIA `GPU-…`, AMD `amd-<PCI address>`), so the two never collide. When one vendor's
//! source fails for a sample, the GPUs it reported last stay in the snapshot as `lost` and
//! the other vendor's GPUs are unaffected.

use super::amd::{AmdConfig, AmdSource};
use super::model::{GpuSample, Snapshot, UnixMs, Vendor};
use super::nvml::NvmlSource;
use super::open::SourceSpec;
use super::source::{ControlError, GpuControl, Source, SourceError};
use std::fmt;
use std::str::FromStr;

/// Which vendors' GPUs to show (`--vendor`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VendorChoice {
    /// Every vendor whose GPUs are found.
    #[default]
    All,
    Nvidia,
    Amd,
}

impl FromStr for VendorChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "all" => Ok(VendorChoice::All),
            "nvidia" => Ok(VendorChoice::Nvidia),
            "amd" => Ok(VendorChoice::Amd),
            _ => Err(format!(
                "unknown vendor {s:?} (expected one of: nvidia, amd, all)"
            )),
        }
    }
}

impl fmt::Display for VendorChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VendorChoice::All => "all",
            VendorChoice::Nvidia => "nvidia",
            VendorChoice::Amd => "amd",
        })
    }
}

/// Opens the real drivers `spec.vendor` asks for.
pub fn open_drivers(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    let amd_config = || AmdConfig {
        sysfs_root: spec
            .sysfs_root
            .clone()
            .unwrap_or_else(|| AmdConfig::default().sysfs_root),
        ..AmdConfig::default()
    };
    let sysfs = spec
        .sysfs_root
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from("/sys"));
    let nvml = || NvmlSource::open(spec.nvml_lib.as_deref()).map(|n| n.with_pci_bus(&sysfs));
    match spec.vendor {
        VendorChoice::Nvidia => Ok(Box::new(nvml()?)),
        VendorChoice::Amd => Ok(Box::new(AmdSource::open(amd_config())?)),
        VendorChoice::All => match (nvml(), AmdSource::open(amd_config())) {
            (Ok(n), Ok(a)) => Ok(Box::new(MultiSource::new(vec![
                (Vendor::Nvidia, Box::new(n)),
                (Vendor::Amd, Box::new(a)),
            ]))),
            (Ok(n), Err(e)) => {
                tracing::info!("AMD: {e}");
                Ok(Box::new(n))
            }
            (Err(e), Ok(a)) => {
                tracing::info!("NVIDIA: {e}");
                Ok(Box::new(a))
            }
            (Err(nvidia), Err(amd)) => Err(no_vendor_found(nvidia, &amd)),
        },
    }
}

/// The NVML error, extended to say AMD was looked for too.
fn no_vendor_found(nvidia: SourceError, amd: &SourceError) -> SourceError {
    let amd_line = amd.to_string();
    let amd_first = amd_line.lines().next().unwrap_or_default();
    match nvidia {
        SourceError::LibraryNotFound {
            library,
            detail,
            hint,
        } => SourceError::LibraryNotFound {
            library,
            detail: format!("{detail}; and {amd_first}"),
            hint: format!(
                "{hint}; for AMD cards load the amdgpu driver (or point --sysfs-root at a \
                 recorded tree); --vendor nvidia|amd picks one"
            ),
        },
        other => SourceError::Failed {
            what: "no GPU vendor found".into(),
            detail: format!("NVIDIA: {other}; {amd_first}"),
        },
    }
}

struct Part {
    vendor: Vendor,
    source: Box<dyn Source>,
    /// Index offset of this part in the merged numbering.
    offset: u32,
    /// `(own index, uuid)` of the GPUs in its last good snapshot.
    last: Vec<(u32, String)>,
}

/// Several sources merged into one snapshot.
pub struct MultiSource {
    parts: Vec<Part>,
}

impl MultiSource {
    /// Merges `parts` in the order given (NVIDIA first).
    pub fn new(parts: Vec<(Vendor, Box<dyn Source>)>) -> Self {
        MultiSource {
            parts: parts
                .into_iter()
                .map(|(vendor, source)| Part {
                    vendor,
                    source,
                    offset: 0,
                    last: Vec::new(),
                })
                .collect(),
        }
    }
}

impl Source for MultiSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        let mut gpus = Vec::new();
        let mut names = Vec::new();
        let mut host = None;
        let mut first_error = None;
        let mut next_offset = 0u32;
        for part in &mut self.parts {
            // Offsets only grow, so an index once shown keeps meaning the same GPU.
            part.offset = part.offset.max(next_offset);
            let part_gpus = match part.source.sample(at_ms) {
                Ok(snap) => {
                    names.push(snap.source);
                    host.get_or_insert(snap.host);
                    part.last = snap
                        .gpus
                        .iter()
                        .map(|g| (g.index, g.uuid.clone()))
                        .collect();
                    snap.gpus
                }
                Err(e) => {
                    tracing::warn!("{} GPUs: {e}", part.vendor.name());
                    first_error.get_or_insert(e);
                    part.last
                        .iter()
                        .map(|(i, uuid)| GpuSample::lost(*i, uuid.clone(), part.vendor))
                        .collect()
                }
            };
            next_offset = part.offset + part.last.iter().map(|(i, _)| i + 1).max().unwrap_or(0);
            gpus.extend(part_gpus.into_iter().map(|mut g| {
                g.index += part.offset;
                g
            }));
        }
        if names.is_empty()
            && let Some(e) = first_error
        {
            return Err(e);
        }
        let host = host.unwrap_or_else(crate::host::hostname);
        let mut snap = Snapshot::new(at_ms, host, names.join("+"));
        gpus.sort_by_key(|g| g.index);
        snap.gpus = gpus;
        Ok(snap)
    }

    fn control(&self) -> Option<Box<dyn GpuControl>> {
        let controls: Vec<Box<dyn GpuControl>> = self
            .parts
            .iter()
            .filter_map(|p| p.source.control())
            .collect();
        (!controls.is_empty()).then(|| Box::new(MultiControl { controls }) as Box<dyn GpuControl>)
    }
}

/// Routes each control call to the source that owns the UUID.
struct MultiControl {
    controls: Vec<Box<dyn GpuControl>>,
}

impl MultiControl {
    fn route(
        &mut self,
        uuid: &str,
        mut call: impl FnMut(&mut dyn GpuControl) -> Result<(), ControlError>,
    ) -> Result<(), ControlError> {
        for control in &mut self.controls {
            match call(control.as_mut()) {
                Err(ControlError::UnknownGpu(_)) => continue,
                other => return other,
            }
        }
        Err(ControlError::UnknownGpu(uuid.to_string()))
    }
}

impl GpuControl for MultiControl {
    fn lock_sm_clocks(&mut self, uuid: &str, min: u32, max: u32) -> Result<(), ControlError> {
        self.route(uuid, |c| c.lock_sm_clocks(uuid, min, max))
    }
    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
        self.route(uuid, |c| c.reset_sm_clocks(uuid))
    }
    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError> {
        self.route(uuid, |c| c.set_power_limit(uuid, watts))
    }
    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
        self.route(uuid, |c| c.reset_power_limit(uuid))
    }
}
