//! The dashboard's look at the local daemon: `/api/v1/watchdog` on the config's `listen`
//! address, asked on a thread of its own every second, so a daemon that hangs or is gone
//! never stalls the screen. What it answered — acting or dry run, whether the driver answers,
//! which rules fire on which GPU — is the panel's truth; no answer means the daemon is not
//! running, and then nothing on screen may look as if it were guarding.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the daemon last said, or why it said nothing.
#[derive(Clone, Debug, PartialEq)]
pub enum DaemonSeen {
    /// No answer yet (the first request is under way).
    Asking,
    /// The daemon answered.
    Answering(DaemonState),
    /// It did not answer: not running, or not on this address.
    NoAnswer(String),
    /// There is no address to ask (`listen` on port 0).
    CannotAsk(String),
}

/// The daemon's own account of itself.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DaemonState {
    pub dry_run: bool,
    pub driver_answering: bool,
    /// Rule name → GPU indexes it fires on.
    pub firing: BTreeMap<String, Vec<u32>>,
    /// Rule name → GPU indexes where its condition holds but `for` has not passed yet.
    pub pending: BTreeMap<String, Vec<u32>>,
}

#[derive(Deserialize)]
struct Answer {
    mode: String,
    driver_answering: Option<bool>,
    rules: Vec<RuleAnswer>,
}

#[derive(Deserialize)]
struct RuleAnswer {
    gpu: u32,
    rule: String,
    status: String,
}

impl DaemonState {
    fn from_answer(a: Answer) -> Self {
        let mut s = DaemonState {
            dry_run: a.mode == "dry_run",
            driver_answering: a.driver_answering.unwrap_or(true),
            ..DaemonState::default()
        };
        for r in a.rules {
            let into = match r.status.as_str() {
                "firing" => &mut s.firing,
                "pending" => &mut s.pending,
                _ => continue,
            };
            into.entry(r.rule).or_default().push(r.gpu);
        }
        for gpus in s.firing.values_mut().chain(s.pending.values_mut()) {
            gpus.sort_unstable();
        }
        s
    }
}

/// Asks the daemon in the background; [`DaemonProbe::latest`] is what it last heard.
#[derive(Debug)]
pub struct DaemonProbe {
    latest: Arc<Mutex<DaemonSeen>>,
    /// Where it asks, for the panel (`127.0.0.1:9844`).
    pub address: String,
}

impl DaemonProbe {
    /// Starts asking the daemon that listens on `listen` every `every`; an unspecified
    /// address (`0.0.0.0`, `::`) is asked on loopback.
    pub fn start(listen: SocketAddr, token: Option<String>, every: Duration) -> DaemonProbe {
        let address = ask_at(listen);
        if listen.port() == 0 {
            return DaemonProbe {
                latest: Arc::new(Mutex::new(DaemonSeen::CannotAsk(
                    "the config listens on port 0, so its address is unknown".into(),
                ))),
                address: address.to_string(),
            };
        }
        let latest = Arc::new(Mutex::new(DaemonSeen::Asking));
        let shared = Arc::clone(&latest);
        let url = format!("http://{address}/api/v1/watchdog");
        let spawned = std::thread::Builder::new()
            .name("gpuwarden-daemon-probe".into())
            .spawn(move || {
                let config = ureq::Agent::config_builder()
                    .timeout_global(Some(Duration::from_millis(800)))
                    .http_status_as_error(false)
                    .build();
                let agent = ureq::Agent::new_with_config(config);
                loop {
                    let seen = ask(&agent, &url, token.as_deref());
                    *shared.lock().unwrap_or_else(|e| e.into_inner()) = seen;
                    // The dashboard is gone when only this thread holds the state.
                    if Arc::strong_count(&shared) == 1 {
                        return;
                    }
                    std::thread::sleep(every);
                }
            });
        if let Err(e) = spawned {
            *latest.lock().unwrap_or_else(|e| e.into_inner()) =
                DaemonSeen::CannotAsk(format!("could not start asking the daemon: {e}"));
        }
        DaemonProbe {
            latest,
            address: address.to_string(),
        }
    }

    pub fn latest(&self) -> DaemonSeen {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn ask_at(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

fn ask(agent: &ureq::Agent, url: &str, token: Option<&str>) -> DaemonSeen {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut response = match req.call() {
        Ok(r) => r,
        Err(e) => return DaemonSeen::NoAnswer(short_error(&e.to_string())),
    };
    let status = response.status().as_u16();
    if status != 200 {
        return DaemonSeen::NoAnswer(match status {
            401 => "it asks for a token (token_file) this user cannot read".to_string(),
            503 => "something else answers there (no watchdog runs on it)".to_string(),
            s => format!("it answered HTTP {s}"),
        });
    }
    match response.body_mut().read_json::<Answer>() {
        Ok(a) => DaemonSeen::Answering(DaemonState::from_answer(a)),
        Err(e) => DaemonSeen::NoAnswer(format!("its answer is not the watchdog's: {e}")),
    }
}

/// `connection refused` rather than the whole chain.
fn short_error(e: &str) -> String {
    let lower = e.to_lowercase();
    if lower.contains("refused") {
        "connection refused".into()
    } else if lower.contains("timed out") || lower.contains("timeout") {
        "it did not answer in time".into()
    } else {
        e.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_becomes_rules_per_state_and_the_mode() {
        let a: Answer = serde_json::from_str(
            r#"{"mode":"dry_run","driver_answering":true,"rules":[
                {"gpu":1,"uuid":"GPU-b","rule":"hot","status":"firing"},
                {"gpu":0,"uuid":"GPU-a","rule":"hot","status":"firing"},
                {"gpu":0,"uuid":"GPU-a","rule":"full","status":"pending"},
                {"gpu":1,"uuid":"GPU-b","rule":"full","status":"ok"}]}"#,
        )
        .unwrap();
        let s = DaemonState::from_answer(a);
        assert!(s.dry_run && s.driver_answering);
        assert_eq!(s.firing["hot"], [0, 1]);
        assert_eq!(s.pending["full"], [0]);
        assert!(!s.firing.contains_key("full"));
    }

    #[test]
    fn an_unspecified_listen_address_is_asked_on_loopback_and_port_0_not_at_all() {
        assert_eq!(
            ask_at("0.0.0.0:9844".parse().unwrap()).to_string(),
            "127.0.0.1:9844"
        );
        assert_eq!(
            ask_at("[::]:9844".parse().unwrap()).to_string(),
            "[::1]:9844"
        );
        let p = DaemonProbe::start("127.0.0.1:0".parse().unwrap(), None, Duration::from_secs(1));
        assert!(matches!(p.latest(), DaemonSeen::CannotAsk(_)));
    }

    #[test]
    fn a_closed_port_is_no_answer() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let p = DaemonProbe::start(addr, None, Duration::from_millis(50));
        let mut seen = p.latest();
        for _ in 0..200 {
            if seen != DaemonSeen::Asking {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
            seen = p.latest();
        }
        assert_eq!(seen, DaemonSeen::NoAnswer("connection refused".into()));
    }
}
