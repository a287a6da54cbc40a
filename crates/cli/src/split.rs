//! The roles of a split deployment in `shuin serve` (docs/deployment.md): an RA node,
//! which opens no key and queues orders for the CA's link, and the CA's links, which dial
//! out to the RA nodes. The CA itself is served by `serve.rs` with no network listener.

use crate::config::InstanceConfig;
use crate::failure::{msg, Context, Result};
use crate::runtime::{Instance, Store};
use shuin_ca::operator_ca::OPERATOR_CRL_SCOPE;
use shuin_ca::parts::CaFiles;
use shuin_core::{Clock, SystemClock};
use shuin_ra::orders::{CaLink, OrderDesk, PeerOrders, QueuedCa};
use shuin_repo::pushed::PushedRepository;
use shuin_server::node_console::NodeConsoleParts;
use shuin_server::AppState;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long an applicant's request waits for the CA's answer before it is told to come
/// back (the order stays queued and the application completes later).
const ORDER_WAIT: Duration = Duration::from_secs(20);
/// How long a take waits on the RA node for an order.
const TAKE_WAIT: Duration = Duration::from_secs(1);
/// How long the CA's link uses one connection before a fresh handshake (so that an
/// unpaired link is shut out within this time).
const REDIAL_AFTER: Duration = Duration::from_secs(60);

/// A repository node's parts: no key and no RA.
pub(crate) struct RepoNode {
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<Store>,
    pub(crate) state: shuin_server::RepositoryState,
    pub(crate) pushed: Arc<PushedRepository>,
    pub(crate) operator_ca_der: Option<Vec<u8>>,
}

/// Opens the repository node at `dir`: its store and the repository the CA's link fills.
pub(crate) async fn open_repo_node(dir: &Path, config: InstanceConfig) -> Result<RepoNode> {
    let store = Arc::new(Store::open_existing(&config.store, dir).await?);
    let chain = CaFiles::read(&config.ca, dir)?;
    let repository = crate::runtime::repository_of(dir, &config, &chain)?;
    let pushed = open_pushed(&store, &repository, &config, &chain, false).await?;
    let state = shuin_server::RepositoryState {
        repository,
        ocsp: pushed.clone(),
        clock: Arc::new(SystemClock),
        http: Default::default(),
    };
    Ok(RepoNode {
        config,
        store,
        state,
        pushed,
        operator_ca_der: chain.operator_ca_der,
    })
}

/// The node's repository, with the CRLs its store holds published; an RA node's
/// (`records_revocations`) records the revocations the answers say.
async fn open_pushed(
    store: &Arc<Store>,
    repository: &Arc<shuin_repo::Repository>,
    config: &InstanceConfig,
    chain: &CaFiles,
    records_revocations: bool,
) -> Result<Arc<PushedRepository>> {
    let scopes = crl_scopes(config, chain);
    let mut pushed = PushedRepository::new(store.clone(), repository.clone(), scopes)
        .context("the CA certificates")?;
    if records_revocations {
        let sink = shuin_ra::revoked_at_the_ca::NodeRevocations::new(store.clone());
        pushed = pushed.recording_revocations(Arc::new(sink));
    }
    pushed.load().await?;
    Ok(Arc::new(pushed))
}

/// An RA node's parts.
pub(crate) struct RaNode {
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<Store>,
    pub(crate) state: AppState,
    /// The order queue and the node's own book, for the CA's link.
    pub(crate) peer: shuin_server::peer::RaPeer,
    /// What the CA's link hands over: CRLs and pre-signed OCSP answers.
    pub(crate) pushed: Arc<PushedRepository>,
    pub(crate) operator_ca_der: Option<Vec<u8>>,
    /// Where the holders' notices go (`[notices]`).
    pub(crate) notices: Arc<dyn shuin_ra::NoticeSender>,
    /// The node's witness of the CA's checkpoints (`witness/`), if it has one.
    pub(crate) witness: Option<axum::Router>,
    /// The operator API of the node's operator listeners, deciding with the roster the
    /// CA's link hands over (`None` without an operator CA).
    pub(crate) console: Option<Arc<dyn shuin_server::operator_api::OperatorConsole>>,
}

