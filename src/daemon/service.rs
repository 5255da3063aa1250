//! Talking to systemd about ourselves (`Type=notify`): `READY=1` once the first sample went
//! through the policy and again after each reload (which starts with `RELOADING=1` and
//! `MONOTONIC_USEC=`), `STATUS=` lines people see in `systemctl status`, and `WATCHDOG=1`
//! pings at half the `WatchdogSec=` period, from the loop's heartbeat. Without
//! `NOTIFY_SOCKET` every call is a no-op.

use sd_notify::NotifyState;
use std::time::Duration;

/// The daemon's side of the service manager protocol.
pub struct ServiceManager {
    watchdog: Option<Duration>,
}

impl ServiceManager {
    pub fn new() -> Self {
        ServiceManager {
            watchdog: sd_notify::watchdog_enabled(),
        }
    }

    /// How often to ping, when `WatchdogSec=` is set: half the period, as systemd advises.
    pub fn ping_every(&self) -> Option<Duration> {
        self.watchdog.map(|d| d / 2)
    }

    pub fn ready(&self, status: &str) {
        send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        send(&[NotifyState::Status(status)]);
    }

    pub fn ping(&self) {
        if self.watchdog.is_some() {
            send(&[NotifyState::Watchdog]);
        }
    }

    /// A reload begins: systemd wants the monotonic time with it (and `READY=1` after).
    pub fn reloading(&self) {
        let now = super::clock::monotonic_us();
        send(&[
            NotifyState::Reloading,
            NotifyState::MonotonicUsec(now as i128),
        ]);
    }

    pub fn stopping(&self) {
        send(&[NotifyState::Stopping]);
    }
}

impl Default for ServiceManager {
    fn default() -> Self {
        Self::new()
    }
}

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!("sd_notify failed: {e}");
    }
}
