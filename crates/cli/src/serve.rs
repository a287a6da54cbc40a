//! `shuin serve`: the server, on one all-in-one listener or on listeners bound to zones
//! (`[[server.listeners]]`, `shuin_server::listeners`), with the local console, the
//! upkeep beside it and a checkpoint at shutdown (docs/operations.md).

use crate::failure::{msg, Context, Result};
use crate::runtime::Instance;
use shuin_server::listeners::{BoundListener, ServedState, Services};
use shuin_server::node::ServeRole;
use std::path::Path;
use std::sync::Arc;

/// Serves the instance at `dir` until Ctrl-C or SIGTERM, as the role its `[node]` says
/// (`role`, when given, must agree).
pub(crate) async fn serve(
    dir: &Path,
    listen: Option<&str>,
    role: Option<ServeRole>,
    banner: impl FnOnce(&str, &[String]),
) -> Result<()> {
    // Idle connections must not use up the descriptors the store and keys need.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::info!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
    let configured = crate::config::InstanceConfig::load(dir)?.node.role;
    if let Some(asked) = role.filter(|asked| *asked != configured) {
        return Err(msg(format!(
            "role_mismatch: --role {}: {} is configured as role {} ([node] role in shuin.toml)",
            asked.as_str(),
            dir.display(),
            configured.as_str()
        )));
    }
    if configured == ServeRole::Ca && listen.is_some() {
        return Err(msg(
            "ca_listens_nowhere: --listen: the CA of a split deployment listens on no network port",
        ));
    }
    // Held until the process ends (a kill -9 included: the kernel releases it).
    let _lock = shuin_server::serve_lock::take(dir).map_err(|e| msg(e.to_string()))?;
    match configured {
        ServeRole::Ra => return serve_ra_node(dir, listen, banner).await,
        ServeRole::Repo => return serve_repo_node(dir, listen, banner).await,
        _ => {}
    }
    // The all-in-one and the CA bind their addresses before any key or the store is
    // opened, so a wrong or busy address is reported at once.
    let config = crate::config::InstanceConfig::load(dir)?;
    let files = shuin_ca::parts::CaFiles::read(&config.ca, dir)?;
    let mut bound = Vec::new();
    if configured == ServeRole::All {
        for listener in config.server.listeners(listen) {
            let socket = BoundListener::bind(dir, &listener, files.operator_ca_der.clone());
            bound.push(socket.await?);
        }
    }
    let instance = crate::runtime::open(dir).await?;
    let described = bound.iter().map(BoundListener::describe);
    let described = described.collect::<std::io::Result<Vec<_>>>();
    let first = match bound.first() {
        Some(first) => first.local_addr().context("local address")?.to_string(),
        None => String::new(),
    };
    banner(&first, &described.context("local address")?);
    serve_zones(bound, instance, shuin_server::listeners::shutdown_signal()).await
}

/// Serves the RA node at `dir` on its listeners until Ctrl-C or SIGTERM.
async fn serve_ra_node(
    dir: &Path,
    listen: Option<&str>,
    banner: impl FnOnce(&str, &[String]),
) -> Result<()> {
    let config = crate::config::InstanceConfig::load(dir)?;
    let node = Arc::new(crate::split::open_ra_node(dir, config).await?);
    let bound = bind_node(dir, listen, &node.config, &node.operator_ca_der, banner).await?;
    let upkeep = {
        let node = node.clone();
        tokio::spawn(async move { crate::split::ra_upkeep(&node).await })
    };
    let services = Services {
        state: ServedState::Full(node.state.clone()),
        limits: node.config.server.limits.clone(),
        console: node.console.clone(),
        store: node.store.clone(),
        operator_crl_scope: shuin_ca::operator_ca::OPERATOR_CRL_SCOPE.into(),
        orders: Some(node.peer.clone()),
        pushed: Some(node.pushed.clone()),
        witnesses: Vec::new(),
        node_witness: node.witness.clone(),
    };
    let served = shuin_server::listeners::serve_all(
        bound,
        &services,
        shuin_server::listeners::shutdown_signal(),
    )
    .await;
    upkeep.abort();
    let _ = upkeep.await;
    node.store.close().await;
    served.map_err(|e| msg(e.to_string()))
}

