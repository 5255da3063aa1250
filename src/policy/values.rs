//! Checks for the small value types of `watchdog.toml`: durations, GPU references, systemd
//! unit names and clock caps. Each turns a spanned raw value into a validated one or a
//! [`ConfigError`] at that value's position.

use super::config::{CapSpec, GpuRef, PowerLimit};
use super::error::ConfigError;
use super::raw::{RawCap, RawGpuRef};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// The file being checked, for locating errors.
pub struct Ctx<'a> {
    pub file: &'a Path,
    pub text: &'a str,
}

impl Ctx<'_> {
    pub fn err(
        &self,
        span: Range<usize>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::at(self.file, self.text, span, key, message)
    }
}

/// A humane duration (`"500ms"`, `"10s"`, `"2m"`, `"1h 30m"`), or `default` when absent.
pub fn duration(
    cx: &Ctx,
    raw: Option<&Spanned<String>>,
    key: &str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    let Some(s) = raw else { return Ok(default) };
    humantime::parse_duration(s.get_ref().trim()).map_err(|e| {
        cx.err(
            s.span(),
            key,
            format!(
                "bad duration `{}`: {} (write e.g. \"500ms\", \"10s\", \"2m\", \"1h\")",
                s.get_ref(),
                lowercase_first(&e.to_string())
            ),
        )
    })
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// A finite number: TOML's `nan`, `inf` and `-inf` parse as floats but no GPU reads or
/// takes them.
pub fn number(cx: &Ctx, raw: &Spanned<f64>, key: &str) -> Result<f64, ConfigError> {
    let v = *raw.get_ref();
    if v.is_finite() {
        return Ok(v);
    }
    let shown = if v.is_nan() {
        "nan"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    };
    Err(cx.err(
        raw.span(),
        key,
        format!("`{shown}` is not a usable number: write a finite value"),
    ))
}

/// A GPU by index (`0`) or identity (`"GPU-…"`, `"MIG-…"`, or an AMD card's PCI address).
pub fn gpu_ref(cx: &Ctx, raw: &Spanned<RawGpuRef>, key: &str) -> Result<GpuRef, ConfigError> {
    let bad = |shown: String| {
        cx.err(
            raw.span(),
            key,
            format!(
                "bad gpu reference {shown}: expected an index (0, 1, …), a UUID (\"GPU-…\") \
                 or a PCI address (\"0000:03:00.0\")"
            ),
        )
    };
    match raw.get_ref() {
        RawGpuRef::Index(i) => u32::try_from(*i)
            .ok()
            .filter(|i| *i < 4096)
            .map(GpuRef::Index)
            .ok_or_else(|| bad(i.to_string())),
        RawGpuRef::Uuid(s) => {
            let upper = s.to_ascii_uppercase();
            let is_uuid = (upper.starts_with("GPU-") || upper.starts_with("MIG-"))
                && s.len() > 4
                && s[4..]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '/');
            if is_uuid || is_pci_address(s) {
                Ok(GpuRef::Uuid(s.clone()))
            } else {
                Err(bad(format!("`{s}`")))
            }
        }
    }
}

/// `0000:03:00.0` (domain:bus:device.function, hex).
fn is_pci_address(s: &str) -> bool {
    let parts: Vec<&str> = s.split([':', '.']).collect();
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    parts.len() == 4 && hex(parts[0], 4) && hex(parts[1], 2) && hex(parts[2], 2) && hex(parts[3], 1)
}

/// The unit types systemd knows (`man systemd.unit`).
const UNIT_TYPES: [&str; 11] = [
    "service",
    "socket",
    "device",
    "mount",
    "automount",
    "swap",
    "target",
    "path",
    "timer",
    "slice",
    "scope",
];

/// Why `name` is not a restartable systemd unit name, if it is not one.
pub fn unit_name_problem(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 255 {
        return Some("a unit name has 1 to 255 characters".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || ":-_.\\@".contains(*c)))
    {
        return Some(format!(
            "{c:?} is not allowed (letters, digits and `:-_.\\@` only)"
        ));
    }
    let Some((stem, suffix)) = name.rsplit_once('.') else {
        return Some("it has no type suffix such as `.service`".into());
    };
    if !UNIT_TYPES.contains(&suffix) {
        return Some(format!(
            "`.{suffix}` is not a unit type (expected .service, .target, …)"
        ));
    }
    match stem.split_once('@') {
        Some(("", _)) => Some("it has nothing before `@`".into()),
        Some((prefix, "")) => Some(format!(
            "it is a template; name an instance such as `{prefix}@0.{suffix}`"
        )),
        Some((_, inst)) if inst.contains('@') => Some("it has more than one `@`".into()),
        None if stem.is_empty() => Some("it has no name before the suffix".into()),
        _ => None,
    }
}

