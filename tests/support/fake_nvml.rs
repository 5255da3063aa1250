//! The fake `libnvidia-ml.so.1` for tests: builds `tests/fake_nvml/*.c` with the
//! machine's `cc` (once per test binary), gives each test its own copy of the library in
//! its own directory, and writes the state file the fake serves its values from.
//!
//! Include it from any integration test binary or bench:
//!
//! ```ignore
//! #[path = "support/fake_nvml.rs"]
//! mod fake_nvml;
//! use fake_nvml::{FakeGpu, FakeNvml, FakeState};
//!
//! let fake = FakeNvml::new(&FakeState::with_gpus(2));
//! // in-process: NvmlSource::open(Some(&fake.lib_path()))
//! // a child:    Command::new(bin).envs(fake.envs())   (LD_LIBRARY_PATH + state + log)
//! let mut state = FakeState::with_gpus(2);
//! state.gpus[1] = state.gpus[1].clone().lost();
//! fake.set(&state);                      // the next sample sees it
//! assert_eq!(fake.setter_log(), vec!["SetGpuLockedClocks GPU-… 210 1200"]);
//! ```
//!
//! Each [`FakeNvml`] copies the library into a fresh temp dir, so tests running in parallel
//! in one process load separate instances (the dynamic loader dedups by file, not by name)
//! and each finds its `state` and `setters.log` next to its library. The state file format
//! is documented in `tests/fake_nvml/README.md`.

#![allow(
    dead_code,
    reason = "shared by several test binaries, each using a different part"
)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// NVML return codes tests inject.
pub const NOT_SUPPORTED: u32 = 3;
pub const NO_PERMISSION: u32 = 4;
pub const GPU_IS_LOST: u32 = 15;
pub const UNKNOWN: u32 = 999;

/// Optional NVML symbols the fake can be built without (an older driver lacks them).
pub const OPTIONAL_SYMBOLS: &[&str] = &[
    "nvmlDeviceGetFanSpeed_v2",
    "nvmlDeviceGetCurrentClocksEventReasons",
    "nvmlDeviceGetCurrentClocksThrottleReasons",
    "nvmlDeviceGetGraphicsRunningProcesses_v3",
    "nvmlEventSetWait_v2",
    "nvmlDeviceGetRemappedRows",
    "nvmlDeviceGetRetiredPagesPendingStatus",
    "nvmlDeviceGetProcessUtilization",
];

const SOURCE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fake_nvml");
/// The C sources (compiled) and the header (hashed, so a change rebuilds).
const SOURCES: &[&str] = &["fake_nvml.c", "state.c"];
const HEADERS: &[&str] = &["state.h"];

/// One running fake NVML: a private copy of the library plus its state file and setter log.
pub struct FakeNvml {
    dir: tempfile::TempDir,
}

impl FakeNvml {
    /// A fake serving `state`, built from the complete source.
    pub fn new(state: &FakeState) -> Self {
        Self::without(&[], state)
    }

    /// A fake built without the given optional NVML symbols (see [`OPTIONAL_SYMBOLS`]).
    pub fn without(symbols: &[&str], state: &FakeState) -> Self {
        let built = build(symbols);
        let dir = tempfile::Builder::new()
            .prefix("fake-nvml-")
            .tempdir_in(tmp_root())
            .expect("creating the fake NVML's directory");
        fs::copy(&built, dir.path().join("libnvidia-ml.so.1")).expect("copying the fake NVML");
        let fake = FakeNvml { dir };
        fake.set(state);
        fake
    }

    /// The directory holding `libnvidia-ml.so.1` (for `LD_LIBRARY_PATH`).
    pub fn lib_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The library itself (for `--nvml-lib` or `NvmlSource::open(Some(..))`).
    pub fn lib_path(&self) -> PathBuf {
        self.dir.path().join("libnvidia-ml.so.1")
    }

    /// The state file the fake reads (also found without the env var, next to the library).
    pub fn state_path(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The log of setter calls, one line per call.
    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("setters.log")
    }

    /// Environment for a child process: `LD_LIBRARY_PATH`, `FAKE_NVML_STATE`, `FAKE_NVML_LOG`.
    pub fn envs(&self) -> Vec<(&'static str, OsString)> {
        vec![
            ("LD_LIBRARY_PATH", self.lib_dir().as_os_str().to_owned()),
            ("FAKE_NVML_STATE", self.state_path().into_os_string()),
            ("FAKE_NVML_LOG", self.log_path().into_os_string()),
        ]
    }

