//! The listeners of `shuin serve` (`[[server.listeners]]`): each bound to its address and
//! zone, in plain HTTP or TLS, operator listeners with mutual TLS, the operator API and
//! sessions recorded in the books, and all of them served until one shutdown.

use crate::config::{LimitsSection, ListenerSection};
use crate::operator_api::{OperatorConsole, Sessions};
use crate::serving::Transport;
use crate::tls::{ClientAuth, ListenerIdentity, ListenerTls, OperatorTrust, TlsError};
use crate::zones::ListenerZone;
use crate::AppState;
use axum::Router;
use shuin_store::{CrlStore, LedgerStore};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A listener that cannot be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ListenerSetupError {
    /// Its certificate, key or operator trust cannot be used.
    #[error("server.listeners ({listen}) tls: {source}")]
    Tls {
        /// The address.
        listen: String,
        /// Why.
        #[source]
        source: TlsError,
    },
    /// An operator listener on an instance without an operator CA.
    #[error("server.listeners ({listen}) tls: an operator listener needs the instance's operator CA (made by `shuin init --first-admin-csr`)")]
    NoOperatorCa {
        /// The address.
        listen: String,
    },
    /// A peer listener on a server that is no node.
    #[error("server.listeners ({listen}): a peer listener (client_auth = \"peer\") serves a node's order queue or repository to the CA's link: run `shuin serve --role ra` or `--role repo`")]
    NoOrderQueue {
        /// The address.
        listen: String,
    },
    /// A listener of a repository node in another zone than the repository's.
    #[error("server.listeners ({listen}): a repository node serves only the repository zone and its peer listener, not {}", zone.as_str())]
    NotRepository {
        /// The address.
        listen: String,
        /// Its zone.
        zone: ListenerZone,
    },
    /// The address cannot be bound.
    #[error("binding {listen} (zone {}): {source}{}", zone.as_str(), bind_hint(source))]
    Bind {
        /// The address.
        listen: String,
        /// Its zone.
        zone: ListenerZone,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An operator listener on a zone without operators.
    #[error("an operator listener serves the secure or the remote zone")]
    NoOperatorZone,
    /// A web console listener that cannot serve.
    #[error("server.listeners ({listen}): {reason}")]
    Console {
        /// The address.
        listen: String,
        /// Why.
        reason: &'static str,
    },
}

/// The way out of a bind error a person can fix.
fn bind_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::AddrInUse => {
            "; another process listens there: stop it, or choose another address (--listen, or listen in [[server.listeners]])"
        }
        std::io::ErrorKind::InvalidInput => {
            "; give HOST:PORT, for example 127.0.0.1:8080 or [::1]:8080"
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "; this machine has no such address: give one of its own, or 0.0.0.0 for all"
        }
        std::io::ErrorKind::PermissionDenied => {
            "; ports below 1024 need privileges: use a port above 1024 behind a proxy, or grant CAP_NET_BIND_SERVICE"
        }
        _ => "",
    }
}

/// A listener bound to its address, with its TLS.
pub struct BoundListener {
    socket: TcpListener,
    zone: ListenerZone,
    tls: Option<Arc<ListenerTls>>,
    /// The web console's origin, on a `client_auth = "passkey"` listener.
    console: Option<crate::console_web::Relying>,
}

impl BoundListener {
    /// An all-in-one plain-HTTP listener.
    pub fn all_in_one(socket: TcpListener) -> BoundListener {
        BoundListener {
            socket,
            zone: ListenerZone::AllInOne,
            tls: None,
            console: None,
        }
    }

    /// Binds `listener`, its TLS read from files under the instance directory `dir`;
    /// an operator listener trusts the operator CA `operator_ca_der`.
    pub async fn bind(
        dir: &Path,
        listener: &ListenerSection,
        operator_ca_der: Option<Vec<u8>>,
    ) -> Result<BoundListener, ListenerSetupError> {
        let tls = listener_tls(dir, listener, operator_ca_der)?;
        let console = match (listener.client_auth, &listener.console_origin) {
            (ClientAuth::Passkey, Some(origin)) => Some(
                crate::console_web::Relying::parse(origin).map_err(|reason| {
                    ListenerSetupError::Console {
                        listen: listener.listen.clone(),
                        reason,
                    }
                })?,
            ),
            (ClientAuth::Passkey, None) => {
                return Err(ListenerSetupError::Console {
                    listen: listener.listen.clone(),
                    reason: "client_auth = \"passkey\" needs console_origin",
                })
            }
            _ => None,
        };
        let socket = TcpListener::bind(&listener.listen)
            .await
            .map_err(|source| ListenerSetupError::Bind {
                listen: listener.listen.clone(),
                zone: listener.zone,
                source,
            })?;
        Ok(BoundListener {
            socket,
            zone: listener.zone,
            tls,
            console,
        })
    }

