//! Unit tests of the pure parts: the built-in checks, `--require` parsing and judging, the
//! brief line, and reading `scontrol show node`.

use super::slurm::{drain_reason, parse_show_node};
use super::*;
use crate::gpu::{Field, Missing, PcieLink, RowRemap, ThrottleReason, ThrottleReasons};

fn gpu(index: u32) -> GpuSample {
    GpuSample {
        index,
        uuid: format!("GPU-{index}"),
        pci_bus_id: Field::Value(format!("00000000:{:02X}:00.0", 0x17 + index)),
        driver_version: Field::Value("550.54.15".into()),
        utilization_gpu_pct: Field::Value(10),
        memory_total_bytes: Field::Value(85_520_809_984),
        temperature_c: Field::Value(50.0),
        temperature_slowdown_c: Field::Value(87.0),
        throttle: Field::Value(ThrottleReasons::NONE.with(ThrottleReason::SwPowerCap)),
        pcie_link: Field::Value(PcieLink {
            generation: 5,
            width: 16,
        }),
        pcie_link_max: Field::Value(PcieLink {
            generation: 5,
            width: 16,
        }),
        ecc_uncorrected: Field::Value(0),
        row_remap: Field::Value(RowRemap {
            correctable: 2,
            ..RowRemap::default()
        }),
        retired_pages_pending: Field::missing(Missing::NotSupported),
        ..GpuSample::default()
    }
}

fn snap(gpus: Vec<GpuSample>) -> Snapshot {
    let mut s = Snapshot::new(1, "node1", "nvml");
    s.gpus = gpus;
    s
}

fn req(list: &str) -> Vec<Requirement> {
    parse_requirements(list).unwrap()
}

#[test]
fn a_healthy_node_has_no_findings_and_everything_was_checked() {
    let v = judge(&snap((0..8).map(gpu).collect()), &[]);
    assert!(v.healthy(), "{:?}", v.findings);
    assert_eq!(
        v.checks,
        ["lost", "ecc", "memory", "throttle", "temperature", "pcie"]
    );
    assert!(v.not_checked.is_empty(), "{:?}", v.not_checked);
    assert_eq!(report::brief(&v), "OK: 8 GPUs healthy");
}

#[test]
fn a_lost_gpu_is_one_critical_finding_without_a_made_up_uuid() {
    let mut gpus: Vec<_> = (0..3).map(gpu).collect();
    gpus[1] = GpuSample::lost(1, "unknown-1", crate::gpu::Vendor::Nvidia);
    let v = judge(&snap(gpus), &[]);
    assert_eq!(v.findings.len(), 1);
    let f = &v.findings[0];
    assert_eq!((f.check.as_str(), f.severity), ("lost", Severity::Critical));
    assert_eq!(f.target.uuid, None);
    assert!(
        f.line()
            .starts_with("GPU 1 (UUID unknown, PCI bus id unknown): lost: "),
        "{}",
        f.line()
    );
}

#[test]
fn ecc_slowdown_and_heat_are_findings_but_idle_and_power_cap_are_not() {
    let mut gpus: Vec<_> = (0..4).map(gpu).collect();
    gpus[0].throttle = Field::Value(ThrottleReasons::NONE.with(ThrottleReason::GpuIdle));
    gpus[1].ecc_uncorrected = Field::Value(3);
    gpus[2].throttle = Field::Value(ThrottleReasons::NONE.with(ThrottleReason::HwSlowdown));
    gpus[3].temperature_c = Field::Value(87.0);
    let v = judge(&snap(gpus), &[]);
    let got: Vec<_> = v
        .findings
        .iter()
        .map(|f| (f.target.gpu, f.check.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (Some(1), "ecc"),
            (Some(2), "throttle"),
            (Some(3), "temperature")
        ]
    );
    assert!(v.findings[1].message.contains("hw-slowdown"));
}

#[test]
fn missing_fields_are_not_checked_with_the_reason() {
    let mut g = gpu(0);
    g.ecc_uncorrected = Field::missing(Missing::NotSupported);
    let v = judge(&snap(vec![g]), &[]);
    assert!(v.healthy());
    let ecc = v.not_checked.iter().find(|n| n.check == "ecc").unwrap();
    assert_eq!(ecc.reason, "uncorrected ECC count: not supported");
}

