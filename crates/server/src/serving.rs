//! Serving a router under limits, so that slow or idle clients cannot starve the
//! repository, OCSP and health checks (issue 14):
//!
//! - a header-read timeout, which is also the idle timeout of a kept-alive connection
//!   (hyper starts it whenever it waits for the next request's head);
//! - a body-read timeout between the frames of a request body;
//! - a cap on open connections: past it, a new connection is closed at once rather than
//!   left in the backlog, and the refusals are counted and logged at most once a
//!   second;
//! - a cap on the request head's size;
//! - on TLS listeners, a handshake timeout (a client that stalls the handshake holds a
//!   connection slot only that long).
//!
//! On operator listeners every connection is a session (`crate::operator_api`): its
//! opening is recorded before anything is served, and its closing once it ends.
//!
//! The process's open-file limit should be raised to its hard limit at start (the
//! binary does), and the connection cap kept below it.

use crate::operator_api::{ClientIdentity, Session, Sessions};
use crate::tls::ListenerTls;
use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Open connections at most; more are closed on accept.
    pub max_connections: usize,
    /// The time a client has to send a request's head, and to start the next one on a
    /// kept-alive connection.
    pub header_read_timeout: Duration,
    /// The longest wait for the next part of a request body.
    pub body_read_timeout: Duration,
    /// The largest request head (start line and headers), in bytes.
    pub max_header_bytes: usize,
    /// The time a client has to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 16_384,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_header_bytes: 16 * 1024,
            handshake_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Connections refused at the cap, logged at most once a second.
#[derive(Debug, Default)]
struct Refusals {
    count: AtomicU64,
    last_log: std::sync::Mutex<Option<Instant>>,
}

impl Refusals {
    fn refused(&self) {
        let total = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(1)) {
            *last = Some(Instant::now());
            tracing::warn!(
                refused_total = total,
                "the connection cap is reached: new connections are closed at once"
            );
        }
    }
}

/// How a listener's connections are carried.
#[derive(Clone)]
pub enum Transport {
    /// Plain HTTP.
    Plain,
    /// HTTPS without client certificates.
    Tls(Arc<ListenerTls>),
    /// HTTPS with operator certificates: each connection is a session, recorded in the
    /// books before it serves anything.
    Operators(Arc<ListenerTls>, Arc<Sessions>),
    /// HTTPS with node certificates of the CA role (the CA's link to an RA node).
    Nodes(Arc<ListenerTls>),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Transport::Plain => "Plain",
            Transport::Tls(_) => "Tls",
            Transport::Operators(..) => "Operators",
            Transport::Nodes(_) => "Nodes",
        })
    }
}

/// What every connection of a listener shares.
struct Shared {
    router: Router,
    limits: Limits,
    transport: Transport,
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then waits
/// up to `limits.shutdown_grace` for requests in flight (and for the sessions' closing
/// entries). Handlers can read the peer's address as `ConnectInfo<SocketAddr>`, and on
/// operator listeners the session as `Extension<Arc<Session>>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    transport: Transport,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read_timeout,
    ));
    let shared = Arc::new(Shared {
        router,
        limits,
        transport,
    });
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Refusals::default();
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or memory: let others finish, then go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            drop(stream);
            refusals.refused();
            continue;
        };
        let shared = shared.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            connection(shared, stream, peer, watcher).await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("shutdown grace period over: closing connections still open");
        }
    }
    // Sessions still write their closing entries: wait for every slot to come back.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _: Result<Result<OwnedSemaphorePermit, _>, _> =
        tokio::time::timeout(limits.shutdown_grace, slots.acquire_many_owned(all)).await;
    Ok(())
}