/// Where an RA node keeps its witness of the CA's checkpoints.
pub(crate) const NODE_WITNESS_DIR: &str = "witness";

/// The CRL scopes a node serves, each with the certificate of the CA that signs it: the
/// issuing CA's layout, the root's and the operator CA's.
fn crl_scopes(config: &InstanceConfig, chain: &CaFiles) -> Vec<(String, Vec<u8>)> {
    let layout = config.revocation.crl_layout(&config.instance.public_url);
    let issuer = |scope: &str| match scope {
        "root" => Some(chain.root_der.clone()),
        OPERATOR_CRL_SCOPE => chain.operator_ca_der.clone(),
        _ => Some(chain.issuing_der.clone()),
    };
    shuin_ca::seal::feed_scopes(&layout)
        .into_iter()
        .filter_map(|scope| Some((scope.clone(), issuer(&scope)?)))
        .collect()
}

/// Opens the RA node at `dir`: its store, the RA with the order queue as its CA, and no
/// key of any kind.
pub(crate) async fn open_ra_node(dir: &Path, config: InstanceConfig) -> Result<RaNode> {
    let store = Arc::new(Store::open_existing(&config.store, dir).await?);
    let chain = CaFiles::read(&config.ca, dir)?;
    let repository = crate::runtime::repository_of(dir, &config, &chain)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let link = Arc::new(CaLink::default());
    let queue = Arc::new(QueuedCa::new(
        store.clone(),
        clock.clone(),
        link.clone(),
        ORDER_WAIT,
    ));
    let report: Arc<dyn shuin_core::orders::OrderQueueReport> = queue.clone();
    let ports = shuin_ra::CaPorts {
        issuer: queue.clone(),
        revoker: queue.clone(),
    };
    let pushed = open_pushed(&store, &repository, &config, &chain, true).await?;
    let ocsp = pushed.clone();
    let mut state =
        crate::runtime::app_state(dir, &config, &store, &chain, repository, ports, ocsp)?;
    state.orders = Some(report);
    let mut orders = OrderDesk::new(store.clone(), clock.clone(), link, chain.issuing_der);
    if let Some(operator_ca) = &chain.operator_ca_der {
        orders = orders.with_operator_ca(operator_ca.clone(), OPERATOR_CRL_SCOPE);
    }
    let interval = shuin_books::node_book::NodeBookInterval {
        every_entries: config.ledger.checkpoint_every_entries,
        every: Duration::from_secs(config.ledger.checkpoint_every_seconds),
    };
    let pin = config.ledger.pin();
    let book = shuin_books::node_book::NodeBook::open(store.clone(), dir, pin.as_ref(), interval)
        .await
        .map_err(|e| msg(format!("the node's book: {e}")))?;
    let orders: Arc<dyn PeerOrders> = Arc::new(orders);
    let parts = NodeConsoleParts {
        name: config.node.name.clone().unwrap_or_default(),
        store: store.clone(),
        queue,
        ra: state.ra.clone(),
        code_key: dir.join(crate::registration_cmd::CODE_KEY_FILE),
        review: (dir.to_path_buf(), config.ra.clone(), config.jpki.clone()),
        clock: clock.clone(),
    };
    let operators = chain.operator_ca_der.clone().map(|der| parts.open(der));
    let (console, operators) = operators.unzip();
    let notices = crate::registration_cmd::notice_sender(dir, &config)?;
    let witness_dir = dir.join(NODE_WITNESS_DIR);
    let witness = if witness_dir.exists() {
        let witness = shuin_witness::open(&witness_dir, Arc::new(SystemClock))
            .map_err(|e| msg(format!("{}: {e}", witness_dir.display())))?;
        tracing::info!(verifier_key = %witness.key().verifier_key(), "the node witnesses the CA's checkpoints under /witness/");
        Some(shuin_witness::http::router(Arc::new(witness)))
    } else {
        None
    };
    Ok(RaNode {
        config,
        store,
        state,
        peer: shuin_server::peer::RaPeer {
            orders,
            book: Arc::new(book),
            operators,
        },
        pushed,
        operator_ca_der: chain.operator_ca_der,
        notices,
        witness,
        console,
    })
}

