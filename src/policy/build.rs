//! Second loading phase: [`raw::RawConfig`](super::raw::RawConfig) → validated
//! [`Config`](super::config::Config), or the first mistake found, located.
//!
//! Each check names the bad value in lowercase and says what would be right. Parsing of the
//! smaller value types (durations, unit names, GPU references, globs, caps) lives in
//! [`super::values`]; this file walks the document and applies defaults.

use super::config::{
    Allowlist, Condition, Config, GpuSelector, Metric, RestartPolicy, Rule, Severity, Step,
    StepAction, UnitMapping, Units, Watchdog,
};
use super::error::{ConfigError, LoadError};
use super::raw::{RawConfig, RawRestarts, RawRule, RawUnits, RawWatchdog};
use super::values::{Ctx, cap_spec, duration, gpu_ref, unit_name};
use crate::gpu::ThrottleReason;
use globset::{Glob, GlobSetBuilder};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use toml::Spanned;

/// Reads and validates the config at `path`.
pub fn load(path: &Path) -> Result<Config, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(path, &text).map_err(LoadError::Invalid)
}

/// Validates config `text`; `file` is only used to name the file in errors.
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| ConfigError::from_toml(file, text, &e))?;
    let cx = Ctx { file, text };
    let clock_cap = raw
        .clock_cap
        .as_ref()
        .map(|c| cap_spec(&cx, c, "clock_cap"))
        .transpose()?;
    let mut config = Config {
        watchdog: watchdog(&cx, &raw.watchdog)?,
        restarts: restarts(&cx, &raw.restarts)?,
        units: units(&cx, &raw.units)?,
        clock_cap,
        rules: Vec::new(),
    };
    let mut names = BTreeSet::new();
    for (i, r) in raw.rule.iter().enumerate() {
        let rule = rule(&cx, r.get_ref(), &format!("rule[{i}]"), &config)?;
        if !names.insert(rule.name.clone()) {
            return Err(cx.err(
                r.get_ref().name.span(),
                format!("rule[{i}].name"),
                format!(
                    "duplicate rule name `{}`: rule names must be unique",
                    rule.name
                ),
            ));
        }
        config.rules.push(rule);
    }
    Ok(config)
}

fn watchdog(cx: &Ctx, raw: &RawWatchdog) -> Result<Watchdog, ConfigError> {
    let interval = duration(
        cx,
        raw.interval.as_ref(),
        "watchdog.interval",
        Duration::from_secs(1),
    )?;
    if interval < Duration::from_millis(100)
        && let Some(s) = &raw.interval
    {
        return Err(cx.err(
            s.span(),
            "watchdog.interval",
            format!("interval `{}` is below the 100ms floor", s.get_ref()),
        ));
    }
    let state_dir = match &raw.state_dir {
        None => "/var/lib/gpuwarden".into(),
        Some(s) if Path::new(s.get_ref()).is_absolute() => s.get_ref().into(),
        Some(s) => {
            return Err(cx.err(
                s.span(),
                "watchdog.state_dir",
                format!("state_dir `{}` must be an absolute path", s.get_ref()),
            ));
        }
    };
    let listen = match &raw.listen {
        None => ([127, 0, 0, 1], 9844).into(),
        Some(s) => s.get_ref().parse().map_err(|_| {
            cx.err(
                s.span(),
                "watchdog.listen",
                format!(
                    "bad listen address `{}`: expected IP:PORT such as 127.0.0.1:9844",
                    s.get_ref()
                ),
            )
        })?,
    };
    Ok(Watchdog {
        interval,
        dry_run: raw.dry_run.unwrap_or(false),
        state_dir,
        listen,
    })
}

