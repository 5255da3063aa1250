//! Desktop notifications: `org.freedesktop.Notifications.Notify` on the SESSION bus
//! (`DBUS_SESSION_BUS_ADDRESS`) through our own zbus proxy, so we control the address and the
//! timeout (a server that never replies would otherwise hang the call forever).
//!
//! A root daemon usually has no session bus. That is normal, not an error: the first failure
//! to reach a bus or a notification server is logged once as a warning, later ones quietly, and
//! while unavailable the notifier waits [`NotifyOptions::retry_after`] before trying again, so
//! a hot rule never turns into a hot connect loop.

use crate::events::{Event, EventKind, EventOutcome, EventResult};
use crate::gpu::UnixMs;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio::time::Instant;
use zbus::{Connection, Variant, fdo, proxy};

#[proxy(
    interface = "org.freedesktop.Notifications",
    default_service = "org.freedesktop.Notifications",
    default_path = "/org/freedesktop/Notifications"
)]
trait Notifications {
    #[expect(
        clippy::too_many_arguments,
        reason = "the D-Bus method has eight arguments"
    )]
    fn notify(
        &self,
        app_name: &str,
        replaces_id: u32,
        app_icon: &str,
        summary: &str,
        body: &str,
        actions: &[&str],
        hints: HashMap<&str, &Variant<'_>>,
        expire_timeout: i32,
    ) -> zbus::Result<u32>;
}

/// How urgent a notification is (the spec's `urgency` hint).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    Low = 0,
    Normal = 1,
    Critical = 2,
}

impl Urgency {
    /// The urgency for a rule severity word: `info` → low, `warning` → normal, `critical` or
    /// `page` → critical; anything else is normal.
    pub fn for_severity(severity: &str) -> Self {
        match severity.to_ascii_lowercase().as_str() {
            "info" | "low" => Urgency::Low,
            "critical" | "page" | "emergency" => Urgency::Critical,
            _ => Urgency::Normal,
        }
    }
}

/// One desktop notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notification {
    pub summary: String,
    pub body: String,
    pub urgency: Urgency,
}

impl Notification {
    pub fn new(summary: impl Into<String>, body: impl Into<String>, urgency: Urgency) -> Self {
        Notification {
            summary: summary.into(),
            body: body.into(),
            urgency,
        }
    }
}

/// How sending a notification ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyOutcome {
    /// The server took it and gave it this id.
    Shown { id: u32 },
    /// No session bus or no notification server (normal for a root daemon).
    Unavailable { reason: String },
    /// Not tried: the last attempt found nothing and the retry time has not come.
    BackingOff { reason: String },
    /// The server did not answer within the timeout.
    TimedOut(Duration),
    /// The server answered with an error.
    Failed(String),
}

impl NotifyOutcome {
    /// The event recording that `notification` was sent (kind `notify`).
    pub fn to_event(&self, at_ms: UnixMs, notification: &Notification) -> Event {
        Event::new(
            at_ms,
            EventKind::Notify,
            format!("notify \"{}\"", notification.summary),
        )
        .outcome(self)
    }
}

impl EventOutcome for NotifyOutcome {
    fn result(&self) -> EventResult {
        match self {
            NotifyOutcome::Shown { .. } => EventResult::Ok,
            NotifyOutcome::Unavailable { .. } => EventResult::NotSupported,
            NotifyOutcome::BackingOff { .. } => EventResult::Refused,
            NotifyOutcome::TimedOut(_) => EventResult::TimedOut,
            NotifyOutcome::Failed(_) => EventResult::Failed,
        }
    }

    fn detail(&self) -> Option<String> {
        match self {
            NotifyOutcome::Shown { id } => Some(format!("notification id {id}")),
            NotifyOutcome::Unavailable { reason } => Some(reason.clone()),
            NotifyOutcome::BackingOff { reason } => Some(format!("not retried yet: {reason}")),
            NotifyOutcome::TimedOut(after) => Some(format!(
                "notification server did not answer within {after:?}"
            )),
            NotifyOutcome::Failed(err) => Some(err.clone()),
        }
    }
}

