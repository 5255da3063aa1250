//! The simulated fleet behind `--demo`: GPUs that behave like real cards.
//!
//! Each card has a small physical model, integrated in fixed 100 ms steps so results depend
//! only on the seed and the timestamps passed in:
//! - power follows utilization and clock: `idle + dynamic · util · (f/fmax)²`;
//! - temperature follows power with a time constant towards `ambient + power · R/cooling`;
//! - a locked clock lowers power; a power limit lowers the clock (`sw-power-cap`);
//! - near the slowdown temperature the clock is pulled down (`sw-thermal`, then `hw-thermal`);
//! - memory can leak; a card can fall off the bus.
//!
//! Named scenarios set up the fleet for tests, screenshots and `watch --demo`.

use super::field::{Field, Missing};
use super::model::{
    GpuProcess, GpuSample, GpuStatus, OwnerKind, PcieLink, ProcessOwner, RowRemap, Snapshot,
    UnixMs, Vendor,
};
use super::source::{ControlError, GpuControl, Source, SourceError};
use super::throttle::{ThrottleReason, ThrottleReasons};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};

const STEP_MS: u64 = 100;
const GIB: u64 = 1 << 30;

/// What the simulated fleet is doing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scenario {
    /// A lively mix: training, inference, an idle card (the default for `--demo`).
    #[default]
    Mixed,
    /// Every card idle.
    Idle,
    /// Every card training at full load.
    Training,
    /// Training, but GPU 0's cooling has failed: it heats past 85 °C and throttles.
    Overheat,
    /// Inference on every card; GPU 0's server leaks memory until it is nearly full.
    Leak,
    /// Training; the last GPU falls off the bus after 10 s.
    Lost,
}

impl Scenario {
    pub const NAMES: [&'static str; 6] = ["mixed", "idle", "training", "overheat", "leak", "lost"];
}

impl FromStr for Scenario {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "mixed" => Scenario::Mixed,
            "idle" => Scenario::Idle,
            "training" => Scenario::Training,
            "overheat" => Scenario::Overheat,
            "leak" => Scenario::Leak,
            "lost" => Scenario::Lost,
            _ => {
                return Err(format!(
                    "unknown scenario {s:?} (expected one of: {})",
                    Scenario::NAMES.join(", ")
                ));
            }
        })
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = [
            Scenario::Mixed,
            Scenario::Idle,
            Scenario::Training,
            Scenario::Overheat,
            Scenario::Leak,
            Scenario::Lost,
        ]
        .iter()
        .position(|s| s == self)
        .unwrap_or(0);
        f.write_str(Scenario::NAMES[i])
    }
}

/// How to build a simulated fleet.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub gpus: u32,
    pub seed: u64,
    pub scenario: Scenario,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            gpus: 4,
            seed: 1,
            scenario: Scenario::Mixed,
        }
    }
}

/// What a card is running, which sets its target utilization and memory.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Workload {
    Idle,
    Training,
    Inference,
}

/// Fixed properties of the simulated card model (an H100 SXM-like board).
struct CardModel;
impl CardModel {
    const NAME: &'static str = "NVIDIA H100 80GB HBM3";
    const MEMORY: u64 = 80 * GIB;
    const POWER_LIMIT_W: f64 = 700.0;
    const IDLE_W: f64 = 70.0;
    const DYNAMIC_W: f64 = 620.0;
    const SM_MAX_MHZ: f64 = 1980.0;
    const SM_IDLE_MHZ: f64 = 345.0;
    const MEM_MHZ: u32 = 2619;
    const SLOWDOWN_C: f64 = 90.0;
    const SHUTDOWN_C: f64 = 95.0;
    const AMBIENT_C: f64 = 28.0;
    /// °C per watt with healthy cooling: ~70 °C at full board power.
    const THERMAL_R: f64 = 0.062;
    const TAU_S: f64 = 20.0;
}

