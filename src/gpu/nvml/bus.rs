//! NVIDIA GPUs on the PCI bus that NVML does not list: a GPU that fell off the bus, or whose
//! driver failed to attach, even when no XID was logged.
//!
//! The kernel still lists the device in `/sys/bus/pci/devices` (vendor `0x10de`, class display
//! VGA `0x0300xx` or 3D controller `0x0302xx`; the GPUs' audio and USB functions are other
//! classes) after NVML has stopped counting it. [`PciBus`] reads that list — not on every
//! sample: it costs a few hundred small reads on a big host, so it is read again every
//! [`RESCAN_EVERY`] samples or when NVML's count changed.

use std::path::{Path, PathBuf};

/// Samples between two reads of the PCI bus (a change of NVML's count reads it at once).
pub const RESCAN_EVERY: u32 = 30;

/// The NVIDIA display/3D functions on the bus, as `0000:3b:00.0`.
pub struct PciBus {
    devices: PathBuf,
    countdown: u32,
    last_count: Option<u32>,
    gpus: Vec<String>,
}

impl PciBus {
    /// The bus under `sysfs_root` (`/sys` on a live host).
    pub fn new(sysfs_root: &Path) -> Self {
        PciBus {
            devices: sysfs_root.join("bus/pci/devices"),
            countdown: 0,
            last_count: None,
            gpus: Vec::new(),
        }
    }

    /// The NVIDIA GPUs on the bus, read again when due or when `nvml_count` changed.
    pub fn gpus(&mut self, nvml_count: u32) -> &[String] {
        if self.countdown == 0 || self.last_count != Some(nvml_count) {
            self.gpus = scan(&self.devices);
            self.countdown = RESCAN_EVERY;
            self.last_count = Some(nvml_count);
        }
        self.countdown -= 1;
        &self.gpus
    }
}

fn scan(devices: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(devices) else {
        return Vec::new();
    };
    let read = |dir: &Path, file: &str| {
        std::fs::read_to_string(dir.join(file))
            .map(|s| s.trim().to_ascii_lowercase())
            .unwrap_or_default()
    };
    let mut out: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let dir = e.path();
            let class = read(&dir, "class");
            read(&dir, "vendor") == "0x10de"
                && (class.starts_with("0x0300") || class.starts_with("0x0302"))
        })
        .map(|e| normalise(&e.file_name().to_string_lossy()))
        .collect();
    out.sort();
    out
}

/// `00000000:3B:00.0` (NVML) and `0000:3b:00.0` (sysfs) → `0000:3b:00.0`.
pub fn normalise(bus_id: &str) -> String {
    let lower = bus_id.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        Some((domain, rest)) if domain.len() > 4 => {
            format!("{}:{rest}", &domain[domain.len() - 4..])
        }
        _ => lower,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(root: &Path, addr: &str, vendor: &str, class: &str) {
        let dir = root.join("bus/pci/devices").join(addr);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("vendor"), format!("{vendor}\n")).unwrap();
        std::fs::write(dir.join("class"), format!("{class}\n")).unwrap();
    }

    #[test]
    fn only_nvidia_display_and_3d_functions_count_and_rescans_follow_the_count() {
        let root = tempfile::tempdir().unwrap();
        device(root.path(), "0000:3b:00.0", "0x10de", "0x030200");
        device(root.path(), "0000:3b:00.1", "0x10de", "0x040300"); // its audio function
        device(root.path(), "0000:17:00.0", "0x10de", "0x030000");
        device(root.path(), "0000:00:1f.0", "0x8086", "0x030000"); // another vendor's VGA
        let mut bus = PciBus::new(root.path());
        assert_eq!(bus.gpus(2), ["0000:17:00.0", "0000:3b:00.0"]);
        device(root.path(), "0000:5e:00.0", "0x10de", "0x030200");
        assert_eq!(bus.gpus(2).len(), 2, "not read again before it is due");
        assert_eq!(bus.gpus(1).len(), 3, "read again when NVML's count changed");
    }

    #[test]
    fn nvml_and_sysfs_addresses_compare_equal() {
        assert_eq!(normalise("00000000:3B:00.0"), "0000:3b:00.0");
        assert_eq!(normalise("0000:3b:00.0"), "0000:3b:00.0");
        let none = tempfile::tempdir().unwrap();
        assert!(PciBus::new(none.path()).gpus(0).is_empty());
    }
}
