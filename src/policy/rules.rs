//! Checking one `[[rule]]` table: its name, its condition (metric and threshold with a clear
//! level on the right side, or a throttle reason, or `gpu_lost`), severity, GPUs, cap, and
//! a ladder whose steps are known, in order and not repeated. Part of the second loading
//! phase ([`super::build`]).

use super::config::ThrottleWatch;
use super::config::{
    Condition, Config, GpuSelector, MEMORY_GROWTH_PCT, Metric, Rule, Severity, Step, StepAction,
};
use super::error::ConfigError;
use super::raw::RawRule;
use super::validate::reading;
use super::values::{Ctx, cap_spec, duration, gpu_ref};
use crate::gpu::ThrottleReason;
use std::time::Duration;
use toml::Spanned;

/// Validates `raw` (at `key`, e.g. `rule[2]`); `config` gives the default `[clock_cap]`.
pub(super) fn rule(
    cx: &Ctx,
    raw: &RawRule,
    key: &str,
    config: &Config,
) -> Result<Rule, ConfigError> {
    let name = raw.name.get_ref().clone();
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
    if !name_ok {
        return Err(cx.err(
            raw.name.span(),
            format!("{key}.name"),
            format!("bad rule name `{name}`: use letters, digits, `-`, `_` and `.`"),
        ));
    }
    let condition = condition(cx, raw, key)?;
    let severity = match &raw.severity {
        None => Severity::Warning,
        Some(s) => Severity::from_name(s.get_ref()).ok_or_else(|| {
            cx.err(
                s.span(),
                format!("{key}.severity"),
                format!(
                    "unknown severity `{}`: expected info, warning or critical",
                    s.get_ref()
                ),
            )
        })?,
    };
    let gpus = match &raw.gpus {
        None => GpuSelector::All,
        Some(list) if list.get_ref().is_empty() => {
            return Err(cx.err(
                list.span(),
                format!("{key}.gpus"),
                "gpus = [] watches no GPU; leave `gpus` out to watch every GPU",
            ));
        }
        Some(list) => GpuSelector::Only(
            list.get_ref()
                .iter()
                .enumerate()
                .map(|(i, g)| gpu_ref(cx, g, &format!("{key}.gpus[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
    };
    let cap = match &raw.cap {
        Some(c) => Some(cap_spec(cx, c, &format!("{key}.cap"))?),
        None => config.clock_cap.clone(),
    };
    let steps = steps(cx, raw, key, &condition, cap.is_some())?;
    Ok(Rule {
        name,
        description: raw.description.clone(),
        condition,
        sustain: duration(cx, raw.for_.as_ref(), &format!("{key}.for"), Duration::ZERO)?,
        clear_sustain: duration(
            cx,
            raw.clear_for.as_ref(),
            &format!("{key}.clear_for"),
            Duration::ZERO,
        )?,
        severity,
        gpus,
        steps,
        cap,
    })
}

fn condition(cx: &Ctx, raw: &RawRule, key: &str) -> Result<Condition, ConfigError> {
    let metric_names = || {
        let mut names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        names.push("gpu_lost");
        names.push("xid");
        names.push(MEMORY_GROWTH_PCT);
        names.join(", ")
    };
    // Either a condition without a number (throttle, gpu_lost) or a metric name to compare.
    let (boolean, m) = match (&raw.metric, &raw.throttle) {
        (Some(m), Some(_)) => {
            return Err(cx.err(
                m.span(),
                format!("{key}.metric"),
                "a rule has either `metric` or `throttle`, not both",
            ));
        }
        (None, None) => {
            return Err(cx.err(
                raw.name.span(),
                key,
                format!(
                    "rule `{}` watches nothing: add `metric = \"temperature_c\"` (one of {}) \
                     or `throttle = \"hw-thermal\"`",
                    raw.name.get_ref(),
                    metric_names()
                ),
            ));
        }
        (None, Some(t)) => (
            Some(Condition::Throttle(
                ThrottleWatch::from_name(t.get_ref()).ok_or_else(|| {
                    let mut names: Vec<&str> =
                        ThrottleReason::ALL.iter().map(|r| r.name()).collect();
                    names.push("slowdown");
                    cx.err(
                        t.span(),
                        format!("{key}.throttle"),
                        format!(
                            "unknown throttle reason `{}`: expected one of {}",
                            t.get_ref(),
                            names.join(", ")
                        ),
                    )
                })?,
            )),
            t,
        ),
        (Some(m), None) if m.get_ref() == "xid" => return xid_condition(cx, raw, key),
        (Some(m), None) if m.get_ref() == "gpu_lost" => (Some(Condition::GpuLost), m),
        (Some(m), None) if m.get_ref() == MEMORY_GROWTH_PCT => {
            return super::growth_rules::growth(cx, raw, key, m);
        }
        (Some(m), None) => (None, m),
    };
    let xid_keys = [
        ("xid", raw.xid.as_ref().map(Spanned::span)),
        ("within", raw.within.as_ref().map(Spanned::span)),
    ];
    if let Some((k, Some(span))) = xid_keys.into_iter().find(|(_, s)| s.is_some()) {
        let with = if k == "within" {
            format!("metric = \"xid\" or metric = \"{MEMORY_GROWTH_PCT}\"")
        } else {
            "metric = \"xid\"".to_string()
        };
        return Err(cx.err(
            span,
            format!("{key}.{k}"),
            format!("`{k}` only goes with {with}"),
        ));
    }
    if let Some(cond) = boolean {
        let stray = [
            ("above", raw.above.as_ref().map(Spanned::span)),
            ("below", raw.below.as_ref().map(Spanned::span)),
            ("clear_below", raw.clear_below.as_ref().map(Spanned::span)),
            ("clear_above", raw.clear_above.as_ref().map(Spanned::span)),
        ];
        if let Some((k, Some(span))) = stray.into_iter().find(|(_, s)| s.is_some()) {
            return Err(cx.err(
                span,
                format!("{key}.{k}"),
                format!("`{k}` has no meaning here: this rule fires while a condition is true, not on a number"),
            ));
        }
        return Ok(cond);
    }
    let metric = Metric::from_name(m.get_ref()).ok_or_else(|| {
        let hint = if m.get_ref() == "throttle" {
            " (write `throttle = \"hw-thermal\"` instead of a metric)".to_string()
        } else {
            String::new()
        };
        cx.err(
            m.span(),
            format!("{key}.metric"),
            format!(
                "unknown metric `{}`: expected one of {}{hint}",
                m.get_ref(),
                metric_names()
            ),
        )
    })?;
    match (&raw.above, &raw.below) {
        (Some(a), None) => {
            if let Some(cb) = &raw.clear_above {
                return Err(cx.err(
                    cb.span(),
                    format!("{key}.clear_above"),
                    format!(
                        "clear_above is for rules with `below`; this rule fires above {}, use clear_below",
                        a.get_ref()
                    ),
                ));
            }
            let threshold = reading(cx, metric, a, &format!("{key}.above"))?;
            let clear = match &raw.clear_below {
                Some(c) => reading(cx, metric, c, &format!("{key}.clear_below"))?,
                None => threshold,
            };
            if clear > threshold
                && let Some(c) = &raw.clear_below
            {
                return Err(cx.err(
                    c.span(),
                    format!("{key}.clear_below"),
                    format!(
                        "clear_below {clear} must be at or below the threshold (above = {threshold})"
                    ),
                ));
            }
            Ok(Condition::Above {
                metric,
                threshold,
                clear,
            })
        }
        (None, Some(b)) => {
            if let Some(cb) = &raw.clear_below {
                return Err(cx.err(
                    cb.span(),
                    format!("{key}.clear_below"),
                    format!(
                        "clear_below is for rules with `above`; this rule fires below {}, use clear_above",
                        b.get_ref()
                    ),
                ));
            }
            let threshold = reading(cx, metric, b, &format!("{key}.below"))?;
            let clear = match &raw.clear_above {
                Some(c) => reading(cx, metric, c, &format!("{key}.clear_above"))?,
                None => threshold,
            };
            if clear < threshold
                && let Some(c) = &raw.clear_above
            {
                return Err(cx.err(
                    c.span(),
                    format!("{key}.clear_above"),
                    format!(
                        "clear_above {clear} must be at or above the threshold (below = {threshold})"
                    ),
                ));
            }
            Ok(Condition::Below {
                metric,
                threshold,
                clear,
            })
        }
        (Some(a), Some(_)) => Err(cx.err(
            a.span(),
            format!("{key}.above"),
            "a rule has either `above` or `below`, not both",
        )),
        (None, None) => Err(cx.err(
            m.span(),
            format!("{key}.metric"),
            format!(
                "metric `{}` needs a threshold: add `above = …` or `below = …`",
                m.get_ref()
            ),
        )),
    }
}

/// `metric = "xid"`: fires while more than `above` (default 0) XIDs of the `xid` codes
/// (default any) were counted within `within` (default 10m).
fn xid_condition(cx: &Ctx, raw: &RawRule, key: &str) -> Result<Condition, ConfigError> {
    let stray = [
        ("below", raw.below.as_ref().map(Spanned::span)),
        ("clear_below", raw.clear_below.as_ref().map(Spanned::span)),
        ("clear_above", raw.clear_above.as_ref().map(Spanned::span)),
    ];
    if let Some((k, Some(span))) = stray.into_iter().find(|(_, s)| s.is_some()) {
        return Err(cx.err(
            span,
            format!("{key}.{k}"),
            format!(
                "`{k}` has no meaning for metric = \"xid\": it fires on more than `above` XIDs \
                 within `within` and clears when they age out"
            ),
        ));
    }
    let more_than = match &raw.above {
        None => 0,
        Some(a) if a.get_ref().fract() == 0.0 && (0.0..=1e6).contains(a.get_ref()) => {
            *a.get_ref() as u32
        }
        Some(a) => {
            return Err(cx.err(
                a.span(),
                format!("{key}.above"),
                format!(
                    "above = {} is not a count: use a whole number of XIDs (0 = any XID fires)",
                    a.get_ref()
                ),
            ));
        }
    };
    let codes = match &raw.xid {
        None => Vec::new(),
        Some(list) if list.get_ref().is_empty() => {
            return Err(cx.err(
                list.span(),
                format!("{key}.xid"),
                "xid = [] counts nothing; leave `xid` out to count every code",
            ));
        }
        Some(list) => list
            .get_ref()
            .iter()
            .enumerate()
            .map(|(i, c)| {
                u32::try_from(*c.get_ref())
                    .ok()
                    .filter(|&code| code > 0)
                    .ok_or_else(|| {
                        cx.err(
                            c.span(),
                            format!("{key}.xid[{i}]"),
                            format!("bad XID code {}: codes are 1 and up", c.get_ref()),
                        )
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let within_key = format!("{key}.within");
    let within = duration(
        cx,
        raw.within.as_ref(),
        &within_key,
        Duration::from_secs(600),
    )?;
    if within.is_zero()
        && let Some(w) = &raw.within
    {
        return Err(cx.err(w.span(), within_key, "within = \"0s\" counts no XID"));
    }
    Ok(Condition::Xid {
        codes,
        within,
        more_than,
    })
}

fn steps(
    cx: &Ctx,
    raw: &RawRule,
    key: &str,
    condition: &Condition,
    has_cap: bool,
) -> Result<Vec<Step>, ConfigError> {
    let mut out: Vec<Step> = Vec::new();
    for (i, s) in raw.steps.iter().enumerate() {
        let skey = format!("{key}.steps[{i}]");
        let s = s.get_ref();
        let action = StepAction::from_name(s.action.get_ref()).ok_or_else(|| {
            let names: Vec<&str> = StepAction::ALL.iter().map(|a| a.name()).collect();
            cx.err(
                s.action.span(),
                format!("{skey}.do"),
                format!(
                    "unknown step `{}`: expected one of {}",
                    s.action.get_ref(),
                    names.join(", ")
                ),
            )
        })?;
        let after = duration(
            cx,
            s.after.as_ref(),
            &format!("{skey}.after"),
            Duration::ZERO,
        )?;
        if let Some(prev) = out.last()
            && after < prev.after
        {
            let span = s.after.as_ref().map_or(s.action.span(), Spanned::span);
            return Err(cx.err(
                span,
                format!("{skey}.after"),
                format!(
                    "step `{action}` after {} comes before the step above it (after {}): \
                     list steps in the order they happen",
                    humantime::format_duration(after),
                    humantime::format_duration(prev.after)
                ),
            ));
        }
        if out.iter().any(|p| p.action == action) {
            return Err(cx.err(
                s.action.span(),
                format!("{skey}.do"),
                format!("step `{action}` appears twice in the ladder"),
            ));
        }
        if action == StepAction::CapClocks {
            if condition.is_gpu_lost() {
                return Err(cx.err(
                    s.action.span(),
                    format!("{skey}.do"),
                    "cap_clocks cannot act on a lost gpu",
                ));
            }
            if !has_cap {
                return Err(cx.err(
                    s.action.span(),
                    format!("{skey}.do"),
                    "cap_clocks needs a cap: add a [clock_cap] table or this rule's `cap = { sm_clock_mhz = [210, 1200] }`",
                ));
            }
        }
        out.push(Step { after, action });
    }
    Ok(out)
}