/// One simulated card's changing state.
#[derive(Clone, Debug)]
struct SimGpu {
    index: u32,
    uuid: String,
    pci: String,
    workload: Workload,
    /// 1.0 healthy; lower means worse cooling (fan failure, blocked airflow).
    cooling: f64,
    util: f64,
    temp_c: f64,
    power_w: f64,
    sm_mhz: f64,
    mem_used: f64,
    /// Bytes per second of leaked memory.
    leak_bps: f64,
    /// Scenario time at which the card falls off the bus.
    lost_after_ms: Option<u64>,
    lost: bool,
    throttle: ThrottleReasons,
    sm_lock: Option<(u32, u32)>,
    power_limit_w: f64,
    ecc_uncorrected: u64,
    pids: Vec<u32>,
    /// Running a burn (`bench --demo`): flat out, whatever the scenario's workload.
    burn: bool,
}

/// Deterministic noise (splitmix64): the same seed gives the same fleet.
#[derive(Clone, Debug)]
struct Noise(u64);
impl Noise {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [-1, 1).
    fn symmetric(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 52) as f64 - 1.0
    }
}

/// The fleet state shared between the source and its control handle.
#[derive(Debug)]
struct Fleet {
    gpus: Vec<SimGpu>,
    noise: Noise,
    scenario: Scenario,
    start_ms: Option<UnixMs>,
    /// Scenario time already integrated.
    t_ms: u64,
}

/// The simulated fleet as a [`Source`].
#[derive(Clone)]
pub struct SimSource {
    fleet: Arc<Mutex<Fleet>>,
    host: String,
}

impl SimSource {
    pub fn new(config: &SimConfig) -> Self {
        let mut noise = Noise(config.seed ^ 0x5EED_0F6E_A7D0);
        let gpus = (0..config.gpus)
            .map(|i| new_gpu(i, config.gpus, config.scenario, &mut noise))
            .collect();
        SimSource {
            fleet: Arc::new(Mutex::new(Fleet {
                gpus,
                noise,
                scenario: config.scenario,
                start_ms: None,
                t_ms: 0,
            })),
            host: "demo".to_string(),
        }
    }

    pub fn scenario(&self) -> Scenario {
        lock(&self.fleet).scenario
    }

    /// Runs GPU `index` flat out (a burn) or back on its scenario's workload; the thermal
    /// model does the rest. Unknown indices are ignored.
    pub fn set_burn(&self, index: u32, on: bool) {
        if let Some(g) = lock(&self.fleet).gpus.iter_mut().find(|g| g.index == index) {
            g.burn = on;
        }
    }
}

fn lock(fleet: &Mutex<Fleet>) -> MutexGuard<'_, Fleet> {
    // A panic while holding the lock leaves plain numbers behind; keep using them.
    fleet.lock().unwrap_or_else(|e| e.into_inner())
}

