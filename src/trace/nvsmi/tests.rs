use super::*;
use crate::gpu::{Field, Missing, ThrottleReason};
use std::time::Duration;

fn read(text: &str, options: &TraceOptions) -> Vec<Result<Snapshot, TraceError>> {
    CsvReader::new(text.as_bytes(), "t.csv", "t", options).collect()
}

fn ok(text: &str) -> Vec<Snapshot> {
    read(text, &TraceOptions::default())
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

#[test]
fn groups_interleaved_gpus_into_rounds() {
    let snaps = ok("timestamp, index, temperature.gpu, utilization.gpu [%]\n\
         2024/01/15 10:00:00.001, 0, 40, 10 %\n\
         2024/01/15 10:00:00.004, 1, 41, 11 %\n\
         2024/01/15 10:00:01.002, 0, 42, 12 %\n\
         2024/01/15 10:00:01.005, 1, 43, 13 %\n");
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[1].gpus.len(), 2);
    assert_eq!(snaps[1].at_ms % 100_000, 1_002);
    assert_eq!(snaps[1].gpus[1].temperature_c.get(), Some(43.0));
    assert_eq!(snaps[1].gpus[1].uuid, "trace-gpu-1");
    assert_eq!(snaps[0].source, SOURCE_NAME);
}

#[test]
fn headerless_needs_columns_and_timestampless_needs_interval() {
    let body = "0, 40\n0, 41\n";
    let items = read(body, &TraceOptions::default());
    let err = items[0].as_ref().unwrap_err();
    assert!(
        err.is_fatal() && err.to_string().contains("--columns"),
        "{err}"
    );
    assert_eq!(items.len(), 1);

    let columns = Some(vec!["index".to_string(), "temperature.gpu".to_string()]);
    let items = read(
        body,
        &TraceOptions {
            columns: columns.clone(),
            ..Default::default()
        },
    );
    let err = items[0].as_ref().unwrap_err();
    assert!(
        err.is_fatal() && err.to_string().contains("--interval"),
        "{err}"
    );

    let options = TraceOptions {
        columns,
        interval: Some(Duration::from_secs(2)),
        ..Default::default()
    };
    let snaps: Vec<_> = read(body, &options)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(snaps.iter().map(|s| s.at_ms).collect::<Vec<_>>(), [0, 2000]);
}

#[test]
fn a_bad_row_is_skipped_with_its_line_and_column() {
    let items = read(
        "index, temperature.gpu, pstate\n0, 40, P0\n1, hot, P0\n2, 41, P0\n",
        &TraceOptions {
            interval: Some(Duration::from_secs(1)),
            ..Default::default()
        },
    );
    assert_eq!(items.len(), 2);
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.csv:3: column 2 (temperature.gpu): expected a number, found \"hot\" \
         (line skipped; --strict stops here instead)"
    );
    assert_eq!(items[1].as_ref().unwrap().gpus.len(), 2);
}

#[test]
fn individual_reason_columns_and_markers() {
    let snaps = ok(
        "timestamp, index, clocks_throttle_reasons.hw_thermal_slowdown, \
         clocks_throttle_reasons.sw_power_cap, fan.speed [%]\n\
         2024/01/15 10:00:00.000, 0, Active, Not Active, [N/A]\n\
         2024/01/15 10:00:01.000, 0, [GPU is lost], [GPU is lost], [GPU is lost]\n",
    );
    let g = &snaps[0].gpus[0];
    assert_eq!(
        g.throttle
            .get()
            .map(|t| t.contains(ThrottleReason::HwThermal)),
        Some(true)
    );
    assert_eq!(g.fan_pct, Field::missing(Missing::NotSupported));
    assert!(snaps[1].gpus[0].is_lost());
}

#[test]
fn time_going_back_is_reported() {
    let items = read(
        "timestamp, index\n2024/01/15 10:00:05.000, 0\n2024/01/15 10:00:01.000, 0\n",
        &TraceOptions::default(),
    );
    let err = items[0].as_ref().unwrap_err();
    assert!(matches!(err.problem, Problem::TimeWentBack { .. }), "{err}");
}

#[test]
fn a_header_of_another_tool_is_named_as_such_not_sent_to_columns() {
    let items = read(
        "time, gpu_temp, gpu_util\n1, 40, 3\n",
        &TraceOptions::default(),
    );
    let err = items[0].as_ref().unwrap_err();
    let text = err.to_string();
    assert!(err.is_fatal(), "{text}");
    assert!(
        text.starts_with(
            "t.csv:1: this line looks like a header but names no nvidia-smi --query-gpu field \
             gpuwarden reads (time, gpu_temp, gpu_util); gpuwarden reads"
        ),
        "{text}"
    );
    assert!(!text.contains("pass --columns"), "{text}");
    assert_eq!(items.len(), 1);
}
