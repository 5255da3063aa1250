//! The memory workload of one GPU: a streaming copy between two large buffers (bandwidth)
//! and the pattern check over the rest of the `--memory` share of free VRAM (bad cells).
//!
//! The pattern region takes what is left after the copy buffers; when free memory moved
//! since it was measured, the allocation is retried at half the size down to 256 MiB.

use super::error_name;
use super::worker::{ctx_err, record};
use crate::bench::reference::Check;
use crate::bench::tally::{Launch, SharedTally};
use crate::bench::{Part, kernels};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use cudarc::nvrtc::Ptx;
use std::sync::Arc;
use std::time::Instant;

/// Seed of the memory pattern; odd passes use its complement.
const PATTERN_SEED: u32 = 0x5A5A_C3C3;

/// The copy buffers and the pattern region.
pub struct Memory {
    copy: CudaFunction,
    write: CudaFunction,
    verify: CudaFunction,
    src: CudaSlice<u32>,
    dst: CudaSlice<u32>,
    region: CudaSlice<u32>,
    errors: CudaSlice<u32>,
    cfg: LaunchConfig,
}

const MIB: usize = 1 << 20;

impl Memory {
    pub fn new(
        ctx: &Arc<CudaContext>,
        stream: &Arc<CudaStream>,
        fraction: f64,
        sms: u32,
    ) -> Result<Self, String> {
        let module = ctx
            .load_module(Ptx::from_src(kernels::MEMORY_PTX))
            .map_err(|e| format!("loading memory.ptx: {}", error_name(&e)))?;
        let f = |name: &str| {
            module
                .load_function(name)
                .map_err(|e| format!("finding {name} in memory.ptx: {}", error_name(&e)))
        };
        let (copy, write, verify) = (
            f(kernels::COPY_KERNEL)?,
            f(kernels::PATTERN_WRITE_KERNEL)?,
            f(kernels::PATTERN_VERIFY_KERNEL)?,
        );
        let (free, _total) = ctx.mem_get_info().map_err(ctx_err("reading free memory"))?;
        let budget = (free as f64 * fraction) as usize;
        // Copy buffers: large enough to defeat the L2 cache, small next to the pattern region.
        let copy_bytes = (budget / 8).min(1024 * MIB) / 16 * 16;
        let words = |bytes: usize| bytes / 4;
        // SAFETY (the three allocs): the kernels write every word before any is read.
        let src = unsafe { stream.alloc::<u32>(words(copy_bytes)) }
            .map_err(ctx_err("allocating the copy source"))?;
        let dst = unsafe { stream.alloc::<u32>(words(copy_bytes)) }
            .map_err(ctx_err("allocating the copy target"))?;
        let mut region_bytes = budget.saturating_sub(2 * copy_bytes + 64 * MIB) / 16 * 16;
        let region = loop {
            // Free memory moves (other processes, fragmentation): retry smaller.
            match unsafe { stream.alloc::<u32>(words(region_bytes)) } {
                Ok(r) => break r,
                Err(_) if region_bytes > 256 * MIB => region_bytes = region_bytes / 2 / 16 * 16,
                Err(e) => {
                    return Err(format!(
                        "allocating {} MiB for the pattern check: {}",
                        region_bytes / MIB,
                        error_name(&e)
                    ));
                }
            }
        };
        let errors = stream
            .alloc_zeros::<u32>(1)
            .map_err(ctx_err("allocating the error counter"))?;
        Ok(Memory {
            copy,
            write,
            verify,
            src,
            dst,
            region,
            errors,
            cfg: LaunchConfig {
                grid_dim: (sms * 4, 1, 1),
                block_dim: (512, 1, 1),
                shared_mem_bytes: 0,
            },
        })
    }

    pub fn copy(
        &mut self,
        stream: &Arc<CudaStream>,
        start: Instant,
        tally: &SharedTally,
    ) -> Result<(), String> {
        let n16 = (self.src.len() / 4) as u64;
        let t = Instant::now();
        let mut b = stream.launch_builder(&self.copy);
        b.arg(&self.src).arg(&mut self.dst).arg(&n16);
        // SAFETY: copy_stream(src, dst, n16) touches n16 16-byte vectors of each buffer.
        unsafe { b.launch(self.cfg) }.map_err(|e| format!("launching copy: {}", error_name(&e)))?;
        stream
            .synchronize()
            .map_err(|e| format!("running the copy kernel: {}", error_name(&e)))?;
        let work = 2.0 * 16.0 * n16 as f64;
        let launch = Launch {
            part: Part::Copy,
            end_s: 0.0,
            work,
            secs: t.elapsed().as_secs_f64(),
        };
        record(tally, start, launch, Check::default(), 0);
        Ok(())
    }

    pub fn pattern(
        &mut self,
        stream: &Arc<CudaStream>,
        pass: u32,
        start: Instant,
        tally: &SharedTally,
    ) -> Result<(), String> {
        let seed = if pass.is_multiple_of(2) {
            PATTERN_SEED
        } else {
            !PATTERN_SEED
        };
        let n16 = (self.region.len() / 4) as u64;
        let t = Instant::now();
        stream
            .memset_zeros(&mut self.errors)
            .map_err(ctx_err("clearing the error counter"))?;
        let mut b = stream.launch_builder(&self.write);
        b.arg(&mut self.region).arg(&n16).arg(&seed);
        // SAFETY: pattern_write(buf, n16, seed) writes n16 vectors of `region`.
        unsafe { b.launch(self.cfg) }
            .map_err(|e| format!("launching pattern_write: {}", error_name(&e)))?;
        let mut b = stream.launch_builder(&self.verify);
        b.arg(&self.region)
            .arg(&n16)
            .arg(&seed)
            .arg(&mut self.errors);
        // SAFETY: pattern_verify reads n16 vectors of `region` and adds to one u32.
        unsafe { b.launch(self.cfg) }
            .map_err(|e| format!("launching pattern_verify: {}", error_name(&e)))?;
        let bad = stream
            .clone_dtoh(&self.errors)
            .map_err(|e| format!("running the pattern check: {}", error_name(&e)))?;
        let bad = bad.first().copied().unwrap_or(0);
        let work = 2.0 * 16.0 * n16 as f64;
        let launch = Launch {
            part: Part::Pattern,
            end_s: 0.0,
            work,
            secs: t.elapsed().as_secs_f64(),
        };
        record(tally, start, launch, Check::default(), u64::from(bad));
        Ok(())
    }
}