/// Sends desktop notifications. Tests use
/// [`RecordingNotifier`](super::record::RecordingNotifier) to see them as data.
pub trait Notifier: Send + Sync {
    fn notify<'a>(&'a self, notification: &'a Notification) -> BoxFuture<'a, NotifyOutcome>;
}

/// Settings of [`DesktopNotifier`].
#[derive(Clone, Debug)]
pub struct NotifyOptions {
    /// The `app_name` the server shows.
    pub app_name: String,
    /// For connecting and for the Notify call (default 2 s).
    pub timeout: Duration,
    /// How long to leave an unavailable bus alone (default 5 min).
    pub retry_after: Duration,
    /// How long the server shows it, in ms; -1 lets the server decide.
    pub expire_ms: i32,
}

impl Default for NotifyOptions {
    fn default() -> Self {
        NotifyOptions {
            app_name: "gpuwarden".to_string(),
            timeout: Duration::from_secs(2),
            retry_after: Duration::from_secs(300),
            expire_ms: -1,
        }
    }
}

#[derive(Default)]
struct State {
    connection: Option<Connection>,
    /// Set while unavailable: when to try again and why it failed.
    unavailable: Option<(Instant, String)>,
    /// Whether the "unavailable" warning was already logged.
    warned: bool,
}

impl State {
    /// Records a failure to reach a bus or server; true when it is the first since the last
    /// success, i.e. the one failure worth a warning.
    fn note_unavailable(&mut self) -> bool {
        !std::mem::replace(&mut self.warned, true)
    }

    /// Records a success: the next outage gets its warning again.
    fn note_working(&mut self) {
        self.warned = false;
    }
}

/// Notifications over the session bus.
pub struct DesktopNotifier {
    address: Option<String>,
    options: NotifyOptions,
    state: Mutex<State>,
}

enum Failure {
    Unavailable(String),
    TimedOut,
    Failed(String),
}

impl DesktopNotifier {
    /// The session bus from `DBUS_SESSION_BUS_ADDRESS` (or its standard place).
    pub fn session(options: NotifyOptions) -> Self {
        Self::new(None, options)
    }

    /// The bus at `address`.
    pub fn at_address(address: impl Into<String>, options: NotifyOptions) -> Self {
        Self::new(Some(address.into()), options)
    }

    fn new(address: Option<String>, options: NotifyOptions) -> Self {
        DesktopNotifier {
            address,
            options,
            state: Mutex::new(State::default()),
        }
    }

    /// Sends `notification`; never fails, never waits longer than about twice the timeout.
    pub async fn send(&self, notification: &Notification) -> NotifyOutcome {
        let mut state = self.state.lock().await;
        if let Some((retry_at, reason)) = &state.unavailable
            && Instant::now() < *retry_at
        {
            return NotifyOutcome::BackingOff {
                reason: reason.clone(),
            };
        }
        match self.try_send(&mut state, notification).await {
            Ok(id) => {
                if state.unavailable.take().is_some() {
                    tracing::info!("desktop notifications work again");
                }
                state.note_working();
                NotifyOutcome::Shown { id }
            }
            Err(Failure::Unavailable(reason)) => {
                state.connection = None;
                if state.note_unavailable() {
                    tracing::warn!(
                        "desktop notifications unavailable ({reason}); retrying at most every \
                         {:?}",
                        self.options.retry_after
                    );
                } else {
                    tracing::debug!("desktop notifications still unavailable: {reason}");
                }
                state.unavailable =
                    Some((Instant::now() + self.options.retry_after, reason.clone()));
                NotifyOutcome::Unavailable { reason }
            }
            Err(Failure::TimedOut) => {
                state.connection = None;
                NotifyOutcome::TimedOut(self.options.timeout)
            }
            Err(Failure::Failed(err)) => NotifyOutcome::Failed(err),
        }
    }

