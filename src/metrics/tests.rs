use super::*;
use crate::gpu::sim::{Scenario, SimConfig, SimSource};
use crate::gpu::{GpuSample, Source, Vendor};

fn demo(gpus: u32) -> Snapshot {
    let mut sim = SimSource::new(&SimConfig {
        gpus,
        seed: 7,
        scenario: Scenario::Mixed,
    });
    sim.sample(1_700_000_000_000).expect("sim samples")
}

fn line_for<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix} in:\n{text}"))
}

#[test]
fn gpu_numbers_come_out_in_base_units_with_identity_labels() {
    let snap = demo(2);
    let g = &snap.gpus[0];
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    let labels = format!(
        "{{gpu=\"0\",uuid=\"{}\",model=\"NVIDIA H100 80GB HBM3\",vendor=\"nvidia\"}}",
        g.uuid
    );
    let temp = line_for(
        &text,
        &format!("gpuwarden_gpu_temperature_celsius{labels} "),
    );
    assert_eq!(
        temp.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()),
        g.temperature_c.get()
    );
    let used = line_for(&text, &format!("gpuwarden_gpu_memory_used_bytes{labels} "));
    assert!(used.ends_with(&format!(" {}", g.memory_used_bytes.get().unwrap())));
    let clock = line_for(&text, &format!("gpuwarden_gpu_sm_clock_hertz{labels} "));
    let hz: f64 = clock.rsplit(' ').next().unwrap().parse().unwrap();
    assert_eq!(hz, f64::from(g.clock_sm_mhz.get().unwrap()) * 1e6);
    let util = line_for(&text, &format!("gpuwarden_gpu_utilization_ratio{labels} "));
    let r: f64 = util.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((0.0..=1.0).contains(&r));
    assert!(text.contains("# TYPE gpuwarden_gpu_ecc_uncorrected_errors_total counter\n"));
    assert!(text.contains("# TYPE gpuwarden_gpu_pcie_replays_total counter\n"));
    let max = line_for(
        &text,
        &format!("gpuwarden_gpu_pcie_link_max_width{labels} "),
    );
    assert!(max.ends_with(" 16"), "{max}");
    assert!(text.contains(&format!(
        "gpuwarden_gpu_throttle_reason{{{},reason=\"hw-thermal\"}} ",
        &labels[1..labels.len() - 1]
    )));
}

#[test]
fn every_family_has_help_and_type_before_its_samples() {
    let mut w = WatchdogMetrics::default();
    w.rules.push(RuleState {
        gpu: 0,
        uuid: "GPU-a".into(),
        rule: "gpu-hot".into(),
        status: RuleStatus::Firing,
    });
    w.xids.push(XidCount {
        gpu: 0,
        uuid: "GPU-a".into(),
        code: 79,
        count: 2,
    });
    w.outboxes.push(OutboxStats {
        sink: "alertmanager".into(),
        ..Default::default()
    });
    let text = render(Some(&demo(3)), &SamplingMetrics::default(), Some(&w));
    let mut declared = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap();
            assert!(declared.insert(name.to_string()), "{name} declared twice");
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let name = line.split(['{', ' ']).next().unwrap();
        assert!(declared.contains(name), "{name} has no # TYPE before it");
    }
    assert!(
        text.contains("gpuwarden_gpu_xid_errors_total{gpu=\"0\",uuid=\"GPU-a\",code=\"79\"} 2\n")
    );
    assert!(text.contains(
        "gpuwarden_watchdog_rule_state{gpu=\"0\",uuid=\"GPU-a\",rule=\"gpu-hot\",state=\"firing\"} 1\n"
    ));
}

#[test]
fn a_lost_gpu_is_flagged_and_its_numbers_are_gaps_not_zeros() {
    let mut snap = demo(1);
    snap.gpus
        .push(GpuSample::lost(1, "GPU-gone", Vendor::Nvidia));
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    assert!(text.contains(
        "gpuwarden_gpu_lost{gpu=\"1\",uuid=\"GPU-gone\",model=\"\",vendor=\"nvidia\"} 1\n"
    ));
    assert!(!text.contains("gpuwarden_gpu_temperature_celsius{gpu=\"1\""));
}