#[test]
fn requirements_parse_and_bad_items_are_named() {
    assert_eq!(
        req("gpus=8, memory=80GiB,driver>=550,pcie=gen5x16").len(),
        4
    );
    let err = parse_requirements("gpus=8,colour=blue").unwrap_err();
    assert!(
        err.contains("\"colour=blue\"") && err.contains("gpus, memory, driver, pcie, ecc, mig"),
        "{err}"
    );
    assert_eq!(req("ecc=on,mig=off").len(), 2);
    let err = parse_requirements("ecc>=on").unwrap_err();
    assert!(err.contains("not >="), "{err}");
    for bad in [
        "ecc=maybe",
        "gpus=eight",
        "memory=80",
        "memory=80XB",
        "driver>=new",
        "pcie=fast",
        "gpus",
    ] {
        let err = parse_requirements(bad).unwrap_err();
        assert!(err.contains(&format!("{bad:?}")), "{bad}: {err}");
    }
}

#[test]
fn unmet_requirements_are_findings() {
    let s = snap((0..8).map(gpu).collect());
    assert!(
        judge(
            &s,
            &req("gpus=8,memory=80GiB,driver>=550,driver=550.54,pcie=x16")
        )
        .healthy()
    );
    let v = judge(&s, &req("gpus=9"));
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].check, "require:gpus");
    assert!(
        v.findings[0]
            .line()
            .starts_with("node: require:gpus: requires gpus=9, found 8 GPUs")
    );
    assert_eq!(judge(&s, &req("memory=96GB")).findings.len(), 8);
    assert_eq!(judge(&s, &req("driver>=555")).findings.len(), 1);
    assert!(judge(&s, &req("driver>=550.54.14")).healthy());
    assert!(!judge(&s, &req("driver=550.5")).healthy());
}

#[test]
fn pcie_generation_is_judged_only_while_busy() {
    let mut gpus: Vec<_> = (0..2).map(gpu).collect();
    for g in &mut gpus {
        g.pcie_link = Field::Value(PcieLink {
            generation: 1,
            width: 16,
        });
    }
    gpus[1].utilization_gpu_pct = Field::Value(90);
    let v = judge(&snap(gpus), &req("pcie=gen5x16"));
    // The built-in `pcie` check sees the same slow busy link; only `require:pcie` counts here.
    let required: Vec<_> = v
        .findings
        .iter()
        .filter(|f| f.check == "require:pcie")
        .collect();
    assert_eq!(required.len(), 1);
    assert_eq!(required[0].target.gpu, Some(1));
    assert!(
        v.not_checked
            .iter()
            .any(|n| n.check == "require:pcie" && n.target.gpu == Some(0))
    );
}

#[test]
fn brief_line_and_drain_reason_name_the_first_finding() {
    let mut gpus: Vec<_> = (0..3).map(gpu).collect();
    gpus[2].throttle = Field::Value(ThrottleReasons::NONE.with(ThrottleReason::HwThermal));
    gpus[1] = GpuSample::lost(1, "unknown-1", crate::gpu::Vendor::Nvidia);
    let v = judge(&snap(gpus), &[]);
    assert_eq!(
        report::brief(&v),
        "GPU 1 lost: the GPU stopped answering NVML (+1 more)"
    );
    assert_eq!(
        drain_reason(&v),
        "gpuwarden: GPU 1 lost: the GPU stopped answering NVML (+1 more)"
    );
}

#[test]
fn scontrol_show_node_gives_state_and_reason_without_its_stamp() {
    let text = "NodeName=n1 Arch=x86_64 CoresPerSocket=1\n   CPUAlloc=0 CPUTot=2 CPULoad=0.10\n   \
                State=IDLE+DRAIN ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A\n   \
                Reason=gpuwarden: GPU 1 lost: x [root@2026-12-03T15:00:00]\n";
    let n = parse_show_node(text);
    assert!(n.drained());
    assert_eq!(n.state, "IDLE+DRAIN");
    assert_eq!(n.reason.as_deref(), Some("gpuwarden: GPU 1 lost: x"));
    let idle = parse_show_node("NodeName=n1\n   State=IDLE ThreadsPerCore=1\n");
    assert!(!idle.drained() && idle.reason.is_none());
}

#[test]
fn a_sample_without_gpus_is_not_healthy() {
    let v = judge(&snap(Vec::new()), &[]);
    assert_eq!(v.findings.len(), 1);
    assert_eq!(v.findings[0].target, GpuRef::node());
    assert_eq!(
        report::brief(&v),
        "node lost: no GPU found (the driver answered but lists none)"
    );
}

