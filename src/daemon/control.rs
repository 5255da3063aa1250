//! The daemon's control socket: how a person on the box talks to the running watchdog.
//!
//! `control.sock` in the state directory, a Unix socket only its owner (root, for the system
//! daemon) may open: the HTTP endpoint stays read-only, and nothing reachable over the
//! network can change what the watchdog does. One JSON line in, one JSON line out:
//! `{"reset":{"rule":"gpu-hot","gpu":"0"}}` → `{"ok":true,"reset":[{…}],"message":"…"}`.
//! Requests are read on their own tasks (a client that never writes holds nothing up) and
//! handed to the watch loop, which owns the engine's state.

use serde::{Deserialize, Serialize};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// The socket's file name inside the state directory.
pub const CONTROL_SOCKET: &str = "control.sock";

/// How long a client may take to send its request line.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// What a person asks of the daemon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Forget the verdicts and spent budgets of firing rules (all when both are `None`).
    Reset {
        rule: Option<String>,
        /// A GPU index or UUID.
        gpu: Option<String>,
    },
}

/// The daemon's answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    pub ok: bool,
    /// The firings reset: `{"gpu":0,"uuid":"GPU-…","rule":"gpu-hot"}`.
    #[serde(default)]
    pub reset: Vec<ResetDone>,
    pub message: String,
}

/// One firing a reset applied to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResetDone {
    pub gpu: u32,
    pub uuid: String,
    pub rule: String,
}

/// A request waiting for the watch loop, with where its answer goes.
pub struct Pending {
    pub request: Request,
    pub reply: oneshot::Sender<Reply>,
}

/// The socket's path for a state directory.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(CONTROL_SOCKET)
}

/// Binds the socket (replacing one a dead daemon left) and accepts on a task; requests come
/// out of the returned channel.
pub fn listen(state_dir: &Path) -> io::Result<mpsc::Receiver<Pending>> {
    let path = path(state_dir);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    let (tx, rx) = mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                if let Err(e) = serve_one(stream, tx).await {
                    tracing::debug!("control socket client: {e}");
                }
            });
        }
    });
    Ok(rx)
}

async fn serve_one(stream: UnixStream, tx: mpsc::Sender<Pending>) -> io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(64 * 1024));
    tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request line in time"))??;
    let reply = match serde_json::from_str::<Request>(line.trim()) {
        Err(e) => Reply {
            ok: false,
            reset: Vec::new(),
            message: format!("not a request: {e}"),
        },
        Ok(request) => {
            let (reply, answer) = oneshot::channel();
            if tx.send(Pending { request, reply }).await.is_err() {
                return Ok(());
            }
            answer.await.unwrap_or_else(|_| Reply {
                ok: false,
                reset: Vec::new(),
                message: "the daemon is stopping".into(),
            })
        }
    };
    let mut json = serde_json::to_vec(&reply).map_err(io::Error::other)?;
    json.push(b'\n');
    write.write_all(&json).await
}

/// The client side (`gpuwarden reset`): sends one request, waits for the answer.
pub fn ask(state_dir: &Path, request: &Request) -> io::Result<Reply> {
    use std::io::{BufRead, Write};
    let path = path(state_dir);
    let mut stream = std::os::unix::net::UnixStream::connect(&path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "no watchdog answers on {} ({e}): is `gpuwarden watch` running with this state \
                 directory?",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut json = serde_json::to_vec(request).map_err(io::Error::other)?;
    json.push(b'\n');
    stream.write_all(&json)?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line)?;
    serde_json::from_str(line.trim())
        .map_err(|e| io::Error::other(format!("the daemon's answer is not a reply: {e}")))
}
