use super::*;
use crate::gpu::Source;
use crate::gpu::sim::{SimConfig, SimSource};
use crate::gpu::{GpuSample, Snapshot};
use crate::trace::{Problem, TraceOptions};

fn day(n: u64) -> Vec<Snapshot> {
    let mut sim = SimSource::new(&SimConfig::default());
    (0..n)
        .map(|i| sim.sample(1_000 + i * 1_000).unwrap())
        .collect()
}

fn write_all(snaps: &[Snapshot]) -> String {
    let mut w = CompactWriter::new();
    let mut out = String::new();
    for s in snaps {
        w.line(&mut out, s).unwrap();
    }
    out
}

fn read_all(text: &str) -> Vec<Result<Snapshot, crate::trace::TraceError>> {
    CompactReader::new(text.as_bytes(), "t.jsonl", &TraceOptions::default()).collect()
}

#[test]
fn the_field_list_names_every_serialized_field() {
    let value = serde_json::to_value(GpuSample::default()).unwrap();
    let keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut names = fields::NAMES.to_vec();
    names.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(names, keys);
}

#[test]
fn reads_back_exactly_what_was_written_and_is_smaller() {
    let snaps = day(120);
    let text = write_all(&snaps);
    assert!(text.starts_with("{\"snapshot\":"), "{}", &text[..40]);
    assert!(is_compact(text.as_bytes()));
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("{\"snapshot\""))
            .count(),
        1
    );
    let back: Vec<Snapshot> = read_all(&text).into_iter().map(Result::unwrap).collect();
    assert_eq!(back, snaps);
    let full: usize = snaps
        .iter()
        .map(|s| serde_json::to_string(s).unwrap().len())
        .sum();
    assert!(text.len() * 3 < full, "{} vs {full}", text.len());
}

#[test]
fn a_change_of_gpus_or_host_writes_a_full_line() {
    let mut snaps = day(4);
    snaps[2].gpus.pop();
    snaps[3].gpus.pop();
    snaps[3].host = "other".into();
    let text = write_all(&snaps);
    let kinds: Vec<bool> = text
        .lines()
        .map(|l| l.starts_with("{\"snapshot\""))
        .collect();
    assert_eq!(kinds, [true, false, true, true]);
    let back: Vec<Snapshot> = read_all(&text).into_iter().map(Result::unwrap).collect();
    assert_eq!(back, snaps);
}

#[test]
fn an_unchanged_sample_is_only_its_time() {
    let snaps = day(1);
    let mut later = snaps[0].clone();
    later.at_ms += 1_000;
    let text = write_all(&[snaps[0].clone(), later.clone()]);
    assert_eq!(text.lines().nth(1), Some("{\"dt\":1000}"));
    assert_eq!(read_all(&text)[1].as_ref().unwrap(), &later);
}

#[test]
fn bad_lines_are_skipped_with_a_reason() {
    let snaps = day(2);
    let text = write_all(&snaps);
    let first = text.lines().next().unwrap();
    let bad = format!(
        "{{\"dt\":1000,\"gpus\":[{{\"temperature_c\":1}}]}}\n{first}\n\
         {{\"dt\":5,\"gpus\":[{{\"warp_drive\":1}}]}}\n\
         {{\"dt\":5,\"gpus\":[{{\"temperature_c\":\"hot\"}}]}}\n{{}}\n"
    );
    let items = read_all(&bad);
    let errors: Vec<String> = items
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(items.len(), 5);
    assert!(errors[0].contains("before any full"), "{}", errors[0]);
    assert!(errors[1].contains("warp_drive"), "{}", errors[1]);
    assert!(errors[2].contains("field temperature_c"), "{}", errors[2]);
    assert!(errors[3].contains("either"), "{}", errors[3]);
    assert_eq!(items[1].as_ref().unwrap(), &snaps[0]);
    let err = items[0].as_ref().unwrap_err();
    assert!(matches!(err.problem, Problem::Malformed(_)) && !err.is_fatal());
}
