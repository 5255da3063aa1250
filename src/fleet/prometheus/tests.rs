use super::*;
use std::collections::HashMap;

fn series(name: &str, labels: &[(&str, &str)], value: f64) -> Series {
    let mut l: HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    l.insert("__name__".into(), name.into());
    Series {
        labels: l,
        at_s: 1_700_000_010.0,
        value,
    }
}

fn dcgm(name: &str, gpu: &str, value: f64) -> Series {
    series(
        name,
        &[
            ("instance", "dgx1:9400"),
            ("job", "dcgm"),
            ("gpu", gpu),
            ("UUID", &format!("GPU-d{gpu}")),
            ("modelName", "NVIDIA A100-SXM4-80GB"),
            ("Hostname", "dgx1"),
            ("device", &format!("nvidia{gpu}")),
        ],
        value,
    )
}

#[test]
fn dcgm_exporter_series_become_a_snapshot_in_model_units() {
    let values = vec![
        dcgm("DCGM_FI_DEV_GPU_TEMP", "1", 71.0),
        dcgm("DCGM_FI_DEV_FB_USED", "1", 40960.0),
        dcgm("DCGM_FI_DEV_FB_FREE", "1", 40000.0),
        dcgm("DCGM_FI_DEV_FB_RESERVED", "1", 960.0),
        dcgm("DCGM_FI_DEV_GPU_UTIL", "1", 87.0),
        dcgm("DCGM_FI_DEV_POWER_USAGE", "1", 312.5),
        dcgm("DCGM_FI_DEV_SM_CLOCK", "1", 1410.0),
        dcgm("DCGM_FI_DEV_XID_ERRORS", "1", 79.0),
        dcgm("DCGM_FI_DEV_GPU_TEMP", "0", 40.0),
    ];
    let answers = Answers {
        values,
        freshness: vec![series("", &[("instance", "dgx1:9400")], 1_700_000_008.5)],
        ..Answers::default()
    };
    let reports = build(&answers, 1_700_000_010_000);
    assert_eq!(reports.len(), 1);
    let data = reports[0].result.as_ref().unwrap();
    let snap = &data.snapshot;
    assert_eq!(snap.host, "dgx1");
    assert_eq!(snap.at_ms, 1_700_000_008_500);
    assert_eq!(snap.gpus.len(), 2);
    let g = &snap.gpus[1];
    assert_eq!((g.index, g.uuid.as_str()), (1, "GPU-d1"));
    assert_eq!(g.display_name(), "NVIDIA A100-SXM4-80GB");
    assert_eq!(g.temperature_c.get(), Some(71.0));
    assert_eq!(g.memory_used_bytes.get(), Some(40960 << 20));
    assert_eq!(g.memory_total_bytes.get(), Some(81920 << 20));
    assert_eq!(g.utilization_gpu_pct.get(), Some(87));
    assert_eq!(g.power_w.get(), Some(312.5));
    assert_eq!(g.clock_sm_mhz.get(), Some(1410));
    assert_eq!(
        data.xids,
        [XidSeen {
            uuid: "GPU-d1".into(),
            code: 79,
            count: None
        }]
    );
}

#[test]
fn gpuwarden_series_round_trip_and_down_targets_are_kept() {
    let l = [
        ("instance", "n1:9844"),
        ("job", "gpu"),
        ("gpu", "0"),
        ("uuid", "GPU-a"),
        ("model", "H100"),
    ];
    let values = vec![
        series("gpuwarden_gpu_temperature_celsius", &l, 83.0),
        series("gpuwarden_gpu_utilization_ratio", &l, 0.97),
        series("gpuwarden_gpu_sm_clock_hertz", &l, 1_980_000_000.0),
        series("gpuwarden_gpu_lost", &l, 0.0),
        series(
            "gpuwarden_gpu_throttle_reason",
            &[l[0], l[1], l[2], l[3], ("reason", "sw-thermal")],
            1.0,
        ),
        series(
            "gpuwarden_watchdog_rule_state",
            &[
                l[0],
                l[1],
                l[2],
                l[3],
                ("rule", "gpu-hot"),
                ("state", "firing"),
            ],
            1.0,
        ),
    ];
    let up = vec![
        series("up", &[("instance", "n1:9844"), ("job", "gpu")], 1.0),
        series("up", &[("instance", "n2:9844"), ("job", "gpu")], 0.0),
        series("up", &[("instance", "other:9100"), ("job", "node")], 0.0),
    ];
    let known = vec![series("", &[l[0], l[1], l[2], l[3]], 9.0)];
    let answers = Answers {
        values,
        throttle_known: known,
        up,
        ..Answers::default()
    };
    let reports = build(&answers, 5);
    let addrs: Vec<&str> = reports.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(addrs, ["n1:9844", "n2:9844"]);
    let data = reports[0].result.as_ref().unwrap();
    let g = &data.snapshot.gpus[0];
    assert_eq!(g.temperature_c.get(), Some(83.0));
    assert_eq!(g.utilization_gpu_pct.get(), Some(97));
    assert_eq!(g.clock_sm_mhz.get(), Some(1980));
    assert_eq!(
        g.throttle.get().map(|t| t.to_string()).as_deref(),
        Some("sw-thermal")
    );
    assert_eq!(data.firing[0].rule, "gpu-hot");
    assert!(reports[1].result.as_ref().unwrap_err().contains("down"));
}
