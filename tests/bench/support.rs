//! Helpers: build the fake CUDA driver once per test run, run the real binary, read JSON.

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The directory holding the freshly built fake `libcuda.so.1`.
pub fn fake_cuda_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_fake_cuda("fake_cuda", None))
}

/// A fake `libcuda.so.1` built without `symbol` (`cuLaunchKernel`, `cuDeviceGetCount`).
pub fn fake_cuda_dir_without(symbol: &str) -> PathBuf {
    build_fake_cuda(&format!("fake_cuda_without_{symbol}"), Some(symbol))
}

fn build_fake_cuda(name: &str, omit: Option<&str>) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).expect("creating the fake CUDA directory");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake_cuda/fake_cuda.c");
    // Built under a private name, then renamed into place: a concurrent run never sees
    // a half-written library.
    let out = dir.join(format!("libcuda.so.1.{}", std::process::id()));
    let mut cc = std::process::Command::new("cc");
    cc.args(["-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror"])
        .arg("-Wl,-soname,libcuda.so.1")
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .arg("-lm");
    if let Some(symbol) = omit {
        cc.arg(format!("-DOMIT_{symbol}"));
    }
    let status = cc
        .status()
        .expect("running cc (the C compiler is needed to build the fake CUDA driver)");
    assert!(status.success(), "building {} failed", src.display());
    std::fs::rename(&out, dir.join("libcuda.so.1")).expect("moving the fake driver into place");
    dir
}

/// An empty directory: a library path where no `libcuda.so.1` can be found.
pub fn empty_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no_cuda");
        std::fs::create_dir_all(&dir).expect("creating an empty directory");
        dir
    })
}

/// The real binary with the fake driver on its library path (and no NVML: a bench without
/// telemetry must still judge the kernels).
pub fn bench_on_fake(fail: Option<&str>) -> Command {
    let mut cmd = Command::cargo_bin("gpuwarden").expect("the gpuwarden binary");
    cmd.env("LD_LIBRARY_PATH", fake_cuda_dir())
        .env("GPUWARDEN_NVML_LIB", empty_dir().join("libnvidia-ml.so.1"))
        .env_remove("FAKE_CUDA_FAIL")
        .env_remove("FAKE_CUDA_FAIL_ORDINAL")
        .env_remove("FAKE_CUDA_SLOW_ORDINAL")
        .env_remove("NO_COLOR")
        .arg("bench");
    if let Some(f) = fail {
        cmd.env("FAKE_CUDA_FAIL", f);
    }
    cmd
}

/// Runs `cmd`, checks the exit code and parses stdout as the JSON report.
pub fn report(cmd: &mut Command, code: i32) -> serde_json::Value {
    let out = cmd.output().expect("running gpuwarden");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

/// The GPU with `index` in a report.
pub fn gpu(report: &serde_json::Value, index: u64) -> &serde_json::Value {
    report["gpus"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["index"] == index))
        .unwrap_or_else(|| panic!("no GPU {index} in {report:#}"))
}

/// The findings of a GPU, as text.
pub fn findings(gpu: &serde_json::Value) -> Vec<String> {
    gpu["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .map(|x| x["text"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}
