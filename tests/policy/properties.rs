//! Properties of the engine over random histories: whatever the temperatures, processes and
//! lost GPUs, a unit outside the allowlist is never restarted, no unit is restarted more
//! than its budget per window or per firing or more often than its cooldown (failed restarts,
//! which back off instead, aside), a firing that stopped restarting restarts nothing more,
//! alerts resolve only after they fired, nothing is sent to a lost GPU, and shutdown leaves
//! no cap behind.

use crate::support::{config, gpu, lost, with_unit};
use gpuwarden::gpu::{GpuSample, Snapshot};
use gpuwarden::policy::{self, Action, ActionKind, State};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const POLICY: &str = r#"
[restarts]
budget = 2
window = "10m"
cooldown = "1m"

[units]
allow = ["vllm@*.service"]
[[units.map]]
gpu = 1
units = ["vllm@1.service", "sshd.service"]

[clock_cap]
sm_clock_mhz = [210, 1200]
reapply_every = "30s"

[[rule]]
name = "hot"
metric = "temperature_c"
above = 85
for = "5s"
clear_below = 80
clear_for = "10s"
steps = [
    { do = "notify" },
    { after = "10s", do = "cap_clocks" },
    { after = "20s", do = "restart_units" },
    { after = "40s", do = "page" },
]

[[rule]]
name = "very-hot"
metric = "temperature_c"
above = 95
cap = { sm_clock_mhz = [210, 600], power_limit_w = 200 }
steps = [{ do = "cap_clocks" }, { do = "restart_units" }]

[[rule]]
name = "lost"
metric = "gpu_lost"
steps = [{ do = "page" }, { after = "30s", do = "restart_units" }]

[alerts.webhook]   # pages need a sink
url = "http://127.0.0.1:8080/hooks/gpu"
"#;

const UNITS: [&str; 4] = [
    "vllm@0.service",
    "vllm@2.service",
    "postgres.service",
    "sshd.service",
];

/// One GPU at one moment: temperature, lost, which units own processes on it.
#[derive(Clone, Debug)]
struct Moment {
    temp: f64,
    lost: bool,
    units: Vec<usize>,
    /// systemd fails the restarts decided at this moment.
    restarts_fail: bool,
}

fn moment() -> impl Strategy<Value = Moment> {
    (
        prop_oneof![60.0..79.0, 79.0..87.0, 84.0..100.0],
        prop::bool::weighted(0.05),
        prop::collection::vec(0..UNITS.len(), 0..3),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(temp, lost, units, restarts_fail)| Moment {
            temp,
            lost,
            units,
            restarts_fail,
        })
}

/// Seconds between samples, and two GPUs per sample; runs of the same moment make
/// sustain times reachable.
fn history() -> impl Strategy<Value = Vec<(u64, u32, [Moment; 2])>> {
    prop::collection::vec(
        (1..20u64, 1..30u32, moment(), moment()).prop_map(|(dt, n, a, b)| (dt, n, [a, b])),
        1..40,
    )
}

fn sample(index: u32, m: &Moment) -> GpuSample {
    if m.lost {
        return lost(index);
    }
    m.units
        .iter()
        .enumerate()
        .fold(gpu(index, m.temp), |g, (k, u)| {
            with_unit(g, 100 + k as u32, UNITS[*u])
        })
}

/// One firing of one rule on one GPU: restarts per unit, and whether it stopped restarting.
type Episode<'a> = (BTreeMap<&'a str, u32>, bool);

