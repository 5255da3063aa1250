//! `docs/snapshot-schema.md` cannot rot: every field name a serialized snapshot has, every
//! `missing` reason and every throttle reason must appear in it, and its example must parse.

use gpuwarden::check::health::snapshot_json;
use gpuwarden::gpu::{
    Field, GpuProcess, GpuSample, MigDevice, Missing, OwnerKind, PcieLink, ProcessOwner, RowRemap,
    SCHEMA_VERSION, Snapshot, ThrottleReason, ThrottleReasons,
};
use serde_json::Value;
use std::collections::BTreeSet;

fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/snapshot-schema.md");
    std::fs::read_to_string(path).expect("reading docs/snapshot-schema.md")
}

/// A snapshot in which every nested object is present, so every key gets serialized.
fn full_snapshot() -> Snapshot {
    let mut snap = Snapshot::new(1, "host", "nvml");
    snap.gpus.push(GpuSample {
        pcie_link: Field::Value(PcieLink {
            generation: 5,
            width: 16,
        }),
        throttle: Field::Value(ThrottleReasons::NONE.with(ThrottleReason::HwThermal)),
        row_remap: Field::Value(RowRemap::default()),
        pcie_link_max: Field::Value(PcieLink {
            generation: 5,
            width: 16,
        }),
        processes: Field::Value(vec![GpuProcess {
            pid: 1,
            used_memory_bytes: Some(1),
            user: Some("root".into()),
            command: Some("x".into()),
            unit: Some("x.service".into()),
            // Every optional part of an owner, so each key is serialized.
            owner: Some(ProcessOwner {
                kind: OwnerKind::Pod,
                id: "8f9c1e2a-3b4d-4e5f-8a9b-0c1d2e3f4a5b".into(),
                name: Some("ml/trainer-0".into()),
                runtime: Some("containerd".into()),
                container: Some("0123456789ab".into()),
                step: Some("0".into()),
                user: Some("root".into()),
            }),
            utilization_sm_pct: Some(1),
            utilization_memory_pct: Some(1),
            encoder_pct: Some(0),
            decoder_pct: Some(0),
            cpu_pct: Some(1.0),
            rss_bytes: Some(1),
            run_time_s: Some(1),
            mig_uuid: Some("MIG-x".into()),
        }]),
        mig: Field::Value(vec![MigDevice {
            uuid: "MIG-x".into(),
            ..MigDevice::default()
        }]),
        ..GpuSample::default()
    });
    snap
}

fn collect_keys(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                out.insert(k.clone());
                collect_keys(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_keys(i, out)),
        _ => {}
    }
}

#[test]
fn every_serialized_field_is_documented() {
    let doc = doc();
    let mut keys = BTreeSet::new();
    collect_keys(&snapshot_json(&full_snapshot()), &mut keys);
    assert!(
        keys.contains("severity"),
        "a finding in the health: {keys:?}"
    );
    assert!(keys.len() > 35, "expected the whole model, got {keys:?}");
    let undocumented: Vec<&String> = keys
        .iter()
        .filter(|k| !doc.contains(&format!("`{k}`")))
        .collect();
    assert!(
        undocumented.is_empty(),
        "fields missing from docs/snapshot-schema.md: {undocumented:?}"
    );
}

#[test]
fn every_missing_reason_and_throttle_reason_is_documented() {
    let doc = doc();
    for why in [
        Missing::NotSupported,
        Missing::NoPermission,
        Missing::GpuLost,
        Missing::NotRecorded,
        Missing::WarmingUp,
        Missing::Error,
    ] {
        let name = serde_json::to_value(why).unwrap();
        let name = name.as_str().unwrap();
        assert!(doc.contains(&format!("`{name}`")), "missing reason {name}");
    }
    for r in ThrottleReason::ALL {
        assert!(
            doc.contains(&format!("`{}`", r.name())),
            "throttle reason {r}"
        );
    }
}

#[test]
fn the_documented_example_is_a_valid_snapshot_of_the_current_version() {
    let doc = doc();
    let start = doc.find("```json\n").expect("an example") + "```json\n".len();
    let end = start + doc[start..].find("```").expect("end of the example");
    let snap: Snapshot = serde_json::from_str(&doc[start..end]).expect("the example parses");
    assert_eq!(snap.schema, SCHEMA_VERSION);
    assert!(doc.contains(&format!("(version {SCHEMA_VERSION})")));
    let gpu = &snap.gpus[0];
    assert_eq!(gpu.fan_pct.why(), Some(Missing::NotSupported));
    assert_eq!(gpu.throttle.get(), Some(ThrottleReasons(0x4)));
    // Nothing in the example is silently dropped: it serializes back to the same keys.
    let mut documented = BTreeSet::new();
    collect_keys(
        &serde_json::from_str(&doc[start..end]).unwrap(),
        &mut documented,
    );
    let mut model = BTreeSet::new();
    collect_keys(&snapshot_json(&snap), &mut model);
    assert_eq!(documented, model);
}
