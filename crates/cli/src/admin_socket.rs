//! The local admin socket `DIR/admin.sock` (mode 0600, in the 0700 instance directory):
//! the high-security console (DESIGN.md section 9). Operators' signed requests arrive
//! here (`console/`), custodians' unseal shares among them. One request per connection:
//! a JSON document in, a JSON line out (the protocol is `shuin_books::console`). The
//! peer's uid is recorded with unseal attempts.

use crate::console::Console;
use crate::failure::{msg, Context, Result};
use crate::runtime::Instance;
use crate::seal::{InstanceActivator, UnsealDesk};
pub(crate) use shuin_books::console::Request;
use shuin_ca::seal::SealStatus;
use shuin_core::Zone;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// The socket's file name in the instance directory.
pub(crate) const SOCKET: &str = "admin.sock";
/// A signed request is at most 32 KiB; the largest attachment is a CSV of entry/exit
/// records (8 MiB), JSON-escaped.
const MAX_REQUEST: u64 = 20 * 1024 * 1024;
/// How long a client has to send its request.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The zone of the local console.
const ZONE: Zone = Zone::HighSecurity;

/// The socket's answer, with the seal state of this server.
pub(crate) type Answer = shuin_books::console::Answer<SealStatus>;

/// The running listener.
pub(crate) struct AdminSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminSocket {
    /// Stops listening and removes the socket file.
    pub(crate) async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let _ = std::fs::remove_file(&self.path);
    }
}

fn bind(path: &Path) -> Result<tokio::net::UnixListener> {
    let listener = tokio::net::UnixListener::bind(path).context(path.display())?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .context(path.display())?;
    Ok(listener)
}

/// Listens on `DIR/admin.sock`. Refuses to start when another server answers there.
pub(crate) async fn start(instance: &Arc<Instance>) -> Result<AdminSocket> {
    let path = instance.dir.join(SOCKET);
    if path.exists() {
        // A socket left by a process that is gone; a live server still answers on it.
        if tokio::net::UnixStream::connect(&path).await.is_ok() {
            return Err(msg(format!(
                "{} is in use: is another server running on this instance?",
                path.display()
            )));
        }
        std::fs::remove_file(&path).context(path.display())?;
    }
    let listener = bind(&path)?;
    let unseal = Arc::new(UnsealDesk {
        seal: instance.seal.clone(),
        ledger: instance.store.clone(),
        clock: instance.state.clock.clone(),
        activator: Arc::new(InstanceActivator {
            dir: instance.dir.clone(),
            config: instance.config.clone(),
            store: instance.store.clone(),
            repository: instance.state.repository.clone(),
            clock: instance.state.clock.clone(),
        }),
    });
    let console = Arc::new(Console {
        dir: instance.dir.clone(),
        config: instance.config.clone(),
        store: instance.store.clone(),
        repository: instance.state.repository.clone(),
        clock: instance.state.clock.clone(),
        seal: instance.seal.clone(),
        gate: instance.gate.clone(),
        unseal,
    });
    if instance.seal.custodians().is_some() {
        tracing::info!(socket = %path.display(), "waiting for custodians' shares: shuin unseal --data DIR --share-file FILE --operator-key URI");
    }
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let console = console.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_one(&console, stream).await {
                            tracing::warn!(error = %e, "admin socket request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    });
    Ok(AdminSocket { path, task })
}

async fn serve_one(console: &Console, mut stream: tokio::net::UnixStream) -> Result<()> {
    let peer_uid = stream.peer_cred().ok().map(|c| c.uid());
    let mut raw = Zeroizing::new(Vec::new());
    // A client that stalls is dropped: the console serves one request per connection.
    tokio::time::timeout(
        READ_TIMEOUT,
        (&mut stream).take(MAX_REQUEST).read_to_end(&mut raw),
    )
    .await
    .map_err(|_| msg("the request did not arrive within 30 s"))?
    .context("reading the request")?;
    let answer = match serde_json::from_slice::<Request>(&raw) {
        Ok(Request::Status) => Answer::Status(console.seal.status().await),
        Ok(Request::Nonce) => match console.nonce().await {
            Ok(nonce) => Answer::Nonce { nonce },
            Err(outcome) => Answer::Signed { outcome },
        },
        Ok(Request::Signed { signed, attachment }) => {
            let attachment = attachment.map(Zeroizing::new);
            Answer::Signed {
                outcome: console.act(&signed, attachment, ZONE, peer_uid).await,
            }
        }
        Err(_) => Answer::Error {
            message: "not a request this server understands".into(),
        },
    };
    let mut line = serde_json::to_vec(&answer).context("answer")?;
    line.push(b'\n');
    stream.write_all(&line).await.context("answering")?;
    stream.shutdown().await.context("answering")
}

/// Sends one request to the server listening on `path`.
pub(crate) async fn ask(path: &Path, request: &Request) -> Result<Answer> {
    let mut stream = tokio::net::UnixStream::connect(path).await.map_err(|e| {
        msg(format!(
            "{}: {e}; is `shuin serve` running on this instance?",
            path.display()
        ))
    })?;
    let body = Zeroizing::new(serde_json::to_vec(request).context("request")?);
    stream.write_all(&body).await.context("sending")?;
    stream.shutdown().await.context("sending")?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .context("reading the answer")?;
    serde_json::from_slice(&answer).map_err(|e| msg(format!("the server's answer: {e}")))
}

/// The seal state of the server running on `dir`, if one answers.
pub(crate) async fn status(dir: &Path) -> Option<SealStatus> {
    match ask(&dir.join(SOCKET), &Request::Status).await {
        Ok(Answer::Status(status)) => Some(status),
        _ => None,
    }
}
