//! The one way gpuwarden builds an HTTP client (alert sinks, fleet agents, Prometheus): ureq
//! over rustls, trusting the system's roots, or only the CA in `ca_file` when one is given,
//! with an optional client certificate for mutual TLS. Every request has timeouts, and a
//! failed request is explained with its host, so a certificate problem says where and why.

use std::path::{Path, PathBuf};
use std::time::Duration;
use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

/// How to trust the server and who to be to it; all optional.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClientTls {
    /// PEM file of the CA(s) to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM certificate chain presented to servers that ask for one (mutual TLS).
    pub client_cert: Option<PathBuf>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
}

/// A TLS file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Content { path: PathBuf, what: String },
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn content(path: &Path, what: impl Into<String>) -> TlsFileError {
    TlsFileError::Content {
        path: path.to_path_buf(),
        what: what.into(),
    }
}

/// Every certificate in the PEM file at `path` (at least one).
fn certificates(path: &Path) -> Result<Vec<Certificate<'static>>, TlsFileError> {
    let pem = read(path)?;
    let mut out = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => out.push(c),
            Ok(_) => {}
            Err(e) => return Err(content(path, format!("not PEM: {e}"))),
        }
    }
    if out.is_empty() {
        return Err(content(path, "holds no PEM certificate"));
    }
    Ok(out)
}

fn private_key(path: &Path) -> Result<PrivateKey<'static>, TlsFileError> {
    let pem = read(path)?;
    PrivateKey::from_pem(&pem).map_err(|e| content(path, format!("holds no PEM private key: {e}")))
}

impl ClientTls {
    /// The TLS settings these files describe; reads and checks every file now.
    pub fn config(&self) -> Result<TlsConfig, TlsFileError> {
        let roots = match &self.ca_file {
            Some(path) => RootCerts::new_with_certs(&certificates(path)?),
            None => RootCerts::PlatformVerifier,
        };
        let client = match (&self.client_cert, &self.client_key) {
            (Some(cert), Some(key)) => Some(ClientCert::new_with_certs(
                &certificates(cert)?,
                private_key(key)?,
            )),
            (Some(cert), None) => {
                return Err(content(cert, "client_cert needs client_key"));
            }
            (None, Some(key)) => return Err(content(key, "client_key needs client_cert")),
            (None, None) => None,
        };
        Ok(TlsConfig::builder()
            .root_certs(roots)
            .client_cert(client)
            .build())
    }

    /// An HTTP(S) client that answers every status as a response (callers sort them) and never
    /// waits longer than `timeout` for a request, `connect` for a connection.
    pub fn agent(&self, timeout: Duration, connect: Duration) -> Result<ureq::Agent, TlsFileError> {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(connect.min(timeout)))
            .http_status_as_error(false)
            .tls_config(self.config()?)
            .build();
        Ok(ureq::Agent::new_with_config(config))
    }
}

/// An agent with the system's roots and no client certificate: cannot fail.
pub fn system_agent(timeout: Duration, connect: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(connect.min(timeout)))
        .http_status_as_error(false)
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::PlatformVerifier)
                .build(),
        )
        .build();
    ureq::Agent::new_with_config(config)
}

/// The `host:port` part of `url`, for messages.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    authority.rsplit_once('@').map_or(authority, |(_, h)| h)
}

/// The rustls error inside `e`, whether ureq hands it over as such or inside an I/O error.
fn tls_error(e: &ureq::Error) -> Option<&rustls::Error> {
    match e {
        ureq::Error::Rustls(r) => Some(r),
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>(),
        _ => None,
    }
}

/// Why a request to `url` failed, naming the host; certificate problems in plain words.
pub fn explain(url: &str, e: &ureq::Error) -> String {
    let host = host_of(url);
    match tls_error(e) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            format!(
                "TLS to {host}: the server's certificate {}",
                certificate_problem(c)
            )
        }
        Some(rustls::Error::AlertReceived(a)) => format!(
            "TLS to {host}: the server refused the handshake ({a:?}); \
             does it want a client certificate (client_cert, client_key)?"
        ),
        Some(r) => format!("TLS to {host}: {r}"),
        None => format!("{host}: {e}"),
    }
}

fn certificate_problem(c: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match c {
        C::UnknownIssuer => {
            "is signed by a CA that is not trusted here (set ca_file to the CA that signed it)"
                .to_string()
        }
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "is not valid for this host name".to_string()
        }
        C::Expired | C::ExpiredContext { .. } => "has expired".to_string(),
        C::NotValidYet | C::NotValidYetContext { .. } => "is not valid yet".to_string(),
        C::Revoked => "was revoked".to_string(),
        C::BadSignature => "has a bad signature".to_string(),
        C::BadEncoding => "is not a well-formed certificate".to_string(),
        other => format!("was refused: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_found_in_any_url() {
        assert_eq!(
            host_of("https://events.pagerduty.com/v2/enqueue"),
            "events.pagerduty.com"
        );
        assert_eq!(host_of("http://127.0.0.1:9093"), "127.0.0.1:9093");
        assert_eq!(host_of("https://u:p@am:9093/x?y"), "am:9093");
        assert_eq!(host_of("node1:9400"), "node1:9400");
    }

    #[test]
    fn missing_or_empty_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let e = ClientTls {
            ca_file: Some(empty.clone()),
            ..Default::default()
        }
        .config()
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("empty.pem") && e.contains("no PEM certificate"),
            "{e}"
        );
        let e = ClientTls {
            ca_file: Some(dir.path().join("none.pem")),
            ..Default::default()
        }
        .config()
        .unwrap_err()
        .to_string();
        assert!(e.contains("none.pem"), "{e}");
        let e = ClientTls {
            client_cert: Some(empty),
            ..Default::default()
        }
        .config()
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs client_key"), "{e}");
    }
}
