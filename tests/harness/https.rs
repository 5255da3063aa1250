//! A private CA made with `openssl` for each test, and an HTTPS receiver on 127.0.0.1 that
//! records every request (path, headers, JSON body) and answers a scripted status to each (a
//! 429 with `Retry-After: 7`), so tests see what a sink sent, with which headers, and that it
//! retried a 429 or a 5xx.

#![allow(dead_code)]

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (tests/peers/install.sh)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA with a server certificate for 127.0.0.1 and localhost and a client certificate, all
/// PEM files in `dir` named `<name>-ca.pem`, `<name>-server.pem`, ….
pub struct TestCa {
    pub dir: PathBuf,
    pub name: String,
}

impl TestCa {
    pub fn new(dir: &Path, name: &str) -> TestCa {
        std::fs::create_dir_all(dir).unwrap();
        let ca = TestCa {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        };
        let f = |s: &str| format!("{name}-{s}");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let mut args = vec!["req", "-x509", "-nodes", "-days", "2"];
        args.extend(ec);
        let (ca_key, ca_pem, subj) = (f("ca.key"), f("ca.pem"), format!("/CN={name} test CA"));
        args.extend(["-keyout", &ca_key, "-out", &ca_pem, "-subj", &subj]);
        openssl(dir, &args);
        for (who, ext) in [
            (
                "server",
                "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
            ),
            ("client", "extendedKeyUsage=clientAuth\n"),
        ] {
            let (key, csr, pem, extfile) = (
                f(&format!("{who}.key")),
                f(&format!("{who}.csr")),
                f(&format!("{who}.pem")),
                f(&format!("{who}.ext")),
            );
            std::fs::write(dir.join(&extfile), ext).unwrap();
            let subj = format!("/CN={name} {who}");
            let mut args = vec!["req", "-nodes"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(dir, &args);
            openssl(
                dir,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &ca_pem,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &extfile,
                    "-out",
                    &pem,
                ],
            );
        }
        ca
    }

    pub fn file(&self, what: &str) -> PathBuf {
        self.dir.join(format!("{}-{what}", self.name))
    }
}

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: BTreeMap<String, String>,
    pub body: serde_json::Value,
    /// The status it was answered.
    pub status: u16,
}

/// An HTTPS server on 127.0.0.1 with a certificate from `ca`.
pub struct HttpsReceiver {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// Statuses to answer, in order; when empty, `ok` is answered.
    pub script: Arc<Mutex<VecDeque<u16>>>,
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Whatever",
    }
}

impl HttpsReceiver {
    /// Answers `script` first, then `ok` with `ok_body`; with `client_ca`, only clients with
    /// a certificate from that CA get through the handshake.
    pub fn start(
        ca: &TestCa,
        script: &[u16],
        ok: u16,
        ok_body: &'static str,
        client_ca: Option<&TestCa>,
    ) -> HttpsReceiver {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(ca.file("server.pem"))
                .unwrap()
                .map(Result::unwrap)
                .collect();
        let key = PrivateKeyDer::from_pem_file(ca.file("server.key")).unwrap();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let config = match client_ca {
            None => builder.with_no_client_auth(),
            Some(c) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_file_iter(c.file("ca.pem")).unwrap() {
                    roots.add(cert.unwrap()).unwrap();
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
        }
        .with_single_cert(certs, key)
        .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script.iter().copied().collect::<VecDeque<_>>()));
        let (r, s) = (requests.clone(), script.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { continue };
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                // A client that refuses our certificate ends here, with no request.
                let Some((method, path, headers, body)) = read_request(&mut tls) else {
                    continue;
                };
                let status = s.lock().unwrap().pop_front().unwrap_or(ok);
                let text = if status == ok { ok_body } else { "try later" };
                // A rate limiter says when to come back, as PagerDuty and Slack do.
                let extra = if status == 429 {
                    "retry-after: 7\r\n"
                } else {
                    ""
                };
                r.lock().unwrap().push(Request {
                    method,
                    path,
                    headers,
                    body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
                    status,
                });
                let _ = write!(
                    tls,
                    "HTTP/1.1 {status} {}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
                     {extra}connection: close\r\n\r\n{text}",
                    reason(status),
                    text.len()
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        HttpsReceiver {
            port,
            requests,
            script,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.port)
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn got(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The requests answered with a success.
    pub fn accepted(&self) -> Vec<Request> {
        self.got()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }
}

type Parsed = (String, String, BTreeMap<String, String>, Vec<u8>);

fn read_request(s: &mut impl Read) -> Option<Parsed> {
    let mut reader = BufReader::new(s);
    let mut first = String::new();
    reader.read_line(&mut first).ok()?;
    let mut parts = first.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, headers, body))
}
