//! Every shape of nvidia-smi log in `tests/fixtures/nvidia-smi/`, with the values it must give.

use super::support::{fixture, problems, read_all, read_clean};
use gpuwarden::gpu::{Field, GpuStatus, Missing, Snapshot, ThrottleReason, ThrottleReasons};
use gpuwarden::trace::{self, TraceFormat, TraceOptions};
use std::time::Duration;

const MIB: u64 = 1 << 20;
const GPU0: &str = "GPU-5f2c7a8e-1b3d-4e6f-9a0b-c1d2e3f4a5b6";
const GPU1: &str = "GPU-0b9d3e21-77c4-4a1e-8f52-6d0e9c3b2a17";
/// 2024-05-13 14:02:11.318 read as UTC.
const T0: u64 = 1_715_608_931_318;

fn query_columns() -> Option<Vec<String>> {
    let list = "timestamp,index,name,uuid,pci.bus_id,driver_version,temperature.gpu,\
        utilization.gpu,memory.used,memory.total,power.draw,power.limit,clocks.sm,\
        clocks.max.sm,fan.speed,pstate,clocks_event_reasons.active";
    Some(list.split(',').map(String::from).collect())
}

/// The three rounds of two H100s that the full fixtures hold, in every spelling.
fn assert_full_fixture(snaps: &[Snapshot]) {
    assert_eq!(snaps.len(), 3);
    assert_eq!(
        snaps.iter().map(|s| s.at_ms - T0).collect::<Vec<_>>(),
        [0, 1000, 2000]
    );
    for s in snaps {
        assert_eq!(s.gpus.len(), 2);
        assert_eq!(s.source, "nvidia-smi");
    }
    let g = &snaps[0].gpus[0];
    assert_eq!((g.index, g.uuid.as_str()), (0, GPU0));
    assert_eq!(
        g.name.value().map(String::as_str),
        Some("NVIDIA H100 80GB HBM3")
    );
    assert_eq!(
        g.pci_bus_id.value().map(String::as_str),
        Some("00000000:18:00.0")
    );
    assert_eq!(
        g.driver_version.value().map(String::as_str),
        Some("550.54.15")
    );
    assert_eq!(g.temperature_c.get(), Some(34.0));
    assert_eq!(g.utilization_gpu_pct.get(), Some(0));
    assert_eq!(g.memory_used_bytes.get(), Some(0));
    assert_eq!(g.memory_total_bytes.get(), Some(81_559 * MIB));
    assert_eq!(g.power_w.get(), Some(69.81));
    assert_eq!(g.power_limit_w.get(), Some(700.0));
    assert_eq!(g.clock_sm_mhz.get(), Some(345));
    assert_eq!(g.clock_sm_max_mhz.get(), Some(1980));
    assert_eq!(g.fan_pct, Field::missing(Missing::NotSupported));
    assert_eq!(g.pstate.get(), Some(0));
    assert_eq!(
        g.throttle.get(),
        Some(ThrottleReasons::NONE.with(ThrottleReason::GpuIdle))
    );
    // Not in the query: says so, does not pretend to be zero.
    assert_eq!(g.ecc_uncorrected, Field::missing(Missing::NotRecorded));
    let g = &snaps[2].gpus[1];
    assert_eq!((g.index, g.uuid.as_str()), (1, GPU1));
    assert_eq!(g.temperature_c.get(), Some(42.0));
    assert_eq!(g.utilization_gpu_pct.get(), Some(100));
    assert_eq!(g.memory_used_bytes.get(), Some(70_001 * MIB));
    assert_eq!(g.power_w.get(), Some(655.5));
    assert_eq!(snaps[2].gpus[0].power_w.get(), Some(270.31));
}

#[test]
fn header_with_units() {
    let snaps = read_clean("header-units.csv", &TraceOptions::default());
    assert_full_fixture(&snaps);
    assert_eq!(snaps[0].host, "header-units");
}

#[test]
fn header_without_units() {
    assert_full_fixture(&read_clean("header-nounits.csv", &TraceOptions::default()));
}

#[test]
fn no_header_with_units_reads_with_columns() {
    let options = TraceOptions {
        columns: query_columns(),
        ..Default::default()
    };
    assert_full_fixture(&read_clean("noheader-units.csv", &options));
}

#[test]
fn no_header_without_units_reads_with_columns() {
    let options = TraceOptions {
        columns: query_columns(),
        ..Default::default()
    };
    assert_full_fixture(&read_clean("noheader-nounits.csv", &options));
}