    /// The address it is bound to.
    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.socket.local_addr()
    }

    /// Where it serves and what, as one line for people: `https://ADDR (secure zone,
    /// operator certificates)`.
    pub fn describe(&self) -> std::io::Result<String> {
        let address = self.local_addr()?;
        let zone = self.zone.as_str();
        Ok(match &self.tls {
            None => format!("http://{address} ({zone} zone)"),
            Some(tls) if tls.for_operator_clients() => {
                format!("https://{address} ({zone} zone, operator certificates)")
            }
            Some(tls) if tls.for_node_clients() => {
                format!("https://{address} ({zone} zone, the CA's link by node certificate)")
            }
            Some(_) if self.console.is_some() => {
                format!("https://{address} ({zone} zone, the web console by passkey)")
            }
            Some(_) => format!("https://{address} ({zone} zone)"),
        })
    }
}

/// The TLS of `listener`, read from files under `dir`.
fn listener_tls(
    dir: &Path,
    listener: &ListenerSection,
    operator_ca_der: Option<Vec<u8>>,
) -> Result<Option<Arc<ListenerTls>>, ListenerSetupError> {
    let Some(section) = &listener.tls else {
        return Ok(None);
    };
    let listen = listener.listen.clone();
    let tls_error = |source| ListenerSetupError::Tls {
        listen: listen.clone(),
        source,
    };
    let identity = ListenerIdentity::load(dir, section).map_err(tls_error)?;
    let trust = || {
        let ca = operator_ca_der.ok_or_else(|| ListenerSetupError::NoOperatorCa {
            listen: listen.clone(),
        })?;
        OperatorTrust::new(ca).map_err(tls_error)
    };
    let tls = match listener.client_auth {
        ClientAuth::None | ClientAuth::Passkey => ListenerTls::open(identity).map_err(tls_error)?,
        ClientAuth::Operator => ListenerTls::for_operators(identity, trust()?),
        ClientAuth::Peer => ListenerTls::for_nodes(identity, trust()?),
    };
    Ok(Some(Arc::new(tls)))
}

/// The routers' state: every route of a zone, or only the repository's.
#[derive(Clone)]
pub enum ServedState {
    /// All-in-one, the CA's console, an RA node.
    Full(AppState),
    /// A repository node: the repository and OCSP.
    Repository(crate::RepositoryState),
}

impl ServedState {
    fn http(&self) -> Arc<crate::metrics::HttpCounters> {
        match self {
            ServedState::Full(state) => state.http.clone(),
            ServedState::Repository(state) => state.http.clone(),
        }
    }

    /// The routes of a listener of `zone` without client certificates.
    fn router(
        &self,
        socket: &TcpListener,
        zone: ListenerZone,
        limits: &LimitsSection,
    ) -> Result<Router, ListenerSetupError> {
        match self {
            ServedState::Full(state) => Ok(zone.router(state.clone(), limits.rate())),
            ServedState::Repository(state) if zone == ListenerZone::Repository => {
                Ok(crate::zones::repository_node_router(state.clone()))
            }
            ServedState::Repository(_) => Err(ListenerSetupError::NotRepository {
                listen: address_of(socket),
                zone,
            }),
        }
    }
}

fn address_of(socket: &TcpListener) -> String {
    socket
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default()
}

/// What the listeners of an instance serve.
pub struct Services<S> {
    /// The routers' state.
    pub state: ServedState,
    /// `[server.limits]`.
    pub limits: LimitsSection,
    /// The operator API of operator listeners (`None` where operators do not act: an
    /// RA node).
    pub console: Option<Arc<dyn OperatorConsole>>,
    /// The books (operator sessions) and the operator CA's CRLs.
    pub store: Arc<S>,
    /// The scope of the operator CA's CRL, followed by operator and peer listeners.
    pub operator_crl_scope: String,
    /// An RA node's order queue and own book, served to the CA's link on peer listeners.
    pub orders: Option<crate::peer::RaPeer>,
    /// A node's repository, which the CA's link hands CRLs and OCSP answers to.
    pub pushed: Option<Arc<shuin_repo::pushed::PushedRepository>>,
    /// The witnesses' keys (`[[ledger.witnesses]]`), with which the web console's
    /// auditor's view checks the checkpoints' cosignatures.
    pub witnesses: Vec<shuin_ledger::WitnessKey>,
    /// An RA node's witness of the CA's checkpoints (C2SP tlog-witness), served under
    /// `/witness/` on its plain listeners of the front and repository zones: the CA
    /// dials it like any witness (docs/deployment.md, "The RA nodes witness the CA").
    pub node_witness: Option<Router>,
}

