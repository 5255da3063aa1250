//! Restarting systemd units over D-Bus (zbus, system bus), and asking systemd which unit owns a
//! process and what state a unit is in.
//!
//! A restart is: `Subscribe` (systemd only emits `JobRemoved` to subscribed clients), listen for
//! `JobRemoved` BEFORE `RestartUnit(name, "replace")` (the job may end before the reply is
//! read), then wait for that job's result. Every bus call has a timeout (zbus has none by
//! default) and every way this can end — done, failed, timeout, dependency, canceled, access
//! denied, no such unit, no bus — comes back as a [`RestartOutcome`], never a panic or a hang.
//!
//! `Connection::system()` honours `DBUS_SYSTEM_BUS_ADDRESS`; the tests point it at a private
//! `systemd --user` (tests/harness/systemd-sandbox.sh). The connection is made on first use and
//! remade after it closes, so a daemon started before D-Bus keeps working once D-Bus is up.
//! `outcome` holds the result types; the unit globs a restart must match are the policy's
//! [`Allowlist`](crate::policy::Allowlist), handed over at start and on every reload.

mod outcome;

pub use outcome::{JobResult, RestartOutcome, SystemdError};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use std::time::Duration;
use tokio::sync::Mutex;
use zbus::proxy::CacheProperties;
use zbus::{Connection, proxy};

#[proxy(
    interface = "org.freedesktop.systemd1.Manager",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1"
)]
trait Manager {
    fn subscribe(&self) -> zbus::Result<()>;
    fn restart_unit(&self, name: &str, mode: &str) -> zbus::Result<zbus::OwnedObjectPath>;
    fn get_unit(&self, name: &str) -> zbus::Result<zbus::OwnedObjectPath>;
    #[zbus(name = "GetUnitByPID")]
    fn get_unit_by_pid(&self, pid: u32) -> zbus::Result<zbus::OwnedObjectPath>;
    #[zbus(signal)]
    fn job_removed(
        &self,
        id: u32,
        job: zbus::ObjectPath<'_>,
        unit: &str,
        result: &str,
    ) -> zbus::Result<()>;
}

#[proxy(
    interface = "org.freedesktop.systemd1.Unit",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1/unit"
)]
trait Unit {
    #[zbus(property)]
    fn id(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn active_state(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn sub_state(&self) -> zbus::Result<String>;
}

#[proxy(
    interface = "org.freedesktop.systemd1.Service",
    default_service = "org.freedesktop.systemd1",
    default_path = "/org/freedesktop/systemd1/unit"
)]
trait Service {
    #[zbus(property, name = "MainPID")]
    fn main_pid(&self) -> zbus::Result<u32>;
}

/// Restarts a unit and reports how it ended. The daemon holds a `Box<dyn UnitRestarter>`;
/// tests use [`RecordingRestarter`](super::record::RecordingRestarter) to see restarts as data.
pub trait UnitRestarter: Send + Sync {
    /// Restarts `unit` (e.g. `vllm@0.service`) and waits for the job's result.
    fn restart_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, RestartOutcome>;

    /// Takes a reloaded config's allowlist and job timeout (recorders ignore it).
    fn reconfigure(&self, _options: &SystemdOptions) {}
}

/// Finds the systemd unit that owns a process (fallback for `/proc/PID/cgroup`).
pub trait UnitLookup: Send + Sync {
    /// The unit owning `pid`, `None` when systemd knows no unit for it.
    fn unit_of_pid(&self, pid: u32) -> BoxFuture<'_, Result<Option<String>, SystemdError>>;
}

/// Timeouts and the allowlist of [`Systemd`].
#[derive(Clone, Debug)]
pub struct SystemdOptions {
    /// For connecting and for each method call (default 5 s).
    pub call_timeout: Duration,
    /// For a restart job to finish, stop and start included (default 120 s).
    pub job_timeout: Duration,
    /// When set, units outside it are refused before anything is sent.
    pub allowlist: Option<crate::policy::Allowlist>,
}

