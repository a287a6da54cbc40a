//! `shuin serve`: the server, on one all-in-one listener or on listeners bound to zones
//! (`[[server.listeners]]`).

use crate::failure::{msg, Context, Result};
use std::path::Path;

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
        let socket = tokio::net::TcpListener::bind(&listener.listen)
            .await
            .context(format!("binding {} ({:?})", listener.listen, listener.zone))?;
        bound.push((socket, listener.zone));
    }
    if let Some((socket, _)) = bound.first() {
        banner(&socket.local_addr().context("local address")?.to_string());
    }
    serve_zones(bound, instance, shutdown_signal()).await
}

/// Serves an opened instance on one all-in-one listener until `shutdown` completes.
pub(crate) async fn serve_on(
    listener: tokio::net::TcpListener,
    instance: crate::runtime::Instance,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let all = shuin_server::zones::ListenerZone::AllInOne;
    serve_zones(vec![(listener, all)], instance, shutdown).await
}

/// Serves an opened instance on listeners bound to zones until `shutdown` completes.
async fn serve_zones(
    listeners: Vec<(tokio::net::TcpListener, shuin_server::zones::ListenerZone)>,
    instance: crate::runtime::Instance,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let instance = std::sync::Arc::new(instance);
    // The local console (high-security zone): operators' signed requests, unseal shares.
    let admin = crate::admin_socket::start(&instance).await?;
    let upkeep = {
        let instance = instance.clone();
        tokio::spawn(async move { crate::watch::run(&instance).await })
    };
    let limits = &instance.config.server.limits;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut serving = tokio::task::JoinSet::new();
    for (listener, zone) in listeners {
        tracing::info!(local = ?listener.local_addr().ok(), ?zone, "serving");
        let app = zone.router(instance.state.clone(), limits.rate());
        let mut stopped = stopped.clone();
        let until = async move {
            let _ = stopped.changed().await;
        };
        serving.spawn(shuin_server::serving::serve(
            listener,
            app,
            limits.serving(),
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
