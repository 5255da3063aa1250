//! Reading one GPU through NVML into a [`GpuSample`], field by field.
//!
//! Each NVML error becomes the reason its field is missing: NOT_SUPPORTED (and a symbol the
//! loaded driver lacks) → `not_supported`, NO_PERMISSION → `no_permission`, GPU_IS_LOST →
//! the whole GPU is marked lost (and the remaining calls are skipped), anything else →
//! `error` with a debug log. Units are converted here: mW → W, KB/s → bytes/s.

use super::processes::ProcessDescriptions;
use crate::gpu::cadence::Cadence;
use crate::gpu::field::{Field, Missing};
use crate::gpu::model::{GpuProcess, GpuSample, PcieLink, RowRemap, Vendor};
use crate::gpu::throttle::ThrottleReasons;
use nvml_wrapper::enum_wrappers::device::{
    Clock, EccCounter, MemoryError, PcieUtilCounter, PerformanceState, TemperatureSensor,
    TemperatureThreshold,
};
use nvml_wrapper::error::{NvmlError, nvml_sym, nvml_try};
use nvml_wrapper::{Device, Nvml};
use std::time::{Duration, Instant};

#[path = "mig.rs"]
mod mig;
#[path = "process_list.rs"]
mod process_list;

/// A GPU's NVML handle, kept between samples (asking for it again each sample is one more
/// driver call per GPU).
#[derive(Clone, Copy)]
pub struct Handle(nvml_wrapper_sys::bindings::nvmlDevice_t);

// SAFETY: an NVML handle is an opaque token the library hands out; NVML is thread-safe and
// the handle stays valid while the library is initialised, which the source's `Arc<Nvml>`
// guarantees for as long as the handle is kept.
unsafe impl Send for Handle {}

impl Handle {
    /// The handle of GPU `index`: the kept one, else asked for (and kept) now.
    pub fn device<'n>(
        kept: &mut Option<Handle>,
        nvml: &'n Nvml,
        index: u32,
    ) -> Result<Device<'n>, NvmlError> {
        if let Some(h) = kept {
            // SAFETY: `h` came from `device_by_index` on this same initialised `nvml`.
            return Ok(unsafe { Device::new(h.0, nvml) });
        }
        let device = nvml.device_by_index(index)?;
        // SAFETY: only read to keep it; it is used again only with this same `nvml`.
        *kept = Some(Handle(unsafe { device.handle() }));
        Ok(device)
    }
}

/// What does not change while NVML is initialised, read on the first sample that gets it.
#[derive(Default)]
pub struct StaticInfo {
    /// The GPU's handle; dropped when a call on it fails for the whole GPU, so the next
    /// sample asks for it again.
    handle: Option<Handle>,
    uuid: Option<String>,
    name: Field<String>,
    pci_bus_id: Field<String>,
    clock_sm_max_mhz: Field<u32>,
    clock_mem_max_mhz: Field<u32>,
    temperature_slowdown_c: Field<f64>,
    temperature_shutdown_c: Field<f64>,
    pcie_link_max: Field<PcieLink>,
    ecc_enabled: Field<bool>,
    /// Not static, but kept per GPU with the rest: the newest per-process utilization
    /// sample read, so the next read asks only for newer ones.
    utilization_seen_us: u64,
    /// How long each process list was, to size the next one's buffer.
    list_capacity: process_list::ListCapacity,
    /// The slow fields and when they were read.
    slow: Option<(Instant, SlowFields)>,
    /// The process table as last read from the driver, and when: stands for the samples
    /// within the processes cadence.
    processes: Option<(Instant, Vec<GpuProcess>)>,
    /// The encoder's and decoder's last readings: an idle engine is read again only with the
    /// slow fields, a busy one every sample.
    encoder: Option<Field<u32>>,
    decoder: Option<Field<u32>>,
    /// Whether the previous sample found the GPU lost (to log changes, not every sample).
    was_lost: bool,
}