#[test]
fn no_header_without_columns_is_a_clear_error() {
    let items = read_all("noheader-units.csv", &TraceOptions::default());
    assert_eq!(items.len(), 1, "the trace stops at the first row");
    let err = items[0].as_ref().unwrap_err();
    assert!(err.is_fatal());
    assert_eq!(err.line, Some(1));
    assert!(
        err.to_string()
            .contains("pass --columns with the --query-gpu list"),
        "{err}"
    );
}

#[test]
fn windows_line_endings() {
    assert_full_fixture(&read_clean("crlf.csv", &TraceOptions::default()));
}

#[test]
fn truncated_last_line_is_reported_and_the_rest_kept() {
    let items = read_all("truncated-last-line.csv", &TraceOptions::default());
    let problems = problems(&items);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0]
            .starts_with("truncated-last-line.csv:7: the file ends in the middle of this line"),
        "{}",
        problems[0]
    );
    let snaps: Vec<_> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(snaps.len(), 3);
    assert_eq!(snaps[2].gpus.len(), 1, "GPU 1's cut row is not invented");
}

#[test]
fn repeated_headers_of_appended_logs() {
    let snaps = read_clean("appended-headers.csv", &TraceOptions::default());
    assert_eq!(
        snaps
            .iter()
            .map(|s| (s.at_ms - T0) / 1000)
            .collect::<Vec<_>>(),
        [0, 1, 3600, 3601]
    );
    assert!(snaps.iter().all(|s| s.gpus.len() == 2));
    assert_eq!(snaps[2].gpus[0].temperature_c.get(), Some(38.0));
}

#[test]
fn any_subset_in_any_order() {
    let snaps = read_clean("subset-reordered.csv", &TraceOptions::default());
    assert_eq!(snaps.len(), 2);
    let g = &snaps[1].gpus[0];
    // No index column: GPUs are numbered in the order their uuids first appear.
    assert_eq!((g.index, g.uuid.as_str()), (0, GPU0));
    assert_eq!(snaps[1].gpus[1].uuid, GPU1);
    assert_eq!(g.memory_used_bytes.get(), Some(61_234 * MIB));
    assert_eq!(g.temperature_c.get(), Some(35.0));
    assert_eq!(g.power_w.get(), Some(170.06));
    assert_eq!(g.utilization_gpu_pct, Field::missing(Missing::NotRecorded));
}

#[test]
fn every_missing_marker_keeps_its_reason() {
    let snaps = read_clean("missing-values.csv", &TraceOptions::default());
    let (a, b) = (&snaps[0].gpus[0], &snaps[0].gpus[1]);
    assert_eq!(a.fan_pct, Field::missing(Missing::NotSupported));
    assert_eq!(a.power_w, Field::missing(Missing::NotSupported));
    assert_eq!(a.ecc_uncorrected.get(), Some(0));
    assert_eq!(
        a.utilization_memory_pct,
        Field::missing(Missing::NoPermission)
    );
    assert_eq!(b.ecc_uncorrected, Field::missing(Missing::Error));
    assert_eq!(b.clock_sm_max_mhz, Field::missing(Missing::NotSupported));
    assert_eq!(b.power_w.get(), Some(120.5));
    assert_eq!(b.fan_pct.get(), Some(30));
}

#[test]
fn a_lost_gpu_is_a_lost_sample_under_its_old_uuid() {
    let snaps = read_clean("gpu-lost.csv", &TraceOptions::default());
    assert_eq!(snaps.len(), 4);
    let before = &snaps[1].gpus[1];
    assert_eq!(
        (before.status, before.temperature_c.get()),
        (GpuStatus::Ok, Some(61.0))
    );
    let lost = &snaps[2].gpus[1];
    assert_eq!(lost.status, GpuStatus::Lost);
    assert_eq!(
        lost.uuid, GPU1,
        "the uuid cell said [GPU is lost]; the GPU keeps its uuid"
    );
    assert_eq!(lost.temperature_c, Field::missing(Missing::GpuLost));
    assert_eq!(snaps[3].gpus[0].status, GpuStatus::Ok);
}

#[test]
fn individual_reason_columns_with_the_old_names() {
    let snaps = read_clean("throttle-reason-columns.csv", &TraceOptions::default());
    let names: Vec<String> = snaps
        .iter()
        .map(|s| s.gpus[0].throttle.get().unwrap().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "none",
            "sw-power-cap",
            "sw-power-cap,hw-slowdown,sw-thermal,hw-thermal"
        ]
    );
    assert_eq!(snaps[2].gpus[0].clock_sm_mhz.get(), Some(1410));
}

