//! The actuators against real peers: the fake `libnvidia-ml.so.1` for clock caps, a private
//! `systemd --user` for restarts and unit lookups, a real dunst for notifications, and
//! `systemd-analyze` / `node` for the shipped unit files.
//! Each sandboxed test re-runs itself inside its harness (tests/harness/README.md); they need
//! root and the Debian peers of tests/peers/install.sh, and fail when either is missing.

#[path = "support/fake_nvml.rs"]
mod fake_nvml;
#[path = "harness/sandbox.rs"]
mod sandbox;

#[path = "act/clocks.rs"]
mod clocks;
#[path = "act/notify.rs"]
mod notify;
#[path = "act/systemd.rs"]
mod systemd;
#[path = "act/unit_files.rs"]
mod unit_files;
