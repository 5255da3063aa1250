//! How numbers are shown to people: GiB with one decimal, host memory in the largest unit
//! that fits, run times in their two largest units, missing values as their reason; and
//! integers in decimal without allocating, for paths and escape sequences on hot paths.

use crate::gpu::Field;

const GIB: f64 = (1u64 << 30) as f64;

/// `n` in decimal without allocating.
pub fn decimal(mut n: u32, buf: &mut [u8; 10]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// Bytes as GiB with one decimal, e.g. `62.1 GiB`.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB)
}

/// Host memory in five characters or fewer: `812M`, `6.0G`, `14G`, `512K`.
pub fn bytes_short(bytes: u64) -> String {
    const K: f64 = 1024.0;
    let b = bytes as f64;
    if b < K * K {
        format!("{:.0}K", b / K)
    } else if b < K * K * K {
        format!("{:.0}M", b / (K * K))
    } else if b < 10.0 * K * K * K {
        format!("{:.1}G", b / (K * K * K))
    } else {
        format!("{:.0}G", b / (K * K * K))
    }
}

/// A run time in its two largest units: `45s`, `12m05s`, `3h04m`, `2d07h`.
pub fn duration_short(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3_600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

/// Formats a present value with `f`, or shows why it is missing (`n/a`, `lost`, …).
pub fn or_missing<T>(field: &Field<T>, f: impl FnOnce(&T) -> String) -> String {
    match field {
        Field::Value(v) => f(v),
        Field::Missing { missing } => missing.short().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gpu::Missing;

    #[test]
    fn decimal_is_written_without_allocating() {
        for n in [0, 7, 10, 4242, u32::MAX] {
            assert_eq!(decimal(n, &mut [0; 10]), n.to_string());
        }
    }

    #[test]
    fn host_memory_and_run_times_are_short() {
        assert_eq!(bytes_short(512 << 10), "512K");
        assert_eq!(bytes_short(812 << 20), "812M");
        assert_eq!(bytes_short(6 << 30), "6.0G");
        assert_eq!(bytes_short(14 << 30), "14G");
        assert_eq!(duration_short(45), "45s");
        assert_eq!(duration_short(12 * 60 + 5), "12m05s");
        assert_eq!(duration_short(3 * 3600 + 4 * 60 + 59), "3h04m");
        assert_eq!(duration_short(2 * 86_400 + 7 * 3600), "2d07h");
    }

    #[test]
    fn formats_values_and_reasons() {
        assert_eq!(gib(3 << 30), "3.0 GiB");
        assert_eq!(or_missing(&Field::Value(5u32), |v| format!("{v}%")), "5%");
        assert_eq!(
            or_missing(&Field::<u32>::missing(Missing::NotSupported), |v| format!(
                "{v}"
            )),
            "n/a"
        );
    }
}