    /// Replaces what the fake serves; it sees the change on its next sample.
    pub fn set(&self, state: &FakeState) {
        self.set_raw(&state.render());
    }

    /// Writes the state file verbatim (atomically, so the fake never reads half a file).
    pub fn set_raw(&self, text: &str) {
        let tmp = self.dir.path().join("state.tmp");
        fs::write(&tmp, text).expect("writing the fake NVML state");
        fs::rename(&tmp, self.state_path()).expect("replacing the fake NVML state");
    }

    /// Every setter call so far, e.g. `SetGpuLockedClocks GPU-… 210 1200` or, for a call
    /// that failed, `SetPowerManagementLimit GPU-… 250000 ERROR 4`.
    pub fn setter_log(&self) -> Vec<String> {
        match fs::read_to_string(self.log_path()) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => panic!("reading {}: {e}", self.log_path().display()),
        }
    }
}

/// Where fakes live: cargo's per-target temp dir for tests and benches.
fn tmp_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fake-nvml");
    fs::create_dir_all(&root).expect("creating target/tmp/fake-nvml");
    root
}

/// Compiles the fake (once per test binary and symbol set) and returns the library's path.
///
/// The output path is named after a hash of the source and flags and replaced atomically,
/// so binaries building at the same time never see half a library and nothing piles up.
fn build(omit: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<BTreeMap<Vec<String>, PathBuf>>> = OnceLock::new();
    let key: Vec<String> = omit.iter().map(|s| s.to_string()).collect();
    for sym in omit {
        assert!(
            OPTIONAL_SYMBOLS.contains(sym),
            "{sym} is not an optional symbol of the fake NVML"
        );
    }
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(&key) {
        return path.clone();
    }
    let dir = Path::new(SOURCE_DIR);
    let source: Vec<Vec<u8>> = SOURCES
        .iter()
        .chain(HEADERS)
        .map(|f| fs::read(dir.join(f)).unwrap_or_else(|e| panic!("reading {f}: {e}")))
        .collect();
    let mut flags = vec![
        "-shared".to_string(),
        "-fPIC".into(),
        "-O2".into(),
        "-Wall".into(),
        "-Wextra".into(),
        "-Wl,-soname,libnvidia-ml.so.1".into(),
    ];
    flags.extend(omit.iter().map(|sym| format!("-DOMIT_{sym}")));
    let mut hasher = std::hash::DefaultHasher::new();
    (&source, &flags).hash(&mut hasher);
    let out_dir = tmp_root().join(format!("lib-{:016x}", hasher.finish()));
    fs::create_dir_all(&out_dir).expect("creating the fake NVML build dir");
    let out = out_dir.join("libnvidia-ml.so.1");
    // The pid alone is not unique: tests run inside sandboxes with their own pid namespaces.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let partial = out_dir.join(format!(
        "libnvidia-ml.so.1.{}.{nanos}.partial",
        std::process::id()
    ));
    let result = Command::new("cc")
        .args(&flags)
        .arg("-o")
        .arg(&partial)
        .args(SOURCES.iter().map(|f| dir.join(f)))
        .output()
        .unwrap_or_else(|e| panic!("running `cc` to build the fake NVML (install gcc): {e}"));
    assert!(
        result.status.success(),
        "building the fake NVML failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
    fs::rename(&partial, &out).expect("putting the fake NVML in place");
    built.insert(key, out.clone());
    out
}

/// Everything the fake serves: the driver and its GPUs.
#[derive(Clone, Debug)]
pub struct FakeState {
    pub driver_version: String,
    /// What `nvmlInit_v2` returns (0 = success).
    pub init_error: u32,
    /// A hung driver: `nvmlDeviceGetCount` blocks this long (ms) while it stays set.
    pub hang_ms: u64,
    /// Setters block (holding the library lock) this many ms, or until cleared.
    pub setter_hang_ms: u64,
    /// `nvmlDeviceGetPcieThroughput` waits this long (a real driver: ~20 ms).
    pub pcie_throughput_ms: u64,
    /// Every device call spins this long (a real call: a few µs).
    pub call_cost_us: u64,
    /// The library answers the process-count query with SUCCESS instead of
    /// INSUFFICIENT_SIZE (as some do).
    pub count_query_success: bool,
    pub gpus: Vec<FakeGpu>,
    /// MIG devices: (index of their GPU in `gpus`, the device). The GPU needs
    /// [`FakeGpu::mig`] on; each device serves its own name, UUID, memory and processes.
    pub mig_devices: Vec<(usize, FakeGpu)>,
}

