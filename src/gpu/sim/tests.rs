use super::*;

fn run(source: &mut SimSource, seconds: u64) -> Vec<Snapshot> {
    (0..=seconds)
        .map(|s| {
            source
                .sample(1_000_000 + s * 1000)
                .expect("sim never fails")
        })
        .collect()
}

#[test]
fn same_seed_same_fleet() {
    let cfg = SimConfig {
        gpus: 3,
        seed: 42,
        scenario: Scenario::Mixed,
    };
    let a = run(&mut SimSource::new(&cfg), 30);
    let b = run(&mut SimSource::new(&cfg), 30);
    assert_eq!(a, b);
    let other = run(
        &mut SimSource::new(&SimConfig {
            seed: 43,
            ..cfg.clone()
        }),
        30,
    );
    assert_ne!(
        a.last().unwrap().gpus[0].uuid,
        other.last().unwrap().gpus[0].uuid
    );
}

#[test]
fn overheat_climbs_past_85_then_throttles_near_slowdown() {
    let mut src = SimSource::new(&SimConfig {
        gpus: 2,
        seed: 1,
        scenario: Scenario::Overheat,
    });
    let snaps = run(&mut src, 180);
    let first_hot = snaps
        .iter()
        .position(|s| s.gpus[0].temperature_c.get().unwrap() > 85.0)
        .expect("GPU 0 must pass 85 °C");
    assert!(first_hot < 90, "took {first_hot} s to pass 85 °C");
    let last = &snaps.last().unwrap().gpus[0];
    let reasons = last.throttle.get().unwrap();
    assert!(
        reasons.contains(ThrottleReason::SwThermal) || reasons.contains(ThrottleReason::HwThermal),
        "expected thermal throttling, got {reasons}"
    );
    assert!(last.temperature_c.get().unwrap() <= CardModel::SLOWDOWN_C + 1.0);
    // The healthy neighbour stays cool.
    assert!(snaps.last().unwrap().gpus[1].temperature_c.get().unwrap() < 80.0);
}

#[test]
fn a_clock_lock_lowers_power_and_temperature() {
    let cfg = SimConfig {
        gpus: 1,
        seed: 7,
        scenario: Scenario::Overheat,
    };
    let mut free = SimSource::new(&cfg);
    let mut capped = SimSource::new(&cfg);
    let uuid = free.sample(1_000_000).unwrap().gpus[0].uuid.clone();
    capped.sample(1_000_000).unwrap();
    let mut control = capped.control().unwrap();
    control.lock_sm_clocks(&uuid, 210, 1200).unwrap();
    let hot = run(&mut free, 120).pop().unwrap();
    let cool = run(&mut capped, 120).pop().unwrap();
    let (hot, cool) = (&hot.gpus[0], &cool.gpus[0]);
    assert!(cool.power_w.get().unwrap() < hot.power_w.get().unwrap() - 150.0);
    assert!(cool.temperature_c.get().unwrap() < hot.temperature_c.get().unwrap() - 10.0);
    assert!(cool.clock_sm_mhz.get().unwrap() <= 1200);
    assert!(
        cool.throttle
            .get()
            .unwrap()
            .contains(ThrottleReason::AppClocks)
    );
}

#[test]
fn a_power_limit_caps_power() {
    let mut src = SimSource::new(&SimConfig {
        gpus: 1,
        seed: 3,
        scenario: Scenario::Training,
    });
    let uuid = src.sample(1_000_000).unwrap().gpus[0].uuid.clone();
    src.control()
        .unwrap()
        .set_power_limit(&uuid, 400.0)
        .unwrap();
    let g = run(&mut src, 30).pop().unwrap().gpus.remove(0);
    assert!(g.power_w.get().unwrap() < 410.0, "{:?}", g.power_w);
    assert!(
        g.throttle
            .get()
            .unwrap()
            .contains(ThrottleReason::SwPowerCap)
    );
    assert_eq!(g.power_limit_w.get(), Some(400.0));
}

#[test]
fn leak_fills_memory_past_90_percent() {
    let mut src = SimSource::new(&SimConfig {
        gpus: 2,
        seed: 1,
        scenario: Scenario::Leak,
    });
    let snaps = run(&mut src, 150);
    let start = snaps[0].gpus[0].memory_used_pct().unwrap();
    let end = snaps.last().unwrap().gpus[0].memory_used_pct().unwrap();
    assert!(start < 60.0 && end > 90.0, "{start} -> {end}");
    let other = snaps.last().unwrap().gpus[1].memory_used_pct().unwrap();
    assert!(other < 60.0);
}

#[test]
fn lost_marks_only_the_last_gpu_and_keeps_the_others_updating() {
    let mut src = SimSource::new(&SimConfig {
        gpus: 3,
        seed: 1,
        scenario: Scenario::Lost,
    });
    let snaps = run(&mut src, 20);
    assert!(!snaps[5].gpus[2].is_lost());
    let last = snaps.last().unwrap();
    assert!(last.gpus[2].is_lost());
    assert_eq!(last.gpus[2].temperature_c.why(), Some(Missing::GpuLost));
    assert!(!last.gpus[0].is_lost());
    assert_ne!(snaps[12].gpus[0].power_w, last.gpus[0].power_w);
    let mut control = src.control().unwrap();
    assert_eq!(
        control.lock_sm_clocks(&last.gpus[2].uuid, 210, 1000),
        Err(ControlError::GpuLost)
    );
}

#[test]
fn scenario_names_round_trip() {
    for name in Scenario::NAMES {
        assert_eq!(name.parse::<Scenario>().unwrap().to_string(), name);
    }
    assert!(
        "bogus"
            .parse::<Scenario>()
            .unwrap_err()
            .contains("overheat")
    );
}

#[test]
fn processes_never_hold_more_memory_than_their_gpu_uses() {
    let mut one_pid = 0;
    for name in Scenario::NAMES {
        let scenario: Scenario = name.parse().expect("a scenario name");
        let mut src = SimSource::new(&SimConfig {
            gpus: 8,
            seed: 7,
            scenario,
        });
        for snap in run(&mut src, 90) {
            for g in &snap.gpus {
                let (Some(procs), Some(used)) = (g.processes.value(), g.memory_used_bytes.get())
                else {
                    continue;
                };
                let held: u64 = procs.iter().filter_map(|p| p.used_memory_bytes).sum();
                assert!(
                    held <= used,
                    "{scenario:?} gpu {}: processes hold {held} of {used} bytes",
                    g.index
                );
                one_pid += usize::from(procs.len() == 1);
            }
        }
    }
    assert!(one_pid > 0, "some GPU has a single process");
}
