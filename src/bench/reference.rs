//! What the kernels must produce, computed on the host.
//!
//! Each kernel is designed so that every thread's result is the same number and the host can
//! compute it exactly: the FP32 chains use `fma` (correctly rounded on both sides, so
//! `f32::mul_add` gives the GPU's bits), the tensor loop only adds and removes exact
//! products, and the memory pattern is integer arithmetic. `verify` counts the threads whose
//! result differs by even one bit, and the NaN/Inf ones among them.

/// The multiplier of the FP32 recurrence `a <- fma(a, M, C_k)` (0.9999 in f32).
pub const FP32_M: f32 = f32::from_bits(0x3F7F_F972);
/// The addends `C_k` of the eight FP32 chains (1e-4 .. 8e-4 in f32).
pub const FP32_C: [f32; 8] = [
    f32::from_bits(0x38D1_B717),
    f32::from_bits(0x3951_B717),
    f32::from_bits(0x399D_4952),
    f32::from_bits(0x39D1_B717),
    f32::from_bits(0x3A03_126F),
    f32::from_bits(0x3A1D_4952),
    f32::from_bits(0x3A37_8034),
    f32::from_bits(0x3A51_B717),
];
/// FMA steps per chain per loop trip (the kernel's unroll).
pub const FP32_STEPS_PER_ITER: u64 = 4;
/// Floating-point operations per thread per loop trip: 8 chains x 4 FMAs x 2.
pub const FP32_FLOP_PER_THREAD_ITER: u64 = 8 * FP32_STEPS_PER_ITER * 2;

/// The value every thread of `burn_fp32(out, iters)` writes.
pub fn fp32_expected(iters: u32) -> f32 {
    let mut a: [f32; 8] = std::array::from_fn(|k| -((k + 1) as f32));
    for _ in 0..u64::from(iters) * FP32_STEPS_PER_ITER {
        for (x, c) in a.iter_mut().zip(FP32_C) {
            *x = x.mul_add(FP32_M, c);
        }
    }
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// The value every thread of `burn_tensor(out, iters)` writes, whatever `iters`: four
/// accumulators of four elements each end at `j + 1 + 60` (j = 0..3), summed.
pub const TENSOR_EXPECTED: f32 = 4.0 * (61.0 + 62.0 + 63.0 + 64.0);
/// MMAs per warp per loop trip (4 accumulators x (+AB, -A'B)).
pub const TENSOR_MMA_PER_WARP_ITER: u64 = 8;
/// Floating-point operations of one m16n8k16 MMA.
pub const TENSOR_FLOP_PER_MMA: u64 = 2 * 16 * 8 * 16;

/// The word `pattern_write` stores at word index `w` for `seed`.
pub fn pattern_word(w: u64, seed: u32) -> u32 {
    let lo = w as u32;
    let hi = (w >> 32) as u32;
    lo.wrapping_mul(0x9E37_79B1) ^ hi.wrapping_mul(0x85EB_CA77) ^ seed
}

/// How a kernel's output compared with the host's value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Check {
    /// Threads whose value differs from the reference in any bit.
    pub mismatches: u64,
    /// Of those, the ones that are NaN or infinite.
    pub non_finite: u64,
}

/// Compares every thread's output with `expected`, bit for bit.
pub fn verify(values: &[f32], expected: f32) -> Check {
    let want = expected.to_bits();
    let mut check = Check::default();
    for v in values {
        if v.to_bits() != want {
            check.mismatches += 1;
            if !v.is_finite() {
                check.non_finite += 1;
            }
        }
    }
    check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_are_the_decimal_values_the_kernel_comments_name() {
        assert_eq!(FP32_M, 0.9999_f32);
        let decimal = [1e-4, 2e-4, 3e-4, 4e-4, 5e-4, 6e-4, 7e-4, 8e-4_f32];
        assert_eq!(FP32_C, decimal);
    }

    #[test]
    fn fp32_reference_of_zero_iterations_is_the_sum_of_the_starting_values() {
        assert_eq!(fp32_expected(0), -36.0);
    }

    #[test]
    fn fp32_reference_is_fused_not_multiply_then_add() {
        // One trip by hand, fused; a separately rounded multiply-add drifts from it.
        let mut fused: [f32; 8] = std::array::from_fn(|k| -((k + 1) as f32));
        let mut split = fused;
        for _ in 0..FP32_STEPS_PER_ITER * 200 {
            for k in 0..8 {
                fused[k] = fused[k].mul_add(FP32_M, FP32_C[k]);
                split[k] = split[k] * FP32_M + FP32_C[k];
            }
        }
        let sum = |a: [f32; 8]| ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        assert_eq!(fp32_expected(200).to_bits(), sum(fused).to_bits());
        assert_ne!(sum(fused).to_bits(), sum(split).to_bits());
    }

    #[test]
    fn fp32_reference_heads_to_the_fixed_points() {
        // Chains start at -(k+1) and head for C_k/(1-M) ~ (k+1): the sum goes -36 -> ~36.
        let v = fp32_expected(1 << 16);
        assert!((v - 36.0).abs() < 0.1, "{v}");
        // Half-way (M^n = 1/2 after ~6931 steps) the sum is near zero.
        let half = fp32_expected(1733);
        assert!(half.abs() < 1.0, "{half}");
    }

    #[test]
    fn tensor_expected_is_exact() {
        assert_eq!(TENSOR_EXPECTED, 1000.0);
        // 16 products of 1.5 * 2.5 per MMA.
        assert_eq!(16.0 * 1.5_f32 * 2.5, 60.0);
    }

    #[test]
    fn pattern_depends_on_address_and_seed() {
        assert_eq!(pattern_word(0, 0), 0);
        assert_eq!(pattern_word(1, 0), 0x9E37_79B1);
        assert_eq!(pattern_word(1 << 32, 0), 0x85EB_CA77);
        assert_eq!(pattern_word(5, 0xFFFF_FFFF), !pattern_word(5, 0));
        assert_ne!(pattern_word(2, 7), pattern_word(3, 7));
    }

    #[test]
    fn verify_counts_flipped_bits_and_non_finite_values() {
        let good = fp32_expected(3);
        let mut out = vec![good; 64];
        assert_eq!(verify(&out, good), Check::default());
        out[7] = f32::from_bits(good.to_bits() ^ 1);
        out[9] = f32::NAN;
        out[10] = f32::INFINITY;
        assert_eq!(
            verify(&out, good),
            Check {
                mismatches: 3,
                non_finite: 2
            }
        );
    }
}