/// What changes seldom (health counters, the enforced power limit, MIG mode, the fan, and
/// what moves only with the performance state: the memory clock and the PCIe link): read again
/// once `slow_every` has passed (every sample when it is zero, as the watchdog does), and
/// at once while one of them has no settled answer.
#[derive(Clone)]
struct SlowFields {
    power_limit_w: Field<f64>,
    pcie_replays: Field<u64>,
    ecc_uncorrected: Field<u64>,
    ecc_uncorrected_aggregate: Field<u64>,
    row_remap: Field<RowRemap>,
    retired_pages_pending: Field<bool>,
    mig_enabled: Field<bool>,
    clock_mem_mhz: Field<u32>,
    pcie_link: Field<PcieLink>,
    /// Fans ramp over seconds.
    fan_pct: Field<u32>,
}

impl SlowFields {
    fn settled(&self) -> bool {
        settled(&self.power_limit_w)
            && settled(&self.pcie_replays)
            && settled(&self.ecc_uncorrected)
            && settled(&self.ecc_uncorrected_aggregate)
            && settled(&self.row_remap)
            && settled(&self.retired_pages_pending)
            && settled(&self.mig_enabled)
            && settled(&self.clock_mem_mhz)
            && settled(&self.pcie_link)
            && settled(&self.fan_pct)
    }
}

/// An engine's last reading, when it may stand for this sample: it was idle (0 %, or the
/// GPU has no such engine) and the slow fields were not read now.
fn engine(last: Option<&Field<u32>>, refreshed: bool) -> Option<Field<u32>> {
    let last = last?;
    let idle = match last {
        Field::Value(pct) => *pct == 0,
        Field::Missing { .. } => settled(last),
    };
    (idle && !refreshed).then(|| last.clone())
}

/// A field is worth caching once it has a value or a reason that will not go away.
pub fn settled<T>(f: &Field<T>) -> bool {
    matches!(
        f.why(),
        None | Some(Missing::NotSupported | Missing::NoPermission)
    )
}

/// Why an NVML call failed, in the model's words.
fn reason(err: &NvmlError) -> Missing {
    match err {
        NvmlError::NotSupported
        | NvmlError::FailedToLoadSymbol(_)
        | NvmlError::FunctionNotFound => Missing::NotSupported,
        NvmlError::NoPermission => Missing::NoPermission,
        NvmlError::GpuLost => Missing::GpuLost,
        _ => Missing::Error,
    }
}

/// A call not tied to one GPU (the driver version): its error is only a missing field.
pub fn classify_global<T>(what: &str, r: Result<T, NvmlError>) -> Field<T> {
    r.map_or_else(
        |e| {
            tracing::debug!(what, error = %e, "nvml read failed");
            Field::missing(reason(&e))
        },
        Field::Value,
    )
}

/// Reads one GPU; once it is lost (or has no handle) the other calls are skipped.
pub struct DeviceReader<'n> {
    nvml: &'n Nvml,
    index: u32,
    device: Option<Device<'n>>,
    stop: Option<Missing>,
    /// A call said the handle itself is no good (invalid argument): ask for it anew.
    stale_handle: bool,
}

impl<'n> DeviceReader<'n> {
    pub fn new(nvml: &'n Nvml, index: u32, statics: &mut StaticInfo) -> Self {
        let (device, stop) = match Handle::device(&mut statics.handle, nvml, index) {
            Ok(d) => (Some(d), None),
            Err(e) => {
                tracing::debug!(gpu = index, error = %e, "nvml: no handle for GPU");
                (None, Some(reason(&e)))
            }
        };
        DeviceReader {
            nvml,
            index,
            device,
            stop,
            stale_handle: false,
        }
    }

