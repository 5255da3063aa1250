//! One GPU's burn: its own host thread and CUDA context, kernels launched back to back
//! until told to stop, every result read back and checked against the host's value.
//!
//! `mixed` runs the tensor kernel on one stream while copies (and every 16th time a pattern
//! pass) run back to back on a second until the tensor kernel is done, so the card sees
//! compute and memory load at once. Compute kernels are timed with CUDA events (GPU time),
//! copies and pattern passes by the host around a synchronize. Kernel lengths start short
//! and double until a launch takes ~50 ms, so a slow card is never stuck in one launch and
//! a fast one is not dominated by launch overhead.

use super::memory::Memory;
use super::{CudaDevice, error_name};
use crate::bench::reference::{self, Check};
use crate::bench::tally::{Launch, SharedTally};
use crate::bench::{Part, Workload, kernels};
use cudarc::driver::sys::{CUdevice_attribute as Attr, CUevent_flags};
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaSlice, CudaStream, DriverError, LaunchConfig,
    PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

/// A launch this long is long enough.
const TARGET_LAUNCH_S: f64 = 0.05;
/// In `mixed`, one pattern pass per this many copies (the first copy included) (a pass over most of VRAM takes as
/// long as dozens of copies).
const PATTERN_EVERY: u32 = 16;

/// What a worker runs and when it stops.
#[derive(Clone)]
pub struct Plan {
    pub workload: Workload,
    /// Share of free VRAM the memory workload covers (0..1].
    pub memory_fraction: f64,
    pub start: Instant,
    pub stop: Arc<AtomicBool>,
}

/// Starts the burn of `dev` on its own thread.
pub fn spawn(dev: CudaDevice, plan: Plan, tally: SharedTally) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("gpuwarden-burn-{}", dev.ordinal))
        .spawn(move || {
            // cudarc panics on a driver that lacks a symbol it needs; that is this GPU's
            // failure, not a reason to leave the bench waiting for a worker that is gone.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                burn(&dev, &plan, &tally)
            }))
            .unwrap_or_else(|panic| {
                Err(format!(
                    "the CUDA driver library failed: {}",
                    super::panic_text(panic.as_ref())
                ))
            });
            let mut t = tally.lock();
            if let Err(e) = result {
                t.errors.push(e);
            }
            t.finished = true;
        })
}

pub(super) fn ctx_err(what: &str) -> impl Fn(DriverError) -> String + '_ {
    move |e| format!("{what}: {}", error_name(&e))
}

