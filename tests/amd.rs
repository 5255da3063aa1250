//! The AMD source against real recorded sysfs trees of eleven cards (tests/fixtures/amd-sysfs,
//! from LACT, MIT): parsed samples, the CLI, the sysfs writes of clock and power actions,
//! broken trees, processes from fdinfo, the watchdog's clock actuator, and a mixed NVIDIA +
//! AMD fleet in `snapshot` and the dashboard.

#[path = "amd/cards.rs"]
mod cards;
#[path = "amd/cli.rs"]
mod cli;
#[path = "amd/control.rs"]
mod control;
#[path = "amd/dashboard.rs"]
mod dashboard;
#[path = "amd/expected.rs"]
mod expected;
#[path = "support/fake_nvml.rs"]
mod fake_nvml;
#[path = "amd/faults.rs"]
mod faults;
#[path = "amd/mixed.rs"]
mod mixed;
#[path = "amd/mixed_nvml.rs"]
mod mixed_nvml;
#[path = "amd/processes.rs"]
mod processes;
#[path = "amd/support.rs"]
mod support;
#[path = "amd/watchdog.rs"]
mod watchdog;