/// A valid, restartable systemd unit name.
pub fn unit_name(cx: &Ctx, raw: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
    match unit_name_problem(raw.get_ref()) {
        None => Ok(raw.get_ref().clone()),
        Some(why) => Err(cx.err(
            raw.span(),
            key,
            format!("bad unit name `{}`: {why}", raw.get_ref()),
        )),
    }
}

/// `[clock_cap]` or a rule's `cap`.
pub fn cap_spec(cx: &Ctx, raw: &Spanned<RawCap>, key: &str) -> Result<CapSpec, ConfigError> {
    let c = raw.get_ref();
    let sm_clock_mhz = match &c.sm_clock_mhz {
        None => None,
        Some(list) => {
            let k = format!("{key}.sm_clock_mhz");
            let [lo, hi] = list.get_ref().as_slice() else {
                return Err(cx.err(
                    list.span(),
                    k,
                    "sm_clock_mhz is a range of two clocks in MHz: [min, max]",
                ));
            };
            let mhz = |v: &Spanned<i64>| {
                u32::try_from(*v.get_ref())
                    .ok()
                    .filter(|m| (1..=10_000).contains(m))
                    .ok_or_else(|| {
                        cx.err(
                            v.span(),
                            k.clone(),
                            format!("clock {} MHz is out of range (1 to 10000)", v.get_ref()),
                        )
                    })
            };
            let (lo_v, hi_v) = (mhz(lo)?, mhz(hi)?);
            if lo_v > hi_v {
                return Err(cx.err(
                    list.span(),
                    k,
                    format!("sm_clock_mhz [{lo_v}, {hi_v}]: the minimum is above the maximum"),
                ));
            }
            Some((lo_v, hi_v))
        }
    };
    let power_limit = match (&c.power_limit_w, &c.power_limit_pct) {
        (Some(w), Some(_)) => {
            return Err(cx.err(
                w.span(),
                format!("{key}.power_limit_w"),
                "give power_limit_w or power_limit_pct, not both",
            ));
        }
        (Some(w), None) => {
            let v = number(cx, w, &format!("{key}.power_limit_w"))?;
            if !(v > 0.0 && v <= 5000.0) {
                return Err(cx.err(
                    w.span(),
                    format!("{key}.power_limit_w"),
                    format!("power limit {v} W is out of range (above 0, at most 5000)"),
                ));
            }
            Some(PowerLimit::Watts(v))
        }
        (None, Some(p)) => {
            let v = number(cx, p, &format!("{key}.power_limit_pct"))?;
            if !(v > 0.0 && v <= 100.0) {
                return Err(cx.err(
                    p.span(),
                    format!("{key}.power_limit_pct"),
                    format!("power limit {v} % is out of range (above 0, at most 100)"),
                ));
            }
            Some(PowerLimit::Percent(v))
        }
        (None, None) => None,
    };
    if sm_clock_mhz.is_none() && power_limit.is_none() {
        return Err(cx.err(
            raw.span(),
            key,
            "a cap needs sm_clock_mhz = [min, max], power_limit_w or power_limit_pct",
        ));
    }
    let reapply_every = duration(
        cx,
        c.reapply_every.as_ref(),
        &format!("{key}.reapply_every"),
        Duration::from_secs(60),
    )?;
    if reapply_every < Duration::from_secs(1)
        && let Some(s) = &c.reapply_every
    {
        return Err(cx.err(
            s.span(),
            format!("{key}.reapply_every"),
            format!("reapply_every `{}` is below the 1s floor", s.get_ref()),
        ));
    }
    Ok(CapSpec {
        sm_clock_mhz,
        power_limit,
        undo_on_clear: c.undo_on_clear.unwrap_or(true),
        reapply_every,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_follow_systemd() {
        for ok in [
            "vllm@0.service",
            "llm.service",
            "infer.target",
            "a\\x2db.service",
        ] {
            assert_eq!(unit_name_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("vllm 0.service", "not allowed"),
            ("vllm", "no type suffix"),
            ("vllm.servce", "not a unit type"),
            ("vllm@.service", "template"),
            ("@0.service", "nothing before"),
            ("", "1 to 255"),
        ] {
            let got = unit_name_problem(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }

    #[test]
    fn pci_addresses_are_gpu_identities() {
        assert!(is_pci_address("0000:03:00.0"));
        assert!(!is_pci_address("03:00.0"));
    }
}