/// Serves the repository node at `dir` on its listeners until Ctrl-C or SIGTERM.
async fn serve_repo_node(
    dir: &Path,
    listen: Option<&str>,
    banner: impl FnOnce(&str, &[String]),
) -> Result<()> {
    let config = crate::config::InstanceConfig::load(dir)?;
    let node = crate::split::open_repo_node(dir, config).await?;
    let bound = bind_node(dir, listen, &node.config, &node.operator_ca_der, banner).await?;
    let services = Services {
        state: ServedState::Repository(node.state.clone()),
        limits: node.config.server.limits.clone(),
        console: None,
        store: node.store.clone(),
        operator_crl_scope: shuin_ca::operator_ca::OPERATOR_CRL_SCOPE.into(),
        orders: None,
        pushed: Some(node.pushed.clone()),
        witnesses: Vec::new(),
        node_witness: None,
    };
    let shutdown = shuin_server::listeners::shutdown_signal();
    let served = shuin_server::listeners::serve_all(bound, &services, shutdown).await;
    node.store.close().await;
    served.map_err(|e| msg(e.to_string()))
}

/// Binds a node's listeners and prints the banner.
async fn bind_node(
    dir: &Path,
    listen: Option<&str>,
    config: &crate::config::InstanceConfig,
    operator_ca_der: &Option<Vec<u8>>,
    banner: impl FnOnce(&str, &[String]),
) -> Result<Vec<BoundListener>> {
    let mut bound = Vec::new();
    for listener in config.server.listeners(listen) {
        bound.push(BoundListener::bind(dir, &listener, operator_ca_der.clone()).await?);
    }
    let described = bound.iter().map(BoundListener::describe);
    let described = described.collect::<std::io::Result<Vec<_>>>();
    banner("", &described.context("local address")?);
    Ok(bound)
}

/// Serves an opened instance on one all-in-one listener until `shutdown` completes.
pub(crate) async fn serve_on(
    listener: tokio::net::TcpListener,
    instance: crate::runtime::Instance,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let bound = vec![BoundListener::all_in_one(listener)];
    serve_zones(bound, instance, shutdown).await
}

/// How long shutdown waits for the upkeep round in progress.
const UPKEEP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// Serves an opened instance on listeners bound to zones until `shutdown` completes.
async fn serve_zones(
    listeners: Vec<BoundListener>,
    instance: Instance,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let instance = Arc::new(instance);
    let console = crate::admin_socket::console(&instance);
    // The local console (high-security zone): operators' signed requests, unseal shares.
    let admin = crate::admin_socket::start(&instance, console.clone()).await?;
    let (stop_upkeep, upkeep_stop) = tokio::sync::watch::channel(false);
    let mut upkeep = {
        let instance = instance.clone();
        tokio::spawn(async move { crate::watch::run(&instance, upkeep_stop).await })
    };
    // The CA of a split deployment dials its RA nodes (none otherwise).
    let links = crate::split::start_links(&instance)?;
    let services = Services {
        state: ServedState::Full(instance.state.clone()),
        limits: instance.config.server.limits.clone(),
        console: Some(console),
        store: instance.store.clone(),
        operator_crl_scope: shuin_ca::operator_ca::OPERATOR_CRL_SCOPE.into(),
        orders: None,
        pushed: None,
        witnesses: instance.config.ledger.witness_keys(),
        node_witness: None,
    };
    let served = shuin_server::listeners::serve_all(listeners, &services, shutdown).await;
    for link in links {
        link.abort();
    }
    // The round in progress ends first (the shutdown checkpoint follows it), unless it
    // is stuck.
    let _ = stop_upkeep.send(true);
    if tokio::time::timeout(UPKEEP_PATIENCE, &mut upkeep)
        .await
        .is_err()
    {
        tracing::warn!("the upkeep round did not end in time; stopped in the middle");
        upkeep.abort();
        let _ = upkeep.await;
    }
    admin.stop().await;
    if let Some(parts) = instance.seal.parts() {
        // The witnesses are asked before the store closes, all at once, for at most
        // 15 s (each request has 10 s).
        let patience = std::time::Duration::from_secs(15);
        let quorum = parts.checkpoints.witnessing().map(|w| w.quorum());
        match parts.checkpoints.checkpoint_now_witnessed(patience).await {
            Err(e) => tracing::error!(error = %e, "the shutdown checkpoint failed"),
            Ok((Some(stored), cosigned)) if quorum.is_some() => {
                if cosigned < quorum {
                    tracing::warn!(size = stored.size, cosigners = cosigned, quorum, "the last checkpoint is not final: too few witnesses cosigned it before shutdown (the next checkpoint is sent to them as usual)");
                }
            }
            Ok(_) => {}
        }
    }
    instance.store.close().await;
    served.map_err(|e| msg(e.to_string()))
}
