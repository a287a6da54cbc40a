//! The local admin socket `DIR/admin.sock` (mode 0600, in the 0700 instance directory):
//! it stands for the high-security terminal. A sealed instance listens on it for
//! custodians' shares (`shuin unseal`) and seal status requests. One request per
//! connection: a JSON line in, a JSON line out.

use crate::failure::{msg, Context, Result};
use crate::runtime::Instance;
use crate::seal::{SealStatus, UnsealAnswer, UnsealDesk};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

/// The socket's file name in the instance directory.
pub(crate) const SOCKET: &str = "admin.sock";
/// Requests are small: a share is about 200 bytes.
const MAX_REQUEST: u64 = 16 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case", deny_unknown_fields)]
enum Request {
    Unseal { share: String },
    Status,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
enum Answer {
    Unseal(UnsealAnswer),
    Status(SealStatus),
    Error { message: String },
}

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

/// Listens on `DIR/admin.sock` when the instance has custodians; `None` otherwise.
pub(crate) async fn start(instance: &Arc<Instance>) -> Result<Option<AdminSocket>> {
    if instance.seal.custodians().is_none() {
        return Ok(None);
    }
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
    let listener = tokio::net::UnixListener::bind(&path).context(path.display())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .context(path.display())?;
    }
    let desk = Arc::new(UnsealDesk {
        dir: instance.dir.clone(),
        config: instance.config.clone(),
        store: instance.store.clone(),
        repository: instance.state.repository.clone(),
        clock: instance.state.clock.clone(),
        seal: instance.seal.clone(),
    });
    tracing::info!(socket = %path.display(), "waiting for custodians' shares: shuin unseal --data DIR --share-file FILE");
    let task = tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let desk = desk.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_one(&desk, stream).await {
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
    Ok(Some(AdminSocket { path, task }))
}

async fn serve_one(desk: &UnsealDesk, mut stream: tokio::net::UnixStream) -> Result<()> {
    let peer_uid = stream.peer_cred().ok().map(|c| c.uid());
    let mut raw = Zeroizing::new(Vec::new());
    (&mut stream)
        .take(MAX_REQUEST)
        .read_to_end(&mut raw)
        .await
        .context("reading the request")?;
    let answer = match serde_json::from_slice::<Request>(&raw) {
        Ok(Request::Unseal { share }) => {
            let share = Zeroizing::new(share);
            match desk.offer(&share, peer_uid).await {
                Ok(answer) => Answer::Unseal(answer),
                Err(e) => Answer::Error {
                    message: e.to_string(),
                },
            }
        }
        Ok(Request::Status) => Answer::Status(desk.seal.status().await),
        Err(_) => Answer::Error {
            message: "not a request this server understands".into(),
        },
    };
    let mut line = serde_json::to_vec(&answer).context("answer")?;
    line.push(b'\n');
    stream.write_all(&line).await.context("answering")?;
    stream.shutdown().await.context("answering")
}

async fn ask(dir: &Path, request: &Request) -> Result<Answer> {
    let path = dir.join(SOCKET);
    let mut stream = tokio::net::UnixStream::connect(&path).await.map_err(|e| {
        msg(format!(
            "{}: {e}; is `shuin serve --data {}` running on a sealed instance?",
            path.display(),
            dir.display()
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
    match ask(dir, &Request::Status).await {
        Ok(Answer::Status(status)) => Some(status),
        _ => None,
    }
}

/// `shuin unseal --data DIR --share-file FILE`.
pub(crate) async fn unseal(dir: &Path, share_file: &Path, json: bool) -> Result<()> {
    let text = Zeroizing::new(
        std::fs::read_to_string(share_file)
            .context(format!("share file {}", share_file.display()))?,
    );
    let answer = ask(
        dir,
        &Request::Unseal {
            share: text.as_str().to_owned(),
        },
    )
    .await?;
    match answer {
        Answer::Unseal(answer) => {
            if json {
                println!("{}", serde_json::to_string(&answer).context("JSON output")?);
            } else if answer.accepted {
                println!("{}", answer.message);
            }
            if answer.accepted {
                Ok(())
            } else {
                Err(msg(format!(
                    "share refused ({}): {}",
                    answer.outcome, answer.message
                )))
            }
        }
        Answer::Status(_) => Err(msg("the server answered with its status")),
        Answer::Error { message } => Err(msg(message)),
    }
}
