use super::*;

fn read(text: &str) -> Vec<Result<Snapshot, TraceError>> {
    TableReader::new(text.as_bytes(), "t.log", "t", &TraceOptions::default()).collect()
}

/// Two rounds of `nvidia-smi -l 1` on a two-GPU node (driver 535 layout).
const TWO_TABLES: &str = "\
Mon Jan 15 10:00:00 2024       
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|-----------------------------------------+----------------------+----------------------+
| GPU  Name                 Persistence-M | Bus-Id        Disp.A | Volatile Uncorr. ECC |
| Fan  Temp   Perf          Pwr:Usage/Cap |         Memory-Usage | GPU-Util  Compute M. |
|                                         |                      |               MIG M. |
|=========================================+======================+======================|
|   0  NVIDIA H100 80GB HBM3          On  | 00000000:18:00.0 Off |                    0 |
| N/A   34C    P0              71W / 700W |      4MiB / 81559MiB |      0%      Default |
|                                         |                      |             Disabled |
+-----------------------------------------+----------------------+----------------------+
|   1  NVIDIA H100 80GB HBM3          On  | 00000000:2A:00.0 Off |                    2 |
| N/A   61C    P0             312W / 700W |  40960MiB / 81559MiB |     98%      Default |
|                                         |                      |             Disabled |
+-----------------------------------------+----------------------+----------------------+
                                                                                         
+---------------------------------------------------------------------------------------+
| Processes:                                                                            |
|  GPU   GI   CI        PID   Type   Process name                            GPU Memory |
|        ID   ID                                                             Usage      |
|=======================================================================================|
|    1   N/A  N/A     41234      C   python train.py                           40950MiB |
+---------------------------------------------------------------------------------------+
Mon Jan 15 10:00:01 2024       
+---------------------------------------------------------------------------------------+
| NVIDIA-SMI 535.104.05             Driver Version: 535.104.05   CUDA Version: 12.2     |
|=========================================+======================+======================|
|   0  NVIDIA H100 80GB HBM3          On  | 00000000:18:00.0 Off |                    0 |
| N/A   35C    P0              72W / 700W |      4MiB / 81559MiB |      1%      Default |
+-----------------------------------------+----------------------+----------------------+
|   1  NVIDIA H100 80GB HBM3          On  | 00000000:2A:00.0 Off |                    2 |
| N/A   62C    P0             318W / 700W |  40960MiB / 81559MiB |     99%      Default |
+-----------------------------------------+----------------------+----------------------+
| Processes:                                                                            |
|  No running processes found                                                           |
+---------------------------------------------------------------------------------------+
";

#[test]
fn reads_each_table_as_a_sample() {
    let snaps: Vec<Snapshot> = read(TWO_TABLES).into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(snaps.len(), 2);
    assert_eq!(snaps[0].at_ms, 1_705_312_800_000);
    assert_eq!(snaps[1].at_ms, 1_705_312_801_000);
    let g = &snaps[0].gpus[1];
    assert_eq!(g.index, 1);
    assert_eq!(g.uuid, "00000000:2A:00.0");
    assert_eq!(
        g.name.value().map(String::as_str),
        Some("NVIDIA H100 80GB HBM3")
    );
    assert_eq!(
        g.driver_version.value().map(String::as_str),
        Some("535.104.05")
    );
    assert_eq!(g.temperature_c.get(), Some(61.0));
    assert_eq!(g.power_w.get(), Some(312.0));
    assert_eq!(g.power_limit_w.get(), Some(700.0));
    assert_eq!(g.memory_used_bytes.get(), Some(40960 * MIB));
    assert_eq!(g.memory_total_bytes.get(), Some(81559 * MIB));
    assert_eq!(g.utilization_gpu_pct.get(), Some(98));
    assert_eq!(g.pstate.get(), Some(0));
    assert_eq!(g.ecc_uncorrected.get(), Some(2));
    assert_eq!(g.fan_pct, Field::missing(Missing::NotSupported));
    let procs = g.processes.value().unwrap();
    assert_eq!(
        (procs[0].pid, procs[0].command.as_deref()),
        (41234, Some("python train.py"))
    );
    assert_eq!(procs[0].used_memory_bytes, Some(40950 * MIB));
    assert_eq!(snaps[1].gpus[1].processes.value().map(Vec::len), Some(0));
    assert_eq!(snaps[1].gpus[1].temperature_c.get(), Some(62.0));
}

#[test]
fn reads_the_older_layout_and_a_wrapper_scripts_iso_stamp() {
    let snaps: Vec<Snapshot> = read(
        "2024-01-15T10:00:00+00:00\n\
         +-----------------------------------------------------------------------------+\n\
         | NVIDIA-SMI 470.182.03   Driver Version: 470.182.03   CUDA Version: 11.4     |\n\
         |-------------------------------+----------------------+----------------------+\n\
         |   0  Tesla V100-SXM2...  On   | 00000000:00:1E.0 Off |                  N/A |\n\
         | 30%   33C    P0    37W / 300W |      0MiB / 16160MiB |      0%      Default |\n\
         +-------------------------------+----------------------+----------------------+\n\
         | Processes:                                                                  |\n\
         |    0      1234      C   /usr/bin/python3                  500MiB |\n",
    )
    .into_iter()
    .map(|r| r.unwrap())
    .collect();
    let g = &snaps[0].gpus[0];
    assert_eq!(snaps[0].at_ms, 1_705_312_800_000);
    assert_eq!(
        g.name.value().map(String::as_str),
        Some("Tesla V100-SXM2...")
    );
    assert_eq!(g.fan_pct.get(), Some(30));
    assert_eq!(g.ecc_uncorrected, Field::missing(Missing::NotSupported));
    assert_eq!(g.processes.value().unwrap()[0].pid, 1234);
}

#[test]
fn a_bad_gpu_line_is_skipped_with_its_reason() {
    let text = TWO_TABLES.replacen("34C", "hotC", 1);
    let items = read(&text);
    let err = items.iter().find_map(|r| r.as_ref().err()).unwrap();
    assert_eq!(
        err.to_string(),
        "t.log:10: expected a number in C, found \"hotC\" (line skipped; --strict stops here instead)"
    );
    assert_eq!(items.iter().filter(|r| r.is_ok()).count(), 2);
}
