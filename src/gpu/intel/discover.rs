//! Finding Intel GPUs under a sysfs root and naming their identity.
//!
//! The same layouts as AMD's (`ROOT/class/drm/card*` or a recorded tree holding `card*`),
//! see [`drm_dir`]. A card counts as Intel when its PCI vendor is `0x8086` or, without a
//! vendor file, its driver is `i915` or `xe`. Identity is the PCI address, as for AMD:
//! UUID `intel-0000:03:00.0`.

use crate::gpu::amd::discover::{PciDevice, drm_dir};
use crate::gpu::amd::sysfs::Sysfs;
use std::path::{Path, PathBuf};

/// Intel's PCI vendor id.
pub const INTEL_VENDOR_ID: u16 = 0x8086;

/// Which kernel driver runs the card: the file layout differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// `i915`: Arc A-series, integrated Xe and older.
    I915,
    /// `xe`: Arc B-series and newer kernels' choice for Xe parts.
    Xe,
}

impl Driver {
    pub fn name(self) -> &'static str {
        match self {
            Driver::I915 => "i915",
            Driver::Xe => "xe",
        }
    }
}

/// One Intel card found in sysfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundCard {
    /// `…/cardN` (i915 keeps its `gt_*_freq_mhz` here).
    pub card_dir: PathBuf,
    /// `…/cardN/device`.
    pub device_dir: PathBuf,
    /// `cardN`.
    pub card: String,
    /// PCI address, e.g. `0000:03:00.0` (or `cardN` when sysfs does not say).
    pub pci_address: String,
    pub driver: Driver,
    pub vendor_id: u16,
    pub device_id: Option<u16>,
}

impl FoundCard {
    pub fn uuid(&self) -> String {
        uuid_for(&self.pci_address)
    }
}

/// `intel-<PCI address>`.
pub fn uuid_for(pci_address: &str) -> String {
    format!("intel-{pci_address}")
}

/// The PCI address inside an Intel UUID.
pub fn pci_address_of(uuid: &str) -> Option<&str> {
    uuid.strip_prefix("intel-")
}

/// Every Intel card under `root`, ordered by PCI address.
pub fn find_cards(fs: &dyn Sysfs, root: &Path) -> Vec<FoundCard> {
    let dir = drm_dir(fs, root);
    let Ok(entries) = fs.list(&dir) else {
        return Vec::new();
    };
    let mut cards: Vec<FoundCard> = entries
        .iter()
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?;
            let digits = name.strip_prefix("card")?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            read_card(fs, name, path)
        })
        .collect();
    cards.sort_by(|a, b| a.pci_address.cmp(&b.pci_address));
    cards.dedup_by(|a, b| a.pci_address == b.pci_address);
    cards
}

fn read_card(fs: &dyn Sysfs, card: &str, card_dir: &Path) -> Option<FoundCard> {
    let device_dir = card_dir.join("device");
    let dev = PciDevice::read(fs, &device_dir);
    let key = |k: &str| dev.key(k);
    let vendor_id = dev.vendor_id;
    let driver = match key("DRIVER").as_deref() {
        Some("i915") => Some(Driver::I915),
        Some("xe") => Some(Driver::Xe),
        _ => None,
    };
    let is_intel = match vendor_id {
        Some(v) => v == INTEL_VENDOR_ID,
        None => driver.is_some(),
    };
    if !is_intel {
        return None;
    }
    // An Intel card with another driver (vfio-pci, none) has none of the files read here.
    let driver = driver?;
    let pci_address = key("PCI_SLOT_NAME")
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| card.to_string())
        .to_ascii_lowercase();
    let device_id = dev.device_id;
    Some(FoundCard {
        card_dir: card_dir.to_path_buf(),
        device_dir,
        card: card.to_string(),
        pci_address,
        driver,
        vendor_id: INTEL_VENDOR_ID,
        device_id,
    })
}