/// Why serving stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// A listener could not be set up.
    #[error(transparent)]
    Setup(#[from] ListenerSetupError),
    /// A listener failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
    /// A listener's task failed.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// Serves `listeners` until `shutdown` completes, then waits for each to finish.
pub async fn serve_all<S: LedgerStore + CrlStore + 'static>(
    listeners: Vec<BoundListener>,
    services: &Services<S>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut serving = tokio::task::JoinSet::new();
    let mut crl_followers = tokio::task::JoinSet::new();
    let mut web_sessions = Vec::new();
    for BoundListener {
        socket,
        zone,
        tls,
        console,
    } in listeners
    {
        let local = socket
            .local_addr()
            .map_or_else(|e| format!("unknown ({e})"), |a| a.to_string());
        tracing::info!(%local, zone = zone.as_str(), tls = tls.is_some(), "serving");
        let (app, transport) = match tls {
            None => (
                with_node_witness(
                    services.state.router(&socket, zone, &services.limits)?,
                    zone,
                    services.node_witness.as_ref(),
                    services,
                ),
                Transport::Plain,
            ),
            Some(tls) if console.is_some() => {
                let relying = console.ok_or(ListenerSetupError::NoOperatorZone)?;
                let (app, sessions) = console_listener(services, &socket, zone, relying)?;
                web_sessions.push(sessions);
                (app, Transport::Tls(tls))
            }
            Some(tls) if tls.for_operator_clients() || tls.for_node_clients() => {
                crl_followers.spawn(
                    tls.clone()
                        .follow_crls(services.store.clone(), services.operator_crl_scope.clone()),
                );
                if tls.for_node_clients() {
                    node_listener(services, &socket, zone, tls)?
                } else {
                    operator_listener(services, zone, tls)?
                }
            }
            Some(tls) => (
                services.state.router(&socket, zone, &services.limits)?,
                Transport::Tls(tls),
            ),
        };
        let mut stopped = stopped.clone();
        let until = async move {
            let _ = stopped.changed().await;
        };
        let limits = services.limits.serving();
        serving.spawn(crate::serving::serve(socket, app, limits, transport, until));
    }
    shutdown.await;
    let _ = stop.send(true);
    let mut served = Ok(());
    while let Some(done) = serving.join_next().await {
        if let Err(e) = done.map_err(ServeError::from).and_then(|r| Ok(r?)) {
            served = Err(e);
        }
    }
    crl_followers.shutdown().await;
    for sessions in web_sessions {
        sessions.close_all().await;
    }
    served
}

/// `app` with the node's witness under `/witness/` when it has one and `zone` is where
/// verifiers and the CA's link reach it: admitted per client ([`NODE_WITNESS_RATE`],
/// `429 rate_limited` beyond), counted like the zone's.
fn with_node_witness<S>(
    app: Router,
    zone: ListenerZone,
    witness: Option<&Router>,
    services: &Services<S>,
) -> Router {
    let ServedState::Full(state) = &services.state else {
        return app;
    };
    match witness {
        Some(witness) if matches!(zone, ListenerZone::Front | ListenerZone::Repository) => {
            let limits = crate::rate_limit::RateLimits {
                max_clients: services.limits.rate().max_clients,
                ..NODE_WITNESS_RATE
            };
            let limiter = Arc::new(crate::rate_limit::RateLimiter::new(limits));
            let counted = Router::new()
                .nest("/witness", witness.clone())
                .layer(axum::middleware::from_fn_with_state(
                    (limiter, state.clock.clone()),
                    crate::rate_limit::admit,
                ))
                .layer(axum::middleware::from_fn_with_state(
                    (state.http.clone(), zone),
                    crate::metrics::count_answers,
                ));
            app.merge(counted)
        }
        _ => app,
    }
}

/// What one client may ask of an RA node's witness: 60 at once, then 10 a second (the
/// CA submits a checkpoint at most every few seconds, even under load).
const NODE_WITNESS_RATE: crate::rate_limit::RateLimits = crate::rate_limit::RateLimits {
    burst: 60.0,
    per_second: 10.0,
    max_clients: 0,
};