/// The RA node's upkeep: the J-LIS follow-up and notices every tick, the node book's
/// newest checkpoint to the witnesses every two seconds, interrupted applications
/// completed through the queue every ten seconds.
pub(crate) async fn ra_upkeep(node: &RaNode) {
    // The node book's checkpoints (signed by the CA over its link) go to the witnesses of
    // `[ledger] witnesses` (copied from the CA's configuration by `shuin node init`); a
    // witness knows the book by the verifier key `shuin node init` printed.
    let mut witnesses = node.config.ledger.witnessing().map(|witnessing| {
        shuin_ca::witnessing::CheckpointFollower::new(witnessing, node.store.clone())
    });
    let mut ticker = tokio::time::interval(crate::watch::TICK);
    let mut ticks: u64 = 0;
    loop {
        ticker.tick().await;
        ticks = ticks.wrapping_add(1);
        node.state.ra.upkeep(node.notices.as_ref()).await;
        if let Some(witnesses) = witnesses.as_mut().filter(|_| ticks % 4 == 1) {
            witnesses.submit_newest().await;
        }
        if ticks % 20 == 1 {
            node.state.ra.resume_and_supersede().await;
        }
    }
}

/// Starts the CA's links to the RA nodes of `[[node.links]]` (none for `role = "all"`).
/// Each runs until its task is aborted.
pub(crate) fn start_links(instance: &Instance) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let node = &instance.config.node;
    let Some(tls) = &node.tls else {
        return Ok(Vec::new());
    };
    let files = CaFiles::read(&instance.config.ca, &instance.dir)?;
    let operator_ca = files.operator_ca_der.ok_or_else(|| {
        msg("the CA's links trust the operator CA, which this instance does not have (init --first-admin-csr)")
    })?;
    let identity = shuin_server::tls::ListenerIdentity::load(&instance.dir, tls)
        .map_err(|e| msg(format!("[node] tls: {e}")))?;
    let client = identity.client_config(&operator_ca).context("[node] tls")?;
    let chain = vec![files.issuing_der, files.root_der];
    let layout = instance
        .config
        .revocation
        .crl_layout(&instance.config.instance.public_url);
    let feed: Arc<dyn shuin_core::repository_feed::RepositoryFeed> = Arc::new(
        shuin_ca::seal::SealedFeed::new(instance.seal.clone(), instance.store.clone(), &layout),
    );
    let seal_for_books = instance.seal.clone();
    let books: Arc<dyn shuin_core::node_book::NodeBookSigner> =
        Arc::new(shuin_ca::node_books::NodeBookSigning::new(
            Arc::new(move || {
                seal_for_books
                    .parts()
                    .map(|parts| parts.checkpoints.audit_signer())
            }),
            &instance.dir,
            instance.store.clone(),
            Arc::new(SystemClock),
        ));
    // The RA nodes' operator listeners decide with the CA's roster, handed over with
    // each take.
    let roster = instance.gate.clone().map(|gate| {
        let store: Arc<dyn shuin_store::LedgerStore> = instance.store.clone();
        Arc::new(shuin_books::organisation::RosterFeed::new(gate, store))
    });
    let mut links = Vec::new();
    for link in &node.links {
        let takes_orders = link.node == shuin_server::node::LinkedNode::Ra;
        let seal = instance.seal.clone();
        let desk = shuin_ca::orders::CaOrderDesk::new(
            Arc::new(shuin_ca::seal::SealedIssuer(seal.clone())),
            Arc::new(shuin_ca::seal::SealedRevoker(seal.clone())),
            instance.store.clone(),
            Arc::new(SystemClock),
            chain.clone(),
            link.url.clone(),
        );
        let peer_link = shuin_server::peer_link::PeerLink {
            url: link.url.clone(),
            tls: client.clone(),
            desk: Arc::new(desk),
            sealed: Arc::new(move || seal.parts().is_none()),
            wait: TAKE_WAIT,
            operator_crls: Some((instance.store.clone(), OPERATOR_CRL_SCOPE.into())),
            redial_after: REDIAL_AFTER,
            feed: Some(feed.clone()),
            takes_orders,
            books: takes_orders.then(|| books.clone()),
            termination: takes_orders.then(|| {
                let store: Arc<dyn shuin_store::SettingsStore> = instance.store.clone();
                store
            }),
            roster: roster.clone().filter(|_| takes_orders),
        };
        tracing::info!(url = %link.url, "dialling the node");
        links.push(tokio::spawn(peer_link.run(std::future::pending())));
    }
    Ok(links)
}