#[test]
fn a_model_name_with_quotes_is_escaped() {
    let mut snap = demo(1);
    snap.gpus[0].name = "Card \"Pro\" \\ 9".to_string().into();
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    assert!(text.contains("model=\"Card \\\"Pro\\\" \\\\ 9\""));
}

#[test]
fn memory_health_families_have_one_sample_per_reporting_gpu_and_pass_promtool() {
    use crate::gpu::{Field, Missing, RowRemap};
    let mut snap = demo(3);
    snap.gpus[1].row_remap = Field::Value(RowRemap {
        correctable: 4,
        uncorrectable: 1,
        pending: true,
        failure: false,
    });
    snap.gpus[1].retired_pages_pending = Field::Value(true);
    snap.gpus[2].row_remap = Field::missing(Missing::NotSupported);
    snap.gpus[2].retired_pages_pending = Field::missing(Missing::NotSupported);
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    let l = |i: usize| {
        format!(
            "gpu=\"{i}\",uuid=\"{}\",model=\"NVIDIA H100 80GB HBM3\",vendor=\"nvidia\"",
            snap.gpus[i].uuid
        )
    };
    for want in [
        "# TYPE gpuwarden_gpu_remapped_rows gauge\n".to_string(),
        "# TYPE gpuwarden_gpu_ecc_uncorrected_errors_aggregate_total counter\n".into(),
        format!(
            "gpuwarden_gpu_remapped_rows{{{},kind=\"correctable\"}} 4\n",
            l(1)
        ),
        format!(
            "gpuwarden_gpu_remapped_rows{{{},kind=\"uncorrectable\"}} 1\n",
            l(1)
        ),
        format!("gpuwarden_gpu_row_remap_pending{{{}}} 1\n", l(1)),
        format!("gpuwarden_gpu_row_remap_pending{{{}}} 0\n", l(0)),
        format!("gpuwarden_gpu_row_remap_failure{{{}}} 0\n", l(1)),
        format!("gpuwarden_gpu_retired_pages_pending{{{}}} 1\n", l(1)),
    ] {
        assert!(text.contains(&want), "no {want:?} in:\n{text}");
    }
    // A GPU without row remapping is left out, not written as 0.
    assert!(!text.contains(&format!("gpuwarden_gpu_row_remap_pending{{{}}}", l(2))));
    assert!(!text.contains(&format!("gpuwarden_gpu_retired_pages_pending{{{}}}", l(2))));

    use std::io::Write;
    use std::process::{Command, Stdio};
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    // promtool is a peer the suite installs (tests/peers/install.sh): missing is a failure.
    let mut child = child.expect("running promtool (tests/peers/install.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_gpu_has_a_health_per_check_and_a_lost_one_is_critical() {
    let mut snap = demo(2);
    let uuid = snap.gpus[1].uuid.clone();
    snap.gpus[1] = GpuSample::lost(1, uuid.clone(), Vendor::Nvidia);
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    let lost = line_for(&text, "gpuwarden_gpu_health{gpu=\"1\"");
    assert!(lost.contains(&uuid), "{lost}");
    let line = |gpu: u32, check: &str| {
        text.lines()
            .find(|l| {
                l.starts_with(&format!("gpuwarden_gpu_health{{gpu=\"{gpu}\""))
                    && l.contains(&format!("check=\"{check}\""))
            })
            .unwrap_or_else(|| panic!("no {check} health for GPU {gpu} in:\n{text}"))
            .to_string()
    };
    assert!(line(1, "lost").ends_with(" 2"), "{}", line(1, "lost"));
    assert!(line(0, "lost").ends_with(" 0"), "{}", line(0, "lost"));
}

#[test]
fn gpu_memory_is_summed_per_owner_and_passes_promtool() {
    use crate::gpu::{Field, GpuProcess, OwnerKind, ProcessOwner};
    let mut snap = demo(2);
    let pod = ProcessOwner {
        name: Some("ml/trainer-0".into()),
        ..ProcessOwner::new(OwnerKind::Pod, "6d1f0a2b-93c4-4e85-a7f6-0b1c2d3e4f5a")
    };
    let process = |pid, bytes, owner: Option<ProcessOwner>| GpuProcess {
        pid,
        used_memory_bytes: bytes,
        owner,
        ..GpuProcess::default()
    };
    snap.gpus[0].processes = Field::Value(vec![
        process(1, Some(3 << 30), Some(pod.clone())),
        process(2, Some(1 << 30), Some(pod.clone())),
        process(3, None, Some(pod)),
        process(
            4,
            Some(5),
            Some(ProcessOwner::new(OwnerKind::SlurmJob, "4242")),
        ),
        process(5, Some(7), None),
    ]);
    snap.gpus[1].processes = Field::Value(vec![process(
        6,
        None,
        Some(ProcessOwner::new(OwnerKind::Container, "4f2a9c1e7b3d")),
    )]);
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    let l = |i: usize| {
        format!(
            "gpu=\"{i}\",uuid=\"{}\",model=\"NVIDIA H100 80GB HBM3\",vendor=\"nvidia\"",
            snap.gpus[i].uuid
        )
    };
    let pod_labels = "owner_kind=\"pod\",owner=\"6d1f0a2b-93c4-4e85-a7f6-0b1c2d3e4f5a\",owner_name=\"ml/trainer-0\"";
    for want in [
        format!(
            "gpuwarden_owner_gpu_memory_bytes{{{},{pod_labels}}} {}\n",
            l(0),
            4u64 << 30
        ),
        format!("gpuwarden_owner_processes{{{},{pod_labels}}} 3\n", l(0)),
        format!(
            "gpuwarden_owner_gpu_memory_bytes{{{},owner_kind=\"slurm_job\",owner=\"4242\"}} 5\n",
            l(0)
        ),
        format!(
            "gpuwarden_owner_processes{{{},owner_kind=\"container\",owner=\"4f2a9c1e7b3d\"}} 1\n",
            l(1)
        ),
    ] {
        assert!(text.contains(&want), "no {want:?} in:\n{text}");
    }
    // No memory known for the container's process: no sum, not a false 0.
    assert!(!text.contains(&format!(
        "gpuwarden_owner_gpu_memory_bytes{{{},owner_kind=\"container\"",
        l(1)
    )));
    // Lint the page with the owner families in it.
    assert_promtool_accepts(&text);
}

/// `promtool check metrics` on `text` (promtool is a peer tests/peers/install.sh installs).
fn assert_promtool_accepts(text: &str) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running promtool (tests/peers/install.sh installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_mig_device_has_its_memory_under_the_gpus_labels() {
    use crate::gpu::{Field, MigDevice, Missing};
    let mut snap = demo(1);
    snap.gpus[0].mig = Field::Value(vec![MigDevice {
        uuid: "MIG-5d2c1b0a-0000-4000-8000-00000000000a".into(),
        profile: Field::Value("3g.40gb".into()),
        memory_used_bytes: Field::Value(1 << 30),
        memory_total_bytes: Field::Value(40 << 30),
        utilization_gpu_pct: Field::missing(Missing::NotSupported),
    }]);
    let text = render(Some(&snap), &SamplingMetrics::default(), None);
    let want = format!(
        "gpuwarden_mig_memory_total_bytes{{gpu=\"0\",uuid=\"{}\",model=\"NVIDIA H100 80GB HBM3\",vendor=\"nvidia\",mig_uuid=\"MIG-5d2c1b0a-0000-4000-8000-00000000000a\",profile=\"3g.40gb\"}} {}\n",
        snap.gpus[0].uuid,
        40u64 << 30
    );
    assert!(text.contains(&want), "no {want:?} in:\n{text}");
    assert!(text.contains("gpuwarden_mig_memory_used_bytes{"));
    // No MIG device reports utilization: no family, not zeros.
    assert!(!text.contains("gpuwarden_mig_utilization_ratio"));
    assert_promtool_accepts(&text);
}
