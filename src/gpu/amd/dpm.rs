//! Parsing amdgpu's text tables: the DPM clock levels of `pp_dpm_sclk` / `pp_dpm_mclk`
//! and the PCIe link of `current_link_speed` / `current_link_width`.
//!
//! A DPM table is one level a line, `N: 1366Mhz`, the active one marked with `*`:
//!
//! ```text
//! 0: 300Mhz
//! 1: 600Mhz
//! 2: 900Mhz *
//! ```
//!
//! Newer chips add a sleep level `S: 500Mhz` that cannot be selected by number; it is kept
//! for the current clock but never offered as a mask bit.

/// One DPM level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DpmLevel {
    /// The number to write into the mask, `None` for the sleep level `S`.
    pub index: Option<u32>,
    pub mhz: u32,
    pub active: bool,
}

/// Parses a `pp_dpm_*` table; `None` when any line is not a level (garbage), an empty
/// table when the file is empty (DPM off).
pub fn parse_levels(text: &str) -> Option<Vec<DpmLevel>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (index, rest) = line.split_once(':')?;
            let index = match index.trim() {
                "S" | "s" => None,
                n => Some(n.parse().ok()?),
            };
            let rest = rest.trim();
            let active = rest.ends_with('*');
            let value = rest.trim_end_matches('*').trim();
            let digits = value
                .strip_suffix("Mhz")
                .or_else(|| value.strip_suffix("MHz"))?;
            Some(DpmLevel {
                index,
                mhz: digits.trim().parse().ok()?,
                active,
            })
        })
        .collect()
}

/// The clock of the active level (the first one marked, some tables mark two).
pub fn current_mhz(levels: &[DpmLevel]) -> Option<u32> {
    levels.iter().find(|l| l.active).map(|l| l.mhz)
}

/// The highest clock in the table.
pub fn max_mhz(levels: &[DpmLevel]) -> Option<u32> {
    levels.iter().map(|l| l.mhz).max()
}

/// The mask that keeps the clock at or below `max_mhz` (and at or above `min_mhz` where
/// levels allow): the selectable levels in that range, else every level ≤ `max_mhz`,
/// else the lowest level. `None` when the table has no selectable level.
pub fn cap_mask(levels: &[DpmLevel], min_mhz: u32, max_mhz: u32) -> Option<Vec<u32>> {
    let selectable: Vec<(u32, u32)> = levels
        .iter()
        .filter_map(|l| Some((l.index?, l.mhz)))
        .collect();
    let pick = |f: &dyn Fn(u32) -> bool| -> Vec<u32> {
        selectable
            .iter()
            .filter(|(_, mhz)| f(*mhz))
            .map(|(i, _)| *i)
            .collect()
    };
    let in_range = pick(&|mhz| mhz >= min_mhz && mhz <= max_mhz);
    if !in_range.is_empty() {
        return Some(in_range);
    }
    let below = pick(&|mhz| mhz <= max_mhz);
    if !below.is_empty() {
        return Some(below);
    }
    selectable
        .iter()
        .min_by_key(|(_, mhz)| *mhz)
        .map(|(i, _)| vec![*i])
}

/// The mask text the kernel expects: `0 1 2`.
pub fn mask_text(mask: &[u32]) -> String {
    mask.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `16.0 GT/s PCIe` → 4 (PCIe generation from the transfer rate).
pub fn pcie_generation(speed: &str) -> Option<u32> {
    let rate: f64 = speed.split_whitespace().next()?.parse().ok()?;
    let gens = [
        (2.5, 1),
        (5.0, 2),
        (8.0, 3),
        (16.0, 4),
        (32.0, 5),
        (64.0, 6),
    ];
    gens.iter()
        .find(|(gt, _)| (rate - gt).abs() < 0.01)
        .map(|(_, g)| *g)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tables_with_marks_sleep_levels_and_odd_spacing() {
        let rx580 = "0: 300Mhz \n1: 600Mhz \n2: 900Mhz *\n3: 1145Mhz \n";
        let levels = parse_levels(rx580).unwrap();
        assert_eq!(levels.len(), 4);
        assert_eq!(current_mhz(&levels), Some(900));
        assert_eq!(max_mhz(&levels), Some(1145));
        let rx9070 = "S: 500Mhz\n1: 789Mhz *\n2: 2070Mhz\n";
        let levels = parse_levels(rx9070).unwrap();
        assert_eq!(levels[0].index, None);
        assert_eq!(current_mhz(&levels), Some(789));
        assert_eq!(parse_levels("").unwrap(), vec![]);
        assert_eq!(parse_levels("0: fast\n"), None);
    }

    #[test]
    fn cap_masks_keep_levels_below_the_cap() {
        let levels = parse_levels("0: 300Mhz\n1: 600Mhz\n2: 900Mhz *\n3: 1145Mhz\n").unwrap();
        assert_eq!(cap_mask(&levels, 0, 900), Some(vec![0, 1, 2]));
        assert_eq!(cap_mask(&levels, 500, 900), Some(vec![1, 2]));
        assert_eq!(cap_mask(&levels, 1000, 1100), Some(vec![0, 1, 2]));
        assert_eq!(cap_mask(&levels, 0, 100), Some(vec![0]));
        let sleep_only = parse_levels("S: 500Mhz\n").unwrap();
        assert_eq!(cap_mask(&sleep_only, 0, 1000), None);
        assert_eq!(mask_text(&[0, 1, 2]), "0 1 2");
    }

    #[test]
    fn pcie_generation_from_speed() {
        assert_eq!(pcie_generation("16.0 GT/s PCIe"), Some(4));
        assert_eq!(pcie_generation("2.5 GT/s PCIe"), Some(1));
        assert_eq!(pcie_generation("32.0 GT/s PCIe"), Some(5));
        assert_eq!(pcie_generation("Unknown"), None);
    }
}
