//! The local admin socket (`DIR/admin.sock`, mode 0600, in the 0700 instance directory):
//! the high-security console (DESIGN.md section 9). Operators' signed requests arrive
//! here, custodians' unseal shares among them. One request per connection: a JSON
//! document in ([`Request`]), a JSON line out ([`Answer`]); the protocol is
//! `shuin_books::console`. The peer's uid is passed on, to be recorded with unseal
//! attempts. What a request does is the [`Console`]'s business.

use serde::de::DeserializeOwned;
use serde::Serialize;
use shuin_books::console::{Answer, Outcome, Request};
use shuin_books::SignedRequest;
use shuin_core::Zone;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// The socket's file name in the instance directory.
pub const SOCKET: &str = "admin.sock";
/// A signed request is at most 32 KiB; the largest attachment is a CSV of entry/exit
/// records (8 MiB), JSON-escaped.
const MAX_REQUEST: u64 = 20 * 1024 * 1024;
/// How long a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The zone of the local console.
const ZONE: Zone = Zone::HighSecurity;

/// What the web console's auditor's view hands out, each after a signed request that
/// asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Download {
    /// The audit pack (`pack.json`, `index.html`, `ledger-export/`), as `shuin audit
    /// pack` writes it.
    AuditPack,
    /// An export of the books, as `shuin ledger export` writes it.
    LedgerExport,
}

impl Download {
    /// Its stable name (`audit_pack`, `ledger_export`).
    pub fn as_str(self) -> &'static str {
        match self {
            Download::AuditPack => "audit_pack",
            Download::LedgerExport => "ledger_export",
        }
    }
}

/// What answers on the socket.
#[async_trait::async_trait]
pub trait Console: Send + Sync {
    /// The seal state, as [`Answer::Status`] reports it.
    type Status: Serialize + Send;
    /// The seal state (no identity needed).
    async fn status(&self) -> Self::Status;
    /// A nonce for the next signed request.
    async fn nonce(&self) -> Result<String, Outcome>;
    /// Admits a signed request from `zone` and acts on it.
    async fn act(
        &self,
        signed: &SignedRequest,
        attachment: Option<Zeroizing<String>>,
        zone: Zone,
        peer_uid: Option<u32>,
    ) -> Outcome;
    /// The organisation book as it stands (the web console's passkeys and roles).
    async fn roster(&self) -> Result<shuin_books::Roster, Outcome> {
        Err(Outcome::refused(
            "operator_ca_missing",
            "this server keeps no organisation book",
        ))
    }
    /// Registers a passkey from `zone` (the web console's enrolment).
    async fn register_passkey(
        &self,
        registered: &shuin_ledger::passkey_registration::Registered,
        zone: Zone,
    ) -> Result<shuin_ledger::passkey_registration::PasskeyKey, Outcome> {
        let _ = (registered, zone);
        Err(Outcome::refused(
            "operator_ca_missing",
            "this server keeps no organisation book",
        ))
    }
    /// Writes `download` into the new directory `out` (the web console's auditor's view;
    /// the request that asked for it is already in the books).
    async fn write_download(&self, download: Download, out: &Path) -> Result<(), Outcome> {
        let _ = out;
        Err(Outcome::refused(
            "download_unavailable",
            format!("this server does not make the {}", download.as_str()),
        ))
    }
}

