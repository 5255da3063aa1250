//! The Intel source against real recorded sysfs trees of three cards (tests/fixtures/intel-sysfs,
//! from LACT, MIT): `snapshot` on each, power from the energy counter over two samples, DRM
//! fdinfo clients of both drivers, the sysfs writes of clock and power caps and the
//! watchdog's actuator on them, and a mixed NVIDIA + AMD + Intel box in `snapshot` and the
//! dashboard.

#[path = "amd/support.rs"]
#[expect(
    dead_code,
    reason = "the Intel tests use its recorder and /proc, not its AMD fixtures"
)]
mod amd_support;
#[path = "intel/cli.rs"]
mod cli;
#[path = "intel/control.rs"]
mod control;
#[path = "intel/dashboard.rs"]
mod dashboard;
#[path = "support/fake_nvml.rs"]
mod fake_nvml;
#[path = "intel/lost.rs"]
mod lost;
#[path = "intel/power.rs"]
mod power;
#[path = "intel/processes.rs"]
mod processes;
#[path = "intel/support.rs"]
mod support;
#[path = "intel/throttle.rs"]
mod throttle;
#[path = "intel/watchdog.rs"]
mod watchdog;
