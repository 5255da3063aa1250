//! How numbers are shown to people: GiB with one decimal, missing values as their reason.

use crate::gpu::Field;

const GIB: f64 = (1u64 << 30) as f64;

/// Bytes as GiB with one decimal, e.g. `62.1 GiB`.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB)
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