impl FakeState {
    /// `n` distinct H100-like GPUs with every value set.
    pub fn with_gpus(n: u32) -> Self {
        FakeState {
            driver_version: "550.54.15".into(),
            init_error: 0,
            hang_ms: 0,
            setter_hang_ms: 0,
            pcie_throughput_ms: 0,
            call_cost_us: 0,
            count_query_success: false,
            gpus: (0..n).map(FakeGpu::h100).collect(),
            mig_devices: Vec::new(),
        }
    }

    /// The state file text (see `tests/fake_nvml/README.md`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "driver_version = {}", self.driver_version);
        let _ = writeln!(out, "device_count = {}", self.gpus.len());
        if self.init_error != 0 {
            let _ = writeln!(out, "init_error = {}", self.init_error);
        }
        if self.pcie_throughput_ms != 0 {
            let _ = writeln!(out, "pcie_throughput_ms = {}", self.pcie_throughput_ms);
        }
        if self.call_cost_us != 0 {
            let _ = writeln!(out, "call_cost_us = {}", self.call_cost_us);
        }
        if self.setter_hang_ms != 0 {
            let _ = writeln!(out, "setter_hang_ms = {}", self.setter_hang_ms);
        }
        if self.hang_ms != 0 {
            let _ = writeln!(out, "hang_ms = {}", self.hang_ms);
        }
        if self.count_query_success {
            let _ = writeln!(out, "count_query_success = 1");
        }
        for (i, g) in self.gpus.iter().enumerate() {
            g.render(i, &mut out);
            let slots: Vec<String> = self
                .mig_devices
                .iter()
                .enumerate()
                .filter(|(_, (parent, _))| *parent == i)
                .map(|(k, _)| (self.gpus.len() + k).to_string())
                .collect();
            if !slots.is_empty() {
                let _ = writeln!(out, "gpu{i}.mig_devices = {}", slots.join(" "));
            }
        }
        for (k, (_, m)) in self.mig_devices.iter().enumerate() {
            m.render(self.gpus.len() + k, &mut out);
        }
        out
    }
}

/// One fake GPU, in NVML's own units (mW, KB/s). `None` leaves a value out of the state
/// file, which makes the fake answer NOT_SUPPORTED for it.
#[derive(Clone, Debug)]
pub struct FakeGpu {
    pub name: String,
    pub uuid: String,
    pub pci_bus_id: String,
    /// `key -> value` for every numeric value (keys as in the README's table).
    pub values: BTreeMap<&'static str, u64>,
    /// `(pid, used bytes)`; `None` bytes = NVML_VALUE_NOT_AVAILABLE.
    pub compute_processes: Option<Vec<(u32, Option<u64>)>>,
    pub graphics_processes: Option<Vec<(u32, Option<u64>)>>,
    /// Each process's share of the GPU; `None` = NOT_SUPPORTED.
    pub process_utilization: Option<Vec<ProcessShare>>,
    /// Code every call on this GPU returns (15 = lost); 0 = none.
    pub device_error: u32,
    /// Function (without the `nvmlDevice` prefix, e.g. `GetFanSpeed_v2`) → forced code.
    pub errors: BTreeMap<String, u32>,
    /// MIG mode (`nvmlDeviceGetMigMode`); `None` = the GPU has no MIG (NOT_SUPPORTED).
    pub mig_mode: Option<bool>,
    /// Injected XIDs `(sequence number, code)`: each is delivered once to every event set
    /// with XID events registered on this GPU (see [`xid`](Self::xid)).
    pub xids: Vec<(u64, u32)>,
}

/// One process's share of a GPU, in % (`nvmlDeviceGetProcessUtilization`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcessShare {
    pub pid: u32,
    pub sm: u32,
    pub memory: u32,
    pub encoder: u32,
    pub decoder: u32,
}

