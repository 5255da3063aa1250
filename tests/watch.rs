//! `gpuwarden watch` end to end: the real binary against the fake NVML (tests/fake_nvml) and
//! a real `systemd --user` (tests/harness/systemd-sandbox.sh). Temperatures and memory are
//! set through the fake's state file; the proof is in the fake's setter log, in the units'
//! MainPIDs read over D-Bus, and in the daemon's own event log.

#[path = "support/fake_nvml.rs"]
mod fake_nvml;
#[path = "harness/https.rs"]
mod https;
#[path = "harness/prom.rs"]
mod prom;
#[path = "harness/sandbox.rs"]
mod sandbox;

#[path = "watch/clock.rs"]
mod clock;
#[path = "watch/daemon.rs"]
mod daemon;
#[path = "watch/driver.rs"]
mod driver;
#[path = "watch/e2e.rs"]
mod e2e;
#[path = "watch/endpoint.rs"]
mod endpoint;
#[path = "watch/flags.rs"]
mod flags;
#[path = "watch/mig.rs"]
mod mig;
#[path = "watch/notify_unit.rs"]
mod notify_unit;
#[path = "watch/oncall.rs"]
mod oncall;
#[path = "watch/reload.rs"]
mod reload;
#[path = "watch/reset.rs"]
mod reset;
#[path = "watch/signals.rs"]
mod signals;
#[path = "watch/stuck_setter.rs"]
mod stuck_setter;
#[path = "watch/survive.rs"]
mod survive;
#[path = "watch/xid.rs"]
mod xid;