#[test]
fn no_timestamp_column_needs_interval() {
    let items = read_all("no-timestamp.csv", &TraceOptions::default());
    let err = items[0].as_ref().unwrap_err();
    assert!(
        err.is_fatal() && err.to_string().contains("pass --interval"),
        "{err}"
    );
    let options = TraceOptions {
        interval: Some(Duration::from_millis(500)),
        ..Default::default()
    };
    let snaps = read_clean("no-timestamp.csv", &options);
    assert_eq!(
        snaps.iter().map(|s| s.at_ms).collect::<Vec<_>>(),
        [0, 500, 1000]
    );
    assert!(snaps.iter().all(|s| s.gpus.len() == 2));
    assert_eq!(snaps[2].gpus[1].temperature_c.get(), Some(53.0));
    assert_eq!(snaps[2].gpus[1].memory_used_bytes.get(), Some(3072 * MIB));
}

#[test]
fn unknown_columns_are_named_once_and_derived_columns_are_used() {
    let items = read_all("unknown-and-derived-columns.csv", &TraceOptions::default());
    assert_eq!(
        problems(&items),
        [
            "unknown-and-derived-columns.csv:1: ignoring columns gpuwarden does not use: \
          temperature.memory, encoder.stats.sessionCount"
        ]
    );
    let snap = items.into_iter().find_map(Result::ok).unwrap();
    let g = &snap.gpus[0];
    assert_eq!(
        g.temperature_slowdown_c.get(),
        Some(87.0),
        "62 °C + 25 °C T.Limit margin"
    );
    assert_eq!(g.temperature_margin_c(), Some(25.0));
    assert_eq!(
        g.memory_used_bytes.get(),
        Some((81_559 - 20_325) * MIB),
        "total - free"
    );
    assert_eq!(
        g.power_limit_w.get(),
        Some(500.0),
        "enforced.power.limit wins"
    );
    assert_eq!(g.clock_mem_mhz.get(), Some(2619));
    assert_eq!(g.clock_mem_max_mhz.get(), Some(2619));
}

#[test]
fn malformed_lines_are_skipped_with_their_numbers() {
    let items = read_all("malformed-lines.csv", &TraceOptions::default());
    assert_eq!(
        problems(&items),
        [
            "malformed-lines.csv:4: expected 17 columns, found 1 \
             (line skipped; --strict stops here instead)",
            "malformed-lines.csv:5: column 13 (clocks.current.sm): expected a whole number \
             (optionally followed by MHz), found \"fast\" \
             (line skipped; --strict stops here instead)",
            "malformed-lines.csv:7: expected 17 columns, found 5 \
             (line skipped; --strict stops here instead)",
        ]
    );
    let snaps: Vec<_> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[1].gpus.len(), 1);
    assert_eq!(snaps[1].gpus[0].index, 1);
}

#[test]
fn strict_stops_at_the_first_malformed_line() {
    let options = TraceOptions {
        strict: true,
        ..Default::default()
    };
    let items = read_all("malformed-lines.csv", &options);
    let last = items.last().unwrap().as_ref().unwrap_err();
    assert!(last.is_fatal());
    assert_eq!(last.line, Some(4));
    assert_eq!(
        items.iter().filter(|r| r.is_ok()).count(),
        0,
        "nothing after the bad line"
    );
}

#[test]
fn format_is_told_from_the_content() {
    let (format, _) = trace::open(&fixture("header-units.csv"), &TraceOptions::default()).unwrap();
    assert_eq!(format, TraceFormat::NvidiaSmiCsv);
}

/// The README tells users which `--query-gpu` list to record; every field of it must be one
/// the reader understands (none silently ignored).
#[test]
fn the_readme_recording_command_uses_only_known_fields() {
    use gpuwarden::trace::nvsmi::columns::Column;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.starts_with("nvidia-smi --query-gpu="))
        .expect("the README shows the nvidia-smi recording command");
    let list = line["nvidia-smi --query-gpu=".len()..]
        .split_whitespace()
        .next()
        .unwrap();
    let fields: Vec<&str> = list.split(',').collect();
    assert!(fields.len() > 10, "{fields:?}");
    for f in &fields {
        assert!(
            !matches!(Column::from_name(f), None | Some(Column::Ignored)),
            "README field {f} is not read by gpuwarden"
        );
    }
    assert!(fields.contains(&"timestamp") && fields.contains(&"uuid"));
}

#[test]
fn the_device_handle_line_of_a_lost_gpu_is_a_lost_sample() {
    let snaps = read_clean("gpu-lost-message.csv", &TraceOptions::default());
    assert_eq!(snaps.len(), 4);
    for s in &snaps[2..] {
        let lost = s.gpu(GPU1).expect("the lost GPU stays in the sample");
        assert_eq!((lost.index, lost.status), (1, GpuStatus::Lost));
        assert_eq!(s.gpu(GPU0).unwrap().status, GpuStatus::Ok);
    }
    assert_eq!(snaps[1].gpu(GPU1).unwrap().status, GpuStatus::Ok);
}
