//! What each recorded card must read as, taken by hand from its fixture files (values in
//! the model's units: °C, W, MHz, bytes). `None` means the field must be missing.

pub struct Expected {
    pub card: &'static str,
    pub uuid: &'static str,
    pub name: &'static str,
    pub util_pct: Option<u32>,
    pub temp_c: Option<f64>,
    pub slowdown_c: Option<f64>,
    pub power_w: Option<f64>,
    pub power_limit_w: Option<f64>,
    pub sclk_mhz: Option<u32>,
    pub sclk_max_mhz: Option<u32>,
    pub mclk_mhz: Option<u32>,
    pub vram_used_bytes: Option<u64>,
    pub pcie: Option<(u32, u32)>,
    pub fan_pct: Option<u32>,
}

const fn card(card: &'static str, uuid: &'static str, name: &'static str) -> Expected {
    Expected {
        card,
        uuid,
        name,
        util_pct: None,
        temp_c: None,
        slowdown_c: None,
        power_w: None,
        power_limit_w: None,
        sclk_mhz: None,
        sclk_max_mhz: None,
        mclk_mhz: None,
        vram_used_bytes: None,
        pcie: None,
        fan_pct: None,
    }
}

pub const EXPECTED: [Expected; 11] = [
    // radeon driver: temp1/freq1 unlabelled, pwm1 51 of 255.
    Expected {
        temp_c: Some(27.0),
        slowdown_c: Some(120.0),
        sclk_mhz: Some(300),
        pcie: Some((3, 1)),
        fan_pct: Some(20),
        ..card(
            "hd7870",
            "amd-0000:01:00.0",
            "AMD Radeon HD 7870 (Pitcairn XT)",
        )
    },
    // DPM tables empty, no power reading, no gpu_busy_percent.
    Expected {
        temp_c: Some(52.0),
        slowdown_c: Some(120.0),
        sclk_mhz: Some(400),
        mclk_mhz: Some(1150),
        vram_used_bytes: Some(495_321_088),
        pcie: Some((2, 4)),
        fan_pct: Some(40),
        ..card("r7-240", "amd-0000:01:00.0", "AMD Radeon R7 240 (Oland)")
    },
    Expected {
        util_pct: Some(0),
        temp_c: Some(58.0),
        slowdown_c: Some(100.0),
        power_w: Some(29.0),
        power_limit_w: Some(220.0),
        sclk_mhz: Some(10),
        sclk_max_mhz: Some(1900),
        mclk_mhz: Some(875),
        pcie: Some((4, 16)),
        fan_pct: Some(25),
        ..card(
            "rx5700xt",
            "amd-0000:28:00.0",
            "AMD Radeon RX 5600 XT/5700/5700 XT",
        )
    },
    // The link files were recorded outside card0/device (see the fixtures' README).
    Expected {
        util_pct: Some(11),
        temp_c: Some(44.0),
        slowdown_c: Some(94.0),
        power_w: Some(41.045),
        power_limit_w: Some(155.0),
        sclk_mhz: Some(798),
        sclk_max_mhz: Some(1366),
        mclk_mhz: Some(1750),
        vram_used_bytes: Some(536_870_912),
        fan_pct: Some(14),
        ..card(
            "rx580",
            "amd-0000:09:00.0",
            "AMD Radeon RX 470/480/570/580/590",
        )
    },
    Expected {
        util_pct: Some(0),
        temp_c: Some(28.0),
        slowdown_c: Some(100.0),
        power_w: Some(3.0),
        power_limit_w: Some(120.0),
        sclk_mhz: Some(20),
        sclk_max_mhz: Some(2700),
        mclk_mhz: Some(96),
        pcie: Some((4, 16)),
        fan_pct: Some(0),
        ..card(
            "rx6600",
            "amd-0000:12:00.0",
            "AMD Radeon RX 6600/6600 XT/6650 XT",
        )
    },
    Expected {
        util_pct: Some(3),
        temp_c: Some(56.0),
        slowdown_c: Some(100.0),
        power_w: Some(36.0),
        power_limit_w: Some(289.0),
        sclk_mhz: Some(500),
        sclk_max_mhz: Some(2660),
        mclk_mhz: Some(1000),
        vram_used_bytes: Some(668_274_688),
        pcie: Some((4, 16)),
        fan_pct: Some(0),
        ..card(
            "rx6900xt",
            "amd-0000:0c:00.0",
            "AMD Radeon RX 6800/6800 XT/6900 XT",
        )
    },
    Expected {
        util_pct: Some(0),
        temp_c: Some(53.0),
        slowdown_c: Some(100.0),
        power_w: Some(1.0),
        power_limit_w: Some(95.0),
        sclk_mhz: Some(0),
        sclk_max_mhz: Some(1841),
        mclk_mhz: Some(96),
        pcie: Some((4, 8)),
        fan_pct: Some(30),
        ..card(
            "rx7600s",
            "amd-0000:03:00.0",
            "AMD Radeon RX 7600/7600 XT/7600S/7700S",
        )
    },
    Expected {
        util_pct: Some(3),
        temp_c: Some(53.0),
        slowdown_c: Some(100.0),
        power_w: Some(68.0),
        power_limit_w: Some(290.0),
        sclk_mhz: Some(31),
        sclk_max_mhz: Some(2219),
        mclk_mhz: Some(1249),
        pcie: Some((4, 16)),
        fan_pct: Some(0),
        ..card(
            "rx7900xtx",
            "amd-0000:03:00.0",
            "AMD Radeon RX 7900 XT/XTX/GRE",
        )
    },
    // Sleep level `S:` in pp_dpm_sclk; PCIe 5.
    Expected {
        util_pct: Some(25),
        temp_c: Some(48.0),
        slowdown_c: Some(110.0),
        power_w: Some(49.0),
        power_limit_w: Some(200.0),
        sclk_mhz: Some(900),
        sclk_max_mhz: Some(2070),
        mclk_mhz: Some(1124),
        pcie: Some((5, 16)),
        fan_pct: Some(46),
        ..card("rx9070", "amd-0000:03:00.0", "AMD Radeon RX 9070/9070 XT")
    },
    // APU: no fan, no thresholds, memory clock only from the `*` line of pp_dpm_mclk.
    Expected {
        util_pct: Some(0),
        temp_c: Some(56.0),
        power_w: Some(3.218),
        power_limit_w: Some(15.0),
        sclk_mhz: Some(200),
        sclk_max_mhz: Some(1600),
        mclk_mhz: Some(687),
        pcie: Some((3, 16)),
        ..card(
            "vangogh",
            "amd-0000:04:00.0",
            "AMD Steam Deck APU (Van Gogh)",
        )
    },
    Expected {
        util_pct: Some(0),
        temp_c: Some(38.0),
        slowdown_c: Some(85.0),
        power_w: Some(8.0),
        power_limit_w: Some(260.0),
        sclk_mhz: Some(26),
        sclk_max_mhz: Some(1590),
        mclk_mhz: Some(167),
        vram_used_bytes: Some(16_613_376),
        pcie: Some((3, 16)),
        fan_pct: Some(0),
        ..card("vega56", "amd-0000:0b:00.0", "AMD Radeon RX Vega 56/64")
    },
];
