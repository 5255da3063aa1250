//! The processes on one GPU: NVML's compute and graphics lists merged by pid, each with its
//! share of the GPU (`nvmlDeviceGetProcessUtilization`) and described from `/proc`.
//!
//! The three lists are read through their symbols rather than nvml-wrapper's calls, which ask
//! for the count first (two driver calls where one does) and take a SUCCESS answer to the
//! count query to mean "none": a library that answers it with SUCCESS and the count (instead
//! of INSUFFICIENT_SIZE) would make every compute process vanish while graphics processes
//! stay. Each list is asked for once, into a buffer sized from the last answer plus headroom;
//! only a list that outgrew it is asked again.

use super::{DeviceReader, ProcessDescriptions};
use crate::gpu::field::Field;
use crate::gpu::model::GpuProcess;
use nvml_wrapper::error::{NvmlError, nvml_sym, nvml_try};
use std::collections::HashMap;

const SUCCESS: u32 = 0;
const INSUFFICIENT_SIZE: u32 = 7;
const NOT_FOUND: u32 = 6;
/// NVML_VALUE_NOT_AVAILABLE, the "unknown" of `usedGpuMemory` and instance ids.
const NOT_AVAILABLE: u64 = u64::MAX;

/// `nvmlProcessInfo_t` as `nvmlDeviceGetComputeRunningProcesses_v3` fills it.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawProcessInfo {
    pid: u32,
    used_gpu_memory: u64,
    gpu_instance_id: u32,
    compute_instance_id: u32,
}

/// `nvmlProcessUtilizationSample_t` as `nvmlDeviceGetProcessUtilization` fills it.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RawUtilizationSample {
    pid: u32,
    /// µs since the epoch (the CPU's clock).
    timestamp: u64,
    sm_util: u32,
    mem_util: u32,
    enc_util: u32,
    dec_util: u32,
}

/// One process as the driver lists it.
struct Listed {
    pid: u32,
    used: Option<u64>,
}

impl DeviceReader<'_> {
    /// Compute and graphics processes, one entry per pid, with their GPU utilization and
    /// described from `/proc`. `seen_us` is the newest utilization timestamp read so far.
    pub(super) fn processes(
        &mut self,
        described: &mut ProcessDescriptions,
        seen_us: &mut u64,
        capacity: &mut ListCapacity,
        graphics_may_wait: bool,
    ) -> Field<Vec<GpuProcess>> {
        let lib = self.nvml.lib();
        let compute_sym = lib.nvmlDeviceGetComputeRunningProcesses_v3.as_ref();
        let graphics_sym = lib.nvmlDeviceGetGraphicsRunningProcesses_v3.as_ref();
        let compute = self.get("compute processes", |d| {
            let f = nvml_sym(compute_sym)?;
            // SAFETY: the handle comes from this initialised Nvml; `listed` passes a buffer
            // of `count` elements laid out as nvmlProcessInfo_t, and NVML writes at most
            // `count` of them.
            listed(&mut capacity.compute, |count, buf| unsafe {
                f(d.handle(), count, buf.cast())
            })
        });
        // Compute nodes seldom run graphics: an empty graphics list is asked for again only
        // with the slow fields (`graphics_may_wait`), a non-empty one every sample.
        let graphics = if graphics_may_wait && capacity.graphics_empty {
            Field::Value(Vec::new())
        } else {
            self.get("graphics processes", |d| {
                let f = nvml_sym(graphics_sym)?;
                // SAFETY: as for the compute list.
                listed(&mut capacity.graphics, |count, buf| unsafe {
                    f(d.handle(), count, buf.cast())
                })
            })
        };
        capacity.graphics_empty = matches!(&graphics, Field::Value(list) if list.is_empty());
        let lists = match (compute, graphics) {
            (Field::Value(c), Field::Value(g)) => [c, g],
            (Field::Value(c), Field::Missing { .. }) => [c, Vec::new()],
            (Field::Missing { .. }, Field::Value(g)) => [g, Vec::new()],
            (Field::Missing { missing }, Field::Missing { .. }) => {
                return Field::missing(missing);
            }
        };
        let utilization = if lists.iter().all(Vec::is_empty) {
            None
        } else {
            self.utilization(seen_us, lists[0].len() + lists[1].len())
        };
        let mut out: Vec<GpuProcess> = Vec::with_capacity(lists[0].len() + lists[1].len());
        for Listed { pid, used } in lists.into_iter().flatten() {
            if let Some(seen) = out.iter_mut().find(|p| p.pid == pid) {
                seen.used_memory_bytes = seen.used_memory_bytes.or(used);
                continue;
            }
            let mut process = GpuProcess {
                pid,
                used_memory_bytes: used,
                ..GpuProcess::default()
            };
            if let Some(by_pid) = &utilization {
                // A process NVML has no sample of did not use the GPU in that period.
                let u = by_pid.get(&pid);
                process.utilization_sm_pct = Some(u.map_or(0, |u| u.sm_util));
                process.utilization_memory_pct = Some(u.map_or(0, |u| u.mem_util));
                process.encoder_pct = Some(u.map_or(0, |u| u.enc_util));
                process.decoder_pct = Some(u.map_or(0, |u| u.dec_util));
            }
            described.describe(&mut process);
            out.push(process);
        }
        Field::Value(out)
    }

    /// The newest utilization sample of each process since `seen_us`; `None` when the
    /// driver does not offer them. NVML answers NOT_FOUND when no process had a sample.
    /// `listed` (the processes on the GPU) sizes the buffer, so one call usually does.
    fn utilization(
        &mut self,
        seen_us: &mut u64,
        listed: usize,
    ) -> Option<HashMap<u32, RawUtilizationSample>> {
        let since = *seen_us;
        let sym = self.nvml.lib().nvmlDeviceGetProcessUtilization.as_ref();
        let samples = match self.get("process utilization", |d| {
            let f = nvml_sym(sym)?;
            one_call(listed as u32, |count, buf: *mut RawUtilizationSample| {
                // SAFETY: the handle comes from this initialised Nvml; `one_call` passes a
                // buffer of `count` elements laid out as nvmlProcessUtilizationSample_t, and
                // NVML writes at most `count` of them.
                match unsafe { f(d.handle(), buf.cast(), count, since) } {
                    // No process had a sample in the period: none, not an error.
                    NOT_FOUND => {
                        *count = 0;
                        SUCCESS
                    }
                    rc => rc,
                }
            })
        }) {
            Field::Value(s) => s,
            Field::Missing { .. } => return None,
        };
        let mut newest: HashMap<u32, RawUtilizationSample> = HashMap::new();
        for s in samples {
            *seen_us = (*seen_us).max(s.timestamp);
            match newest.get(&s.pid) {
                Some(old) if old.timestamp >= s.timestamp => {}
                _ => {
                    newest.insert(s.pid, s);
                }
            }
        }
        Some(newest)
    }
}

