//! Marketing names for common AMD PCI device ids.
//!
//! sysfs only knows numbers (and `product_name`, which most consumer cards leave empty).
//! One device id often covers several products (a 5600 XT and a 5700 XT share `731f`),
//! so the table names the family honestly instead of guessing one product. An id that is
//! not in the table shows as `AMD GPU 1002:XXXX`, which `lspci -nn` users can look up.
//! Names start with `AMD` (as NVML's start with `NVIDIA`), so a mixed fleet reads clearly.

/// `(device id, name)`, vendor 0x1002.
const NAMES: &[(u16, &str)] = &[
    // GCN 1 (radeon or amdgpu with si_support)
    (0x6818, "Radeon HD 7870 (Pitcairn XT)"),
    (0x6819, "Radeon HD 7850 (Pitcairn Pro)"),
    (0x6617, "Radeon R7 240 (Oland)"),
    (0x6613, "Radeon R7 240/340 (Oland)"),
    // Polaris
    (0x67df, "Radeon RX 470/480/570/580/590"),
    (0x67ef, "Radeon RX 460/560 (Baffin)"),
    (0x699f, "Radeon RX 550 (Lexa)"),
    // Vega
    (0x687f, "Radeon RX Vega 56/64"),
    (0x66af, "Radeon VII"),
    (0x66a1, "Instinct MI50/MI60 (Vega 20)"),
    // RDNA 1
    (0x731f, "Radeon RX 5600 XT/5700/5700 XT"),
    (0x7340, "Radeon RX 5500/5500 XT (Navi 14)"),
    // RDNA 2
    (0x73bf, "Radeon RX 6800/6800 XT/6900 XT"),
    (0x73af, "Radeon RX 6900 XT (Navi 21 XTXH)"),
    (0x73a5, "Radeon RX 6950 XT"),
    (0x73df, "Radeon RX 6700/6700 XT/6750 XT"),
    (0x73ff, "Radeon RX 6600/6600 XT/6650 XT"),
    (0x743f, "Radeon RX 6400/6500 XT (Navi 24)"),
    (0x163f, "Steam Deck APU (Van Gogh)"),
    // RDNA 3
    (0x744c, "Radeon RX 7900 XT/XTX/GRE"),
    (0x7448, "Radeon Pro W7900"),
    (0x747e, "Radeon RX 7700 XT/7800 XT"),
    (0x7480, "Radeon RX 7600/7600 XT/7600S/7700S"),
    (0x164e, "Radeon Graphics (Raphael iGPU)"),
    (0x15bf, "Radeon 780M (Phoenix iGPU)"),
    // RDNA 4
    (0x7550, "Radeon RX 9070/9070 XT"),
    // Instinct (CDNA)
    (0x738c, "Instinct MI100"),
    (0x740c, "Instinct MI250/MI250X"),
    (0x740f, "Instinct MI210"),
    (0x74a1, "Instinct MI300X"),
];

/// The name for an AMD device id, if the table knows it.
pub fn known_name(device_id: u16) -> Option<&'static str> {
    NAMES
        .iter()
        .find(|(id, _)| *id == device_id)
        .map(|(_, name)| *name)
}

/// The name to show: the kernel's `product_name` when it has one, else the table, else
/// the PCI ids.
pub fn card_name(product_name: Option<&str>, vendor_id: u16, device_id: Option<u16>) -> String {
    if let Some(p) = product_name.map(str::trim).filter(|p| !p.is_empty()) {
        return p.to_string();
    }
    match device_id {
        Some(d) => known_name(d)
            .map(|name| format!("AMD {name}"))
            .unwrap_or_else(|| format!("AMD GPU {vendor_id:04x}:{d:04x}")),
        None => "AMD GPU".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_name_wins_then_table_then_ids() {
        assert_eq!(
            card_name(Some("AMD Instinct MI300X\n"), 0x1002, Some(0x74a1)),
            "AMD Instinct MI300X"
        );
        assert_eq!(
            card_name(Some(""), 0x1002, Some(0x73bf)),
            "AMD Radeon RX 6800/6800 XT/6900 XT"
        );
        assert_eq!(card_name(None, 0x1002, Some(0xabcd)), "AMD GPU 1002:abcd");
        assert_eq!(card_name(None, 0x1002, None), "AMD GPU");
    }

    #[test]
    fn table_has_no_duplicate_ids() {
        let mut ids: Vec<u16> = NAMES.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), NAMES.len());
    }
}