fn check(
    actions: &[Action],
    lost_at: &BTreeSet<(u64, u32)>,
    failed: &BTreeSet<(u64, String)>,
) -> Result<(), TestCaseError> {
    let mut restarts: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    let mut paged: BTreeSet<(u32, &str)> = BTreeSet::new();
    let mut capped: BTreeSet<u32> = BTreeSet::new();
    // per (GPU, rule): restarts per unit in the current firing, and whether it stopped
    let mut firing: BTreeMap<(u32, &str), Episode> = BTreeMap::new();
    for a in actions {
        let gpu = a.gpu.index;
        let rule = a.rule.as_deref().unwrap_or("");
        match &a.kind {
            ActionKind::Fired { .. } | ActionKind::Cleared { .. } => {
                firing.remove(&(gpu, rule));
            }
            ActionKind::RestartsStopped { .. } => {
                firing.entry((gpu, rule)).or_default().1 = true;
            }
            _ => {}
        }
        match &a.kind {
            ActionKind::RestartUnit { unit } => {
                prop_assert!(unit.starts_with("vllm@"), "restarted {unit}");
                let episode = firing.entry((gpu, rule)).or_default();
                prop_assert!(
                    !episode.1,
                    "{unit} restarted after {rule} stopped restarting"
                );
                if failed.contains(&(a.at_ms, unit.clone())) {
                    // systemd failed it: it did not happen, and counts against nothing
                    continue;
                }
                let n = episode.0.entry(unit).or_default();
                *n += 1;
                prop_assert!(
                    *n <= 2,
                    "{unit} restarted {n} times in one firing of {rule}"
                );
                let times = restarts.entry(unit).or_default();
                if let Some(last) = times.last() {
                    prop_assert!(a.at_ms - last >= 60_000, "{unit} within cooldown");
                }
                times.push(a.at_ms);
                let in_window = times.iter().filter(|t| a.at_ms - **t < 600_000).count();
                prop_assert!(in_window <= 2, "{unit} over budget: {times:?}");
            }
            ActionKind::Page => {
                let rule = a.rule.as_deref().unwrap_or("");
                prop_assert!(paged.insert((gpu, rule)), "paged twice without resolve");
            }
            ActionKind::Resolve => {
                let rule = a.rule.as_deref().unwrap_or("");
                prop_assert!(paged.remove(&(gpu, rule)), "resolve without page");
            }
            ActionKind::CapClocks { .. } => {
                capped.insert(gpu);
            }
            ActionKind::ReapplyCap { .. } => prop_assert!(capped.contains(&gpu)),
            ActionKind::UndoCap { .. } => {
                prop_assert!(capped.remove(&gpu), "undo of a cap never applied")
            }
            // lost with its cap: held, and undone if it comes back
            ActionKind::CapDropped { .. } => {
                prop_assert!(capped.contains(&gpu), "a cap never applied was dropped")
            }
            _ => {}
        }
        if a.changes_world() && !matches!(a.kind, ActionKind::RestartUnit { .. }) {
            prop_assert!(
                !lost_at.contains(&(a.at_ms, gpu)),
                "{} sent to lost GPU {gpu}",
                a.kind.name()
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_engine_keeps_its_promises_on_any_history(history in history()) {
        let cfg = config(POLICY);
        let mut state = State::default();
        let mut actions = Vec::new();
        let mut lost_at = BTreeSet::new();
        let mut failed = BTreeSet::new();
        let mut t = 0u64;
        for (dt, n, moments) in &history {
            for _ in 0..*n {
                t += dt * 1000;
                let mut snap = Snapshot::new(t, "h", "prop");
                snap.gpus = vec![sample(0, &moments[0]), sample(1, &moments[1])];
                for g in snap.gpus.iter().filter(|g| g.is_lost()) {
                    lost_at.insert((t, g.index));
                }
                let out = policy::step(&cfg, &mut state, &snap, t);
                // systemd answers each restart before the next sample: done, or failed
                let mut answers = Vec::new();
                for a in &out {
                    if let ActionKind::RestartUnit { unit } = &a.kind {
                        let fail = moments[a.gpu.index as usize].restarts_fail;
                        if fail {
                            failed.insert((t, unit.clone()));
                        }
                        answers.extend(policy::restart_result(
                            &cfg, &mut state, unit, t, !fail, t + 500,
                        ));
                    }
                }
                actions.extend(out);
                actions.extend(answers);
            }
        }
        actions.extend(policy::shutdown(&mut state, t + 1000));
        check(&actions, &lost_at, &failed)?;
        prop_assert!(state.caps().is_empty());
        // what was persisted loads back unchanged (but for the last digit of readings kept
        // for display: serde_json's float parsing is not bit-exact)
        let saved = serde_json::to_string(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut back: State = serde_json::from_str(&saved).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for (uuid, g) in &mut back.gpus {
            for (name, r) in &mut g.rules {
                let orig = state.gpus[uuid].rules[name].last_value;
                let close = match (r.last_value, orig) {
                    (Some(a), Some(b)) => (a - b).abs() < 1e-9,
                    (a, b) => a == b,
                };
                prop_assert!(close, "{:?} vs {:?}", r.last_value, orig);
                r.last_value = orig;
            }
        }
        prop_assert_eq!(back, state);
    }
}
