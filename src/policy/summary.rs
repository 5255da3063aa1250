//! A readable summary of an effective policy, and the warnings worth a look.
//!
//! `gpuwarden check-config` prints it; the daemon logs it at start and on reload. Warnings
//! are legal configs that probably do not do what was meant (a pinned unit outside the
//! allowlist, a restart step with nothing it may restart).

use super::config::{
    CapSpec, Condition, Config, GpuSelector, MEMORY_GROWTH_PCT, PowerLimit, Rule, StepAction,
};
use super::ladder::human;
use std::fmt::Write;

/// Renders `config` for people, one section per table.
pub fn summary(config: &Config) -> String {
    let mut s = String::new();
    let w = &config.watchdog;
    let _ = writeln!(
        s,
        "sampling   every {}; state in {}; {} on {}; dry run: {}",
        human(w.interval),
        w.state_dir.display(),
        if w.tls_cert.is_some() {
            "HTTPS"
        } else {
            "HTTP"
        },
        w.listen,
        if w.dry_run {
            "yes (nothing is changed)"
        } else {
            "no"
        }
    );
    let r = &config.restarts;
    let _ = writeln!(
        s,
        "restarts   at most {} per unit per firing and per {}, {} apart; job timeout {}; \
         judged {} after the unit is back",
        r.budget,
        human(r.window),
        human(r.cooldown),
        human(r.job_timeout),
        human(r.verify)
    );
    let u = &config.units;
    let allow = if u.allow.patterns.is_empty() {
        "nothing (allow is empty: no unit is ever restarted)".to_string()
    } else {
        u.allow.patterns.join(", ")
    };
    let _ = writeln!(s, "units      may restart {allow}");
    if u.auto {
        let _ = writeln!(s, "           plus the units owning each GPU's processes");
    }
    for m in &u.map {
        let _ = writeln!(s, "           {}: {}", m.gpu, m.units.join(", "));
    }
    if let Some(cap) = &config.clock_cap {
        let _ = writeln!(s, "clock cap  {}", cap_words(cap));
    }
    if let Some(a) = &config.alerts {
        let mut sinks = Vec::new();
        if let Some(am) = &a.alertmanager {
            sinks.push(format!("alertmanager {}", am.url));
        }
        if let Some(w) = &a.webhook {
            sinks.push(format!("webhook {}", w.url));
        }
        if let Some(p) = &a.pagerduty {
            sinks.push(format!("pagerduty {}", p.url));
        }
        if let Some(sl) = &a.slack {
            sinks.push(format!("slack {}", crate::http_client::host_of(&sl.url)));
        }
        if !sinks.is_empty() {
            let _ = writeln!(s, "alerts     {}", sinks.join("; "));
        }
    }
    let _ = writeln!(s, "rules      {}", config.rules.len());
    for rule in &config.rules {
        let _ = writeln!(
            s,
            "  {} ({}): {}",
            rule.name,
            rule.severity,
            condition_words(rule)
        );
        if rule.steps.is_empty() {
            let _ = writeln!(s, "      ladder: none (recorded only)");
        } else {
            let ladder: Vec<String> = rule
                .steps
                .iter()
                .map(|st| format!("{} {}", human(st.after), st.action))
                .collect();
            let _ = writeln!(s, "      ladder: {}", ladder.join(" → "));
        }
        if rule
            .steps
            .iter()
            .any(|st| st.action == StepAction::CapClocks)
            && let Some(cap) = &rule.cap
        {
            let _ = writeln!(s, "      cap: {}", cap_words(cap));
        }
    }
    let warns = warnings(config);
    if !warns.is_empty() {
        let _ = writeln!(s, "warnings   {}", warns.len());
        for w in warns {
            let _ = writeln!(s, "  {w}");
        }
    }
    s
}

/// Legal settings that probably do not do what was meant.
pub fn warnings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let u = &config.units;
    for m in &u.map {
        for unit in m.units.iter().filter(|unit| !u.allow.allows(unit)) {
            out.push(format!(
                "{unit} ({}) matches no glob in [units] allow: it will never be restarted",
                m.gpu
            ));
        }
    }
    let restarting: Vec<&str> = config
        .rules
        .iter()
        .filter(|r| r.steps.iter().any(|s| s.action == StepAction::RestartUnits))
        .map(|r| r.name.as_str())
        .collect();
    if !restarting.is_empty() && u.allow.patterns.is_empty() {
        out.push(format!(
            "{} restart units but [units] allow is empty: every restart will be refused",
            restarting.join(", ")
        ));
    }
    if !restarting.is_empty() && !u.auto && u.map.is_empty() {
        out.push(format!(
            "{} restart units but no unit is pinned in [[units.map]] and auto = false",
            restarting.join(", ")
        ));
    }
    out
}

fn condition_words(rule: &Rule) -> String {
    let gpus = match &rule.gpus {
        GpuSelector::All => "all GPUs".to_string(),
        GpuSelector::Only(refs) => refs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    };
    let held = |d: std::time::Duration| {
        if d.is_zero() {
            String::new()
        } else {
            format!(" for {}", human(d))
        }
    };
    let (fire, clear) = match &rule.condition {
        Condition::Above {
            metric,
            threshold,
            clear,
        } => (
            format!("{} above {}", metric.name(), metric.format(*threshold)),
            format!("at or below {}", metric.format(*clear)),
        ),
        Condition::Below {
            metric,
            threshold,
            clear,
        } => (
            format!("{} below {}", metric.name(), metric.format(*threshold)),
            format!("at or above {}", metric.format(*clear)),
        ),
        Condition::Throttle(r) => (
            format!("throttle reason {r} active"),
            "when inactive".into(),
        ),
        Condition::GpuLost => ("GPU lost".into(), "when it answers again".into()),
        Condition::MemoryGrowth {
            window,
            threshold,
            clear,
        } => (
            format!(
                "{MEMORY_GROWTH_PCT} above {threshold:.1} % in {} (steady growth of the GPU's or \
                 one unit's memory)",
                human(*window)
            ),
            format!("at or below {clear:.1} %"),
        ),
        Condition::Xid {
            codes,
            within,
            more_than,
        } => (
            format!(
                "more than {more_than} {} within {}",
                xid_words(codes),
                human(*within)
            ),
            "once they age out".into(),
        ),
    };
    format!(
        "{fire}{}, clears {clear}{}; on {gpus}",
        held(rule.sustain),
        held(rule.clear_sustain)
    )
}

fn cap_words(cap: &CapSpec) -> String {
    let mut parts = Vec::new();
    if let Some((lo, hi)) = cap.sm_clock_mhz {
        parts.push(format!("SM clock {lo}-{hi} MHz"));
    }
    match cap.power_limit {
        Some(PowerLimit::Watts(w)) => parts.push(format!("power limit {w} W")),
        Some(PowerLimit::Percent(p)) => {
            parts.push(format!("power limit {p} % of the limit before capping"))
        }
        None => {}
    }
    parts.push(if cap.undo_on_clear {
        "undone when the rule clears".into()
    } else {
        "kept until the daemon stops".into()
    });
    parts.push(format!("re-applied every {}", human(cap.reapply_every)));
    parts.join("; ")
}

/// "XID 48/79", "XIDs of any code".
fn xid_words(codes: &[u32]) -> String {
    if codes.is_empty() {
        return "XIDs of any code".into();
    }
    let list: Vec<String> = codes.iter().map(u32::to_string).collect();
    format!("XID {}", list.join("/"))
}
