//! Checking a leak rule (`metric = "memory_growth_pct"`, see [`super::growth`]): a window
//! (`within`) in [`GROWTH_WINDOW`] that `[watchdog] interval` can fill, a growth threshold
//! above 0 and at most 100 % of the card, a clear level from 0 up to it, and none of the words
//! of a `below` or an `xid` rule. Part of the second loading phase ([`super::build`]).

use super::config::{Condition, Config};
use super::error::ConfigError;
use super::raw::{RawConfig, RawRule};
use super::values::{Ctx, duration, number};
use std::time::Duration;
use toml::Spanned;

/// The shortest and the longest window (`within`) of a `memory_growth_pct` rule: shorter
/// mistakes a model that takes minutes to load for a leak, longer is more history than is
/// worth keeping.
pub const GROWTH_WINDOW: (Duration, Duration) =
    (Duration::from_secs(5 * 60), Duration::from_secs(24 * 3600));

/// A `metric = "memory_growth_pct"` rule's condition: `above` (percent of the GPU's memory
/// gained within `within`), an optional `clear_below` at or under it, and a `within` in
/// [`GROWTH_WINDOW`].
pub(super) fn growth(
    cx: &Ctx,
    raw: &RawRule,
    key: &str,
    metric: &Spanned<String>,
) -> Result<Condition, ConfigError> {
    let name = metric.get_ref();
    if let Some(b) = &raw.below {
        return Err(cx.err(
            b.span(),
            format!("{key}.below"),
            format!("{name} fires on growth: use `above = 10` (percent of the GPU's memory gained within `within`)"),
        ));
    }
    if let Some(c) = &raw.clear_above {
        return Err(cx.err(
            c.span(),
            format!("{key}.clear_above"),
            format!("clear_above is for rules with `below`; {name} fires above, use clear_below"),
        ));
    }
    let (lo, hi) = GROWTH_WINDOW;
    if let Some(x) = &raw.xid {
        return Err(cx.err(
            x.span(),
            format!("{key}.xid"),
            "`xid` only goes with metric = \"xid\"",
        ));
    }
    let Some(w) = &raw.within else {
        return Err(cx.err(
            metric.span(),
            format!("{key}.within"),
            format!(
                "{name} needs a window to look for growth in: add `within = \"30m\"` (5m to 24h)"
            ),
        ));
    };
    let window = duration(cx, Some(w), &format!("{key}.within"), Duration::ZERO)?;
    if window < lo || window > hi {
        return Err(cx.err(
            w.span(),
            format!("{key}.within"),
            format!(
                "within `{}` is out of range: a trend takes 5m to 24h (a shorter window mistakes \
                 a model loading for a leak)",
                w.get_ref()
            ),
        ));
    }
    let Some(a) = &raw.above else {
        return Err(cx.err(
            metric.span(),
            format!("{key}.metric"),
            format!(
                "metric `{name}` needs a threshold: add `above = 10` (percent of the GPU's memory)"
            ),
        ));
    };
    let threshold = number(cx, a, &format!("{key}.above"))?;
    if !(threshold > 0.0 && threshold <= 100.0) {
        return Err(cx.err(
            a.span(),
            format!("{key}.above"),
            format!(
                "{threshold} is out of range for {name}: growth is above 0 and at most 100 % of \
                 the GPU's memory"
            ),
        ));
    }
    let clear = match &raw.clear_below {
        None => threshold,
        Some(c) => {
            let v = number(cx, c, &format!("{key}.clear_below"))?;
            if v < 0.0 {
                return Err(cx.err(
                    c.span(),
                    format!("{key}.clear_below"),
                    format!("{v} is out of range for {name}: growth reads 0 % or more"),
                ));
            }
            if v > threshold {
                return Err(cx.err(
                    c.span(),
                    format!("{key}.clear_below"),
                    format!(
                        "clear_below {v} must be at or below the threshold (above = {threshold})"
                    ),
                ));
            }
            v
        }
    };
    Ok(Condition::MemoryGrowth {
        window,
        threshold,
        clear,
    })
}

/// Samples each eighth of a growth rule's window must hold at `[watchdog] interval`: an
/// eighth without a reading makes the trend unknown, so fewer would never judge a leak.
const SAMPLES_PER_PART: u32 = 4;

/// Refuses a `memory_growth_pct` window too short for `[watchdog] interval` to fill.
pub(super) fn growth_windows_fill(
    cx: &Ctx,
    raw: &RawConfig,
    config: &Config,
) -> Result<(), ConfigError> {
    let interval = config.watchdog.interval;
    let least = interval * SAMPLES_PER_PART * super::growth::SEGMENTS as u32;
    for (i, (r, rule)) in raw.rule.iter().zip(&config.rules).enumerate() {
        let Condition::MemoryGrowth { window, .. } = rule.condition else {
            continue;
        };
        if window >= least {
            continue;
        }
        let Some(w) = &r.get_ref().within else {
            continue;
        };
        return Err(cx.err(
            w.span(),
            format!("rule[{i}].within"),
            format!(
                "within `{}` is too short for samples every {}: each eighth of it needs {} \
                 samples, so look back at least {}",
                w.get_ref(),
                humantime::format_duration(interval),
                SAMPLES_PER_PART,
                humantime::format_duration(least)
            ),
        ));
    }
    Ok(())
}
