//! Every vendor at once: NVIDIA (NVML), AMD and Intel (sysfs) GPUs in one snapshot, and
//! `--vendor nvidia|amd|intel|all` choosing which drivers to open. The vendors are one list,
//! [`DRIVERS`]: parsing `--vendor`, opening and the "nothing found" message all walk it.
//!
//! With `all` (the default) every vendor that is found is used: a machine without the
//! NVIDIA driver but with AMD or Intel cards is fine, and any other mix. Only when no vendor
//! is found at all does opening fail, with the NVML "could not load" message extended to
//! say that no AMD or Intel GPU was found either.
//!
//! Indices: NVIDIA GPUs keep their NVML index (0, 1, …); each next vendor's GPUs follow,
//! numbered after the highest index of the vendors before it ever seen, in PCI address order.
//! GPUs are keyed by UUID everywhere else (NVIDIA `GPU-…`, AMD `amd-<PCI address>`, Intel
//! `intel-<PCI address>`), so they never collide. When one vendor's source fails for a
//! sample, the GPUs it reported last stay in the snapshot as `lost` and the other vendors'
//! GPUs are unaffected.

use super::amd::{AmdConfig, AmdSource};
use super::intel::{IntelConfig, IntelSource};
use super::model::{GpuSample, Snapshot, UnixMs, Vendor};
use super::nvml::NvmlSource;
use super::open::SourceSpec;
use super::source::{ControlError, GpuControl, Source, SourceError};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// Which vendors' GPUs to show (`--vendor`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum VendorChoice {
    /// Every vendor whose GPUs are found.
    #[default]
    All,
    /// Only this vendor's GPUs.
    Only(Vendor),
}

impl VendorChoice {
    /// Whether this choice opens `vendor`'s driver.
    pub fn includes(self, vendor: Vendor) -> bool {
        match self {
            VendorChoice::All => true,
            VendorChoice::Only(v) => v == vendor,
        }
    }
}

impl FromStr for VendorChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.to_ascii_lowercase();
        if s == "all" {
            return Ok(VendorChoice::All);
        }
        DRIVERS
            .iter()
            .find(|d| d.vendor.name() == s)
            .map(|d| VendorChoice::Only(d.vendor))
            .ok_or_else(|| {
                let names: Vec<&str> = DRIVERS.iter().map(|d| d.vendor.name()).collect();
                format!(
                    "unknown vendor {s:?} (expected one of: {}, all)",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for VendorChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            VendorChoice::All => "all",
            VendorChoice::Only(v) => v.name(),
        })
    }
}

/// One vendor's driver: how to open it and what to say when it is not there.
struct Driver {
    vendor: Vendor,
    open: fn(&SourceSpec) -> Result<Box<dyn Source>, SourceError>,
    /// What to do when none of its GPUs is found (part of the "no GPU at all" hint).
    hint: &'static str,
}

/// Every vendor, in index order: a GPU of an earlier vendor gets the lower index. Adding a
/// vendor is one entry here (and its [`Vendor`]).
const DRIVERS: &[Driver] = &[
    Driver {
        vendor: Vendor::Nvidia,
        open: open_nvml,
        hint: "",
    },
    Driver {
        vendor: Vendor::Amd,
        open: open_amd,
        hint: "for AMD cards load the amdgpu driver",
    },
    Driver {
        vendor: Vendor::Intel,
        open: open_intel,
        hint: "for Intel cards the i915 or xe driver",
    },
];

fn sysfs_root(spec: &SourceSpec) -> PathBuf {
    spec.sysfs_root
        .clone()
        .unwrap_or_else(|| PathBuf::from("/sys"))
}

fn open_nvml(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    let nvml = NvmlSource::open(spec.nvml_lib.as_deref())?;
    Ok(Box::new(
        nvml.with_pci_bus(&sysfs_root(spec))
            .with_cadence(spec.cadence),
    ))
}