fn burn(dev: &CudaDevice, plan: &Plan, tally: &SharedTally) -> Result<(), String> {
    let ctx = CudaContext::new(dev.ordinal).map_err(ctx_err("creating a CUDA context"))?;
    let sms = ctx
        .attribute(Attr::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
        .map_err(ctx_err("reading the SM count"))?
        .max(1) as u32;
    let per_sm = ctx
        .attribute(Attr::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR)
        .map_err(ctx_err("reading threads per SM"))?
        .clamp(256, 4096) as u32;
    let compute_stream = ctx.new_stream().map_err(ctx_err("creating a stream"))?;
    let memory_stream = ctx.new_stream().map_err(ctx_err("creating a stream"))?;
    let mut compute = match plan.workload {
        Workload::Fp32 => Some(Compute::new(
            &ctx,
            &compute_stream,
            Part::Fp32,
            sms,
            per_sm,
        )?),
        Workload::Tensor | Workload::Mixed => {
            let (major, minor) = ctx
                .compute_capability()
                .map_err(ctx_err("reading the compute capability"))?;
            if major < 8 {
                return Err(format!(
                    "the tensor workload needs BF16 tensor cores (sm_80 or newer); this GPU is \
                     sm_{major}{minor} (try --workload fp32 or memory)"
                ));
            }
            Some(Compute::new(
                &ctx,
                &compute_stream,
                Part::Tensor,
                sms,
                per_sm,
            )?)
        }
        Workload::Memory => None,
    };
    let mut memory = match plan.workload {
        Workload::Memory | Workload::Mixed => Some(Memory::new(
            &ctx,
            &memory_stream,
            plan.memory_fraction,
            sms,
        )?),
        _ => None,
    };
    let mut pass = 0u32;
    let mut copies = 0u32;
    while !plan.stop.load(Ordering::Relaxed) {
        match (compute.as_mut(), memory.as_mut()) {
            (Some(c), None) => {
                c.launch(&compute_stream)?;
                c.finish(&compute_stream, plan.start, tally)?;
            }
            (None, Some(m)) => {
                m.copy(&memory_stream, plan.start, tally)?;
                m.pattern(&memory_stream, pass, plan.start, tally)?;
                pass = pass.wrapping_add(1);
            }
            (Some(c), Some(m)) => {
                // Mixed: keep the memory stream busy for as long as the tensor kernel runs.
                c.launch(&compute_stream)?;
                loop {
                    m.copy(&memory_stream, plan.start, tally)?;
                    copies = copies.wrapping_add(1);
                    if copies % PATTERN_EVERY == 1 {
                        m.pattern(&memory_stream, pass, plan.start, tally)?;
                        pass = pass.wrapping_add(1);
                    }
                    if c.is_done() || plan.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                c.finish(&compute_stream, plan.start, tally)?;
            }
            (None, None) => return Ok(()),
        }
    }
    Ok(())
}

/// The FP32 or tensor kernel with its output buffer and current length.
struct Compute {
    part: Part,
    func: CudaFunction,
    out: CudaSlice<f32>,
    cfg: LaunchConfig,
    iters: u32,
    max_iters: u32,
    /// Events around the running launch: kernel time measured on the GPU.
    timing: Option<(CudaEvent, CudaEvent)>,
    expected: HashMap<u32, f32>,
}

impl Compute {
    fn new(
        ctx: &Arc<CudaContext>,
        stream: &Arc<CudaStream>,
        part: Part,
        sms: u32,
        per_sm: u32,
    ) -> Result<Self, String> {
        let (file, src, name, block, max_iters) = match part {
            Part::Fp32 => (
                "fp32.ptx",
                kernels::FP32_PTX,
                kernels::FP32_KERNEL,
                256,
                1 << 17,
            ),
            _ => (
                "tensor.ptx",
                kernels::TENSOR_PTX,
                kernels::TENSOR_KERNEL,
                128,
                1 << 20,
            ),
        };
        let module = ctx
            .load_module(Ptx::from_src(src))
            .map_err(|e| format!("loading {file}: {}", error_name(&e)))?;
        let func = module
            .load_function(name)
            .map_err(|e| format!("finding {name} in {file}: {}", error_name(&e)))?;
        let blocks = sms * (per_sm / block).max(1);
        let out = stream
            .alloc_zeros::<f32>((blocks * block) as usize)
            .map_err(ctx_err("allocating the result buffer"))?;
        Ok(Compute {
            part,
            func,
            out,
            cfg: LaunchConfig {
                grid_dim: (blocks, 1, 1),
                block_dim: (block, 1, 1),
                shared_mem_bytes: 0,
            },
            iters: 64,
            max_iters,
            timing: None,
            expected: HashMap::new(),
        })
    }

    fn launch(&mut self, stream: &Arc<CudaStream>) -> Result<(), String> {
        let event = || {
            stream
                .record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(ctx_err("recording a timing event"))
        };
        let begin = event()?;
        let mut b = stream.launch_builder(&self.func);
        b.arg(&mut self.out).arg(&self.iters);
        // SAFETY: the kernel takes (f32* out, u32 iters) and writes one f32 per thread of
        // the grid, which is exactly `out`'s length.
        unsafe { b.launch(self.cfg) }
            .map_err(|e| format!("launching {}: {}", self.part.name(), error_name(&e)))?;
        self.timing = Some((begin, event()?));
        Ok(())
    }

    /// Whether the running launch has finished (without waiting).
    fn is_done(&self) -> bool {
        self.timing
            .as_ref()
            .is_none_or(|(_, end)| end.is_complete())
    }

    fn finish(
        &mut self,
        stream: &Arc<CudaStream>,
        start: Instant,
        tally: &SharedTally,
    ) -> Result<(), String> {
        let what = self.part.name();
        stream
            .synchronize()
            .map_err(|e| format!("running the {what} kernel: {}", error_name(&e)))?;
        let secs = match self.timing.take() {
            Some((begin, end)) => {
                f64::from(
                    begin
                        .elapsed_ms(&end)
                        .map_err(ctx_err("timing the kernel"))?,
                ) / 1000.0
            }
            None => 0.0,
        };
        let values = stream
            .clone_dtoh(&self.out)
            .map_err(|e| format!("reading {what} results back: {}", error_name(&e)))?;
        let iters = self.iters;
        let expected = match self.part {
            Part::Fp32 => *self
                .expected
                .entry(iters)
                .or_insert_with(|| reference::fp32_expected(iters)),
            _ => reference::TENSOR_EXPECTED,
        };
        let check = reference::verify(&values, expected);
        let threads = f64::from(self.cfg.grid_dim.0 * self.cfg.block_dim.0);
        let work = match self.part {
            Part::Fp32 => threads * f64::from(iters) * reference::FP32_FLOP_PER_THREAD_ITER as f64,
            _ => {
                let mmas = reference::TENSOR_MMA_PER_WARP_ITER as f64 * f64::from(iters) + 4.0;
                threads / 32.0 * mmas * reference::TENSOR_FLOP_PER_MMA as f64
            }
        };
        record(
            tally,
            start,
            Launch {
                part: self.part,
                end_s: 0.0,
                work,
                secs,
            },
            check,
            0,
        );
        if secs < TARGET_LAUNCH_S && self.iters < self.max_iters {
            self.iters = (self.iters * 2).min(self.max_iters);
        }
        Ok(())
    }
}

pub(super) fn record(
    tally: &SharedTally,
    start: Instant,
    mut launch: Launch,
    check: Check,
    pattern_errors: u64,
) {
    let now = start.elapsed().as_secs_f64();
    launch.end_s = now;
    let mut t = tally.lock();
    t.launches.push(launch);
    t.wrong_results += check.mismatches;
    t.non_finite += check.non_finite;
    t.pattern_errors += pattern_errors;
    if check.mismatches > 0 || pattern_errors > 0 {
        t.note_fault(now);
    }
}
