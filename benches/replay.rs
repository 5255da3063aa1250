//! Replay throughput on a day of a busy node: 24 hours of 8 GPUs sampled every second by
//! `nvidia-smi --query-gpu=... --format=csv -l 1` (691,200 rows, ~150 MB), generated on first
//! use into `target/replay-bench/` (never committed) and streamed from disk like a real
//! trace. `parse` measures the reader alone; `parse_and_policy` adds the watchdog engine.
//! The target is the whole day in under 2 s.

use divan::Bencher;
use divan::counter::ItemsCount;
use gpuwarden::gpu::{Field, GpuSample, Snapshot, ThrottleReason, ThrottleReasons};
use gpuwarden::policy;
use gpuwarden::trace::nvsmi::write::{self, CsvStyle};
use gpuwarden::trace::replay::Replay;
use gpuwarden::trace::{self, TraceOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

const GPUS: u32 = 8;
const SECONDS: u64 = 24 * 3600;
const ROWS: u64 = SECONDS * GPUS as u64;
const MIB: u64 = 1 << 20;

/// What a careful operator records (`--query-gpu=` this list).
const QUERY: &[&str] = &[
    "timestamp",
    "index",
    "name",
    "uuid",
    "pci.bus_id",
    "temperature.gpu",
    "utilization.gpu",
    "utilization.memory",
    "memory.used",
    "memory.total",
    "power.draw",
    "power.limit",
    "clocks.sm",
    "clocks.max.sm",
    "fan.speed",
    "pstate",
    "clocks_event_reasons.active",
];

fn main() {
    divan::main();
}

/// The path of the day trace, written once per checkout.
fn day_trace() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/replay-bench");
        let path = dir.join("day-8gpu-1s.csv");
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
            return path;
        }
        std::fs::create_dir_all(&dir).expect("creating target/replay-bench");
        let tmp = dir.join("day-8gpu-1s.csv.partial");
        let mut out = BufWriter::new(std::fs::File::create(&tmp).expect("creating the trace"));
        out.write_all(write::header(QUERY).as_bytes()).unwrap();
        out.write_all(b"\n").unwrap();
        let start = 1_715_558_400_000; // 2024-05-13 00:00:00
        let mut text = String::new();
        for s in 0..SECONDS {
            text.clear();
            write::rows(
                &mut text,
                QUERY,
                &busy_node(start + s * 1000, s),
                CsvStyle::default(),
            );
            out.write_all(text.as_bytes()).unwrap();
        }
        out.flush().unwrap();
        drop(out);
        std::fs::rename(&tmp, &path).expect("moving the trace in place");
        path
    })
}

/// Eight training GPUs; GPU 3 overheats for ten minutes every four hours.
fn busy_node(at_ms: u64, s: u64) -> Snapshot {
    let mut snap = Snapshot::new(at_ms, "node", "nvidia-smi");
    for i in 0..GPUS {
        let wobble = ((s + u64::from(i) * 7) % 13) as f64;
        let hot = i == 3 && s % (4 * 3600) < 600;
        let temp = if hot {
            88.0 + wobble / 4.0
        } else {
            64.0 + wobble
        };
        let mut throttle = ThrottleReasons::NONE;
        if hot {
            throttle = throttle.with(ThrottleReason::SwThermal);
        }
        snap.gpus.push(GpuSample {
            index: i,
            uuid: format!("GPU-{i:08x}-1b3d-4e6f-9a0b-c1d2e3f4a5b6"),
            name: Field::Value("NVIDIA H100 80GB HBM3".into()),
            pci_bus_id: Field::Value(format!("00000000:{:02X}:00.0", 0x18 + i)),
            temperature_c: Field::Value(temp.round()),
            utilization_gpu_pct: Field::Value(95 + (s % 5) as u32),
            utilization_memory_pct: Field::Value(40 + (s % 9) as u32),
            memory_used_bytes: Field::Value((60_000 + (s % 1000)) * MIB),
            memory_total_bytes: Field::Value(81_559 * MIB),
            power_w: Field::Value(600.0 + wobble * 3.25),
            power_limit_w: Field::Value(700.0),
            clock_sm_mhz: Field::Value(if hot { 1410 } else { 1980 }),
            clock_sm_max_mhz: Field::Value(1980),
            pstate: Field::Value(0),
            throttle: Field::Value(throttle),
            ..GpuSample::default()
        });
    }
    snap
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn parse(bencher: Bencher) {
    let path = day_trace();
    bencher.counter(ItemsCount::new(ROWS)).bench(|| {
        let (_, stream) = trace::open(path, &TraceOptions::default()).unwrap();
        let mut gpus = 0;
        for snap in stream {
            gpus += snap.unwrap().gpus.len() as u64;
        }
        assert_eq!(gpus, ROWS);
    });
}

/// What `gpuwarden replay --instant` does per sample: read it, then the watchdog's engine
/// with the reference policy (every rule of `watchdog.toml`), then the summary.
#[divan::bench(sample_count = 3, sample_size = 1)]
fn parse_and_policy(bencher: Bencher) {
    let path = day_trace();
    let reference = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("watchdog.toml");
    let config = policy::load(&reference).unwrap();
    bencher.counter(ItemsCount::new(ROWS)).bench(|| {
        let (_, stream) = trace::open(path, &TraceOptions::default()).unwrap();
        let mut replay = Replay::new(&config);
        for snap in stream {
            replay.feed(&snap.unwrap());
        }
        let outcome = replay.finish();
        assert_eq!(outcome.samples, SECONDS);
        // GPU 3 overheats six times a day: the engine must have seen it.
        assert!(
            outcome
                .rules
                .iter()
                .any(|r| r.rule == "gpu-hot" && r.fired == 6)
        );
    });
}