fn new_gpu(index: u32, count: u32, scenario: Scenario, noise: &mut Noise) -> SimGpu {
    let workload = match scenario {
        Scenario::Idle => Workload::Idle,
        Scenario::Training | Scenario::Overheat | Scenario::Lost => Workload::Training,
        Scenario::Leak => Workload::Inference,
        Scenario::Mixed => match index % 4 {
            0 | 1 => Workload::Training,
            2 => Workload::Inference,
            _ => Workload::Idle,
        },
    };
    let a = noise.next_u64();
    let b = noise.next_u64();
    let uuid = format!(
        "GPU-{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    );
    let (util, mem_frac) = targets(workload);
    let cooling = if scenario == Scenario::Overheat && index == 0 {
        0.45
    } else {
        1.0 - 0.05 * noise.symmetric().abs()
    };
    let power = power_for(util, CardModel::SM_MAX_MHZ);
    let pids = match workload {
        Workload::Idle => vec![],
        Workload::Training => vec![4100 + index * 10],
        Workload::Inference => vec![5100 + index * 10, 5101 + index * 10],
    };
    SimGpu {
        index,
        uuid,
        pci: format!("00000000:{:02X}:00.0", 0x18 + index * 0x10),
        workload,
        cooling,
        util,
        // Start at the steady temperature of the healthy card, so the demo does not open
        // with every card at ambient.
        temp_c: CardModel::AMBIENT_C + power * CardModel::THERMAL_R,
        power_w: power,
        sm_mhz: if util < 1.0 {
            CardModel::SM_IDLE_MHZ
        } else {
            CardModel::SM_MAX_MHZ
        },
        mem_used: mem_frac * CardModel::MEMORY as f64,
        leak_bps: if scenario == Scenario::Leak && index == 0 {
            // From ~55 % to past 90 % in about two minutes.
            0.3 * CardModel::MEMORY as f64 / 120.0
        } else {
            0.0
        },
        lost_after_ms: (scenario == Scenario::Lost && index + 1 == count).then_some(10_000),
        lost: false,
        throttle: ThrottleReasons::NONE,
        sm_lock: None,
        power_limit_w: CardModel::POWER_LIMIT_W,
        ecc_uncorrected: 0,
        pids,
        burn: false,
    }
}

/// Target utilization (%) and memory fraction for a workload.
fn targets(w: Workload) -> (f64, f64) {
    match w {
        Workload::Idle => (0.0, 0.006),
        Workload::Training => (97.0, 0.78),
        Workload::Inference => (62.0, 0.55),
    }
}

fn power_for(util: f64, sm_mhz: f64) -> f64 {
    let f = sm_mhz / CardModel::SM_MAX_MHZ;
    CardModel::IDLE_W + CardModel::DYNAMIC_W * (util / 100.0) * f * f
}

impl SimGpu {
    /// Advances the card by one fixed step.
    fn step(&mut self, t_ms: u64, noise: &mut Noise) {
        if self.lost_after_ms.is_some_and(|at| t_ms >= at) {
            self.lost = true;
        }
        if self.lost {
            return;
        }
        let dt = STEP_MS as f64 / 1000.0;
        let (target_util, _) = if self.burn {
            (100.0, 0.0)
        } else {
            targets(self.workload)
        };
        let jitter = if self.burn {
            0.0
        } else if self.workload == Workload::Idle {
            1.0
        } else {
            6.0
        };
        let wanted = (target_util + jitter * noise.symmetric()).clamp(0.0, 100.0);
        self.util += (wanted - self.util) * 0.5;

        let mut throttle = ThrottleReasons::NONE;
        let mut f = if self.util < 1.0 {
            throttle = throttle.with(ThrottleReason::GpuIdle);
            CardModel::SM_IDLE_MHZ
        } else {
            CardModel::SM_MAX_MHZ
        };
        if let Some((_, max)) = self.sm_lock
            && f > max as f64
        {
            f = max as f64;
            throttle = throttle.with(ThrottleReason::AppClocks);
        }
        // Power cap: the highest clock whose power fits under the limit.
        let dynamic = CardModel::DYNAMIC_W * self.util / 100.0;
        if dynamic > 0.0 && power_for(self.util, f) > self.power_limit_w {
            let room = (self.power_limit_w - CardModel::IDLE_W).max(0.0);
            f = CardModel::SM_MAX_MHZ * (room / dynamic).sqrt();
            throttle = throttle.with(ThrottleReason::SwPowerCap);
        }
        // Thermal protection: ramp the clock down over the last 3 °C before slowdown,
        // then halve it at the slowdown temperature.
        let margin = CardModel::SLOWDOWN_C - self.temp_c;
        if margin <= 0.0 {
            f *= 0.5;
            throttle = throttle.with(ThrottleReason::HwThermal);
        } else if margin < 3.0 {
            f *= 0.6 + 0.4 * margin / 3.0;
            throttle = throttle.with(ThrottleReason::SwThermal);
        }
        self.sm_mhz += (f - self.sm_mhz) * 0.6;
        self.throttle = throttle;

        self.power_w = power_for(self.util, self.sm_mhz) + 4.0 * noise.symmetric();
        let steady = CardModel::AMBIENT_C + self.power_w * CardModel::THERMAL_R / self.cooling;
        let k = 1.0 - (-dt / CardModel::TAU_S).exp();
        self.temp_c += (steady - self.temp_c) * k;

        self.mem_used = (self.mem_used + self.leak_bps * dt).min(CardModel::MEMORY as f64 * 0.995);
    }

    fn sample(&self, driver: &str) -> GpuSample {
        if self.lost {
            return GpuSample::lost(self.index, self.uuid.clone(), Vendor::Nvidia);
        }
        let mem_used = self.mem_used as u64;
        let busy = self.util >= 1.0;
        let processes = self.processes(mem_used);
        GpuSample {
            index: self.index,
            uuid: self.uuid.clone(),
            vendor: Vendor::Nvidia,
            status: GpuStatus::Ok,
            name: Field::Value(CardModel::NAME.to_string()),
            pci_bus_id: Field::Value(self.pci.clone()),
            driver_version: Field::Value(driver.to_string()),
            utilization_gpu_pct: Field::Value(self.util.round() as u32),
            utilization_memory_pct: Field::Value((self.util * 0.45).round() as u32),
            memory_used_bytes: Field::Value(mem_used),
            memory_total_bytes: Field::Value(CardModel::MEMORY),
            temperature_c: Field::Value(self.temp_c.round()),
            temperature_slowdown_c: Field::Value(CardModel::SLOWDOWN_C),
            temperature_shutdown_c: Field::Value(CardModel::SHUTDOWN_C),
            power_w: Field::Value((self.power_w * 10.0).round() / 10.0),
            power_limit_w: Field::Value(self.power_limit_w),
            clock_sm_mhz: Field::Value(self.sm_mhz.round() as u32),
            clock_sm_max_mhz: Field::Value(CardModel::SM_MAX_MHZ as u32),
            clock_mem_mhz: Field::Value(if busy { CardModel::MEM_MHZ } else { 1593 }),
            clock_mem_max_mhz: Field::Value(CardModel::MEM_MHZ),
            // SXM boards have no fan of their own; NVML says "not supported" there too.
            fan_pct: Field::missing(Missing::NotSupported),
            pstate: Field::Value(if busy { 0 } else { 8 }),
            throttle: Field::Value(self.throttle),
            encoder_pct: Field::Value(0),
            decoder_pct: Field::Value(if self.workload == Workload::Inference {
                3
            } else {
                0
            }),
            pcie_link: Field::Value(PcieLink {
                generation: 5,
                width: 16,
            }),
            pcie_link_max: Field::Value(PcieLink {
                generation: 5,
                width: 16,
            }),
            pcie_replays: Field::Value(0),
            pcie_rx_bytes_per_s: Field::Value((self.util * 42_000_000.0) as u64),
            pcie_tx_bytes_per_s: Field::Value((self.util * 9_000_000.0) as u64),
            ecc_uncorrected: Field::Value(self.ecc_uncorrected),
            ecc_uncorrected_aggregate: Field::Value(self.ecc_uncorrected),
            row_remap: Field::Value(RowRemap::default()),
            retired_pages_pending: Field::Value(false),
            ecc_enabled: Field::Value(true),
            mig_enabled: Field::Value(false),
            processes: Field::Value(processes),
            // H100s with MIG mode off.
            mig: Field::Value(Vec::new()),
        }
    }

    /// The GPU's processes. Their memory sums to at most `mem_used` (600 MiB stay with the
    /// driver's context): the first process holds two shares, every other one share.
    fn processes(&self, mem_used: u64) -> Vec<GpuProcess> {
        let held = mem_used.saturating_sub(600 << 20);
        let share = held / (self.pids.len() as u64 + 1);
        self.pids
            .iter()
            .enumerate()
            .map(|(k, &pid)| {
                // Host figures of each workload: CPU % of one core, RSS, run time.
                let (cpu_pct, rss_bytes, run_time_s) = match (self.workload, k) {
                    (Workload::Training, _) => {
                        (100.0, 9 << 30, 11_520 + 60 * u64::from(self.index))
                    }
                    (_, 0) => (38.0, 5 << 30, 190_800),
                    _ => (12.0, 2 << 30, 5_400),
                };
                // Shares of the SMs follow the memory shares: two for the first process.
                let weight = if k == 0 { 2.0 } else { 1.0 } / (self.pids.len() as f64 + 1.0);
                let sm = (self.util * weight).round().min(100.0) as u32;
                let (user, command, unit) = match self.workload {
                    Workload::Training => (
                        "ml",
                        format!(
                            "python train.py --config llama-8b.yaml --rank {}",
                            self.index
                        ),
                        format!("train@{}.service", self.index),
                    ),
                    _ if k == 0 => (
                        "vllm",
                        format!(
                            "python -m vllm.entrypoints.openai.api_server --port {}",
                            8000 + self.index
                        ),
                        format!("vllm@{}.service", self.index),
                    ),
                    _ => (
                        "vllm",
                        "python embed_server.py --model bge-m3".to_string(),
                        "embed.service".to_string(),
                    ),
                };
                GpuProcess {
                    pid,
                    used_memory_bytes: Some(match (k, self.pids.len()) {
                        (0, 1) => held,
                        (0, _) => share * 2,
                        _ => share,
                    }),
                    user: Some(user.to_string()),
                    command: Some(command),
                    owner: Some(ProcessOwner::new(OwnerKind::Unit, unit.clone())),
                    unit: Some(unit),
                    utilization_sm_pct: Some(sm),
                    cpu_pct: Some(cpu_pct),
                    rss_bytes: Some(rss_bytes),
                    run_time_s: Some(run_time_s),
                    ..GpuProcess::default()
                }
            })
            .collect()
    }
}

const SIM_DRIVER: &str = "560.35.03";

impl Source for SimSource {
    fn sample(&mut self, at_ms: UnixMs) -> Result<Snapshot, SourceError> {
        let mut fleet = lock(&self.fleet);
        let start = *fleet.start_ms.get_or_insert(at_ms);
        let target = at_ms.saturating_sub(start);
        while fleet.t_ms + STEP_MS <= target {
            fleet.t_ms += STEP_MS;
            let t = fleet.t_ms;
            let Fleet { gpus, noise, .. } = &mut *fleet;
            for g in gpus.iter_mut() {
                g.step(t, noise);
            }
        }
        let mut snap = Snapshot::new(at_ms, self.host.clone(), "sim");
        snap.gpus = fleet.gpus.iter().map(|g| g.sample(SIM_DRIVER)).collect();
        Ok(snap)
    }

    fn control(&self) -> Option<Box<dyn GpuControl>> {
        Some(Box::new(SimControl {
            fleet: Arc::clone(&self.fleet),
        }))
    }
}

/// Changes clocks and power limits of the simulated cards (what `watch --demo` actuates).
pub struct SimControl {
    fleet: Arc<Mutex<Fleet>>,
}

impl SimControl {
    fn with_gpu<T>(&self, uuid: &str, f: impl FnOnce(&mut SimGpu) -> T) -> Result<T, ControlError> {
        let mut fleet = lock(&self.fleet);
        let gpu = fleet
            .gpus
            .iter_mut()
            .find(|g| g.uuid == uuid)
            .ok_or_else(|| ControlError::UnknownGpu(uuid.to_string()))?;
        if gpu.lost {
            return Err(ControlError::GpuLost);
        }
        Ok(f(gpu))
    }
}

impl GpuControl for SimControl {
    fn lock_sm_clocks(&mut self, uuid: &str, min: u32, max: u32) -> Result<(), ControlError> {
        self.with_gpu(uuid, |g| g.sm_lock = Some((min, max)))
    }
    fn reset_sm_clocks(&mut self, uuid: &str) -> Result<(), ControlError> {
        self.with_gpu(uuid, |g| g.sm_lock = None)
    }
    fn set_power_limit(&mut self, uuid: &str, watts: f64) -> Result<(), ControlError> {
        if !(100.0..=CardModel::POWER_LIMIT_W).contains(&watts) {
            return Err(ControlError::Other(format!(
                "power limit {watts} W outside the card's range 100..={} W",
                CardModel::POWER_LIMIT_W
            )));
        }
        self.with_gpu(uuid, |g| g.power_limit_w = watts)
    }
    fn reset_power_limit(&mut self, uuid: &str) -> Result<(), ControlError> {
        self.with_gpu(uuid, |g| g.power_limit_w = CardModel::POWER_LIMIT_W)
    }
}

#[cfg(test)]
mod tests;