/// The routes of a web console listener (`client_auth = "passkey"`), with its sessions.
fn console_listener<S: LedgerStore + 'static>(
    services: &Services<S>,
    socket: &TcpListener,
    zone: ListenerZone,
    relying: crate::console_web::Relying,
) -> Result<(Router, Arc<crate::console_web::sessions::WebSessions>), ListenerSetupError> {
    let console_error = |reason| ListenerSetupError::Console {
        listen: address_of(socket),
        reason,
    };
    let operator_zone = zone
        .operator_zone()
        .ok_or_else(|| console_error("the web console serves the secure zone"))?;
    let console = services.console.clone().ok_or_else(|| {
        console_error("the web console runs where operators act: the all-in-one server or the CA's console, not an RA or repository node")
    })?;
    let ServedState::Full(state) = &services.state else {
        return Err(console_error("a repository node serves no console"));
    };
    let books = Sessions::new(services.store.clone(), state.clock.clone(), operator_zone);
    let sessions = Arc::new(crate::console_web::sessions::WebSessions::new(books));
    let app = crate::console_web::routes(crate::console_web::ConsoleSetup {
        console,
        app: state.clone(),
        store: services.store.clone(),
        witnesses: services.witnesses.clone(),
        relying,
        zone: operator_zone,
        sessions: sessions.clone(),
        limits: services.limits.rate(),
    })
    .fallback(crate::problem::not_found)
    .layer(axum::middleware::from_fn_with_state(
        (state.http.clone(), zone),
        crate::metrics::count_answers,
    ));
    Ok((app, sessions))
}

/// The routes (with the operator API) and the transport (sessions in the facility book)
/// of an operator listener.
fn operator_listener<S: LedgerStore + 'static>(
    services: &Services<S>,
    zone: ListenerZone,
    tls: Arc<ListenerTls>,
) -> Result<(Router, Transport), ListenerSetupError> {
    let operator_zone = zone
        .operator_zone()
        .ok_or(ListenerSetupError::NoOperatorZone)?;
    let ServedState::Full(state) = &services.state else {
        return Err(ListenerSetupError::NoOperatorZone);
    };
    // Where operators do not act (an RA node), the listener serves monitoring only.
    let app = match services.console.clone() {
        Some(console) => zone.operator_router(state.clone(), services.limits.rate(), console),
        None => zone.monitoring_router(state.clone()),
    };
    let sessions = Sessions::new(services.store.clone(), state.clock.clone(), operator_zone);
    Ok((app, Transport::Operators(tls, Arc::new(sessions))))
}

/// The routes (the peer API and health) and the transport of a peer listener.
fn node_listener<S>(
    services: &Services<S>,
    socket: &TcpListener,
    zone: ListenerZone,
    tls: Arc<ListenerTls>,
) -> Result<(Router, Transport), ListenerSetupError> {
    let pushed = services
        .pushed
        .clone()
        .ok_or_else(|| ListenerSetupError::NoOrderQueue {
            listen: address_of(socket),
        })?;
    let counted = (services.state.http(), zone);
    let app = crate::peer::routes(services.orders.clone(), pushed)
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .fallback(crate::problem::not_found)
        .layer(axum::middleware::from_fn_with_state(
            counted,
            crate::metrics::count_answers,
        ));
    Ok((app, Transport::Nodes(tls)))
}

/// Completes on Ctrl-C or SIGTERM.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    use tokio::signal::unix::{signal, SignalKind};
    // Registered now, not when first polled: a SIGTERM that arrives while the server
    // starts (its health check may answer already) shuts it down cleanly, shutdown
    // checkpoint included, instead of killing it.
    let interrupt = signal(SignalKind::interrupt()).ok();
    let terminate = signal(SignalKind::terminate()).ok();
    async move {
        let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(interrupt) => {},
            () = wait(terminate) => {},
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    fn section(client_auth: ClientAuth) -> ListenerSection {
        ListenerSection {
            listen: "127.0.0.1:0".into(),
            zone: ListenerZone::Secure,
            tls: None,
            client_auth,
            console_origin: None,
        }
    }

    #[tokio::test]
    async fn a_plain_listener_binds_without_tls() {
        let dir = Path::new("/nonexistent");
        let bound = BoundListener::bind(dir, &section(ClientAuth::None), None)
            .await
            .unwrap();
        assert!(bound.tls.is_none());
        assert_eq!(bound.zone, ListenerZone::Secure);
        assert!(bound.local_addr().unwrap().port() > 0);
    }

    #[tokio::test]
    async fn an_address_in_use_is_named() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut listener = section(ClientAuth::None);
        listener.listen = taken.local_addr().unwrap().to_string();
        let error = BoundListener::bind(Path::new("/"), &listener, None)
            .await
            .err()
            .unwrap();
        let text = error.to_string();
        assert!(
            text.starts_with(&format!("binding {} (zone secure): ", listener.listen))
                && text.contains("another process listens there"),
            "{text}"
        );
    }

    #[test]
    fn setup_errors_read_as_before() {
        let listen = "0.0.0.0:8443".to_owned();
        assert!(ListenerSetupError::NoOrderQueue {
            listen: listen.clone()
        }
        .to_string()
        .ends_with("run `shuin serve --role ra` or `--role repo`"));
        assert!(ListenerSetupError::NoOperatorCa { listen }
            .to_string()
            .ends_with(
                "needs the instance's operator CA (made by `shuin init --first-admin-csr`)"
            ));
    }
}