    /// One NVML call, its error turned into the field's reason.
    fn get<T>(
        &mut self,
        what: &'static str,
        call: impl FnOnce(&Device<'n>) -> Result<T, NvmlError>,
    ) -> Field<T> {
        if let Some(why) = self.stop {
            return Field::missing(why);
        }
        let Some(device) = &self.device else {
            return Field::missing(Missing::Error);
        };
        match call(device) {
            Ok(v) => Field::Value(v),
            Err(e) => {
                let why = reason(&e);
                self.stale_handle |= matches!(e, NvmlError::InvalidArg);
                if why == Missing::GpuLost {
                    self.stop = Some(why);
                } else if why == Missing::Error {
                    tracing::debug!(gpu = self.index, what, error = %e, "nvml read failed");
                }
                Field::missing(why)
            }
        }
    }

    /// Reads a static field unless the cache already holds it.
    fn cached<T: Clone>(
        &mut self,
        slot: &mut Field<T>,
        what: &'static str,
        call: impl FnOnce(&Device<'n>) -> Result<T, NvmlError>,
    ) -> Field<T> {
        if !settled(slot) {
            *slot = self.get(what, call);
        }
        slot.clone()
    }

    /// The whole sample of this GPU.
    pub fn sample(
        mut self,
        statics: &mut StaticInfo,
        driver: &Field<String>,
        described: &mut ProcessDescriptions,
        pcie: Option<super::pcie::PcieRates>,
        cadence: Cadence,
    ) -> GpuSample {
        if statics.uuid.is_none() {
            statics.uuid = self.get("uuid", |d| d.uuid()).value().cloned();
        }
        let name = self.cached(&mut statics.name, "name", |d| d.name());
        let pci_bus_id = self.cached(&mut statics.pci_bus_id, "pci", |d| {
            d.pci_info().map(|p| p.bus_id)
        });
        let (slow, refreshed) = self.slow(statics, cadence.slow);
        let utilization = self.get("utilization", |d| d.utilization_rates());
        let memory = self.get("memory", |d| d.memory_info());
        let mut sample = GpuSample {
            index: self.index,
            uuid: String::new(),
            vendor: Vendor::Nvidia,
            status: Default::default(),
            name,
            pci_bus_id,
            driver_version: driver.clone(),
            utilization_gpu_pct: utilization.as_ref().map(|u| u.gpu),
            utilization_memory_pct: utilization.map(|u| u.memory),
            memory_used_bytes: memory.as_ref().map(|m| m.used),
            memory_total_bytes: memory.map(|m| m.total),
            temperature_c: self
                .get("temperature", |d| d.temperature(TemperatureSensor::Gpu))
                .map(f64::from),
            temperature_slowdown_c: self.cached(
                &mut statics.temperature_slowdown_c,
                "slowdown temperature",
                |d| {
                    d.temperature_threshold(TemperatureThreshold::Slowdown)
                        .map(f64::from)
                },
            ),
            temperature_shutdown_c: self.cached(
                &mut statics.temperature_shutdown_c,
                "shutdown temperature",
                |d| {
                    d.temperature_threshold(TemperatureThreshold::Shutdown)
                        .map(f64::from)
                },
            ),
            power_w: self.get("power", |d| d.power_usage()).map(milliwatts),
            power_limit_w: slow.power_limit_w,
            clock_sm_mhz: self.get("sm clock", |d| d.clock_info(Clock::SM)),
            clock_sm_max_mhz: self.cached(&mut statics.clock_sm_max_mhz, "max sm clock", |d| {
                d.max_clock_info(Clock::SM)
            }),
            clock_mem_mhz: slow.clock_mem_mhz,
            clock_mem_max_mhz: self.cached(
                &mut statics.clock_mem_max_mhz,
                "max memory clock",
                |d| d.max_clock_info(Clock::Memory),
            ),
            fan_pct: slow.fan_pct,
            pstate: self.pstate(),
            throttle: self.throttle(),
            encoder_pct: engine(statics.encoder.as_ref(), refreshed).unwrap_or_else(|| {
                self.get("encoder", |d| d.encoder_utilization())
                    .map(|u| u.utilization)
            }),
            decoder_pct: engine(statics.decoder.as_ref(), refreshed).unwrap_or_else(|| {
                self.get("decoder", |d| d.decoder_utilization())
                    .map(|u| u.utilization)
            }),
            pcie_link: slow.pcie_link,
            pcie_link_max: self.cached(&mut statics.pcie_link_max, "max pcie link", |d| {
                Ok(PcieLink {
                    generation: d.max_pcie_link_gen()?,
                    width: d.max_pcie_link_width()?,
                })
            }),
            pcie_replays: slow.pcie_replays,
            // From the background reader when it has them (each call waits ~20 ms on a real
            // driver); inline only until its first round is done.
            pcie_rx_bytes_per_s: match &pcie {
                Some(r) => r.rx.clone(),
                None => self
                    .get("pcie rx", |d| d.pcie_throughput(PcieUtilCounter::Receive))
                    .map(kilobytes),
            },
            pcie_tx_bytes_per_s: match &pcie {
                Some(r) => r.tx.clone(),
                None => self
                    .get("pcie tx", |d| d.pcie_throughput(PcieUtilCounter::Send))
                    .map(kilobytes),
            },
            ecc_uncorrected: slow.ecc_uncorrected,
            ecc_uncorrected_aggregate: slow.ecc_uncorrected_aggregate,
            row_remap: slow.row_remap,
            retired_pages_pending: slow.retired_pages_pending,
            ecc_enabled: self.cached(&mut statics.ecc_enabled, "ecc mode", |d| {
                d.is_ecc_enabled().map(|m| m.currently_enabled)
            }),
            mig_enabled: slow.mig_enabled,
            processes: Field::default(),
            mig: Field::default(),
        };
        statics.encoder = Some(sample.encoder_pct.clone());
        statics.decoder = Some(sample.decoder_pct.clone());
        let kept = statics
            .processes
            .as_ref()
            .filter(|(at, _)| at.elapsed() < cadence.processes);
        if let Some((_, list)) = kept {
            // Within the cadence: the table as last read, its processes still remembered.
            for p in list {
                described.keep(p.pid);
            }
            sample.processes = Field::Value(list.clone());
            sample.mig = self.mig_devices(&sample.mig_enabled, &mut Field::default(), described);
        } else {
            sample.processes = self.processes(
                described,
                &mut statics.utilization_seen_us,
                &mut statics.list_capacity,
                !refreshed,
            );
            sample.mig = self.mig_devices(&sample.mig_enabled, &mut sample.processes, described);
            statics.processes = match &sample.processes {
                // Only an answer is kept: a failed read is tried again next sample.
                Field::Value(list) if !cadence.processes.is_zero() => {
                    Some((Instant::now(), list.clone()))
                }
                _ => None,
            };
        }
        self.finish(sample, statics)
    }

    /// The slow fields: the cached ones while they are fresh and settled, else read now.
    /// Also says whether they were read now (the idle fields are read along with them).
    fn slow(&mut self, statics: &mut StaticInfo, every: Duration) -> (SlowFields, bool) {
        if let Some((at, fields)) = &statics.slow
            && at.elapsed() < every
            && fields.settled()
        {
            return (fields.clone(), false);
        }
        let fields = SlowFields {
            power_limit_w: self
                .get("power limit", |d| d.enforced_power_limit())
                .map(milliwatts),
            pcie_replays: self
                .get("pcie replays", |d| d.pcie_replay_counter())
                .map(u64::from),
            ecc_uncorrected: self.get("ecc", |d| {
                d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
            }),
            ecc_uncorrected_aggregate: self.get("aggregate ecc", |d| {
                d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Aggregate)
            }),
            row_remap: self.row_remap(),
            retired_pages_pending: self
                .get("retired pages pending", |d| d.are_pages_pending_retired()),
            mig_enabled: self.get("mig mode", |d| d.mig_mode().map(|m| m.current == 1)),
            clock_mem_mhz: self.get("memory clock", |d| d.clock_info(Clock::Memory)),
            pcie_link: self.pcie_link(),
            fan_pct: self.get("fan", |d| d.fan_speed(0)),
        };
        statics.slow = Some((Instant::now(), fields.clone()));
        (fields, true)
    }

    /// Puts identity in, or turns the sample into a lost one.
    fn finish(&self, mut sample: GpuSample, statics: &mut StaticInfo) -> GpuSample {
        let uuid = statics
            .uuid
            .clone()
            .unwrap_or_else(|| format!("unknown-{}", self.index));
        if self.stop.is_some() || self.stale_handle {
            statics.handle = None;
        }
        let lost = self.stop == Some(Missing::GpuLost);
        if lost != statics.was_lost {
            statics.was_lost = lost;
            if lost {
                tracing::warn!(gpu = self.index, %uuid, "GPU is lost (fell off the bus or stopped answering)");
            } else {
                tracing::info!(gpu = self.index, %uuid, "GPU answers again");
            }
        }
        if lost {
            // What was read before it was lost is not kept for when it answers again.
            statics.slow = None;
            statics.processes = None;
            let mut lost = GpuSample::lost(self.index, uuid, Vendor::Nvidia);
            // Keep what identifies the card so people can find it in the rack.
            if statics.name.value().is_some() {
                lost.name = statics.name.clone();
            }
            if statics.pci_bus_id.value().is_some() {
                lost.pci_bus_id = statics.pci_bus_id.clone();
            }
            return lost;
        }
        sample.uuid = uuid;
        sample
    }

    fn pstate(&mut self) -> Field<u32> {
        match self.get("pstate", |d| d.performance_state()) {
            Field::Value(PerformanceState::Unknown) => Field::missing(Missing::NotSupported),
            other => other.map(|p| p.as_c()),
        }
    }

    /// Clocks-event reasons by their current name, falling back to the deprecated
    /// "throttle reasons" symbol on drivers older than 535.
    fn throttle(&mut self) -> Field<ThrottleReasons> {
        let lib = self.nvml.lib();
        let sym = lib
            .nvmlDeviceGetCurrentClocksEventReasons
            .as_ref()
            .or(lib.nvmlDeviceGetCurrentClocksThrottleReasons.as_ref());
        self.get("clocks event reasons", |d| {
            let f = nvml_sym(sym)?;
            let mut reasons: u64 = 0;
            // SAFETY: the handle comes from this initialised Nvml and stays valid while it
            // lives; `reasons` is a valid out-pointer for the duration of the call.
            nvml_try(unsafe { f(d.handle(), &mut reasons) })?;
            Ok(ThrottleReasons(reasons))
        })
    }

    /// `nvmlDeviceGetRemappedRows`, which nvml-wrapper does not wrap: called through its
    /// symbol, a driver without it is `not_supported`.
    fn row_remap(&mut self) -> Field<RowRemap> {
        let sym = self.nvml.lib().nvmlDeviceGetRemappedRows.as_ref();
        self.get("remapped rows", |d| {
            let f = nvml_sym(sym)?;
            let (mut corr, mut unc, mut pending, mut failure) = (0u32, 0u32, 0u32, 0u32);
            // SAFETY: the handle comes from this initialised Nvml and stays valid while it
            // lives; the four out-pointers are valid for the duration of the call.
            nvml_try(unsafe { f(d.handle(), &mut corr, &mut unc, &mut pending, &mut failure) })?;
            Ok(RowRemap {
                correctable: corr,
                uncorrectable: unc,
                pending: pending != 0,
                failure: failure != 0,
            })
        })
    }

    fn pcie_link(&mut self) -> Field<PcieLink> {
        let generation = self.get("pcie link generation", |d| d.current_pcie_link_gen());
        let width = self.get("pcie link width", |d| d.current_pcie_link_width());
        match (generation, width) {
            (Field::Value(generation), Field::Value(width)) => {
                Field::Value(PcieLink { generation, width })
            }
            (Field::Missing { missing }, _) | (_, Field::Missing { missing }) => {
                Field::missing(missing)
            }
        }
    }
}

fn milliwatts(mw: u32) -> f64 {
    f64::from(mw) / 1000.0
}

/// NVML reports PCIe throughput in KB/s (1 KB = 1024 bytes).
fn kilobytes(kb: u32) -> u64 {
    u64::from(kb) * 1024
}
