//! `gpuwarden bench` without a GPU: every embedded PTX kernel through the real assembler,
//! the real binary on a fake `libcuda.so.1` built from `tests/fake_cuda/fake_cuda.c`
//! (cudarc's real driver path: module load, launches, read-back, error codes), and the
//! simulated fleet end to end.

#[path = "bench/demo.rs"]
mod demo;
#[path = "bench/fake_driver.rs"]
mod fake_driver;
#[path = "support/fake_nvml.rs"]
mod fake_nvml;
#[path = "bench/ptx.rs"]
mod ptx;
#[path = "bench/readme.rs"]
mod readme;
#[path = "bench/support.rs"]
mod support;
#[path = "bench/with_nvml.rs"]
mod with_nvml;