impl Default for SystemdOptions {
    fn default() -> Self {
        SystemdOptions {
            call_timeout: Duration::from_secs(5),
            job_timeout: Duration::from_secs(120),
            allowlist: None,
        }
    }
}

/// systemd's state of one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnitState {
    /// `active`, `activating`, `failed`, `inactive`...
    pub active_state: String,
    /// `running`, `start-pre`, `dead`...
    pub sub_state: String,
    /// The main process; 0 when none.
    pub main_pid: u32,
}

/// Where to find the bus.
#[derive(Clone, Debug)]
enum BusAddress {
    System,
    Explicit(String),
}

/// The systemd actuator: a lazily made connection to the manager on the system bus.
pub struct Systemd {
    address: BusAddress,
    options: std::sync::RwLock<SystemdOptions>,
    connection: Mutex<Option<Connection>>,
}

impl Systemd {
    /// systemd on the system bus (`DBUS_SYSTEM_BUS_ADDRESS` or the standard socket). Nothing is
    /// connected until the first call.
    pub fn system(options: SystemdOptions) -> Self {
        Self::new(BusAddress::System, options)
    }

    /// systemd on the bus at `address` (a D-Bus address such as `unix:path=/run/bus`).
    pub fn at_address(address: impl Into<String>, options: SystemdOptions) -> Self {
        Self::new(BusAddress::Explicit(address.into()), options)
    }

    fn new(address: BusAddress, options: SystemdOptions) -> Self {
        Systemd {
            address,
            options: std::sync::RwLock::new(options),
            connection: Mutex::new(None),
        }
    }

    /// The options in force (a reload may replace them).
    pub fn options(&self) -> SystemdOptions {
        self.options
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the allowlist and timeouts; restarts already waiting keep theirs.
    pub fn set_options(&self, options: SystemdOptions) {
        *self.options.write().unwrap_or_else(|e| e.into_inner()) = options;
    }

    /// Restarts `unit` and waits for its job (see the module doc for the steps).
    ///
    /// systemd's own start limit (by default 5 starts in 10 s) turns a fast restart loop into
    /// `failed` jobs (`start-limit-hit` in the journal): the watchdog's restart budget should
    /// stay well below it.
    pub async fn restart(&self, unit: &str) -> RestartOutcome {
        if let Some(allow) = &self.options().allowlist
            && !allow.allows(unit)
        {
            return RestartOutcome::NotAllowed {
                unit: unit.to_string(),
            };
        }
        match self.restart_inner(unit).await {
            Ok(outcome) => outcome,
            Err(err) => RestartOutcome::Error(err),
        }
    }

    async fn restart_inner(&self, unit: &str) -> Result<RestartOutcome, SystemdError> {
        let manager = self.manager().await?;
        // Listen first: the job can end before RestartUnit's reply is even read.
        let mut removed = self.call(manager.receive_job_removed()).await?;
        let job = self.call(manager.restart_unit(unit, "replace")).await?;
        let job = job.as_str().to_string();
        let waited = self.options().job_timeout;
        let wait = async {
            while let Some(signal) = removed.next().await {
                let Ok(args) = signal.args() else { continue };
                if args.job().as_str() == job {
                    return Ok(JobResult::parse(args.result()));
                }
            }
            Err(SystemdError::NoBus(
                "the bus connection closed while waiting for the job".to_string(),
            ))
        };
        match tokio::time::timeout(waited, wait).await {
            Ok(Ok(result)) => Ok(RestartOutcome::Job { job, result }),
            Ok(Err(err)) => Err(err),
            Err(_) => Ok(RestartOutcome::TimedOut { job, waited }),
        }
    }

    /// The unit owning process `pid`; `None` when systemd knows no unit for it.
    pub async fn unit_of_pid(&self, pid: u32) -> Result<Option<String>, SystemdError> {
        let manager = self.manager().await?;
        let path = match manager.get_unit_by_pid(pid).await {
            Ok(path) => path,
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.freedesktop.systemd1.NoUnitForPID" =>
            {
                return Ok(None);
            }
            Err(err) => return Err(self.classify(&err)),
        };
        let conn = self.connection().await?;
        let unit = self
            .call(
                UnitProxy::builder(&conn)
                    .path(path)
                    .cache_properties(CacheProperties::No)
                    .build(),
            )
            .await?;
        Ok(Some(self.call(unit.id()).await?))
    }

    /// ActiveState, SubState and MainPID of a loaded unit.
    pub async fn unit_state(&self, unit: &str) -> Result<UnitState, SystemdError> {
        let manager = self.manager().await?;
        let path = self.call(manager.get_unit(unit)).await?;
        let conn = self.connection().await?;
        let unit_proxy = self
            .call(
                UnitProxy::builder(&conn)
                    .path(path.clone())
                    .cache_properties(CacheProperties::No)
                    .build(),
            )
            .await?;
        let service = self
            .call(
                ServiceProxy::builder(&conn)
                    .path(path)
                    .cache_properties(CacheProperties::No)
                    .build(),
            )
            .await?;
        Ok(UnitState {
            active_state: self.call(unit_proxy.active_state()).await?,
            sub_state: self.call(unit_proxy.sub_state()).await?,
            main_pid: self.call(service.main_pid()).await?,
        })
    }

    async fn manager(&self) -> Result<ManagerProxy<'static>, SystemdError> {
        let conn = self.connection().await?;
        self.call(
            ManagerProxy::builder(&conn)
                .cache_properties(CacheProperties::No)
                .build(),
        )
        .await
    }

