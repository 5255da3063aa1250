//! The PTX kernels embedded in the binary, and the names the host launches them by.
//!
//! The sources live in `kernels/*.ptx` (hand-written: the binary needs no CUDA toolkit, only
//! the driver, which JIT-compiles PTX for whatever GPU it finds). `tests/bench.rs` assembles
//! each one with `ptxas` for sm_80 and sm_90 so a broken kernel fails the test suite.

/// FP32 FMA chains: `burn_fp32(out: *f32, iters: u32)`.
pub const FP32_PTX: &str = include_str!("kernels/fp32.ptx");
/// BF16 tensor-core MMA loops (sm_80+): `burn_tensor(out: *f32, iters: u32)`.
pub const TENSOR_PTX: &str = include_str!("kernels/tensor.ptx");
/// Streaming copy and pattern write/verify: `copy_stream(src, dst, n16)`,
/// `pattern_write(buf, n16, seed)`, `pattern_verify(buf, n16, seed, errors)`.
pub const MEMORY_PTX: &str = include_str!("kernels/memory.ptx");

pub const FP32_KERNEL: &str = "burn_fp32";
pub const TENSOR_KERNEL: &str = "burn_tensor";
pub const COPY_KERNEL: &str = "copy_stream";
pub const PATTERN_WRITE_KERNEL: &str = "pattern_write";
pub const PATTERN_VERIFY_KERNEL: &str = "pattern_verify";

/// Every embedded PTX module with its file name and the entry points it must define.
pub const ALL: [(&str, &str, &[&str]); 3] = [
    ("fp32.ptx", FP32_PTX, &[FP32_KERNEL]),
    ("tensor.ptx", TENSOR_PTX, &[TENSOR_KERNEL]),
    (
        "memory.ptx",
        MEMORY_PTX,
        &[COPY_KERNEL, PATTERN_WRITE_KERNEL, PATTERN_VERIFY_KERNEL],
    ),
];
