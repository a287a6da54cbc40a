//! `shuin serve`: the all-in-one server.

use crate::failure::{Context, Result};
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
    let listen = listen.unwrap_or(&instance.config.server.listen).to_owned();
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .context(format!("binding {listen}"))?;
    let local = listener.local_addr().context("local address")?;
    banner(&local.to_string());
    serve_on(listener, instance, shutdown_signal()).await
}

/// Serves an opened instance on a bound listener until `shutdown` completes.
pub(crate) async fn serve_on(
    listener: tokio::net::TcpListener,
    instance: crate::runtime::Instance,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    tracing::info!(local = ?listener.local_addr().ok(), "serving");
    let instance = std::sync::Arc::new(instance);
    // The local console (high-security zone): operators' signed requests, unseal shares.
    let admin = crate::admin_socket::start(&instance).await?;
    let upkeep = {
        let instance = instance.clone();
        tokio::spawn(async move { crate::watch::run(&instance).await })
    };
    let limits = &instance.config.server.limits;
    let app = shuin_server::router_with(instance.state.clone(), limits.rate());
    let served = shuin_server::serving::serve(listener, app, limits.serving(), shutdown)
        .await
        .context("server");
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