    /// The cached connection, or a new one (subscribed) when there is none or it closed.
    async fn connection(&self) -> Result<Connection, SystemdError> {
        let mut cached = self.connection.lock().await;
        if let Some(conn) = cached.as_ref()
            && !conn.is_closed()
        {
            return Ok(conn.clone());
        }
        *cached = None;
        let builder = match &self.address {
            BusAddress::System => zbus::connection::Builder::system(),
            BusAddress::Explicit(address) => zbus::connection::Builder::address(address.as_str()),
        };
        let conn = self
            .call(builder.method_timeout(self.options().call_timeout).build())
            .await
            .map_err(|err| match err {
                SystemdError::Bus { message, .. } => SystemdError::NoBus(message),
                other => other,
            })?;
        let manager = self
            .call(
                ManagerProxy::builder(&conn)
                    .cache_properties(CacheProperties::No)
                    .build(),
            )
            .await?;
        match manager.subscribe().await {
            Ok(()) => {}
            // A second Subscribe from the same client is refused; being subscribed is the point.
            Err(zbus::Error::MethodError(name, _, _))
                if name.as_str() == "org.freedesktop.systemd1.AlreadySubscribed" => {}
            Err(err) => return Err(self.classify(&err)),
        }
        *cached = Some(conn.clone());
        Ok(conn)
    }

    /// Runs one bus call under the call timeout and classifies its error.
    async fn call<T>(&self, fut: impl Future<Output = zbus::Result<T>>) -> Result<T, SystemdError> {
        let call_timeout = self.options().call_timeout;
        match tokio::time::timeout(call_timeout, fut).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(self.classify(&err)),
            Err(_) => Err(SystemdError::CallTimedOut(call_timeout)),
        }
    }

    fn classify(&self, err: &zbus::Error) -> SystemdError {
        SystemdError::from_zbus(err, self.options().call_timeout)
    }
}

impl UnitRestarter for Systemd {
    fn restart_unit<'a>(&'a self, unit: &'a str) -> BoxFuture<'a, RestartOutcome> {
        Box::pin(self.restart(unit))
    }

    fn reconfigure(&self, options: &SystemdOptions) {
        self.set_options(options.clone());
    }
}

impl UnitLookup for Systemd {
    fn unit_of_pid(&self, pid: u32) -> BoxFuture<'_, Result<Option<String>, SystemdError>> {
        Box::pin(Systemd::unit_of_pid(self, pid))
    }
}

#[cfg(test)]
mod tests;