#[test]
fn a_pending_remap_or_retirement_asks_for_a_reset_and_a_failed_remap_for_a_replacement() {
    let mut gpus: Vec<_> = (0..4).map(gpu).collect();
    gpus[1].row_remap = Field::Value(RowRemap {
        pending: true,
        ..RowRemap::default()
    });
    gpus[2].row_remap = Field::Value(RowRemap {
        uncorrectable: 3,
        pending: true,
        failure: true,
        ..RowRemap::default()
    });
    // A pre-Ampere card: page retirement instead of row remapping.
    gpus[3].row_remap = Field::missing(Missing::NotSupported);
    gpus[3].retired_pages_pending = Field::Value(true);
    let v = judge(&snap(gpus), &[]);
    let got: Vec<_> = v
        .findings
        .iter()
        .map(|f| (f.target.gpu, f.check.as_str(), f.severity))
        .collect();
    assert_eq!(
        got,
        [
            (Some(2), "memory", Severity::Critical),
            (Some(1), "memory", Severity::Warning),
            (Some(3), "memory", Severity::Warning),
        ]
    );
    assert!(v.findings[0].action.starts_with("drain and replace"));
    assert!(
        v.findings[0]
            .message
            .contains("3 rows remapped after uncorrectable")
    );
    assert!(v.findings[1].action.starts_with("reset this GPU when idle"));
    assert!(v.findings[1].message.contains("row remap is pending"));
    assert!(
        v.findings[2]
            .message
            .contains("retired memory pages are pending")
    );
    assert!(v.findings[2].action.starts_with("reset this GPU when idle"));
}

#[test]
fn memory_is_not_checked_only_when_neither_mechanism_is_reported() {
    let mut g = gpu(0);
    g.row_remap = Field::missing(Missing::NotSupported);
    let v = judge(&snap(vec![g.clone()]), &[]);
    let memory = v.not_checked.iter().find(|n| n.check == "memory").unwrap();
    assert_eq!(
        memory.reason,
        "row remapping: not supported; retired pages: not supported"
    );
    g.retired_pages_pending = Field::Value(false);
    let v = judge(&snap(vec![g]), &[]);
    assert!(v.healthy());
    assert!(v.not_checked.iter().all(|n| n.check != "memory"));
}

#[test]
fn a_narrow_link_is_a_finding_and_a_slow_generation_only_while_busy() {
    let mut gpus: Vec<_> = (0..5).map(gpu).collect();
    // Downtrained: x8 of x16, even while idle.
    gpus[0].pcie_link = Field::Value(PcieLink {
        generation: 5,
        width: 8,
    });
    // Gen1 of gen5 while idle: how an idle GPU saves power, not a finding.
    gpus[1].pcie_link = Field::Value(PcieLink {
        generation: 1,
        width: 16,
    });
    // Gen3 of gen5 while 90 % busy: a finding.
    gpus[2].pcie_link = Field::Value(PcieLink {
        generation: 3,
        width: 16,
    });
    gpus[2].utilization_gpu_pct = Field::Value(90);
    // A slot that only does x8 gen4: at its maximum, healthy.
    gpus[3].pcie_link = Field::Value(PcieLink {
        generation: 4,
        width: 8,
    });
    gpus[3].pcie_link_max = gpus[3].pcie_link.clone();
    gpus[3].utilization_gpu_pct = Field::Value(100);
    gpus[4].pcie_link_max = Field::missing(Missing::NotSupported);
    let v = judge(&snap(gpus), &[]);
    let got: Vec<_> = v
        .findings
        .iter()
        .map(|f| (f.target.gpu, f.check.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (
                Some(0),
                "pcie",
                "PCIe link downtrained to x8 (its maximum is x16)"
            ),
            (
                Some(2),
                "pcie",
                "PCIe link runs at gen3 (its maximum is gen5) while the GPU is 90% busy"
            ),
        ]
    );
    assert!(v.findings.iter().all(|f| f.severity == Severity::Warning));
    assert!(v.findings[0].action.contains("reseat or replace"));
    assert!(v.findings[0].action.contains("riser"));
    let skipped: Vec<_> = v
        .not_checked
        .iter()
        .map(|n| (n.target.gpu, n.check.as_str(), n.reason.as_str()))
        .collect();
    assert_eq!(
        skipped,
        [(Some(4), "pcie", "maximum PCIe link: not supported")]
    );
}
