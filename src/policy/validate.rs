//! Checks of what a config means, beyond each value's type: thresholds a GPU can reach, an
//! allowlist that does not quietly allow every unit, a policy that guards something, pages
//! that have somewhere to go, and (as warnings, not errors) rules that may flap. Part of the
//! second loading phase ([`super::build`]); every finding is located like any other.

use super::config::{Allowlist, Condition, Config, Metric};
use super::error::{ConfigError, ConfigWarning};
use super::raw::{RawConfig, RawRule, RawUnits};
use super::values::{Ctx, number};
use globset::Glob;
use toml::Spanned;

/// Services of every host, none of them a GPU workload: a glob matching all of them matches
/// every unit, not a family of workloads.
const BYSTANDERS: [&str; 6] = [
    "sshd.service",
    "dbus.service",
    "systemd-journald.service",
    "getty@tty1.service",
    "nvidia-persistenced.service",
    "gpuwarden.service",
];

/// A threshold or clear level of `metric` (at `key`): finite and within what a GPU reads.
pub(super) fn reading(
    cx: &Ctx,
    metric: Metric,
    raw: &Spanned<f64>,
    key: &str,
) -> Result<f64, ConfigError> {
    let v = number(cx, raw, key)?;
    let (lo, hi) = metric.range();
    if (lo..=hi).contains(&v) {
        return Ok(v);
    }
    Err(cx.err(
        raw.span(),
        key,
        format!(
            "{v} is out of range for {}: a gpu reads {lo} to {hi} {}",
            metric.name(),
            metric.unit()
        ),
    ))
}

/// Refuses an allowlist that matches every unit (`*`, `**`, `*.service`) unless
/// `allow_any_unit = true` says it is meant.
pub(super) fn allowlist(cx: &Ctx, raw: &RawUnits, allow: &Allowlist) -> Result<(), ConfigError> {
    let Some(list) = &raw.allow else {
        return Ok(());
    };
    if raw.allow_any_unit == Some(true) {
        return Ok(());
    }
    let catch_all = |is_match: &dyn Fn(&str) -> bool| BYSTANDERS.iter().all(|u| is_match(u));
    let why = "list the units the watchdog may restart, or set `allow_any_unit = true` in \
               [units] to mean it";
    for (i, g) in list.get_ref().iter().enumerate() {
        let Ok(glob) = Glob::new(g.get_ref()) else {
            continue;
        };
        let m = glob.compile_matcher();
        if catch_all(&|u| m.is_match(u)) {
            return Err(cx.err(
                g.span(),
                format!("units.allow[{i}]"),
                format!(
                    "glob `{}` matches every unit, sshd.service and dbus.service too: {why}",
                    g.get_ref()
                ),
            ));
        }
    }
    if catch_all(&|u| allow.allows(u)) {
        return Err(cx.err(
            list.span(),
            "units.allow",
            format!(
                "these globs together match every unit, sshd.service and dbus.service too: {why}"
            ),
        ));
    }
    Ok(())
}

/// Refuses a config without rules: a daemon that watches nothing guards nothing.
pub(super) fn guards_something(cx: &Ctx, raw: &RawConfig) -> Result<(), ConfigError> {
    if !raw.rule.is_empty() {
        return Ok(());
    }
    Err(cx.err(
        0..0,
        "rule",
        "no [[rule]] in this file, so the watchdog would guard nothing: add at least one rule",
    ))
}

/// Refuses a `page` step when `[alerts]` has no sink: it would page nobody.
pub(super) fn pages_have_a_sink(
    cx: &Ctx,
    raw: &RawConfig,
    config: &Config,
) -> Result<(), ConfigError> {
    let sink = config.alerts.as_ref().is_some_and(|a| a.has_sink());
    if sink {
        return Ok(());
    }
    for (i, r) in raw.rule.iter().enumerate() {
        for (j, s) in r.get_ref().steps.iter().enumerate() {
            let action = &s.get_ref().action;
            if action.get_ref() == "page" {
                return Err(cx.err(
                    action.span(),
                    format!("rule[{i}].steps[{j}].do"),
                    "step `page` pages nobody: no sink in [alerts]; add [alerts.alertmanager], \
                     [alerts.webhook], [alerts.pagerduty] or [alerts.slack], or drop the step",
                ));
            }
        }
    }
    Ok(())
}

/// A `restart_units` step when `[alerts]` has no sink: when restarting does not help, the
/// rule stops and pages — nobody would hear it. A warning: restarting alone may be what the
/// operator wants.
pub(super) fn gives_up_to_nobody(cx: &Ctx, raw: &RawConfig, config: &Config) -> Vec<ConfigWarning> {
    let sink = config.alerts.as_ref().is_some_and(|a| a.has_sink());
    if sink {
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, r) in raw.rule.iter().enumerate() {
        for (j, s) in r.get_ref().steps.iter().enumerate() {
            let action = &s.get_ref().action;
            if action.get_ref() == "restart_units" {
                out.push(
                    cx.err(
                        action.span(),
                        format!("rule[{i}].steps[{j}].do"),
                        "when restarting does not help, `restart_units` stops and pages, but \
                         [alerts] has no sink: nobody would hear it; add \
                         [alerts.alertmanager] or [alerts.webhook]",
                    )
                    .into(),
                );
            }
        }
    }
    out
}