/// Why the socket could not serve, or a client not ask.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// Another server answers on the socket.
    #[error("{} is in use: is another server running on this instance?", .0.display())]
    InUse(PathBuf),
    /// No server answers on the socket.
    #[error("{}: {source}; is `shuin serve` running on this instance?", path.display())]
    Unreachable {
        /// The socket.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The server answered something else than the exchange expects, or could not read
    /// the request.
    #[error("the server answered: {0}")]
    Answered(String),
    /// A request or an answer could not be encoded or decoded.
    #[error("{what}: {source}")]
    Json {
        /// What it was.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The client did not send its request in time.
    #[error("the request did not arrive within 30 s")]
    Timeout,
}

fn io(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> SocketError {
    let what = what.to_string();
    move |source| SocketError::Io { what, source }
}

/// The running listener.
#[derive(Debug)]
pub struct AdminSocket {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl AdminSocket {
    /// Stops listening and removes the socket file.
    pub async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `path` so that it is mode 0600 from the moment it exists there, whatever the
/// process umask: the socket is bound in a fresh private directory (0700) beside it,
/// made 0600 there, then renamed into place (a rename is atomic), and the directory is
/// removed.
fn bind(path: &Path) -> Result<tokio::net::UnixListener, SocketError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let parent = path.parent().unwrap_or(Path::new("."));
    let private = parent.join(format!(".admin-sock-{}", std::process::id()));
    // A leftover of an earlier start in this process; absent otherwise.
    let _ = std::fs::remove_dir_all(&private);
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(io(private.display()))?;
    let staged = private.join(SOCKET);
    let bound = tokio::net::UnixListener::bind(&staged).and_then(|listener| {
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&staged, path)?;
        Ok(listener)
    });
    let _ = std::fs::remove_dir_all(&private);
    bound.map_err(io(path.display()))
}

/// Listens on `path` (mode 0600) for `console`. Refuses to start when another server
/// answers there; a socket file left by a process that is gone is replaced.
pub async fn start<C: Console + 'static>(
    path: PathBuf,
    console: Arc<C>,
) -> Result<AdminSocket, SocketError> {
    if path.exists() {
        // A socket left by a process that is gone; a live server still answers on it.
        if tokio::net::UnixStream::connect(&path).await.is_ok() {
            return Err(SocketError::InUse(path));
        }
        std::fs::remove_file(&path).map_err(io(path.display()))?;
    }
    let listener = bind(&path)?;
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let console = console.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_one(console.as_ref(), stream).await {
                            tracing::warn!(error = %e, "admin socket request failed");
                        }
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "admin socket accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    });
    Ok(AdminSocket { path, task })
}

async fn serve_one<C: Console + ?Sized>(
    console: &C,
    mut stream: tokio::net::UnixStream,
) -> Result<(), SocketError> {
    let peer_uid = stream.peer_cred().ok().map(|c| c.uid());
    let mut raw = Zeroizing::new(Vec::new());
    // A client that stalls is dropped: the console serves one request per connection.
    tokio::time::timeout(
        READ_TIMEOUT,
        (&mut stream).take(MAX_REQUEST).read_to_end(&mut raw),
    )
    .await
    .map_err(|_| SocketError::Timeout)?
    .map_err(io("reading the request"))?;
    let answer = match serde_json::from_slice::<Request>(&raw) {
        Ok(Request::Status) => Answer::Status(console.status().await),
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
    let mut line = serde_json::to_vec(&answer).map_err(|source| SocketError::Json {
        what: "answer",
        source,
    })?;
    line.push(b'\n');
    stream.write_all(&line).await.map_err(io("answering"))?;
    stream.shutdown().await.map_err(io("answering"))
}

/// Sends one request to the server listening on `path`; `S` is its seal state.
pub async fn ask<S: DeserializeOwned>(
    path: &Path,
    request: &Request,
) -> Result<Answer<S>, SocketError> {
    let mut stream = tokio::net::UnixStream::connect(path)
        .await
        .map_err(|source| SocketError::Unreachable {
            path: path.to_owned(),
            source,
        })?;
    let body = Zeroizing::new(
        serde_json::to_vec(request).map_err(|source| SocketError::Json {
            what: "request",
            source,
        })?,
    );
    stream.write_all(&body).await.map_err(io("sending"))?;
    stream.shutdown().await.map_err(io("sending"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .map_err(io("reading the answer"))?;
    serde_json::from_slice(&answer).map_err(|source| SocketError::Json {
        what: "the server's answer",
        source,
    })
}

/// A nonce for the next signed request from the server on `path`; a refusal (such as an
/// instance without an operator CA) is the outcome.
pub async fn nonce(path: &Path) -> Result<Result<String, Outcome>, SocketError> {
    match ask::<serde_json::Value>(path, &Request::Nonce).await? {
        Answer::Nonce { nonce } => Ok(Ok(nonce)),
        Answer::Signed { outcome } => Ok(Err(outcome)),
        other => Err(unexpected(other)),
    }
}

/// Sends a signed request to the server on `path`; returns what became of it.
pub async fn request(path: &Path, request: &Request) -> Result<Outcome, SocketError> {
    match ask::<serde_json::Value>(path, request).await? {
        Answer::Signed { outcome } => Ok(outcome),
        other => Err(unexpected(other)),
    }
}

fn unexpected(answer: Answer<serde_json::Value>) -> SocketError {
    SocketError::Answered(match answer {
        Answer::Error { message } => message,
        Answer::Status(_) => "its status".into(),
        Answer::Nonce { .. } => "a nonce".into(),
        Answer::Signed { .. } => "an outcome".into(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    struct Fixed;

    /// A seal state: the answer's tag goes into it, so it is a map.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    struct State {
        sealed: bool,
    }

    #[async_trait::async_trait]
    impl Console for Fixed {
        type Status = State;

        async fn status(&self) -> State {
            State { sealed: true }
        }

        async fn nonce(&self) -> Result<String, Outcome> {
            Ok("n-1".into())
        }

        async fn act(
            &self,
            _signed: &SignedRequest,
            _attachment: Option<Zeroizing<String>>,
            zone: Zone,
            _peer_uid: Option<u32>,
        ) -> Outcome {
            Outcome::refused("test", format!("{zone:?}"))
        }
    }

    #[tokio::test]
    async fn one_request_per_connection_and_one_server_per_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SOCKET);
        let socket = start(path.clone(), Arc::new(Fixed)).await.unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600);
        // Nothing but the socket is left beside it (the private staging directory is gone).
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SOCKET)]);
        let status: Answer<State> = ask(&path, &Request::Status).await.unwrap();
        assert!(matches!(status, Answer::Status(State { sealed: true })));
        let nonce: Answer<State> = ask(&path, &Request::Nonce).await.unwrap();
        assert!(matches!(nonce, Answer::Nonce { nonce } if nonce == "n-1"));
        assert_eq!(super::nonce(&path).await.unwrap().unwrap(), "n-1");
        let signed = Request::Signed {
            signed: SignedRequest {
                request: "{}".into(),
                signature: String::new(),
                passkey: None,
            },
            attachment: None,
        };
        let outcome = request(&path, &signed).await.unwrap();
        assert!(outcome.to_string().contains("HighSecurity"), "{outcome}");
        let status = request(&path, &Request::Status).await.unwrap_err();
        assert!(status.to_string().contains("its status"), "{status}");
        let again = start(path.clone(), Arc::new(Fixed)).await.unwrap_err();
        assert!(again.to_string().contains("is in use"), "{again}");
        socket.stop().await;
        assert!(!path.exists());
        let gone = ask::<State>(&path, &Request::Status).await.unwrap_err();
        assert!(
            gone.to_string().contains("is `shuin serve` running"),
            "{gone}"
        );
    }
}