/// Every numeric key of the state file.
pub const VALUE_KEYS: &[&str] = &[
    "utilization_gpu_pct",
    "utilization_memory_pct",
    "memory_total_bytes",
    "memory_used_bytes",
    "memory_reserved_bytes",
    "memory_free_bytes",
    "temperature_c",
    "temperature_slowdown_c",
    "temperature_shutdown_c",
    "power_mw",
    "power_limit_mw",
    "power_default_limit_mw",
    "clock_graphics_mhz",
    "clock_sm_mhz",
    "clock_mem_mhz",
    "clock_graphics_max_mhz",
    "clock_sm_max_mhz",
    "clock_mem_max_mhz",
    "fan_pct",
    "pstate",
    "clocks_event_reasons",
    "encoder_pct",
    "decoder_pct",
    "pcie_link_gen",
    "pcie_link_width",
    "pcie_rx_kbps",
    "pcie_tx_kbps",
    "ecc_uncorrected_volatile",
    "ecc_corrected_volatile",
    "ecc_uncorrected_aggregate",
    "ecc_corrected_aggregate",
    "remapped_rows_correctable",
    "remapped_rows_uncorrectable",
    "remapped_rows_pending",
    "remapped_rows_failure",
    "retired_pages_pending",
    "pcie_link_gen_max",
    "pcie_link_width_max",
    "pcie_replay_counter",
    "ecc_mode",
];

impl FakeGpu {
    /// An H100-like GPU whose values all differ with `index`, so mix-ups between GPUs show.
    pub fn h100(index: u32) -> Self {
        let i = u64::from(index);
        let values = [
            ("utilization_gpu_pct", 40 + i),
            ("utilization_memory_pct", 20 + i),
            ("memory_total_bytes", 85_520_809_984),
            ("memory_used_bytes", 10_000_000_000 + i * 1_000_000),
            ("memory_reserved_bytes", 500_000_000),
            ("temperature_c", 50 + i),
            ("temperature_slowdown_c", 87),
            ("temperature_shutdown_c", 92),
            ("power_mw", 300_000 + i * 1_000),
            ("power_limit_mw", 700_000),
            ("power_default_limit_mw", 700_000),
            ("clock_graphics_mhz", 1_700 + i),
            ("clock_sm_mhz", 1_710 + i),
            ("clock_mem_mhz", 2_619),
            ("clock_graphics_max_mhz", 1_980),
            ("clock_sm_max_mhz", 1_980),
            ("clock_mem_max_mhz", 2_619),
            ("fan_pct", 30 + i),
            ("pstate", 0),
            ("clocks_event_reasons", 0x4),
            ("encoder_pct", i),
            ("decoder_pct", 1 + i),
            ("pcie_link_gen", 5),
            ("pcie_link_width", 16),
            ("pcie_rx_kbps", 1_000 + i),
            ("pcie_tx_kbps", 2_000 + i),
            // Healthy: no uncorrected error since the driver loaded (history in aggregate).
            ("ecc_uncorrected_volatile", 0),
            ("ecc_corrected_volatile", 10 + i),
            ("ecc_uncorrected_aggregate", 100 + i),
            ("ecc_corrected_aggregate", 200 + i),
            // A healthy card: some rows remapped after correctable errors, nothing pending.
            ("remapped_rows_correctable", 2 + i),
            ("remapped_rows_uncorrectable", 0),
            ("remapped_rows_pending", 0),
            ("remapped_rows_failure", 0),
            ("retired_pages_pending", 0),
            ("pcie_link_gen_max", 5),
            ("pcie_link_width_max", 16),
            ("pcie_replay_counter", 3 + i),
            ("ecc_mode", 1),
        ]
        .into_iter()
        .collect();
        FakeGpu {
            name: "NVIDIA H100 80GB HBM3".into(),
            uuid: format!("GPU-fa4e0000-0000-4000-8000-{index:012x}"),
            pci_bus_id: format!("00000000:{:02X}:00.0", 0x17 + index),
            values,
            compute_processes: Some(Vec::new()),
            graphics_processes: Some(Vec::new()),
            process_utilization: None,
            mig_mode: None,
            device_error: 0,
            errors: BTreeMap::new(),
            xids: Vec::new(),
        }
    }

    /// Sets one numeric value (`key` from [`VALUE_KEYS`]).
    pub fn with(mut self, key: &'static str, value: u64) -> Self {
        assert!(VALUE_KEYS.contains(&key), "unknown fake NVML value {key}");
        self.values.insert(key, value);
        self
    }

    /// Leaves a value out: the fake answers NOT_SUPPORTED for it.
    pub fn without(mut self, key: &'static str) -> Self {
        assert!(VALUE_KEYS.contains(&key), "unknown fake NVML value {key}");
        self.values.remove(key);
        self
    }

