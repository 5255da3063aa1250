//! The watchdog's two clocks: the engine's time, which only moves forward, and wall time,
//! which is for people.
//!
//! Every duration the policy measures (`for`, `clear_for`, cooldowns, windows, budgets, the
//! verdict on a restart) runs on [`EngineClock`]: `CLOCK_MONOTONIC` plus an offset fixed when
//! the state was first written on this boot, so an NTP step or a VM resume neither fires a
//! ladder step early nor holds one back, and a daemon restarted on the same boot carries on
//! where it stopped. After a reboot the offset is taken afresh from wall time (the only clock
//! two boots share). Events, alerts and logs carry wall time.

use crate::gpu::UnixMs;
use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where the engine's time comes from, persisted with the state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockBase {
    /// `/proc/sys/kernel/random/boot_id` when the offset was taken.
    pub boot_id: String,
    /// Engine time = monotonic ms + this.
    pub offset_ms: i64,
}

/// The engine's clock.
#[derive(Clone, Debug)]
pub struct EngineClock {
    base: ClockBase,
}

impl EngineClock {
    /// Continues `persisted` on the same boot; starts from wall time otherwise.
    pub fn resume(persisted: Option<&ClockBase>) -> Self {
        let boot_id = boot_id();
        let base = match persisted {
            Some(b) if !boot_id.is_empty() && b.boot_id == boot_id => b.clone(),
            _ => ClockBase {
                boot_id,
                offset_ms: wall_ms() as i64 - monotonic_ms() as i64,
            },
        };
        EngineClock { base }
    }

    /// Now, in engine time.
    pub fn now_ms(&self) -> UnixMs {
        (monotonic_ms() as i64 + self.base.offset_ms).max(0) as UnixMs
    }

    pub fn base(&self) -> &ClockBase {
        &self.base
    }
}

/// Wall time now (Unix ms): for events, alerts and logs only.
pub fn wall_ms() -> UnixMs {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as UnixMs)
}

/// `CLOCK_MONOTONIC` in ms: does not jump with the wall clock.
pub fn monotonic_ms() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec we own; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// `CLOCK_MONOTONIC` in µs, as systemd wants it in `MONOTONIC_USEC=` after a reload.
pub fn monotonic_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as in `monotonic_ms`.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_boot_keeps_its_offset_and_another_boot_starts_from_wall_time() {
        let first = EngineClock::resume(None);
        let again = EngineClock::resume(Some(first.base()));
        assert_eq!(again.base(), first.base());
        let other = ClockBase {
            boot_id: "another-boot".into(),
            offset_ms: -5,
        };
        let fresh = EngineClock::resume(Some(&other));
        assert_ne!(fresh.base().offset_ms, -5);
        // engine time starts near wall time and never goes back
        let (a, b) = (fresh.now_ms(), fresh.now_ms());
        assert!(b >= a);
        assert!(a.abs_diff(wall_ms()) < 60_000, "{a} vs {}", wall_ms());
    }
}
