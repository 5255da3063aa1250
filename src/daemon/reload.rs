//! SIGHUP and `systemctl reload`: the new `watchdog.toml` applies whole, or not at all.
//!
//! Everything a running daemon can change, it changes — the rules (firing ones keep their
//! ladder, reconciled by step content), the sampling interval, `dry_run`, the allowlist and
//! the job timeout in the systemd actuator, the `[alerts]` sinks (alerts firing carry over),
//! the endpoint's bearer token (`token_file`, read again each time; `--interval` on the
//! command line still wins over the file's).
//! What needs a new process (`listen`, `tls_cert`/`tls_key`, `state_dir`, the XID reader's `kmsg`) refuses the
//! whole reload, naming the key;
//! so does an invalid file. Either way systemd hears `RELOADING=1` first and `READY=1` last.
//!
//! `dry_run` switching on undoes the caps applied for real (a dry run changes nothing, and
//! would never undo them); switching off lets the engine apply for real the caps its firing
//! rules hold.

use super::{Watch, now_ms, systemd_options};
use crate::events::{Event, EventKind, EventResult};
use crate::policy::{self, Config};

impl Watch {
    pub(super) fn reload(&mut self) {
        self.service.reloading();
        let at = now_ms();
        let path = self.opts.config_path.display().to_string();
        let checked = policy::load(&self.opts.config_path)
            .map_err(|e| e.to_string())
            .and_then(|mut new| {
                if let Some(interval) = self.opts.interval {
                    new.watchdog.interval = interval;
                }
                self.restart_needed(&new)?;
                let token = new.watchdog.token_file.as_deref();
                let token = token
                    .map(crate::serve::read_token)
                    .transpose()
                    .map_err(|e| format!("{path}: watchdog.token_file: {e:#}"))?;
                Ok((new, token))
            });
        match checked {
            Ok((new, token)) => {
                for w in &new.warnings {
                    tracing::warn!("config warning: {w}");
                }
                // The token is read again on every reload: rotating it needs no restart.
                self.oncall.serve.set_token(token);
                let changed = self.apply(new);
                let detail = if changed.is_empty() {
                    format!("{path}: nothing changed")
                } else {
                    format!("{path}: applied {}", changed.join(", "))
                };
                self.log(
                    Event::new(at, EventKind::ConfigReloaded, "reload config")
                        .result(EventResult::Ok, Some(detail)),
                );
            }
            Err(why) => {
                tracing::error!("new config rejected, keeping the old one: {why}");
                self.log(
                    Event::new(at, EventKind::ConfigRejected, "reload config")
                        .result(EventResult::Refused, Some(why)),
                );
            }
        }
        self.service.ready(&self.status_line());
    }

    /// Keys only a restart can change, named with both values.
    fn restart_needed(&self, new: &Config) -> Result<(), String> {
        let (old, path) = (&self.config.watchdog, self.opts.config_path.display());
        let refuse = |key: &str, from: String, to: String| {
            Err(format!(
                "{path}: watchdog.{key}: changed from {from} to {to}, which needs a restart \
                 (`systemctl restart gpuwarden`); nothing of the new file was applied"
            ))
        };
        if new.watchdog.listen != old.listen {
            return refuse(
                "listen",
                old.listen.to_string(),
                new.watchdog.listen.to_string(),
            );
        }
        if self.opts.state_dir.is_none() && new.watchdog.state_dir != old.state_dir {
            return refuse(
                "state_dir",
                old.state_dir.display().to_string(),
                new.watchdog.state_dir.display().to_string(),
            );
        }
        if new.watchdog.tls_cert != old.tls_cert || new.watchdog.tls_key != old.tls_key {
            let show = |c: &Option<std::path::PathBuf>| match c {
                None => "unset (plain http)".to_string(),
                Some(p) => format!("{:?}", p.display().to_string()),
            };
            return refuse(
                "tls_cert",
                show(&old.tls_cert),
                show(&new.watchdog.tls_cert),
            );
        }
        if new.watchdog.kmsg != old.kmsg {
            let show = |k: &Option<std::path::PathBuf>| match k {
                None => "unset (/dev/kmsg)".to_string(),
                Some(p) => format!("{:?}", p.display().to_string()),
            };
            return refuse("kmsg", show(&old.kmsg), show(&new.watchdog.kmsg));
        }
        Ok(())
    }

    /// Applies a checked config; returns the keys that changed.
    fn apply(&mut self, new: Config) -> Vec<&'static str> {
        let old = &self.config;
        let mut changed = Vec::new();
        if new.watchdog.token_file != old.watchdog.token_file {
            changed.push("watchdog.token_file");
        }
        if new.watchdog.driver_timeout != old.watchdog.driver_timeout {
            changed.push("watchdog.driver_timeout");
            self.driver.set_bound(new.watchdog.driver_timeout);
            self.control_bound_ms.store(
                new.watchdog.driver_timeout.as_millis() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        if new.watchdog.interval != old.watchdog.interval {
            changed.push("watchdog.interval");
            self.interval_ms.store(
                new.watchdog.interval.as_millis() as u64,
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        let dry_run = self.opts.dry_run || new.watchdog.dry_run;
        if dry_run != self.dispatcher.dry_run() {
            changed.push("watchdog.dry_run");
        }
        if new.units.allow.patterns != old.units.allow.patterns {
            changed.push("units.allow");
        }
        if new.restarts != old.restarts {
            changed.push("restarts");
        }
        let alerts_json = |c: &Config| serde_json::to_string(&c.alerts).unwrap_or_default();
        let alerts_changed = alerts_json(&new) != alerts_json(old);
        if alerts_changed {
            changed.push("alerts");
        }
        let rules_json = |c: &Config| serde_json::to_string(&(&c.rules, &c.units, &c.clock_cap));
        if rules_json(&new).ok() != rules_json(old).ok() {
            changed.push("rules");
        }
        if dry_run != self.dispatcher.dry_run() {
            self.switch_dry_run(dry_run);
        }
        self.dispatcher.reconfigure(dry_run, &systemd_options(&new));
        if alerts_changed && let Some(problem) = self.oncall.reconfigure(new.alerts.as_ref()) {
            let e = Event::new(now_ms(), EventKind::Alert, "start alert sinks")
                .result(EventResult::Failed, Some(problem));
            self.log(e);
        }
        self.config = new;
        self.save();
        changed
    }

    /// Real caps and dry-run caps do not mix: the engine forgets what it applied, so its next
    /// step applies what its firing rules hold in the new mode.
    fn switch_dry_run(&mut self, dry_run: bool) {
        if dry_run {
            let at = now_ms();
            for outcome in self.dispatcher.clocks.undo_all() {
                let e = outcome.to_event(at);
                self.log(e);
            }
        }
        for g in self.state.gpus.values_mut() {
            g.cap.applied = None;
            g.cap.last_applied_ms = None;
        }
    }
}
