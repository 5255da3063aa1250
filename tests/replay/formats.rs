//! The logs people keep besides nvidia-smi CSV — dmon, pmon, the plain table printed in a loop,
//! a PowerShell UTF-16 redirect, wrapper scripts' ISO-8601 and epoch stamps — read from
//! recorded-style fixtures in `tests/fixtures/nvidia-smi/`, told apart by content.

use super::support::{fixture, problems, read_all, read_clean};
use gpuwarden::gpu::{Field, Missing};
use gpuwarden::trace::encoding::Encoding;
use gpuwarden::trace::{self, TraceFormat, TraceOptions};

const MIB: u64 = 1 << 20;
/// 2024-05-13 14:02:11 read as UTC.
const T0: u64 = 1_715_608_931_000;

fn format_of(name: &str) -> (TraceFormat, Encoding) {
    let (format, encoding, _) = trace::open_described(&fixture(name), &TraceOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    (format, encoding)
}

#[test]
fn every_format_is_told_from_its_content() {
    assert_eq!(format_of("dmon-dt.log").0, TraceFormat::NvidiaSmiDmon);
    assert_eq!(format_of("dmon.log").0, TraceFormat::NvidiaSmiDmon);
    assert_eq!(format_of("pmon.log").0, TraceFormat::NvidiaSmiPmon);
    assert_eq!(format_of("table-loop.log").0, TraceFormat::NvidiaSmiTable);
    assert_eq!(
        format_of("dmon-dt-utf16.log"),
        (
            TraceFormat::NvidiaSmiDmon,
            Encoding::Utf16 {
                little_endian: true
            }
        )
    );
    assert_eq!(format_of("iso-timestamps.csv").0, TraceFormat::NvidiaSmiCsv);
}

#[test]
fn dmon_with_date_and_time_reads_both_gpus_per_second() {
    let items = read_all("dmon-dt.log", &TraceOptions::default());
    // mtemp, jpg and ofa are named once, not at every repeated header
    assert_eq!(
        problems(&items),
        ["dmon-dt.log:1: ignoring columns gpuwarden does not use: mtemp, jpg, ofa"]
    );
    let snaps: Vec<_> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(
        snaps.iter().map(|s| s.at_ms - T0).collect::<Vec<_>>(),
        [0, 1000, 2000]
    );
    let hot = &snaps[2].gpus[1];
    assert_eq!(hot.index, 1);
    assert_eq!(hot.temperature_c.get(), Some(72.0));
    assert_eq!(hot.power_w.get(), Some(621.0));
    assert_eq!(hot.utilization_gpu_pct.get(), Some(99));
    assert_eq!(hot.clock_sm_mhz.get(), Some(1965));
}

#[test]
fn a_utf16_redirect_reads_the_same_as_the_utf8_log() {
    let opts = TraceOptions::default();
    let utf8: Vec<_> = read_all("dmon-dt.log", &opts)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    let utf16: Vec<_> = read_all("dmon-dt-utf16.log", &opts)
        .into_iter()
        .filter_map(Result::ok)
        .map(|mut s| {
            s.host = "dmon-dt".into();
            s
        })
        .collect();
    assert_eq!(utf16, utf8);
}

#[test]
fn plain_dmon_is_one_second_apart_with_dashes_not_supported() {
    let snaps: Vec<_> = read_all("dmon.log", &TraceOptions::default())
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(
        snaps.iter().map(|s| s.at_ms).collect::<Vec<_>>(),
        [0, 1000, 2000]
    );
    assert_eq!(snaps[1].gpus[0].utilization_gpu_pct.get(), Some(87));
    assert_eq!(snaps[1].gpus[0].clock_mem_mhz.get(), Some(5001));
}

#[test]
fn pmon_gives_each_gpu_its_processes() {
    let items = read_all("pmon.log", &TraceOptions::default());
    // a process's own sm/mem/enc/dec shares have no GPU field: said once
    assert_eq!(
        problems(&items),
        [
            "pmon.log:1: ignoring columns gpuwarden does not use: type, sm, mem, enc, dec, jpg, ofa, ccpm"
        ]
    );
    let snaps: Vec<_> = items.into_iter().filter_map(Result::ok).collect();
    assert_eq!(snaps.len(), 2);
    let procs = snaps[0].gpus[0].processes.value().unwrap();
    let pids: Vec<u32> = procs.iter().map(|p| p.pid).collect();
    assert_eq!(pids, [41234, 41377]);
    assert_eq!(procs[0].used_memory_bytes, Some(61440 * MIB));
    assert_eq!(procs[1].command.as_deref(), Some("nvtop"));
    assert_eq!(snaps[0].gpus[1].processes, Field::Value(Vec::new()));
    assert_eq!(snaps[0].gpus[1].power_w.why(), Some(Missing::NotRecorded));
}

#[test]
fn the_table_printed_in_a_loop_is_one_sample_per_table() {
    let snaps = read_clean("table-loop.log", &TraceOptions::default());
    assert_eq!(
        snaps.iter().map(|s| s.at_ms - T0).collect::<Vec<_>>(),
        [0, 1000]
    );
    let g = &snaps[1].gpus[1];
    assert_eq!(g.temperature_c.get(), Some(72.0));
    assert_eq!(g.power_w.get(), Some(618.0));
    assert_eq!(g.power_limit_w.get(), Some(700.0));
    assert_eq!(g.memory_used_bytes.get(), Some(61953 * MIB));
    assert_eq!(g.utilization_gpu_pct.get(), Some(98));
    assert_eq!(
        g.driver_version.value().map(String::as_str),
        Some("550.54.15")
    );
    assert_eq!(g.processes.value().unwrap()[0].pid, 41234);
}

#[test]
fn wrapper_script_timestamps_read_without_a_warning() {
    let iso = read_clean("iso-timestamps.csv", &TraceOptions::default());
    // 16:02:11+02:00 is 14:02:11 UTC
    assert_eq!(
        iso.iter().map(|s| s.at_ms - T0).collect::<Vec<_>>(),
        [0, 1000]
    );
    assert_eq!(iso[1].gpus[1].power_w.get(), Some(618.45));
    let epoch = read_clean("epoch-timestamps.csv", &TraceOptions::default());
    assert_eq!(
        epoch.iter().map(|s| s.at_ms - T0).collect::<Vec<_>>(),
        [0, 1000]
    );
}

#[test]
fn a_file_that_is_no_trace_says_what_it_looks_like_and_what_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "GPU temps were fine today\nnothing to see\n").unwrap();
    let err = match trace::open(&path, &TraceOptions::default()) {
        Err(e) => e,
        Ok(_) => panic!("a note is no trace"),
    };
    let text = err.to_string();
    assert!(
        text.contains(
            "notes.txt: it is text that is no known trace, starting \"GPU temps were fine today\""
        ),
        "{text}"
    );
    assert!(text.contains("nvidia-smi dmon and pmon logs"), "{text}");
    assert!(err.is_fatal());
}

