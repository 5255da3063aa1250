//! Marketing names for common Intel GPU PCI device ids.
//!
//! sysfs has no product name for Intel GPUs, only the device id. The table covers the Arc
//! and Data Center cards and the common integrated parts; any other id shows as
//! `Intel GPU 8086:XXXX`, which `lspci -nn` users can look up. Names start with `Intel`, as
//! NVML's start with `NVIDIA` and AMD's with `AMD`.

/// `(device id, name)`, vendor 0x8086.
const NAMES: &[(u16, &str)] = &[
    // Arc A-series (Alchemist, i915)
    (0x56a0, "Arc A770"),
    (0x56a1, "Arc A750"),
    (0x56a2, "Arc A580"),
    (0x56a5, "Arc A380"),
    (0x56a6, "Arc A310"),
    (0x5690, "Arc A770M"),
    (0x5691, "Arc A730M"),
    (0x5692, "Arc A550M"),
    (0x5693, "Arc A370M"),
    (0x5694, "Arc A350M"),
    // Arc B-series (Battlemage, xe)
    (0xe20b, "Arc B580"),
    (0xe20c, "Arc B570"),
    // Data Center
    (0x56c0, "Data Center GPU Flex 170"),
    (0x56c1, "Data Center GPU Flex 140"),
    (0x0bd5, "Data Center GPU Max 1550"),
    (0x0bda, "Data Center GPU Max 1100"),
    // Integrated
    (0x9a40, "Iris Xe Graphics (Tiger Lake)"),
    (0x9a49, "Iris Xe Graphics (Tiger Lake)"),
    (0x46a6, "Iris Xe Graphics (Alder Lake-P)"),
    (0x4680, "UHD Graphics 770 (Alder Lake-S)"),
    (0xa780, "UHD Graphics 770 (Raptor Lake-S)"),
    (0x7d55, "Arc Graphics (Meteor Lake)"),
    (0x64a0, "Arc Graphics 130V/140V (Lunar Lake)"),
    (0x3e92, "UHD Graphics 630 (Coffee Lake)"),
    (0x5917, "UHD Graphics 620 (Kaby Lake R)"),
];

/// The name for an Intel device id, if the table knows it.
pub fn known_name(device_id: u16) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(id, _)| *id == device_id)
        .map(|(_, name)| *name)
}

/// The name to show: the table's, else the PCI ids.
pub fn card_name(vendor_id: u16, device_id: Option<u16>) -> String {
    match device_id {
        Some(d) => known_name(d)
            .map(|name| format!("Intel {name}"))
            .unwrap_or_else(|| format!("Intel GPU {vendor_id:04x}:{d:04x}")),
        None => "Intel GPU".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_then_ids() {
        assert_eq!(card_name(0x8086, Some(0x56a5)), "Intel Arc A380");
        assert_eq!(card_name(0x8086, Some(0xabcd)), "Intel GPU 8086:abcd");
        assert_eq!(card_name(0x8086, None), "Intel GPU");
    }

    #[test]
    fn table_has_no_duplicate_ids() {
        let mut ids: Vec<u16> = NAMES.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), NAMES.len());
    }
}
