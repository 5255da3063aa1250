//! `gpuwarden bench`: a burn that saturates every selected GPU at once, checks every result
//! against the host and judges each GPU.
//!
//! - `kernels` (PTX, embedded) and `reference` (what they must produce) define the work;
//! - `cuda` runs it on real GPUs through the CUDA driver API (cudarc, loaded at run time),
//!   one host thread and context per GPU; `demo` runs it on the simulated fleet;
//! - `tally` collects what the kernels did, `watch` what the sampling core saw meanwhile;
//! - `verdict` (pure) and `peaks` judge; `replay` runs the watchdog's rules over the
//!   samples (`--with-policy`); `report` and `progress` show it; `run` ties it up.

pub mod cuda;
pub mod demo;
pub mod kernels;
pub mod peaks;
pub mod progress;
pub mod reference;
pub mod replay;
pub mod report;
pub mod run;
pub mod tally;
pub mod verdict;
pub mod watch;

use std::fmt;

/// What the bench runs, as chosen with `--workload`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Workload {
    /// FP32 FMA chains (the FP32 peak)
    Fp32,
    /// BF16 tensor-core MMA loops, sm_80 and newer (full board power)
    Tensor,
    /// Streaming copy (bandwidth) + pattern write/verify of the --memory share of free VRAM
    Memory,
    /// Tensor and memory together on two streams (like real training/inference)
    #[default]
    Mixed,
}

impl Workload {
    /// The measured parts of this workload, in report order.
    pub fn parts(self) -> &'static [Part] {
        match self {
            Workload::Fp32 => &[Part::Fp32],
            Workload::Tensor => &[Part::Tensor],
            Workload::Memory => &[Part::Copy, Part::Pattern],
            Workload::Mixed => &[Part::Tensor, Part::Copy, Part::Pattern],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Workload::Fp32 => "fp32",
            Workload::Tensor => "tensor",
            Workload::Memory => "memory",
            Workload::Mixed => "mixed",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One measured kernel of a workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// `burn_fp32`, TFLOP/s.
    Fp32,
    /// `burn_tensor`, TFLOP/s.
    Tensor,
    /// `copy_stream`, GB/s read + written.
    Copy,
    /// `pattern_write` + `pattern_verify`, GB/s checked.
    Pattern,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::Fp32 => "fp32",
            Part::Tensor => "tensor",
            Part::Copy => "copy",
            Part::Pattern => "pattern",
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Part::Fp32 | Part::Tensor => "TFLOP/s",
            Part::Copy | Part::Pattern => "GB/s",
        }
    }

    /// Work units (FLOP or bytes) per unit of the reported rate.
    pub fn scale(self) -> f64 {
        match self {
            Part::Fp32 | Part::Tensor => 1e12,
            Part::Copy | Part::Pattern => 1e9,
        }
    }

    /// This part's known peak for a GPU model, if the table has one.
    pub fn peak(self, p: &peaks::Peaks) -> Option<f64> {
        match self {
            Part::Fp32 => Some(p.fp32_tflops),
            Part::Tensor => p.bf16_tflops,
            Part::Copy => Some(p.memory_gbps),
            Part::Pattern => None,
        }
    }
}
