//! Known peak figures of common GPUs, to tell "slow" from "broken" when a box has one card.
//!
//! Dense (no sparsity) numbers from the vendors' datasheets at boost clock: FP32 (non-tensor)
//! TFLOP/s, BF16 tensor TFLOP/s with FP32 accumulation, memory bandwidth GB/s. A GPU is
//! matched by the words of its NVML name; the first entry whose words all appear wins, so
//! specific variants come before the generic name.

/// Peak figures of one GPU model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peaks {
    pub label: &'static str,
    pub fp32_tflops: f64,
    /// `None` where the GPU has no BF16 tensor cores (V100).
    pub bf16_tflops: Option<f64>,
    pub memory_gbps: f64,
}

const fn p(label: &'static str, fp32: f64, bf16: Option<f64>, mem: f64) -> Peaks {
    Peaks {
        label,
        fp32_tflops: fp32,
        bf16_tflops: bf16,
        memory_gbps: mem,
    }
}

/// (words that must all appear in the lower-cased name, peaks).
const TABLE: &[(&[&str], Peaks)] = &[
    (&["h100", "pcie"], p("H100 PCIe", 51.2, Some(756.0), 2000.0)),
    (&["h100", "nvl"], p("H100 NVL", 60.0, Some(835.0), 3900.0)),
    (&["h100"], p("H100 SXM", 66.9, Some(989.0), 3350.0)),
    (&["gh200"], p("GH200", 67.0, Some(989.0), 4000.0)),
    (&["h200"], p("H200", 66.9, Some(989.0), 4800.0)),
    (
        &["a100", "pcie", "40gb"],
        p("A100 PCIe 40GB", 19.5, Some(312.0), 1555.0),
    ),
    (
        &["a100", "pcie"],
        p("A100 PCIe 80GB", 19.5, Some(312.0), 1935.0),
    ),
    (
        &["a100", "40gb"],
        p("A100 SXM 40GB", 19.5, Some(312.0), 1555.0),
    ),
    (&["a100"], p("A100 SXM 80GB", 19.5, Some(312.0), 2039.0)),
    (&["l40s"], p("L40S", 91.6, Some(362.0), 864.0)),
    (&["l40"], p("L40", 90.5, Some(181.0), 864.0)),
    (&["rtx", "4090"], p("RTX 4090", 82.6, Some(165.2), 1008.0)),
    (&["rtx", "3090"], p("RTX 3090", 35.6, Some(71.0), 936.0)),
    (&["a10g"], p("A10G", 31.2, Some(70.0), 600.0)),
    (&["a10"], p("A10", 31.2, Some(125.0), 600.0)),
    (&["l4"], p("L4", 30.3, Some(121.0), 300.0)),
    (&["v100"], p("V100", 15.7, None, 900.0)),
];

/// The known peaks of the GPU called `name` (as NVML or the driver reports it).
pub fn lookup(name: &str) -> Option<Peaks> {
    let lower = name.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    TABLE
        .iter()
        .find(|(need, _)| need.iter().all(|n| words.contains(n)))
        .map(|(_, peaks)| *peaks)
}

#[cfg(test)]
mod tests {
    use super::lookup;

    #[test]
    fn names_as_nvml_reports_them_find_their_row() {
        let label = |n: &str| lookup(n).map(|p| p.label);
        assert_eq!(label("NVIDIA H100 80GB HBM3"), Some("H100 SXM"));
        assert_eq!(label("NVIDIA H100 PCIe"), Some("H100 PCIe"));
        assert_eq!(label("NVIDIA H100 NVL"), Some("H100 NVL"));
        assert_eq!(label("NVIDIA H200"), Some("H200"));
        assert_eq!(label("NVIDIA GH200 480GB"), Some("GH200"));
        assert_eq!(label("NVIDIA A100-SXM4-80GB"), Some("A100 SXM 80GB"));
        assert_eq!(label("NVIDIA A100-SXM4-40GB"), Some("A100 SXM 40GB"));
        assert_eq!(label("NVIDIA A100 80GB PCIe"), Some("A100 PCIe 80GB"));
        assert_eq!(label("NVIDIA A100-PCIE-40GB"), Some("A100 PCIe 40GB"));
        assert_eq!(label("NVIDIA L40S"), Some("L40S"));
        assert_eq!(label("NVIDIA GeForce RTX 4090"), Some("RTX 4090"));
        assert_eq!(label("NVIDIA GeForce RTX 3090"), Some("RTX 3090"));
        assert_eq!(label("NVIDIA A10"), Some("A10"));
        assert_eq!(label("NVIDIA L4"), Some("L4"));
        assert_eq!(label("Tesla V100-SXM2-16GB"), Some("V100"));
        assert_eq!(label("NVIDIA GeForce GTX 1080"), None);
    }

    #[test]
    fn v100_has_no_bf16_tensor_peak() {
        assert_eq!(
            lookup("Tesla V100-PCIE-32GB").and_then(|p| p.bf16_tflops),
            None
        );
    }
}