/// One accepted connection, on its transport.
async fn connection(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, watcher: Watcher) {
    let tls = match &shared.transport {
        Transport::Plain => {
            let io = TokioIo::new(stream);
            return http(&shared, io, peer, Carried::Nothing, watcher).await;
        }
        Transport::Tls(tls) | Transport::Operators(tls, _) | Transport::Nodes(tls) => tls,
    };
    let Some(config) = tls.current() else {
        tracing::warn!(%peer, "operator listener: no operator CRL yet; the connection is refused");
        return;
    };
    let handshake = tokio_rustls::TlsAcceptor::from(config).accept(stream);
    let stream = match tokio::time::timeout(shared.limits.handshake_timeout, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::info!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let client_certificate = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|certificate| certificate.as_ref().to_vec());
    let carried = match &shared.transport {
        Transport::Operators(_, sessions) => {
            let sessions = sessions.clone();
            return session(shared, stream, peer, client_certificate, &sessions, watcher).await;
        }
        Transport::Nodes(_) => match ca_node(client_certificate.as_deref(), peer) {
            Some(node) => {
                tracing::info!(%peer, node = %node.0.name, "the CA's link connected");
                Carried::Node(node)
            }
            None => return,
        },
        _ => Carried::Nothing,
    };
    http(&shared, TokioIo::new(stream), peer, carried, watcher).await;
}

/// An operator's connection: a session, opened in the books before it serves anything
/// and closed once it ends.
async fn session<I>(
    shared: Arc<Shared>,
    stream: I,
    peer: SocketAddr,
    client_certificate: Option<Vec<u8>>,
    sessions: &Sessions,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let identity = client_certificate.map(|der| ClientIdentity::of(&der));
    let identity = match identity {
        Some(Ok(identity)) => identity,
        Some(Err(e)) => {
            tracing::warn!(%peer, error = %e, "operator certificate unreadable; connection refused");
            return;
        }
        None => {
            tracing::warn!(%peer, "no operator certificate; connection refused");
            return;
        }
    };
    // Record before effect: no session entry, no session.
    let session = match sessions.open(identity, peer).await {
        Ok(session) => session,
        Err(e) => {
            tracing::error!(%peer, error = %e, "the session could not be recorded; connection refused");
            return;
        }
    };
    // The requests run in a task of their own, so that a panic in a handler still
    // leaves the session's closing entry written.
    let serving = {
        let carried = Carried::Session(session.clone());
        tokio::spawn(async move {
            http(&shared, TokioIo::new(stream), peer, carried, watcher).await;
        })
    };
    if let Err(e) = serving.await {
        tracing::error!(%peer, error = %e, "an operator request failed abnormally");
        session.count(&shuin_books::console::Outcome::failed(
            "the request handler panicked",
        ));
    }
    sessions.close(&session).await;
}

/// The node a peer connection comes from, if its certificate is one of the CA role (the
/// TLS verifier has checked it against the operator CA and its CRL).
fn ca_node(certificate: Option<&[u8]>, peer: SocketAddr) -> Option<crate::peer::PeerNode> {
    use shuin_core::x509::node::{NodeIdentity, NodeRole};
    match certificate.map(NodeIdentity::of) {
        Some(Ok(node)) if node.role == NodeRole::Ca => Some(crate::peer::PeerNode(node)),
        Some(Ok(node)) => {
            tracing::warn!(%peer, node = %node.name, role = ?node.role, "a node that is not the CA dialled a peer listener; connection refused");
            None
        }
        Some(Err(e)) => {
            tracing::warn!(%peer, error = %e, "peer listener: connection refused");
            None
        }
        None => {
            tracing::warn!(%peer, "peer listener: no node certificate; connection refused");
            None
        }
    }
}

/// What a connection hands its requests besides the peer's address.
#[derive(Clone)]
enum Carried {
    Nothing,
    /// The operator session.
    Session(Arc<Session>),
    /// The node at the other end.
    Node(crate::peer::PeerNode),
}

/// Serves HTTP/1.1 on `io` until the client goes or the server shuts down.
async fn http<I>(
    shared: &Shared,
    io: TokioIo<I>,
    peer: SocketAddr,
    carried: Carried,
    watcher: Watcher,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(shared.router.clone().map_request(
        move |mut request: axum::extract::Request<_>| {
            let extensions = request.extensions_mut();
            extensions.insert(ConnectInfo::<SocketAddr>(peer));
            match &carried {
                Carried::Nothing => {}
                Carried::Session(session) => {
                    extensions.insert(session.clone());
                }
                Carried::Node(node) => {
                    extensions.insert(node.clone());
                }
            }
            request
        },
    ));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(shared.limits.header_read_timeout)
        .max_buf_size(shared.limits.max_header_bytes.max(8192))
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(connection).await {
        tracing::debug!(%peer, error = %e, "connection ended");
    }
}
