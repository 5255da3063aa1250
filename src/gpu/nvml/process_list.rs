//! The processes on one GPU: NVML's compute and graphics lists merged by pid, each with its
//! share of the GPU (`nvmlDeviceGetProcessUtilization`) and described from `/proc`.
//!
//! The compute list is read through its symbol rather than nvml-wrapper's call, which asks
//! for the count first and takes a SUCCESS answer to mean "none": a library that answers the
//! count query with SUCCESS and the count (instead of INSUFFICIENT_SIZE) would make every
//! compute process vanish while graphics processes stay.

use super::{DeviceReader, ProcessDescriptions};
use crate::gpu::field::Field;
use crate::gpu::model::GpuProcess;
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::{NvmlError, nvml_sym, nvml_try};
use nvml_wrapper::struct_wrappers::device::ProcessUtilizationSample;
use std::collections::HashMap;

const SUCCESS: u32 = 0;
const INSUFFICIENT_SIZE: u32 = 7;
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
    ) -> Field<Vec<GpuProcess>> {
        let compute = self.get("compute processes", compute_processes(self.nvml));
        let graphics = self.get("graphics processes", |d| {
            d.running_graphics_processes().map(|list| {
                list.into_iter()
                    .map(|p| Listed {
                        pid: p.pid,
                        used: match p.used_gpu_memory {
                            UsedGpuMemory::Used(b) => Some(b),
                            UsedGpuMemory::Unavailable => None,
                        },
                    })
                    .collect()
            })
        });
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
            self.utilization(seen_us)
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
    fn utilization(&mut self, seen_us: &mut u64) -> Option<HashMap<u32, ProcessUtilizationSample>> {
        let since = *seen_us;
        let samples = match self.get("process utilization", |d| {
            match d.process_utilization_stats(since) {
                Err(NvmlError::NotFound) => Ok(Vec::new()),
                other => other,
            }
        }) {
            Field::Value(s) => s,
            Field::Missing { .. } => return None,
        };
        let mut newest: HashMap<u32, ProcessUtilizationSample> = HashMap::new();
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

/// `nvmlDeviceGetComputeRunningProcesses_v3`, taking the count from either answer to the
/// count query and retrying when processes started between the two calls.
fn compute_processes(
    nvml: &nvml_wrapper::Nvml,
) -> impl FnOnce(&nvml_wrapper::Device<'_>) -> Result<Vec<Listed>, NvmlError> + '_ {
    move |d| {
        let f = nvml_sym(nvml.lib().nvmlDeviceGetComputeRunningProcesses_v3.as_ref())?;
        let mut count: u32 = 0;
        // SAFETY: the handle comes from this initialised Nvml; a null array with a count of
        // 0 is NVML's documented way to ask for the count.
        let rc = unsafe { f(d.handle(), &mut count, std::ptr::null_mut()) };
        if rc != SUCCESS && rc != INSUFFICIENT_SIZE {
            nvml_try(rc)?;
        }
        for _ in 0..3 {
            if count == 0 {
                return Ok(Vec::new());
            }
            // Headroom for processes that start between the calls.
            let mut len = count + 8;
            let mut infos = vec![RawProcessInfo::default(); len as usize];
            // SAFETY: `infos` holds `len` elements laid out as nvmlProcessInfo_t, and NVML
            // writes at most `len` of them.
            let rc = unsafe { f(d.handle(), &mut len, infos.as_mut_ptr().cast()) };
            if rc == INSUFFICIENT_SIZE {
                count = len;
                continue;
            }
            nvml_try(rc)?;
            infos.truncate(len as usize);
            return Ok(infos
                .into_iter()
                .map(|i| Listed {
                    pid: i.pid,
                    used: (i.used_gpu_memory != NOT_AVAILABLE).then_some(i.used_gpu_memory),
                })
                .collect());
        }
        Err(NvmlError::InsufficientSize(Some(count as usize)))
    }
}