    /// Makes `function` (e.g. `GetFanSpeed_v2`, `SetGpuLockedClocks`) return `code`.
    pub fn fail(mut self, function: &str, code: u32) -> Self {
        self.errors.insert(function.to_string(), code);
        self
    }

    /// Injects one more XID `code` (NVML delivers it through `nvmlEventSetWait_v2`).
    pub fn xid(mut self, code: u32) -> Self {
        let seq = self.xids.last().map_or(1, |(s, _)| s + 1);
        self.xids.push((seq, code));
        self
    }

    /// Every call on this GPU returns GPU_IS_LOST (15).
    pub fn lost(mut self) -> Self {
        self.device_error = GPU_IS_LOST;
        self
    }

    /// Compute processes: `(pid, Some(bytes))`, or `None` bytes for "not available".
    pub fn compute(mut self, procs: &[(u32, Option<u64>)]) -> Self {
        self.compute_processes = Some(procs.to_vec());
        self
    }

    /// Graphics processes, as [`compute`](Self::compute).
    pub fn graphics(mut self, procs: &[(u32, Option<u64>)]) -> Self {
        self.graphics_processes = Some(procs.to_vec());
        self
    }

    /// MIG mode on or off (the GPU supports MIG).
    pub fn mig(mut self, on: bool) -> Self {
        self.mig_mode = Some(on);
        self
    }

    /// A MIG device: only a name (`NVIDIA H100 80GB HBM3 MIG 3g.40gb`), a UUID, memory
    /// and processes, as NVML gives for one.
    pub fn mig_device(uuid: &str, profile: &str, used: u64, total: u64) -> Self {
        FakeGpu {
            name: format!("NVIDIA H100 80GB HBM3 MIG {profile}"),
            uuid: uuid.to_string(),
            pci_bus_id: String::new(),
            values: [("memory_used_bytes", used), ("memory_total_bytes", total)]
                .into_iter()
                .collect(),
            compute_processes: Some(Vec::new()),
            graphics_processes: None,
            process_utilization: None,
            mig_mode: None,
            device_error: 0,
            errors: BTreeMap::new(),
            xids: Vec::new(),
        }
    }

    /// Per-process utilization samples the driver reports.
    pub fn shares(mut self, shares: &[ProcessShare]) -> Self {
        self.process_utilization = Some(shares.to_vec());
        self
    }

    pub fn value(&self, key: &str) -> u64 {
        self.values[key]
    }

    fn render(&self, index: usize, out: &mut String) {
        let p = format!("gpu{index}.");
        let _ = writeln!(out, "{p}name = {}", self.name);
        let _ = writeln!(out, "{p}uuid = {}", self.uuid);
        if !self.pci_bus_id.is_empty() {
            let _ = writeln!(out, "{p}pci_bus_id = {}", self.pci_bus_id);
        }
        if let Some(on) = self.mig_mode {
            let _ = writeln!(out, "{p}mig_mode = {}", u8::from(on));
        }
        for (k, v) in &self.values {
            let _ = writeln!(out, "{p}{k} = {v}");
        }
        let procs = |list: &[(u32, Option<u64>)]| {
            list.iter()
                .map(|(pid, mem)| match mem {
                    Some(m) => format!("{pid}:{m}"),
                    None => format!("{pid}:-"),
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        if let Some(list) = &self.compute_processes {
            let _ = writeln!(out, "{p}compute_processes = {}", procs(list));
        }
        if let Some(list) = &self.graphics_processes {
            let _ = writeln!(out, "{p}graphics_processes = {}", procs(list));
        }
        if let Some(list) = &self.process_utilization {
            let list: Vec<String> = list
                .iter()
                .map(|s| {
                    format!(
                        "{}:{}:{}:{}:{}",
                        s.pid, s.sm, s.memory, s.encoder, s.decoder
                    )
                })
                .collect();
            let _ = writeln!(out, "{p}process_utilization = {}", list.join(" "));
        }
        if self.device_error != 0 {
            let _ = writeln!(out, "{p}error = {}", self.device_error);
        }
        for (f, code) in &self.errors {
            let _ = writeln!(out, "{p}error.{f} = {code}");
        }
        if !self.xids.is_empty() {
            let list: Vec<String> = self.xids.iter().map(|(s, c)| format!("{s}:{c}")).collect();
            let _ = writeln!(out, "{p}xids = {}", list.join(" "));
        }
    }
}
