//! Every embedded PTX kernel is assembled by NVIDIA's `ptxas` for sm_80 (A100) and sm_90
//! (H100/H200), so a kernel that the driver would reject fails the test suite. `ptxas`
//! comes from PyPI's nvidia-cuda-nvcc-cu12, installed by tests/peers/install.sh.

use gpuwarden::bench::kernels;
use std::path::{Path, PathBuf};
use std::process::Command;

const ARCHS: [&str; 2] = ["sm_80", "sm_90"];

fn ptxas() -> PathBuf {
    if let Some(p) = std::env::var_os("PTXAS") {
        return PathBuf::from(p);
    }
    let lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/tools/ptxas-venv/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|dirs| {
        dirs.flatten()
            .map(|d| d.path().join("site-packages/nvidia/cuda_nvcc/bin/ptxas"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "ptxas not found under {}/python3*/site-packages/nvidia/cuda_nvcc/bin/ — run \
             tests/peers/install.sh (it installs nvidia-cuda-nvcc-cu12 into \
             target/tools/ptxas-venv) or set PTXAS=/path/to/ptxas",
            lib.display()
        )
    })
}

/// Assembles `ptx` for `arch`; returns ptxas's verbose output or its error text.
fn assemble(name: &str, ptx: &str, arch: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join(name);
    std::fs::write(&src, ptx).expect("writing the PTX");
    let out = Command::new(ptxas())
        .arg(format!("-arch={arch}"))
        .arg("-v")
        .arg("-o")
        .arg(dir.path().join("out.cubin"))
        .arg(&src)
        .output()
        .expect("running ptxas");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// `(entry, registers)` from ptxas -v output.
fn registers(verbose: &str) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    let mut entry = String::new();
    for line in verbose.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            entry = rest.split('\'').next().unwrap_or_default().to_string();
        }
        if let Some(rest) = line.split("Used ").nth(1)
            && let Some(n) = rest.split(' ').next().and_then(|n| n.parse().ok())
        {
            out.push((entry.clone(), n));
        }
    }
    out
}

#[test]
fn every_embedded_kernel_assembles_for_sm80_and_sm90() {
    for (file, ptx, entries) in kernels::ALL {
        for arch in ARCHS {
            let verbose = assemble(file, ptx, arch)
                .unwrap_or_else(|e| panic!("ptxas -arch={arch} rejected {file}:\n{e}"));
            let regs = registers(&verbose);
            for entry in entries {
                let used = regs
                    .iter()
                    .find(|(e, _)| e == entry)
                    .unwrap_or_else(|| panic!("{file} for {arch}: no entry {entry} in\n{verbose}"))
                    .1;
                // 64K registers per SM over 2048 threads: at most 32 each for full occupancy.
                assert!(
                    used <= 32,
                    "{entry} on {arch} uses {used} registers (> 32): occupancy drops"
                );
            }
            let spills = verbose
                .lines()
                .filter(|l| l.contains("spill"))
                .any(|l| !l.contains("0 bytes spill stores, 0 bytes spill loads"));
            assert!(
                !spills,
                "{file} on {arch} spills registers to memory:\n{verbose}"
            );
        }
    }
}

#[test]
fn a_broken_kernel_is_rejected_so_the_check_above_can_fail() {
    let broken =
        kernels::FP32_PTX.replace("fma.rn.f32 %a0, %a0, %m,", "fma.rn.f32 %a0, %nosuch, %m,");
    assert_ne!(broken, kernels::FP32_PTX, "the edit must apply");
    let err = assemble("broken.ptx", &broken, "sm_90")
        .expect_err("ptxas must reject an undefined register");
    assert!(err.contains("nosuch"), "{err}");
}

#[test]
fn the_tensor_kernel_needs_sm80_and_says_so() {
    // The MMA shape used is sm_80+; assembling for Volta must fail rather than run wrong.
    let err =
        assemble("tensor.ptx", kernels::TENSOR_PTX, "sm_70").expect_err("sm_70 has no bf16 mma");
    assert!(
        err.to_lowercase().contains("sm_80") || err.contains("target"),
        "{err}"
    );
}
