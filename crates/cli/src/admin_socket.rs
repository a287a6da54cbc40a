//! The local admin socket `DIR/admin.sock` of a served instance: the listener is
//! `shuin_server::admin_socket`, the protocol `shuin_books::console`; this module wires
//! the instance's [`Console`] to it, with the unseal desk for custodians' shares.

use crate::console::Console;
use crate::failure::Result;
use crate::runtime::Instance;
use crate::seal::{InstanceActivator, UnsealDesk};
pub(crate) use shuin_books::console::Request;
use shuin_ca::seal::SealStatus;
pub(crate) use shuin_server::admin_socket::{AdminSocket, SOCKET};
use std::path::Path;
use std::sync::Arc;

/// The socket's answer, with the seal state of this server.
pub(crate) type Answer = shuin_books::console::Answer<SealStatus>;

/// The console of a served instance: the local socket's, and the operator listeners'.
pub(crate) fn console(instance: &Arc<Instance>) -> Arc<Console> {
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
    Arc::new(Console {
        dir: instance.dir.clone(),
        config: instance.config.clone(),
        store: instance.store.clone(),
        repository: instance.state.repository.clone(),
        clock: instance.state.clock.clone(),
        seal: instance.seal.clone(),
        gate: instance.gate.clone(),
        unseal,
    })
}

/// Listens on `DIR/admin.sock` for `console`. Refuses to start when another server
/// answers there.
pub(crate) async fn start(instance: &Arc<Instance>, console: Arc<Console>) -> Result<AdminSocket> {
    let path = instance.dir.join(SOCKET);
    let socket = shuin_server::admin_socket::start(path.clone(), console).await?;
    if instance.seal.custodians().is_some() {
        tracing::info!(socket = %path.display(), "waiting for custodians' shares: shuin unseal --data DIR --share-file FILE --operator-key URI");
    }
    Ok(socket)
}

/// Whether a server runs on an instance, as its admin socket shows.
pub(crate) enum Liveness {
    /// It answered, with its seal state.
    Running(SealStatus),
    /// Nothing listens on the socket (no socket file, or a refused connection).
    NotRunning,
    /// Something is wrong: no answer in time, a socket this user may not open, or an
    /// answer that makes no sense.
    Unhealthy(String),
}

/// Asks the server running on `dir` for its seal state, for at most `patience`.
pub(crate) async fn status(dir: &Path, patience: std::time::Duration) -> Liveness {
    let path = dir.join(SOCKET);
    let asked = shuin_server::admin_socket::ask(&path, &Request::Status);
    match tokio::time::timeout(patience, asked).await {
        Ok(Ok(Answer::Status(status))) => Liveness::Running(status),
        Ok(Ok(_)) => Liveness::Unhealthy(format!("{}: an unexpected answer", path.display())),
        Ok(Err(shuin_server::admin_socket::SocketError::Unreachable { source, .. }))
            if matches!(
                source.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Liveness::NotRunning
        }
        Ok(Err(e)) => Liveness::Unhealthy(e.to_string()),
        Err(_) => Liveness::Unhealthy(format!(
            "{}: no answer within {} s",
            path.display(),
            patience.as_secs()
        )),
    }
}