/// Rules that fire and clear on single samples: no `for`, no clear level past the
/// threshold, no `clear_for`. `ecc_uncorrected` only counts up, so it cannot flap; XID
/// rules count over a window.
pub(super) fn flapping(cx: &Ctx, raw: &RawConfig, config: &Config) -> Vec<ConfigWarning> {
    let mut out = Vec::new();
    for (i, (r, rule)) in raw.rule.iter().zip(&config.rules).enumerate() {
        let (counter, threshold, clear, above) = match rule.condition {
            Condition::Above {
                metric,
                threshold,
                clear,
            } => (counts_up(metric), threshold, clear, true),
            Condition::Below {
                metric,
                threshold,
                clear,
            } => (counts_up(metric), threshold, clear, false),
            Condition::MemoryGrowth {
                threshold, clear, ..
            } => (false, threshold, clear, true),
            Condition::Throttle(_) | Condition::GpuLost | Condition::Xid { .. } => continue,
        };
        let steady = !rule.sustain.is_zero() || !rule.clear_sustain.is_zero();
        if steady || clear != threshold || counter {
            continue;
        }
        let (side, clear_key) = if above {
            ("above", "clear_below")
        } else {
            ("below", "clear_above")
        };
        let Some(span) = threshold_span(r.get_ref(), above) else {
            continue;
        };
        out.push(
            cx.err(
                span,
                format!("rule[{i}].{side}"),
                format!(
                    "rule `{}` fires and clears on single samples (`for` 0s, no `{clear_key}`, \
                     no `clear_for`), so it may flap around {threshold}: add `for = \"10s\"` \
                     or `{clear_key} = …`",
                    rule.name
                ),
            )
            .into(),
        );
    }
    out
}

/// Metrics that only a GPU reset (or a driver reload) brings back: they cannot flap.
fn counts_up(metric: Metric) -> bool {
    matches!(
        metric,
        Metric::EccUncorrected | Metric::RowRemapPending | Metric::RowRemapFailure
    )
}

fn threshold_span(raw: &RawRule, above: bool) -> Option<std::ops::Range<usize>> {
    let t = if above { &raw.above } else { &raw.below };
    t.as_ref().map(Spanned::span)
}

#[cfg(test)]
mod tests {
    use super::super::build::parse;
    use std::path::Path;

    const RULE: &str = "[[rule]]\nname = \"hot\"\nmetric = \"temperature_c\"\nabove = 85\n\
                        for = \"10s\"\n";

    fn err(text: &str) -> String {
        match parse(Path::new("w.toml"), text) {
            Ok(_) => format!("parsed: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn every_catch_all_glob_is_refused_unless_meant() {
        for glob in ["*", "**", "*.service", "?*", "*.*"] {
            let text = format!("[units]\nallow = [\"{glob}\"]\n{RULE}");
            assert!(err(&text).contains("matches every unit"), "{glob}");
            let meant = format!("[units]\nallow = [\"{glob}\"]\nallow_any_unit = true\n{RULE}");
            assert!(parse(Path::new("w.toml"), &meant).is_ok(), "{glob}");
        }
        for glob in ["vllm@*.service", "s*.service", "*d.service"] {
            let text = format!("[units]\nallow = [\"{glob}\"]\n{RULE}");
            assert!(parse(Path::new("w.toml"), &text).is_ok(), "{glob}");
        }
        let split = format!("[units]\nallow = [\"[a-m]*\", \"[n-z]*\"]\n{RULE}");
        assert!(err(&split).contains("units.allow: these globs together"));
    }

    #[test]
    fn every_metric_refuses_readings_no_gpu_reports() {
        for (metric, bad) in [
            ("temperature_c", "-1"),
            ("temperature_c", "151"),
            ("temperature_margin_c", "200"),
            ("memory_used_pct", "100.5"),
            ("utilization_pct", "-5"),
            ("power_pct_of_limit", "250"),
            ("ecc_uncorrected", "-1"),
        ] {
            let text = format!("[[rule]]\nname = \"r\"\nmetric = \"{metric}\"\nabove = {bad}\n");
            let e = err(&text);
            assert!(
                e.contains("rule[0].above") && e.contains("out of range"),
                "{e}"
            );
        }
        let nan =
            "[[rule]]\nname = \"r\"\nmetric = \"temperature_c\"\nbelow = 5\nclear_above = nan\n";
        assert!(err(nan).contains("rule[0].clear_above: `nan` is not a usable number"));
    }

    #[test]
    fn a_rule_without_any_hysteresis_is_a_warning() {
        let flaps = "[[rule]]\nname = \"hot\"\nmetric = \"temperature_c\"\nabove = 85\n";
        let cfg = parse(Path::new("w.toml"), flaps).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.warnings.len(), 1);
        assert!(
            cfg.warnings[0]
                .to_string()
                .starts_with("w.toml:4:9: rule[0].above: ")
        );
        for steady in ["for = \"5s\"", "clear_below = 80", "clear_for = \"5s\""] {
            let cfg = parse(Path::new("w.toml"), &format!("{flaps}{steady}\n"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(cfg.warnings.is_empty(), "{steady}");
        }
    }
}