/// How many entries each list had last time, to size the next buffer.
#[derive(Clone, Copy, Debug, Default)]
pub struct ListCapacity {
    compute: u32,
    graphics: u32,
    /// The graphics list was empty last time it was read.
    graphics_empty: bool,
}

/// Room for processes that started since the last answer.
const HEADROOM: u32 = 8;

/// One process list in one driver call (more only when it outgrew the buffer); `seen` is
/// how many entries it had last time, and is updated.
fn listed(
    seen: &mut u32,
    call: impl FnMut(&mut u32, *mut RawProcessInfo) -> u32,
) -> Result<Vec<Listed>, NvmlError> {
    let infos = one_call(*seen, call)?;
    *seen = infos.len() as u32;
    Ok(infos
        .into_iter()
        .map(|i| Listed {
            pid: i.pid,
            used: (i.used_gpu_memory != NOT_AVAILABLE).then_some(i.used_gpu_memory),
        })
        .collect())
}

/// A driver call that fills a caller's array, asked once into room for `expected` entries
/// plus headroom, and again only when the array was too small — told by INSUFFICIENT_SIZE, or
/// by SUCCESS with a count past the room (a library that answers so). `call(count, buffer)`
/// gets the room in `count` and leaves the number of entries there.
fn one_call<T: Default + Copy>(
    expected: u32,
    mut call: impl FnMut(&mut u32, *mut T) -> u32,
) -> Result<Vec<T>, NvmlError> {
    let mut len = expected + HEADROOM;
    for _ in 0..3 {
        let mut buf = vec![T::default(); len as usize];
        let mut count = len;
        let rc = call(&mut count, buf.as_mut_ptr());
        match rc {
            INSUFFICIENT_SIZE => len = count.max(len) + HEADROOM,
            SUCCESS if count > len => len = count + HEADROOM,
            _ => {
                nvml_try(rc)?;
                buf.truncate(count as usize);
                return Ok(buf);
            }
        }
    }
    Err(NvmlError::InsufficientSize(Some(len as usize)))
}