/// The README's table of trace formats names every format a trace can be read as.
#[test]
fn the_readme_lists_every_trace_format() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("<!-- trace-formats -->")
        .nth(1)
        .and_then(|s| s.split("What the CSV reader accepts").next())
        .expect("README has a <!-- trace-formats --> section");
    for format in [
        TraceFormat::Compact,
        TraceFormat::JsonLines,
        TraceFormat::NvidiaSmiCsv,
        TraceFormat::NvidiaSmiDmon,
        TraceFormat::NvidiaSmiPmon,
        TraceFormat::NvidiaSmiTable,
    ] {
        // A new format fails to compile here until it is listed above and in the README.
        match format {
            TraceFormat::Compact
            | TraceFormat::JsonLines
            | TraceFormat::NvidiaSmiCsv
            | TraceFormat::NvidiaSmiDmon
            | TraceFormat::NvidiaSmiPmon
            | TraceFormat::NvidiaSmiTable => {}
        }
        let row = format!("| `{}` |", format.name());
        assert!(
            section.contains(&row),
            "README lacks a row for {}",
            format.name()
        );
    }
}

/// `replay` names the format and, when it is not plain text, how the file is stored.
#[test]
fn replay_names_a_utf16_dmon_log_as_such() {
    let out = assert_cmd::Command::cargo_bin("gpuwarden")
        .unwrap()
        .env_remove("GPUWARDEN_LOG")
        .args(["replay", "--trace"])
        .arg(fixture("dmon-dt-utf16.log"))
        .arg("--config")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/watchdog.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("dmon-dt-utf16.log (nvidia-smi-dmon, UTF-16)"),
        "{text}"
    );
    assert!(text.contains("3 samples of 2 GPUs"), "{text}");
}

/// Found by the mutation fuzz loop: a memory column of more MiB than fit in bytes (u64) was
/// an arithmetic overflow. Now it is a bad line, named, and the rest of the log still reads.
#[test]
fn a_table_with_impossible_memory_is_a_bad_line_not_an_overflow() {
    let text = std::fs::read_to_string(fixture("table-loop.log")).unwrap();
    let broken = text.replacen("61953MiB", "99999999999999999MiB", 1);
    assert_ne!(broken, text, "the fixture has the value to break");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("table-loop.log");
    std::fs::write(&path, broken).unwrap();
    let (_, stream) = trace::open(&path, &TraceOptions::default()).unwrap();
    let items: Vec<_> = stream.collect();
    let bad: Vec<String> = items
        .iter()
        .filter_map(|r| r.as_ref().err().map(ToString::to_string))
        .collect();
    assert!(
        bad.iter()
            .any(|e| e.contains("99999999999999999 MiB is more memory than any GPU has")),
        "{bad:?}"
    );
    assert!(
        items.iter().any(Result::is_ok),
        "the other table still reads"
    );
}