    async fn try_send(
        &self,
        state: &mut State,
        notification: &Notification,
    ) -> Result<u32, Failure> {
        let timeout = self.options.timeout;
        let conn = match state.connection.as_ref().filter(|c| !c.is_closed()) {
            Some(conn) => conn.clone(),
            None => {
                let builder = match &self.address {
                    None => zbus::connection::Builder::session(),
                    Some(address) => zbus::connection::Builder::address(address.as_str()),
                };
                let conn = tokio::time::timeout(timeout, builder.method_timeout(timeout).build())
                    .await
                    .map_err(|_| {
                        Failure::Unavailable(format!("session bus: no answer within {timeout:?}"))
                    })?
                    .map_err(|e| Failure::Unavailable(format!("no session bus: {e}")))?;
                state.connection = Some(conn.clone());
                conn
            }
        };
        let proxy = NotificationsProxy::new(&conn)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let urgency = Variant::U8(notification.urgency as u8);
        let hints = HashMap::from([("urgency", &urgency)]);
        let call = proxy.notify(
            &self.options.app_name,
            0,
            "",
            &notification.summary,
            &notification.body,
            &[],
            hints,
            self.options.expire_ms,
        );
        match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(Failure::TimedOut),
            Ok(Ok(id)) => Ok(id),
            Ok(Err(err)) => Err(classify(&err)),
        }
    }
}

fn classify(err: &zbus::Error) -> Failure {
    match err {
        zbus::Error::FDO(e) => match e.as_ref() {
            fdo::Error::ServiceUnknown(m) | fdo::Error::NameHasNoOwner(m) => {
                Failure::Unavailable(format!("no notification server on the session bus: {m}"))
            }
            fdo::Error::NoReply(_) | fdo::Error::Timeout(_) | fdo::Error::TimedOut(_) => {
                Failure::TimedOut
            }
            other => Failure::Failed(other.to_string()),
        },
        zbus::Error::InputOutput(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Failure::TimedOut
        }
        zbus::Error::InputOutput(_) | zbus::Error::Connection(..) => {
            Failure::Unavailable(format!("session bus: {err}"))
        }
        other => Failure::Failed(other.to_string()),
    }
}

impl Notifier for DesktopNotifier {
    fn notify<'a>(&'a self, notification: &'a Notification) -> BoxFuture<'a, NotifyOutcome> {
        Box::pin(self.send(notification))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgency_follows_severity() {
        assert_eq!(Urgency::for_severity("info"), Urgency::Low);
        assert_eq!(Urgency::for_severity("warning"), Urgency::Normal);
        assert_eq!(Urgency::for_severity("Critical"), Urgency::Critical);
        assert_eq!(Urgency::for_severity("page"), Urgency::Critical);
    }

    #[tokio::test]
    async fn no_bus_is_an_outcome_then_a_quiet_back_off() {
        let dir = tempfile::tempdir().unwrap();
        let address = format!("unix:path={}/no-bus-here", dir.path().display());
        let notifier = DesktopNotifier::at_address(address, NotifyOptions::default());
        let n = Notification::new("GPU 0 hot", "91 °C", Urgency::Critical);
        let first = notifier.send(&n).await;
        assert!(
            matches!(first, NotifyOutcome::Unavailable { .. }),
            "{first:?}"
        );
        assert_eq!(first.result(), EventResult::NotSupported);
        let second = notifier.send(&n).await;
        assert!(
            matches!(second, NotifyOutcome::BackingOff { .. }),
            "{second:?}"
        );
    }

    #[test]
    fn an_absent_bus_is_warned_about_once_until_it_works_again() {
        let mut state = State::default();
        assert!(state.note_unavailable(), "the first failure is a warning");
        assert!(!state.note_unavailable(), "later ones are quiet");
        assert!(!state.note_unavailable());
        state.note_working();
        assert!(state.note_unavailable(), "a new outage is a new warning");
    }
}
