//! `Field<T>`: one sampled value, or the reason it is missing.
//!
//! Every metric in [`GpuSample`](super::GpuSample) is a `Field`, so one field the driver does
//! not support never fails a whole sample. In JSON a present value is the bare value and a
//! missing one is `{"missing": "not_supported"}`, which keeps `jq '.gpus[].temperature_c'`
//! simple and still says why a number is absent.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a field has no value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// The driver or the card does not offer this metric.
    NotSupported,
    /// Reading it needs privileges the process does not have.
    NoPermission,
    /// The GPU fell off the bus (NVML error 15) or vanished from sysfs.
    GpuLost,
    /// The source has no such metric at all (e.g. a trace that did not record it).
    NotRecorded,
    /// A rate that needs two samples (power from an energy counter, busy time from DRM
    /// fdinfo): the first sample has none yet.
    WarmingUp,
    /// Any other error; the log has the details.
    Error,
}

impl Missing {
    /// The short text the dashboard prints instead of a number.
    pub fn short(self) -> &'static str {
        match self {
            Missing::NotSupported => "n/a",
            Missing::NoPermission => "perm",
            Missing::GpuLost => "lost",
            Missing::NotRecorded => "-",
            Missing::WarmingUp => "...",
            Missing::Error => "err",
        }
    }
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Missing::NotSupported => "not supported",
            Missing::NoPermission => "no permission",
            Missing::GpuLost => "gpu lost",
            Missing::NotRecorded => "not recorded",
            Missing::WarmingUp => "warming up (needs a second sample)",
            Missing::Error => "error",
        })
    }
}

/// A sampled value or the reason it is missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Field<T> {
    Value(T),
    Missing { missing: Missing },
}

impl<T> Field<T> {
    pub const fn missing(why: Missing) -> Self {
        Field::Missing { missing: why }
    }

    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            Field::Missing { .. } => None,
        }
    }

    pub fn why(&self) -> Option<Missing> {
        match self {
            Field::Value(_) => None,
            Field::Missing { missing } => Some(*missing),
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Value(v) => Field::Value(f(v)),
            Field::Missing { missing } => Field::Missing { missing },
        }
    }

    pub fn as_ref(&self) -> Field<&T> {
        match self {
            Field::Value(v) => Field::Value(v),
            Field::Missing { missing } => Field::Missing { missing: *missing },
        }
    }
}

impl<T: Copy> Field<T> {
    /// The value, if there is one (for numeric fields).
    pub fn get(&self) -> Option<T> {
        self.value().copied()
    }
}

impl<T> Default for Field<T> {
    fn default() -> Self {
        Field::missing(Missing::NotRecorded)
    }
}

impl<T> From<T> for Field<T> {
    fn from(v: T) -> Self {
        Field::Value(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_bare_value_or_missing_object() {
        let present: Field<u32> = Field::Value(72);
        let absent: Field<u32> = Field::missing(Missing::NotSupported);
        assert_eq!(serde_json::to_string(&present).unwrap(), "72");
        assert_eq!(
            serde_json::to_string(&absent).unwrap(),
            r#"{"missing":"not_supported"}"#
        );
        let back: Field<u32> = serde_json::from_str(r#"{"missing":"gpu_lost"}"#).unwrap();
        assert_eq!(back.why(), Some(Missing::GpuLost));
        let back: Field<u32> = serde_json::from_str("5").unwrap();
        assert_eq!(back.get(), Some(5));
    }
}
