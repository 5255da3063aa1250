//! Finding AMD cards under a sysfs root and naming their stable identity.
//!
//! The root is `/sys` (cards under `class/drm/card*/device`) or, for recorded trees, a
//! directory that holds `card*/device` itself. A card counts as AMD when its PCI vendor is
//! `0x1002` or its driver is `amdgpu`/`radeon`; connectors (`card0-DP-1`) and other vendors'
//! cards are skipped. Identity is the PCI address (`0000:03:00.0`), from `uevent`'s
//! `PCI_SLOT_NAME` or else the name the `device` link points at; the UUID is
//! `amd-<address>`. The address is stable across reboots and driver reloads as long as the
//! card stays in its slot, which is what a watchdog and its alerts need. (`unique_id` is
//! not used: only some chips have it.)

use super::sysfs::Sysfs;
use std::path::{Path, PathBuf};

/// AMD's PCI vendor id (ATI's, kept by AMD).
pub const AMD_VENDOR_ID: u16 = 0x1002;

/// One AMD card found in sysfs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundCard {
    /// `…/cardN/device`.
    pub device_dir: PathBuf,
    /// `cardN`.
    pub card: String,
    /// PCI address, e.g. `0000:03:00.0` (or `cardN` when sysfs does not say).
    pub pci_address: String,
    /// Kernel driver from `uevent` (`amdgpu`, `radeon`), if it says.
    pub driver: Option<String>,
    pub vendor_id: Option<u16>,
    pub device_id: Option<u16>,
    pub revision: Option<u8>,
}

impl FoundCard {
    /// The stable identity gpuwarden uses as this card's UUID.
    pub fn uuid(&self) -> String {
        uuid_for(&self.pci_address)
    }
}

/// `amd-<PCI address>`.
pub fn uuid_for(pci_address: &str) -> String {
    format!("amd-{pci_address}")
}

/// The PCI address inside an AMD UUID.
pub fn pci_address_of(uuid: &str) -> Option<&str> {
    uuid.strip_prefix("amd-")
}

/// Where the `card*` directories are: `ROOT/class/drm` when it exists, else `ROOT`.
pub fn drm_dir(fs: &dyn Sysfs, root: &Path) -> PathBuf {
    let class = root.join("class").join("drm");
    if fs.list(&class).is_ok() {
        class
    } else {
        root.to_path_buf()
    }
}

/// Every AMD card under `root`, ordered by PCI address.
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
            read_card(fs, name, &path.join("device"))
        })
        .collect();
    cards.sort_by(|a, b| a.pci_address.cmp(&b.pci_address));
    // Two card nodes of one device (should not happen) would share an identity.
    cards.dedup_by(|a, b| a.pci_address == b.pci_address);
    cards
}

/// What a PCI device directory says of itself: its `uevent` keys and its vendor and device
/// ids (the `vendor`/`device` files, else `uevent`'s `PCI_ID`). Shared by the sysfs vendors.
pub struct PciDevice {
    uevent: Option<String>,
    pub vendor_id: Option<u16>,
    pub device_id: Option<u16>,
}

impl PciDevice {
    pub fn read(fs: &dyn Sysfs, device_dir: &Path) -> PciDevice {
        let mut dev = PciDevice {
            uevent: fs.read(&device_dir.join("uevent")).ok(),
            vendor_id: None,
            device_id: None,
        };
        let pci_id = dev.key("PCI_ID").and_then(|id| {
            let (v, d) = id.split_once(':')?;
            Some((parse_hex(v)?, parse_hex(d)?))
        });
        let hex_file = |name: &str| {
            fs.read(&device_dir.join(name))
                .ok()
                .and_then(|s| parse_hex(s.trim()))
        };
        dev.vendor_id = hex_file("vendor").or(pci_id.map(|p| p.0));
        dev.device_id = hex_file("device").or(pci_id.map(|p| p.1));
        dev
    }

    /// A `KEY=value` line of `uevent`.
    pub fn key(&self, k: &str) -> Option<String> {
        self.uevent.as_deref()?.lines().find_map(|l| {
            let (name, value) = l.split_once('=')?;
            (name.trim() == k).then(|| value.trim().to_string())
        })
    }
}

fn read_card(fs: &dyn Sysfs, card: &str, device_dir: &Path) -> Option<FoundCard> {
    let dev = PciDevice::read(fs, device_dir);
    let key = |k: &str| dev.key(k);
    let (vendor_id, device_id) = (dev.vendor_id, dev.device_id);
    let driver = key("DRIVER");
    let is_amd = match vendor_id {
        Some(v) => v == AMD_VENDOR_ID,
        None => matches!(driver.as_deref(), Some("amdgpu" | "radeon")),
    };
    if !is_amd {
        // Neither an AMD vendor id nor an AMD driver: not ours (or not a card at all).
        return None;
    }
    let pci_address = key("PCI_SLOT_NAME")
        .filter(|s| !s.is_empty())
        .or_else(|| link_target_name(device_dir))
        .unwrap_or_else(|| card.to_string())
        .to_ascii_lowercase();
    let revision = fs
        .read(&device_dir.join("revision"))
        .ok()
        .and_then(|s| parse_hex(s.trim()))
        .and_then(|r| u8::try_from(r).ok());
    Some(FoundCard {
        device_dir: device_dir.to_path_buf(),
        card: card.to_string(),
        pci_address,
        driver,
        vendor_id,
        device_id,
        revision,
    })
}

/// `/sys/class/drm/card0/device` links to `…/0000:03:00.0`; that name is the address.
fn link_target_name(device_dir: &Path) -> Option<String> {
    let target = std::fs::read_link(device_dir).ok()?;
    let name = target.file_name()?.to_str()?;
    (name.len() == 12 && name.as_bytes()[4] == b':').then(|| name.to_string())
}

/// `0x1002`, `1002`, `0X67df` → the number.
pub fn parse_hex(s: &str) -> Option<u16> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    u16::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_ids_parse_with_or_without_prefix() {
        assert_eq!(parse_hex("0x1002"), Some(0x1002));
        assert_eq!(parse_hex("67DF"), Some(0x67df));
        assert_eq!(parse_hex("0xzz"), None);
    }
}
