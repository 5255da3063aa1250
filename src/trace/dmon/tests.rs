use super::*;
use std::time::Duration;

fn read(text: &str, options: &TraceOptions) -> Vec<Result<Snapshot, TraceError>> {
    MonitorReader::new(text.as_bytes(), "t.log", "t", options).collect()
}

fn ok(text: &str) -> Vec<Snapshot> {
    read(text, &TraceOptions::default())
        .into_iter()
        .filter(|r| !matches!(r, Err(e) if matches!(e.problem, Problem::IgnoredColumns(_))))
        .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
        .collect()
}

/// `nvidia-smi dmon -o DT` on two GPUs, with the header printed again.
const DMON_DT: &str = "\
#Date       Time        gpu    pwr  gtemp  mtemp     sm    mem    enc    dec    jpg    ofa   mclk   pclk
#YYYYMMDD   HH:MM:SS    Idx      W      C      C      %      %      %      %      %      %    MHz    MHz
 20240115   10:00:00      0     71     34      -     12      3      0      0      0      0   2619   1980
 20240115   10:00:00      1    312     61      -     98     45      0      0      0      0   2619   1755
 20240115   10:00:01      0     73     35      -     14      3      0      0      0      0   2619   1980
#Date       Time        gpu    pwr  gtemp  mtemp     sm    mem    enc    dec    jpg    ofa   mclk   pclk
#YYYYMMDD   HH:MM:SS    Idx      W      C      C      %      %      %      %      %      %    MHz    MHz
 20240115   10:00:01      1    318     62      -     99     46      0      0      0      0   2619   1740
";

#[test]
fn reads_dmon_with_date_and_time_and_repeated_headers() {
    let items = read(DMON_DT, &TraceOptions::default());
    let note = items[0].as_ref().unwrap_err();
    assert_eq!(
        note.to_string(),
        "t.log:1: ignoring columns gpuwarden does not use: mtemp, jpg, ofa"
    );
    let snaps = ok(DMON_DT);
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0].at_ms, 1_705_312_800_000);
    assert_eq!(snaps[1].at_ms, 1_705_312_801_000);
    let g = &snaps[1].gpus[1];
    assert_eq!((g.index, g.uuid.as_str()), (1, "trace-gpu-1"));
    assert_eq!(g.power_w.get(), Some(318.0));
    assert_eq!(g.temperature_c.get(), Some(62.0));
    assert_eq!(g.utilization_gpu_pct.get(), Some(99));
    assert_eq!(g.clock_sm_mhz.get(), Some(1740));
    assert_eq!(g.clock_mem_mhz.get(), Some(2619));
    assert_eq!(snaps[0].source, "nvidia-smi");
}

#[test]
fn reads_plain_dmon_one_second_apart_and_dashes_as_not_supported() {
    let snaps = ok("\
# gpu   pwr gtemp mtemp    sm   mem   enc   dec  mclk  pclk
# Idx     W     C     C     %     %     %     %   MHz   MHz
    0    43    48     -     0     0     0     0   405   210
    1     -    45     -     0     0     -     -   405   210
    0    44    48     -     1     0     0     0   405   210
    1     -    46     -     0     0     -     -   405   210
");
    assert_eq!(snaps.iter().map(|s| s.at_ms).collect::<Vec<_>>(), [0, 1000]);
    assert_eq!(snaps[1].gpus.len(), 2);
    assert_eq!(
        snaps[1].gpus[1].power_w,
        Field::missing(Missing::NotSupported)
    );
    assert_eq!(snaps[1].gpus[1].temperature_c.get(), Some(46.0));
    let spaced = read(
        "# gpu pwr\n0 43\n0 44\n",
        &TraceOptions {
            interval: Some(Duration::from_secs(5)),
            ..Default::default()
        },
    );
    let times: Vec<u64> = spaced.iter().map(|s| s.as_ref().unwrap().at_ms).collect();
    assert_eq!(times, [0, 5000]);
}

#[test]
fn reads_dmon_memory_columns_and_time_only_across_midnight() {
    let snaps = ok("\
#Time        gpu    fb  bar1  ccpm
#HH:MM:SS    Idx    MB    MB    MB
 23:59:59      0  1024     5     0
 00:00:00      0  2048     5     0
");
    assert_eq!(snaps[0].gpus[0].memory_used_bytes.get(), Some(1024 * MIB));
    assert_eq!(snaps[1].at_ms - snaps[0].at_ms, 1000);
}

#[test]
fn reads_pmon_processes_per_gpu() {
    let snaps = ok("\
# gpu         pid   type     sm    mem    enc    dec    jpg    ofa     fb   ccpm    command
# Idx           #    C/G      %      %      %      %      %      %     MB     MB    name
    0      41234     C     45     20      -      -      -      -  10240      0    python train.py
    0      41240     C      3      1      -      -      -      -    512      0    python
    1          -     -      -      -      -      -      -      -      -      -    -
    0      41234     C     47     21      -      -      -      -  10240      0    python train.py
    1          -     -      -      -      -      -      -      -      -      -    -
");
    assert_eq!(snaps.len(), 2);
    let procs = snaps[0].gpus[0].processes.value().unwrap();
    assert_eq!(procs.len(), 2);
    assert_eq!(procs[0].pid, 41234);
    assert_eq!(procs[0].command.as_deref(), Some("python train.py"));
    assert_eq!(procs[0].used_memory_bytes, Some(10240 * MIB));
    assert_eq!(snaps[0].gpus[1].processes.value().map(Vec::len), Some(0));
    assert_eq!(snaps[1].gpus.len(), 2);
    // pmon says nothing of temperatures: they are not recorded, not zero
    assert_eq!(
        snaps[0].gpus[0].temperature_c.why(),
        Some(Missing::NotRecorded)
    );
}

#[test]
fn a_bad_row_names_its_column() {
    let items = read(
        "# gpu pwr gtemp\n0 43 hot\n0 44 50\n",
        &TraceOptions::default(),
    );
    let err = items[0].as_ref().unwrap_err();
    assert_eq!(
        err.to_string(),
        "t.log:2: column 3 (gtemp): expected a number or -, found \"hot\" \
         (line skipped; --strict stops here instead)"
    );
    assert!(items[1].is_ok());
    assert!(is_header("# gpu pwr gtemp"));
    assert!(is_header("#Date Time gpu pid type"));
    assert!(!is_header("# Idx W C"));
    assert!(!is_header("#YYYYMMDD HH:MM:SS Idx"));
}
