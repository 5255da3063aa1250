//! Helpers for the policy tests: configs from TOML text, GPU samples with only the fields a
//! rule reads, and a clock that feeds snapshots through the engine and writes each action
//! as one short line (`"130s restart_unit vllm@0.service"`) so tables stay readable.

use gpuwarden::gpu::{Field, GpuProcess, GpuSample, Missing, Snapshot, ThrottleReasons, Vendor};
use gpuwarden::policy::{self, Action, ActionKind, Config, State};
use std::path::Path;

pub const GIB: u64 = 1 << 30;

/// A validated config, or a panic that shows the located error.
pub fn config(text: &str) -> Config {
    policy::parse(Path::new("test.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

/// GPU `index` with uuid `GPU-<index>` at `temp_c`, 20 of 80 GiB used, no processes.
pub fn gpu(index: u32, temp_c: f64) -> GpuSample {
    GpuSample {
        index,
        uuid: format!("GPU-{index}"),
        vendor: Vendor::Nvidia,
        temperature_c: Field::Value(temp_c),
        temperature_slowdown_c: Field::Value(90.0),
        memory_used_bytes: Field::Value(20 * GIB),
        memory_total_bytes: Field::Value(80 * GIB),
        power_w: Field::Value(300.0),
        power_limit_w: Field::Value(400.0),
        utilization_gpu_pct: Field::Value(90),
        throttle: Field::Value(ThrottleReasons::NONE),
        ecc_uncorrected: Field::Value(0),
        processes: Field::Value(Vec::new()),
        ..GpuSample::default()
    }
}

pub fn with_memory_pct(mut g: GpuSample, pct: u64) -> GpuSample {
    g.memory_used_bytes = Field::Value(80 * GIB * pct / 100);
    g
}

/// Adds a process owned by `unit` (as read from /proc/PID/cgroup).
pub fn with_unit(mut g: GpuSample, pid: u32, unit: &str) -> GpuSample {
    let mut procs = g.processes.value().cloned().unwrap_or_default();
    procs.push(GpuProcess {
        pid,
        used_memory_bytes: Some(GIB),
        user: Some("llm".into()),
        command: Some("python -m vllm".into()),
        unit: Some(unit.into()),
        owner: Some(gpuwarden::gpu::ProcessOwner::new(
            gpuwarden::gpu::OwnerKind::Unit,
            unit,
        )),
        ..GpuProcess::default()
    });
    g.processes = Field::Value(procs);
    g
}

/// Adds a process owned by `unit` holding `bytes` of the GPU's memory.
pub fn with_unit_memory(g: GpuSample, pid: u32, unit: &str, bytes: u64) -> GpuSample {
    let mut g = with_unit(g, pid, unit);
    if let Field::Value(procs) = &mut g.processes
        && let Some(p) = procs.last_mut()
    {
        p.used_memory_bytes = Some(bytes);
    }
    g
}

/// GPU `index` with `gib` GiB of its 80 GiB used.
pub fn with_memory_gib(mut g: GpuSample, gib: f64) -> GpuSample {
    g.memory_used_bytes = Field::Value((gib * GIB as f64) as u64);
    g
}

pub fn without_temperature(mut g: GpuSample) -> GpuSample {
    g.temperature_c = Field::missing(Missing::NotSupported);
    g
}

pub fn lost(index: u32) -> GpuSample {
    GpuSample::lost(index, format!("GPU-{index}"), Vendor::Nvidia)
}

/// Feeds snapshots through the engine with time passed in.
pub struct Run {
    pub config: Config,
    pub state: State,
    pub actions: Vec<Action>,
}

impl Run {
    pub fn new(config: Config) -> Self {
        Run {
            config,
            state: State::default(),
            actions: Vec::new(),
        }
    }

    /// One snapshot of `gpus` at second `t`; returns that step's actions.
    pub fn at(&mut self, t: u64, gpus: Vec<GpuSample>) -> Vec<Action> {
        let mut snap = Snapshot::new(t * 1000, "host", "test");
        snap.gpus = gpus;
        let out = policy::step(&self.config, &mut self.state, &snap, t * 1000);
        self.actions.extend(out.iter().cloned());
        out
    }

    /// One snapshot per second from `from` to `to` (inclusive), built by `f(t)`.
    pub fn each_second(&mut self, from: u64, to: u64, mut f: impl FnMut(u64) -> Vec<GpuSample>) {
        for t in from..=to {
            self.at(t, f(t));
        }
    }

    /// Every action so far as a short line.
    pub fn lines(&self) -> Vec<String> {
        lines(&self.actions)
    }

    /// Lines without the periodic re-application of caps.
    pub fn story(&self) -> Vec<String> {
        self.lines()
            .into_iter()
            .filter(|l| !l.contains("reapply_cap"))
            .collect()
    }
}

/// `"<seconds>s <kind>[ <detail>]"`, with GPU index when it is not 0.
pub fn lines(actions: &[Action]) -> Vec<String> {
    actions.iter().map(line).collect()
}

pub fn line(a: &Action) -> String {
    let mut s = format!("{}s {}", a.at_ms / 1000, a.kind.name());
    match &a.kind {
        ActionKind::RestartUnit { unit } => s.push_str(&format!(" {unit}")),
        ActionKind::RestartRefused { unit, why } => s.push_str(&format!(
            " {unit} {}",
            serde_json::to_value(why)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?")
        )),
        ActionKind::Cleared { why, .. } => s.push_str(&format!(
            " {}",
            serde_json::to_value(why)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?")
        )),
        _ => {}
    }
    if a.gpu.index != 0 {
        s.push_str(&format!(" gpu{}", a.gpu.index));
    }
    s
}

/// Hot for a series of seconds: `temps[t]` at second `t` on GPU 0.
pub fn run_temps(config: &str, temps: &[f64]) -> Vec<String> {
    let mut run = Run::new(self::config(config));
    for (t, temp) in temps.iter().enumerate() {
        run.at(t as u64, vec![gpu(0, *temp)]);
    }
    run.story()
}

/// `n` copies of `v` (for building series).
pub fn rep(v: f64, n: usize) -> Vec<f64> {
    vec![v; n]
}
