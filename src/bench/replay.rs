//! `--with-policy`: the watchdog's rules replayed over the bench's samples, as a dry run.
//!
//! The policy engine is pure (`(config, state, snapshot, now) -> actions`), so feeding it
//! the samples the bench took says what `gpuwarden watch` would have done during the burn —
//! a cooling and threshold check in one command. Nothing is carried out.

use crate::gpu::Snapshot;
use crate::policy::{Condition, Config, Metric, State};
use serde::Serialize;

/// What the watchdog would have done, for the report.
#[derive(Clone, Debug, Serialize)]
pub struct PolicyReplay {
    /// The config file replayed.
    pub config: String,
    pub actions: Vec<WouldDo>,
}

/// One action the watchdog would have taken.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WouldDo {
    /// Seconds after the first sample.
    pub at_s: f64,
    pub gpu: u32,
    pub rule: Option<String>,
    pub severity: String,
    pub action: String,
    pub summary: String,
}

/// The lowest `temperature_c` threshold any rule fires above: the one the report times.
pub fn temperature_threshold(config: &Config) -> Option<f64> {
    config
        .rules
        .iter()
        .filter_map(|r| match r.condition {
            Condition::Above {
                metric: Metric::TemperatureC,
                threshold,
                ..
            } => Some(threshold),
            _ => None,
        })
        .min_by(f64::total_cmp)
}

/// Runs the engine over `samples` from a fresh state, as the daemon would have.
pub fn replay(config: &Config, file: &str, samples: &[Snapshot]) -> PolicyReplay {
    let mut state = State::default();
    let first = samples.first().map_or(0, |s| s.at_ms);
    let mut actions = Vec::new();
    for snap in samples {
        for a in crate::trace::replay::step(config, &mut state, snap) {
            actions.push(WouldDo {
                at_s: (a.at_ms.saturating_sub(first) as f64 / 100.0).round() / 10.0,
                gpu: a.gpu.index,
                rule: a.rule.clone(),
                severity: a.severity.to_string(),
                action: a.kind.name().to_string(),
                summary: a.summary.clone(),
            });
        }
    }
    PolicyReplay {
        config: file.to_string(),
        actions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Source;
    use crate::gpu::sim::{Scenario, SimConfig, SimSource};
    use std::path::Path;

    const CONFIG: &str = r#"
[[rule]]
name = "hot"
metric = "temperature_c"
above = 88
for = "5s"
severity = "critical"
steps = [{ after = "0s", do = "notify" }]

[[rule]]
name = "warm"
metric = "temperature_c"
above = 80
for = "5s"
severity = "warning"
steps = [{ after = "0s", do = "notify" }]
"#;

    fn config() -> Config {
        crate::policy::parse(Path::new("test.toml"), CONFIG).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_threshold_is_the_lowest_temperature_rule() {
        assert_eq!(temperature_threshold(&config()), Some(80.0));
        let memory_only = "[[rule]]\nname = \"full\"\nmetric = \"memory_used_pct\"\nabove = 90\n";
        let none = crate::policy::parse(Path::new("t.toml"), memory_only)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(temperature_threshold(&none), None);
    }

    #[test]
    fn replaying_an_overheating_burn_fires_both_rules_in_order() {
        let sim = SimSource::new(&SimConfig {
            gpus: 2,
            seed: 1,
            scenario: Scenario::Overheat,
        });
        for i in 0..2 {
            sim.set_burn(i, true);
        }
        let mut source = sim;
        let samples: Vec<Snapshot> = (0..=120u64)
            .filter_map(|k| source.sample(1_000_000 + k * 250).ok())
            .collect();
        let r = replay(&config(), "test.toml", &samples);
        let fired: Vec<(&str, u32)> = r
            .actions
            .iter()
            .filter(|a| a.action == "fired")
            .filter_map(|a| Some((a.rule.as_deref()?, a.gpu)))
            .collect();
        assert_eq!(fired, [("warm", 0), ("hot", 0)], "{:#?}", r.actions);
        assert!(r.actions.iter().all(|a| a.at_s > 5.0), "{:#?}", r.actions);
    }
}
