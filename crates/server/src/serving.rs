//! Serving a router under limits, so that slow or idle clients cannot starve the
//! repository, OCSP and health checks (issue 14):
//!
//! - a header-read timeout, which is also the idle timeout of a kept-alive connection
//!   (hyper starts it whenever it waits for the next request's head);
//! - a body-read timeout between the frames of a request body;
//! - a cap on open connections: past it, a new connection is closed at once rather than
//!   left in the backlog, and the refusals are counted and logged at most once a
//!   second;
//! - a cap on the request head's size.
//!
//! The process's open-file limit should be raised to its hard limit at start (the
//! binary does), and the connection cap kept below it.

use axum::extract::connect_info::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
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

/// Serves `router` on `listener` under `limits` until `shutdown` completes, then waits
/// up to `limits.shutdown_grace` for requests in flight. Handlers can read the peer's
/// address as `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read_timeout,
    ));
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
        let service = hyper_util::service::TowerToHyperService::new(router.clone().map_request(
            move |mut request: axum::extract::Request<_>| {
                request
                    .extensions_mut()
                    .insert(ConnectInfo::<SocketAddr>(peer));
                request
            },
        ));
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(limits.max_header_bytes.max(8192))
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
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
    Ok(())
}
