//! How talking to systemd ends: [`JobResult`] (systemd's verdict on a job), [`RestartOutcome`]
//! (everything a restart can come to) and [`SystemdError`], classified from zbus errors, plus
//! their mapping into the event log's results.

use crate::events::{Event, EventKind, EventOutcome, EventResult};
use crate::gpu::UnixMs;
use std::fmt;
use std::time::Duration;
use thiserror::Error;
use zbus::fdo;

/// systemd's verdict on a job (`JobRemoved`'s `result` argument).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobResult {
    Done,
    Canceled,
    /// systemd's own timeout (TimeoutStartSec/TimeoutStopSec) struck.
    Timeout,
    Failed,
    /// A unit this one requires failed.
    Dependency,
    Skipped,
    /// Another word systemd may send (invalid, assert, unsupported, collected, once, frozen).
    Other(String),
}

impl JobResult {
    pub fn parse(word: &str) -> Self {
        match word {
            "done" => JobResult::Done,
            "canceled" => JobResult::Canceled,
            "timeout" => JobResult::Timeout,
            "failed" => JobResult::Failed,
            "dependency" => JobResult::Dependency,
            "skipped" => JobResult::Skipped,
            other => JobResult::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            JobResult::Done => "done",
            JobResult::Canceled => "canceled",
            JobResult::Timeout => "timeout",
            JobResult::Failed => "failed",
            JobResult::Dependency => "dependency",
            JobResult::Skipped => "skipped",
            JobResult::Other(word) => word,
        }
    }
}

impl fmt::Display for JobResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a restart ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RestartOutcome {
    /// systemd ran the restart job (object path `job`) and says how it went.
    Job { job: String, result: JobResult },
    /// No `JobRemoved` for the job within the job timeout; the job may still be running.
    TimedOut { job: String, waited: Duration },
    /// The unit matches no glob of the allowlist; nothing was sent to systemd.
    NotAllowed { unit: String },
    /// The call failed before a job existed.
    Error(SystemdError),
}

impl RestartOutcome {
    /// The event recording the restart of `unit` (kind `restart_unit`); add GPU and rule with
    /// the [`Event`] builder.
    pub fn to_event(&self, at_ms: UnixMs, unit: &str) -> Event {
        Event::new(at_ms, EventKind::RestartUnit, format!("restart {unit}")).outcome(self)
    }

    /// True when the unit was restarted (`JobRemoved` said `done`).
    pub fn is_done(&self) -> bool {
        matches!(
            self,
            RestartOutcome::Job {
                result: JobResult::Done,
                ..
            }
        )
    }
}

impl EventOutcome for RestartOutcome {
    fn result(&self) -> EventResult {
        match self {
            RestartOutcome::Job { result, .. } => match result {
                JobResult::Done => EventResult::Ok,
                JobResult::Timeout => EventResult::TimedOut,
                _ => EventResult::Failed,
            },
            RestartOutcome::TimedOut { .. } => EventResult::TimedOut,
            RestartOutcome::NotAllowed { .. } => EventResult::Refused,
            RestartOutcome::Error(SystemdError::AccessDenied(_)) => EventResult::NoPermission,
            RestartOutcome::Error(SystemdError::CallTimedOut(_)) => EventResult::TimedOut,
            RestartOutcome::Error(_) => EventResult::Failed,
        }
    }

    fn detail(&self) -> Option<String> {
        Some(match self {
            RestartOutcome::Job { job, result } => format!("job {job}: {result}"),
            RestartOutcome::TimedOut { job, waited } => {
                format!("job {job} did not finish within {waited:?}")
            }
            RestartOutcome::NotAllowed { unit } => {
                format!("{unit} is outside the allowlist; not restarted")
            }
            RestartOutcome::Error(err) => err.to_string(),
        })
    }
}

/// Why talking to systemd failed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum SystemdError {
    #[error("cannot reach systemd on the system bus: {0}")]
    NoBus(String),
    #[error(
        "access denied: restarting units needs root or the polkit rule \
         (systemd/gpuwarden-restart.rules): {0}"
    )]
    AccessDenied(String),
    #[error("no such unit: {0}")]
    NoSuchUnit(String),
    #[error("systemd did not answer within {0:?}")]
    CallTimedOut(Duration),
    #[error("{name}: {message}")]
    Bus { name: String, message: String },
}

impl SystemdError {
    /// Classifies a zbus error (a D-Bus error reply, an I/O error, a failed connect).
    pub fn from_zbus(err: &zbus::Error, call_timeout: Duration) -> Self {
        match err {
            zbus::Error::FDO(fdo_err) => match fdo_err.as_ref() {
                fdo::Error::AccessDenied(m)
                | fdo::Error::InteractiveAuthorizationRequired(m)
                | fdo::Error::AuthFailed(m) => SystemdError::AccessDenied(m.clone()),
                fdo::Error::ServiceUnknown(m) | fdo::Error::NameHasNoOwner(m) => {
                    SystemdError::NoBus(format!("systemd is not on this bus: {m}"))
                }
                fdo::Error::NoReply(_) | fdo::Error::Timeout(_) | fdo::Error::TimedOut(_) => {
                    SystemdError::CallTimedOut(call_timeout)
                }
                fdo::Error::ZBus(inner) => Self::from_zbus(inner, call_timeout),
                other => SystemdError::Bus {
                    name: fdo_error_name(other),
                    message: other.to_string(),
                },
            },
            zbus::Error::MethodError(name, message, _) => {
                let message = message.clone().unwrap_or_default();
                match name.as_str() {
                    "org.freedesktop.systemd1.NoSuchUnit"
                    | "org.freedesktop.systemd1.LoadFailed" => SystemdError::NoSuchUnit(message),
                    _ => SystemdError::Bus {
                        name: name.to_string(),
                        message,
                    },
                }
            }
            zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut => {
                SystemdError::CallTimedOut(call_timeout)
            }
            zbus::Error::InputOutput(_)
            | zbus::Error::Connection(..)
            | zbus::Error::Handshake(_)
            | zbus::Error::Address(_) => SystemdError::NoBus(err.to_string()),
            other => SystemdError::Bus {
                name: "zbus".to_string(),
                message: other.to_string(),
            },
        }
    }
}

fn fdo_error_name(err: &fdo::Error) -> String {
    use zbus::DBusError;
    err.name().to_string()
}
