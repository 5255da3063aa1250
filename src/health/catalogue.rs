//! The XID catalogue: what each NVIDIA XID code means, its likely cause and the first thing
//! to do about it. The data lives in `xid_catalogue.toml` next to this file (compiled in);
//! this module only parses it once and looks codes up.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// The catalogue's text, compiled into the binary.
const CATALOGUE: &str = include_str!("xid_catalogue.toml");

/// What an operator should do first about an XID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XidAction {
    /// The fault belongs to one application: restart it.
    RestartApp,
    /// Reset the GPU before trusting it again.
    ResetGpu,
    /// The GPU cannot be reset from software: reboot the node.
    Reboot,
    /// Failing hardware: drain the node and have the GPU serviced.
    DrainAndReplace,
    /// Nothing now; watch whether it repeats.
    None,
}

impl XidAction {
    /// The snake_case name used in the catalogue, events and config.
    pub fn name(self) -> &'static str {
        match self {
            XidAction::RestartApp => "restart_app",
            XidAction::ResetGpu => "reset_gpu",
            XidAction::Reboot => "reboot",
            XidAction::DrainAndReplace => "drain_and_replace",
            XidAction::None => "none",
        }
    }
}

/// One code's entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XidInfo {
    pub code: u32,
    pub meaning: String,
    pub cause: String,
    pub action: XidAction,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    xid: Vec<XidInfo>,
}

/// Parses catalogue text into a map by code; a code listed twice is an error.
fn parse(text: &str) -> Result<BTreeMap<u32, XidInfo>, String> {
    let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut map = BTreeMap::new();
    for info in file.xid {
        let code = info.code;
        if map.insert(code, info).is_some() {
            return Err(format!("XID {code} is listed twice"));
        }
    }
    Ok(map)
}

fn catalogue() -> &'static BTreeMap<u32, XidInfo> {
    static MAP: OnceLock<BTreeMap<u32, XidInfo>> = OnceLock::new();
    MAP.get_or_init(|| {
        parse(CATALOGUE).unwrap_or_else(|e| {
            tracing::error!("the built-in XID catalogue does not parse: {e}");
            BTreeMap::new()
        })
    })
}

/// What is known about `code`; an unknown code is "unknown XID N" with action `none`.
pub fn lookup(code: u32) -> XidInfo {
    catalogue().get(&code).cloned().unwrap_or_else(|| XidInfo {
        code,
        meaning: format!("unknown XID {code}"),
        cause: "not in gpuwarden's catalogue; see NVIDIA's XID documentation".into(),
        action: XidAction::None,
    })
}

/// Every code the catalogue knows, in order.
pub fn known_codes() -> Vec<u32> {
    catalogue().keys().copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_catalogue_parses_and_covers_the_common_codes() {
        let map = parse(CATALOGUE).expect("xid_catalogue.toml parses");
        for code in [
            13, 31, 32, 43, 45, 48, 61, 62, 63, 64, 68, 69, 74, 79, 92, 94, 95, 109, 119, 120, 140,
            154,
        ] {
            let info = map
                .get(&code)
                .unwrap_or_else(|| panic!("XID {code} missing"));
            assert!(
                !info.meaning.is_empty() && !info.cause.is_empty(),
                "{info:?}"
            );
        }
        assert_eq!(known_codes(), map.keys().copied().collect::<Vec<_>>());
    }

    #[test]
    fn well_known_codes_mean_what_nvidia_says() {
        let off_the_bus = lookup(79);
        assert!(off_the_bus.meaning.contains("fallen off the bus"));
        assert!(matches!(
            off_the_bus.action,
            XidAction::Reboot | XidAction::ResetGpu
        ));
        assert!(lookup(48).meaning.contains("double-bit ECC"));
        assert!(lookup(94).meaning.starts_with("contained ECC"));
        assert!(lookup(95).meaning.starts_with("uncontained ECC"));
        assert_eq!(lookup(95).action, XidAction::ResetGpu);
        assert_eq!(lookup(13).action, XidAction::RestartApp);
        assert_eq!(lookup(64).action, XidAction::DrainAndReplace);
    }

    #[test]
    fn an_unknown_code_says_so_and_asks_for_nothing() {
        let info = lookup(4242);
        assert_eq!(info.meaning, "unknown XID 4242");
        assert_eq!(info.action, XidAction::None);
    }

    #[test]
    fn a_bad_catalogue_is_refused() {
        let twice = "[[xid]]\ncode = 1\nmeaning = \"a\"\ncause = \"b\"\naction = \"none\"\n";
        assert!(parse(&twice.repeat(2)).unwrap_err().contains("twice"));
        let bad_action = twice.replace("\"none\"", "\"panic\"");
        assert!(parse(&bad_action).is_err());
    }

    #[test]
    fn action_names_are_the_serialized_names() {
        for a in [
            XidAction::RestartApp,
            XidAction::ResetGpu,
            XidAction::Reboot,
            XidAction::DrainAndReplace,
            XidAction::None,
        ] {
            assert_eq!(serde_json::to_value(a).unwrap(), a.name());
        }
    }
}