fn restarts(cx: &Ctx, raw: &RawRestarts) -> Result<RestartPolicy, ConfigError> {
    let budget = match &raw.budget {
        None => 3,
        Some(b) if (1..=1000).contains(b.get_ref()) => *b.get_ref() as u32,
        Some(b) => {
            return Err(cx.err(
                b.span(),
                "restarts.budget",
                format!(
                    "budget {} is out of range: allow 1 to 1000 restarts per window \
                     (to never restart, leave restart_units out of the ladders)",
                    b.get_ref()
                ),
            ));
        }
    };
    let window = duration(
        cx,
        raw.window.as_ref(),
        "restarts.window",
        Duration::from_secs(3600),
    )?;
    positive(cx, raw.window.as_ref(), window, "restarts.window")?;
    let job_timeout = duration(
        cx,
        raw.job_timeout.as_ref(),
        "restarts.job_timeout",
        Duration::from_secs(90),
    )?;
    positive(
        cx,
        raw.job_timeout.as_ref(),
        job_timeout,
        "restarts.job_timeout",
    )?;
    Ok(RestartPolicy {
        budget,
        window,
        cooldown: duration(
            cx,
            raw.cooldown.as_ref(),
            "restarts.cooldown",
            Duration::from_secs(600),
        )?,
        job_timeout,
    })
}

fn positive(
    cx: &Ctx,
    raw: Option<&Spanned<String>>,
    d: Duration,
    key: &str,
) -> Result<(), ConfigError> {
    match raw {
        Some(s) if d.is_zero() => Err(cx.err(
            s.span(),
            key,
            format!("`{}` must be longer than zero", s.get_ref()),
        )),
        _ => Ok(()),
    }
}

fn units(cx: &Ctx, raw: &RawUnits) -> Result<Units, ConfigError> {
    let mut patterns = Vec::new();
    let mut set = GlobSetBuilder::new();
    if let Some(allow) = &raw.allow {
        for (i, g) in allow.get_ref().iter().enumerate() {
            let glob = Glob::new(g.get_ref()).map_err(|e| {
                cx.err(
                    g.span(),
                    format!("units.allow[{i}]"),
                    format!("bad glob `{}`: {}", g.get_ref(), e.kind()),
                )
            })?;
            patterns.push(g.get_ref().clone());
            set.add(glob);
        }
    }
    let set = set.build().map_err(|e| {
        cx.err(
            0..0,
            "units.allow",
            format!("cannot compile the allowlist: {e}"),
        )
    })?;
    let mut map = Vec::new();
    for (i, m) in raw.map.iter().enumerate() {
        let key = format!("units.map[{i}]");
        let m_ref = m.get_ref();
        let gpu = gpu_ref(cx, &m_ref.gpu, &format!("{key}.gpu"))?;
        if m_ref.units.is_empty() {
            return Err(cx.err(m.span(), format!("{key}.units"), "units = [] lists no unit"));
        }
        let units = m_ref
            .units
            .iter()
            .enumerate()
            .map(|(j, u)| unit_name(cx, u, &format!("{key}.units[{j}]")))
            .collect::<Result<_, _>>()?;
        map.push(UnitMapping { gpu, units });
    }
    Ok(Units {
        auto: raw.auto.unwrap_or(true),
        allow: Allowlist { patterns, set },
        map,
    })
}

fn rule(cx: &Ctx, raw: &RawRule, key: &str, config: &Config) -> Result<Rule, ConfigError> {
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
        names.join(", ")
    };
    let boolean = match (&raw.metric, &raw.throttle) {
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
        (None, Some(t)) => Some(Condition::Throttle(
            ThrottleReason::from_name(t.get_ref()).ok_or_else(|| {
                let names: Vec<&str> = ThrottleReason::ALL.iter().map(|r| r.name()).collect();
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
        (Some(m), None) if m.get_ref() == "gpu_lost" => Some(Condition::GpuLost),
        (Some(_), None) => None,
    };
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
    let Some(m) = &raw.metric else {
        unreachable!("the boolean branch handled a missing metric")
    };
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
            let threshold = *a.get_ref();
            let clear = raw.clear_below.as_ref().map_or(threshold, |c| *c.get_ref());
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
            let threshold = *b.get_ref();
            let clear = raw.clear_above.as_ref().map_or(threshold, |c| *c.get_ref());
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