/// What `shuin node init` makes an RA node from.
pub(crate) struct RaNodeInit<'a> {
    /// The CA's instance directory (or a copy of its public files and shuin.toml).
    pub(crate) from: &'a Path,
    /// The new node's directory.
    pub(crate) data: &'a Path,
    /// The node's name, as its node certificate names it.
    pub(crate) name: &'a str,
    /// Its node certificate and key (from `shuin node pair --role ra`).
    pub(crate) certificate: &'a Path,
    pub(crate) key: &'a Path,
    /// Where it serves applicants, the repository's documents, and the CA's link.
    pub(crate) listen: &'a str,
    pub(crate) repository_listen: Option<&'a str>,
    pub(crate) peer_listen: &'a str,
    /// An RA node's monitoring listener (remote zone, operator certificates).
    pub(crate) monitor_listen: Option<&'a str>,
    /// An RA node's operator listener for LRAs (secure zone, operator certificates).
    pub(crate) operator_listen: Option<&'a str>,
    /// Its URL for applicants and verifiers, and its store.
    pub(crate) public_url: Option<&'a str>,
    pub(crate) store: shuin_store::StoreSection,
    /// Whether the store is another RA node's already (several nodes on one database).
    pub(crate) join: bool,
    /// `Ra`, or `Repo` (then `listen` is the repository listener).
    pub(crate) role: shuin_server::node::ServeRole,
}

/// Makes the RA node directory: the CA's public certificates, the terms, the CP/CPS and
/// the J-LIS anchors copied; the node certificate; a shuin.toml of role `ra` without the
/// CA's seal; its own store (or another node's, joined), with the operator CA's newest
/// CRL for its peer listener; an RA node's witness of the CA's checkpoints. A failure
/// leaves no directory behind. Returns the verifier keys of the node's book (witnesses
/// are given it), for a node that starts a book, and of its witness.
pub(crate) async fn init_ra_node(init: &RaNodeInit<'_>) -> Result<NodeKeys> {
    let config = InstanceConfig::load(init.from)?;
    let (crl, audit_key) = from_ca_store(init.from, &config).await?;
    std::fs::create_dir(init.data).context(init.data.display())?;
    let made = make_ra_node(init, config, &crl, &audit_key).await;
    if made.is_err() {
        // Nothing half-made is left behind.
        let _ = std::fs::remove_dir_all(init.data);
    }
    made
}

/// The verifier keys `shuin node init` prints.
pub(crate) struct NodeKeys {
    /// The node's book's, when it starts one.
    pub(crate) book: Option<String>,
    /// The node's witness's (an RA node).
    pub(crate) witness: Option<String>,
}

/// An RA node's witness of the CA's log (the audit key's checkpoints), in `dir`; its
/// name is the node's public URL's host and path, `/witness/` and the node's name.
fn init_node_witness(
    dir: &Path,
    public_url: &str,
    name: &str,
    audit_key: &shuin_ledger::NoteKey,
) -> Result<String> {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .trim_end_matches('/');
    let name = format!("{host}/witness/{name}");
    let key = shuin_witness::init_for_log(dir, &name, &audit_key.verifier_key())
        .map_err(|e| msg(format!("the node's witness of the CA's log: {e}")))?;
    Ok(key.verifier_key())
}