fn open_amd(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    let config = AmdConfig {
        sysfs_root: sysfs_root(spec),
        ..AmdConfig::default()
    };
    Ok(Box::new(AmdSource::open(config)?))
}

fn open_intel(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    let config = IntelConfig {
        sysfs_root: sysfs_root(spec),
        ..IntelConfig::default()
    };
    Ok(Box::new(IntelSource::open(config)?))
}

/// Opens the real drivers `spec.vendor` asks for.
pub fn open_drivers(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    if let VendorChoice::Only(vendor) = spec.vendor {
        let driver = DRIVERS.iter().find(|d| d.vendor == vendor);
        return match driver {
            Some(d) => (d.open)(spec),
            None => Err(SourceError::Failed {
                what: vendor.name().into(),
                detail: "gpuwarden has no driver for this vendor".into(),
            }),
        };
    }
    let mut found: Vec<(Vendor, Box<dyn Source>)> = Vec::new();
    let mut errors: Vec<(&Driver, SourceError)> = Vec::new();
    for driver in DRIVERS {
        match (driver.open)(spec) {
            Ok(source) => found.push((driver.vendor, source)),
            Err(e) => errors.push((driver, e)),
        }
    }
    if found.is_empty() {
        return Err(no_vendor_found(errors));
    }
    for (driver, e) in &errors {
        tracing::info!("{}: {e}", driver.vendor.name());
    }
    match found.len() {
        // One vendor found: its own source, not a merge of one.
        1 => Ok(found.remove(0).1),
        _ => Ok(Box::new(MultiSource::new(found))),
    }
}

/// The first vendor's error (NVML's "could not load"), extended with the first line of every
/// other vendor's and what to do about each.
fn no_vendor_found(errors: Vec<(&Driver, SourceError)>) -> SourceError {
    let mut errors = errors.into_iter();
    let Some((first_driver, first)) = errors.next() else {
        return SourceError::Failed {
            what: "no GPU vendor found".into(),
            detail: "no vendor was looked for".into(),
        };
    };
    let mut others = Vec::new();
    let mut hints = Vec::new();
    for (driver, e) in errors {
        let line = e.to_string();
        others.push(line.lines().next().unwrap_or_default().to_string());
        if !driver.hint.is_empty() {
            hints.push(driver.hint);
        }
    }
    let names: Vec<&str> = DRIVERS.iter().map(|d| d.vendor.name()).collect();
    match first {
        SourceError::LibraryNotFound {
            library,
            detail,
            hint,
        } => SourceError::LibraryNotFound {
            library,
            detail: format!("{detail}; and {}", others.join("; and ")),
            hint: format!(
                "{hint}; {} (or point --sysfs-root at a recorded tree); --vendor {} picks one",
                hints.join(", "),
                names.join("|")
            ),
        },
        other => SourceError::Failed {
            what: "no GPU vendor found".into(),
            detail: format!(
                "{}: {other}; {}",
                first_driver.vendor.name(),
                others.join("; ")
            ),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_driver_is_a_vendor_choice_and_back() {
        for driver in DRIVERS {
            let name = driver.vendor.name();
            let choice: VendorChoice = name.parse().unwrap();
            assert_eq!(choice, VendorChoice::Only(driver.vendor));
            assert_eq!(choice.to_string(), name);
            assert!(choice.includes(driver.vendor));
            assert!(VendorChoice::All.includes(driver.vendor));
        }
        assert_eq!("ALL".parse::<VendorChoice>(), Ok(VendorChoice::All));
        let err = "matrox".parse::<VendorChoice>().unwrap_err();
        assert!(err.contains("nvidia, amd, intel, all"), "{err}");
        assert!(!VendorChoice::Only(Vendor::Intel).includes(Vendor::Nvidia));
    }

    #[test]
    fn vendors_are_numbered_in_list_order() {
        let order: Vec<Vendor> = DRIVERS.iter().map(|d| d.vendor).collect();
        assert_eq!(order, [Vendor::Nvidia, Vendor::Amd, Vendor::Intel]);
    }
}
