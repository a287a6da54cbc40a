//! `shuin serve`: the server, on one all-in-one listener or on listeners bound to zones
//! (`[[server.listeners]]`), each in plain HTTP or TLS, operator listeners with mutual
//! TLS, the operator API and ledgered sessions (docs/operations.md).

use crate::failure::{msg, Context, Result};
use crate::runtime::Instance;
use shuin_server::config::ListenerSection;
use shuin_server::serving::Transport;
use shuin_server::tls::{ClientAuth, ListenerIdentity, ListenerTls, OperatorTrust};
use shuin_server::zones::ListenerZone;
use std::path::Path;
use std::sync::Arc;

/// A listener bound to its address, with its TLS.
pub(crate) struct Bound {
    socket: tokio::net::TcpListener,
    zone: ListenerZone,
    tls: Option<Arc<ListenerTls>>,
}

impl Bound {
    /// An all-in-one plain-HTTP listener.
    fn all_in_one(socket: tokio::net::TcpListener) -> Bound {
        Bound {
            socket,
            zone: ListenerZone::AllInOne,
            tls: None,
        }
    }
}

/// The TLS of `listener`, read from the instance's files.
fn listener_tls(
    instance: &Instance,
    listener: &ListenerSection,
) -> Result<Option<Arc<ListenerTls>>> {
    let Some(section) = &listener.tls else {
        return Ok(None);
    };
    let what = || format!("server.listeners ({}) tls", listener.listen);
    let identity = ListenerIdentity::load(&instance.dir, section).context(what())?;
    let tls = match listener.client_auth {
        ClientAuth::None => ListenerTls::open(identity).context(what())?,
        ClientAuth::Operator => {
            let ca = crate::runtime::operator_ca_certificate(&instance.dir, &instance.config)?
                .ok_or_else(|| msg(format!("{}: an operator listener needs the instance's operator CA (made by `shuin init --first-admin-csr`)", what())))?;
            ListenerTls::for_operators(identity, OperatorTrust::new(ca).context(what())?)
        }
        ClientAuth::Peer => {
            return Err(msg(format!(
                "{}: client_auth = \"peer\" is not available yet",
                what()
            )))
        }
    };
    Ok(Some(Arc::new(tls)))
}

/// Serves the instance at `dir` until Ctrl-C or SIGTERM.
pub(crate) async fn serve(
    dir: &Path,
    listen: Option<&str>,
    banner: impl FnOnce(&str),
) -> Result<()> {
    // Idle connections must not use up the descriptors the store and keys need.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    let instance = crate::runtime::open(dir).await?;
    let mut bound = Vec::new();
    for listener in instance.config.server.listeners(listen) {
        let tls = listener_tls(&instance, &listener)?;
        let socket = tokio::net::TcpListener::bind(&listener.listen)
            .await
            .context(format!("binding {} ({:?})", listener.listen, listener.zone))?;
        bound.push(Bound {
            socket,
            zone: listener.zone,
            tls,
        });
    }
    if let Some(first) = bound.first() {
        banner(
            &first
                .socket
                .local_addr()
                .context("local address")?
                .to_string(),
        );
    }
    serve_zones(bound, instance, shutdown_signal()).await
}

/// Serves an opened instance on one all-in-one listener until `shutdown` completes.
pub(crate) async fn serve_on(
    listener: tokio::net::TcpListener,
    instance: crate::runtime::Instance,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    serve_zones(vec![Bound::all_in_one(listener)], instance, shutdown).await
}

/// Serves an opened instance on listeners bound to zones until `shutdown` completes.
async fn serve_zones(
    listeners: Vec<Bound>,
    instance: Instance,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let instance = Arc::new(instance);
    let console = crate::admin_socket::console(&instance);
    // The local console (high-security zone): operators' signed requests, unseal shares.
    let admin = crate::admin_socket::start(&instance, console.clone()).await?;
    let upkeep = {
        let instance = instance.clone();
        tokio::spawn(async move { crate::watch::run(&instance).await })
    };
    let limits = &instance.config.server.limits;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut serving = tokio::task::JoinSet::new();
    let mut crl_followers = tokio::task::JoinSet::new();
    for listener in listeners {
        let Bound { socket, zone, tls } = listener;
        tracing::info!(local = ?socket.local_addr().ok(), ?zone, tls = tls.is_some(), "serving");
        let (app, transport) = match tls {
            None => (
                zone.router(instance.state.clone(), limits.rate()),
                Transport::Plain,
            ),
            Some(tls) if tls.for_operator_clients() => {
                crl_followers.spawn(tls.clone().follow_crls(
                    instance.store.clone(),
                    shuin_ca::operator_ca::OPERATOR_CRL_SCOPE.into(),
                ));
                operator_listener(&instance, zone, tls, console.clone())?
            }
            Some(tls) => (
                zone.router(instance.state.clone(), limits.rate()),
                Transport::Tls(tls),
            ),
        };
        let mut stopped = stopped.clone();
        let until = async move {
            let _ = stopped.changed().await;
        };
        serving.spawn(shuin_server::serving::serve(
            socket,
            app,
            limits.serving(),
            transport,
            until,
        ));
    }
    shutdown.await;
    let _ = stop.send(true);
    let mut served = Ok(());
    while let Some(done) = serving.join_next().await {
        if let Err(e) = done
            .map_err(|e| msg(e.to_string()))
            .and_then(|r| r.context("server"))
        {
            served = Err(e);
        }
    }
    crl_followers.shutdown().await;
    upkeep.abort();
    let _ = upkeep.await;
    admin.stop().await;
    if let Some(parts) = instance.seal.parts() {
        if let Err(e) = parts.checkpoints.checkpoint_now().await {
            tracing::error!(error = %e, "the shutdown checkpoint failed");
        }
    }
    instance.store.close().await;
    served
}

/// The routes (with the operator API) and the transport (sessions in the facility book)
/// of an operator listener.
fn operator_listener(
    instance: &Instance,
    zone: ListenerZone,
    tls: Arc<ListenerTls>,
    console: Arc<crate::console::Console>,
) -> Result<(axum::Router, Transport)> {
    let operator_zone = zone
        .operator_zone()
        .ok_or_else(|| msg("an operator listener serves the secure or the remote zone"))?;
    let limits = &instance.config.server.limits;
    let app = zone.operator_router(instance.state.clone(), limits.rate(), console);
    let sessions = shuin_server::operator_api::Sessions::new(
        instance.store.clone(),
        instance.state.clock.clone(),
        operator_zone,
    );
    Ok((app, Transport::Operators(tls, Arc::new(sessions))))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