async fn make_ra_node(
    init: &RaNodeInit<'_>,
    mut config: InstanceConfig,
    crl: &shuin_store::CrlRecord,
    audit_key: &shuin_ledger::NoteKey,
) -> Result<NodeKeys> {
    use shuin_server::tls::TlsSection;
    let mut files = vec![
        config.ca.root_certificate.clone(),
        config.ca.issuing_certificate.clone(),
    ];
    files.extend(config.ca.operator_ca_certificate.clone());
    files.extend([config.ra.terms.clone(), config.instance.cps.clone()]);
    let anchors = config.jpki.trust_anchors.iter();
    files.extend(anchors.filter(|p| p.is_relative()).cloned());
    let crls = config.jpki.crl.paths().iter();
    files.extend(crls.filter(|p| p.is_relative()).cloned());
    for file in &files {
        copy_into(&init.from.join(file), &init.data.join(file), false)?;
    }
    let code_key = crate::registration_cmd::CODE_KEY_FILE;
    let repo = init.role == shuin_server::node::ServeRole::Repo;
    if init.from.join(code_key).exists() && !repo {
        copy_into(&init.from.join(code_key), &init.data.join(code_key), true)?;
    }
    let tls = TlsSection {
        certificate: format!("node/{}.pem", init.name).into(),
        key: format!("node/{}.key", init.name).into(),
    };
    copy_into(init.certificate, &init.data.join(&tls.certificate), false)?;
    copy_into(init.key, &init.data.join(&tls.key), true)?;
    let addresses = shuin_server::node::NodeAddresses {
        listen: init.listen,
        repository: init.repository_listen,
        operators: init.operator_listen,
        monitoring: init.monitor_listen,
        peer: init.peer_listen,
    };
    let listeners = addresses
        .listeners(init.role, &tls)
        .map_err(|e| msg(e.to_string()))?;
    config.server.listeners = listeners;
    config.node = shuin_server::node::NodeSection {
        role: init.role,
        name: Some(init.name.to_owned()),
        ..Default::default()
    };
    config.ca.seal = None;
    config.publishers.clear();
    if let Some(url) = init.public_url {
        config.instance.public_url = url.trim_end_matches('/').to_owned();
    }
    config.store = init.store.clone();
    let store = if init.join {
        Store::open_existing(&config.store, init.data).await?
    } else {
        crate::runtime::check_new_store(&config.store, init.data).await?;
        Store::create_new(&config.store, init.data).await?
    };
    // The peer listener checks the CA's link against the operator CRL in the node's store
    // and accepts no connection without one.
    let kept = shuin_store::CrlStore::put_crl(&store, crl).await;
    // The node's own book is signed by the CA's audit key under an origin of its own
    // (fixed by the first node on a store; a joining node shares it).
    let adopted = if init.join || repo {
        Ok(None)
    } else {
        let origin = shuin_books::node_book::node_origin(audit_key, init.name);
        shuin_books::node_book::adopt_audit_key(&store, audit_key, &origin, &SystemClock)
            .await
            .map(|key| Some(key.verifier_key()))
            .map_err(|e| msg(format!("the node's book: {e}")))
    };
    store.close().await;
    let book_key = adopted?;
    match kept {
        Ok(()) | Err(shuin_store::StoreError::Conflict(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let witness = if repo {
        None
    } else {
        let dir = init.data.join(NODE_WITNESS_DIR);
        let url = &config.instance.public_url;
        Some(init_node_witness(&dir, url, init.name, audit_key)?)
    };
    config.write_new(init.data)?;
    Ok(NodeKeys {
        book: book_key,
        witness,
    })
}

/// The operator CA's newest CRL and the CA's audit key (checked against the pin), from
/// the CA's store.
async fn from_ca_store(
    from: &Path,
    config: &InstanceConfig,
) -> Result<(shuin_store::CrlRecord, shuin_ledger::NoteKey)> {
    use shuin_store::{CrlStore, LedgerStore};
    let ca_store = crate::runtime::open_store(from).await?;
    let crl = ca_store
        .latest_crl(shuin_ca::operator_ca::OPERATOR_CRL_SCOPE)
        .await;
    let rows = ca_store.ledger_rows().await;
    ca_store.close().await;
    let crl = crl?.ok_or_else(|| {
        msg(format!(
            "{}: the operator CA has issued no CRL yet; serve the CA once first",
            from.display()
        ))
    })?;
    let pin = config.ledger.pin();
    let key = shuin_books::node_book::ca_audit_key(&rows?, pin.as_ref())
        .map_err(|e| msg(format!("{}: {e}", from.display())))?;
    Ok((crl, key))
}

/// Copies `from` to `to` (making its directory), owner-only when `private`.
fn copy_into(from: &Path, to: &Path, private: bool) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).context(parent.display())?;
    }
    std::fs::copy(from, to).context(from.display())?;
    if private {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o600))
            .context(to.display())?;
    }
    Ok(())
}
