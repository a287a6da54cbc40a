//! The CA's link and an RA node's peer listener over real TCP and mutual TLS: orders flow
//! and certificates come back; only the CA's node certificate, from the operator CA and
//! not revoked, gets through.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::peer::routes;
use crate::serving::{serve, Limits, Transport};
use crate::test_pki::{ca, crl, node, now, operator, Ca, DAY};
use crate::tls::{ListenerIdentity, ListenerTls, OperatorTrust, TlsSection};
use shuin_core::issuance::{Approver, CaProfile, IssuanceOrder, IssuedCertificate, Issuer};
use shuin_core::orders::{Order, OrderOutcome};
use shuin_core::x509::node::NodeRole;
use shuin_core::Serial;
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_ra::orders::{CaLink, OrderDesk as RaDesk, QueuedCa};
use shuin_store::sqlite::SqliteStore;
use std::path::Path;

/// Writes a certificate and key as PEM files under `dir` and reads them back.
fn identity(dir: &Path, name: &str, der: &[u8], pkcs8: &[u8]) -> ListenerIdentity {
    use std::os::unix::fs::PermissionsExt;
    let certificate = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let pem = |label, bytes: &[u8]| {
        der::pem::encode_string(label, der::pem::LineEnding::LF, bytes).unwrap()
    };
    std::fs::write(&certificate, pem("CERTIFICATE", der)).unwrap();
    std::fs::write(&key, pem("PRIVATE KEY", pkcs8)).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    ListenerIdentity::load(dir, &TlsSection { certificate, key }).unwrap()
}

/// "Issues" with a test issuing CA: a certificate for the order's key.
struct TestIssuing(Ca);

#[async_trait::async_trait]
impl OrderDesk for TestIssuing {
    async fn carry_out(&self, orders: Vec<Order>) -> Vec<Answered> {
        orders
            .into_iter()
            .map(|order| {
                let Order::Issue(wire) = &order else {
                    unreachable!()
                };
                let port = wire.to_port().unwrap();
                let serial = Serial::from_hex("0c0ffee0").unwrap();
                let spki = der::Decode::from_der(&port.spki_der).unwrap();
                let template = CaProfile::operator(
                    &self.0.identity,
                    "holder",
                    spki,
                    serial.clone(),
                    now(),
                    DAY,
                )
                .unwrap();
                let der = crate::test_pki::sign_certificate(&self.0.signer, &template);
                let issued = IssuedCertificate {
                    serial,
                    certificate_der: der,
                    chain_der: vec![self.0.der.clone()],
                };
                Answered {
                    id: order.id(),
                    outcome: OrderOutcome::of_issuance(&Ok(issued)),
                }
            })
            .collect()
    }
}

struct RaNode {
    url: String,
    /// The node's repository, which the link hands CRLs to.
    repository: Arc<shuin_repo::Repository>,
    queue: Arc<QueuedCa<SqliteStore>>,
    /// The node's store.
    store: Arc<SqliteStore>,
    operator_ca: Ca,
    issuing: Ca,
    /// A CA node certificate and key whose serial is on the operator CRL.
    revoked: (Vec<u8>, Vec<u8>),
    /// The CA's roster as the node holds it.
    roster: Arc<shuin_books::organisation::HandedRoster>,
    dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// An RA node serving its peer API on 127.0.0.1, trusting `operator_ca`, with one CA
/// node certificate revoked on the operator CRL.
async fn ra_node() -> RaNode {
    let dir = tempfile::tempdir().unwrap();
    let operator_ca = ca("operator CA");
    let issuing = ca("issuing CA");
    let (der, key, _) = node(&operator_ca, NodeRole::Ra, "ra-1", &["127.0.0.1".into()]);
    let (revoked_der, revoked_key, revoked) = node(&operator_ca, NodeRole::Ca, "ca-old", &[]);
    let tls = ListenerTls::for_nodes(
        identity(dir.path(), "ra-1", &der, &key),
        OperatorTrust::new(operator_ca.der.clone()).unwrap(),
    );
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let first_crl = crl(&operator_ca, 1, &[&revoked], now() + DAY);
    shuin_store::CrlStore::put_crl(store.as_ref(), &first_crl)
        .await
        .unwrap();
    let tls = Arc::new(tls);
    tls.use_crl(&first_crl).unwrap();
    tokio::spawn(
        tls.clone()
            .follow_crls(store.clone(), first_crl.scope.clone()),
    );
    let clock: Arc<dyn shuin_core::Clock> = Arc::new(shuin_core::SystemClock);
    let link = Arc::new(CaLink::default());
    let queue = QueuedCa::new(
        store.clone(),
        clock.clone(),
        link.clone(),
        Duration::from_secs(20),
    );
    let repository = Arc::new(shuin_repo::Repository::new(
        issuing.der.clone(),
        issuing.der.clone(),
        "terms".into(),
    ));
    let pushed = shuin_repo::pushed::PushedRepository::new(
        store.clone(),
        repository.clone(),
        vec![
            ("ca".into(), issuing.der.clone()),
            ("root".into(), issuing.der.clone()),
        ],
    )
    .unwrap();
    let desk = RaDesk::new(store.clone(), clock.clone(), link, issuing.der.clone())
        .with_operator_ca(operator_ca.der.clone(), &first_crl.scope);
    let roster = Arc::new(shuin_books::organisation::HandedRoster::new(
        shuin_books::organisation::ROSTER_FRESH_FOR,
    ));
    let operators = crate::peer::NodeOperators {
        roster: roster.clone(),
        books: store.clone(),
        operator_ca_der: operator_ca.der.clone(),
        clock,
    };
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", socket.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let until = async move {
        let _ = stopped.await;
    };
    tokio::spawn(serve(
        socket,
        routes(
            Some(crate::peer::RaPeer {
                orders: Arc::new(desk),
                book: Arc::new(NoBook),
                operators: Some(operators),
            }),
            Arc::new(pushed),
        ),
        Limits::default(),
        Transport::Nodes(tls),
        until,
    ));
    RaNode {
        url,
        repository,
        queue: Arc::new(queue),
        store,
        operator_ca,
        issuing,
        revoked: (revoked_der, revoked_key),
        roster,
        dir,
        _stop: stop,
    }
}

/// A node book that cannot be read (the links here sign none).
struct NoBook;

#[async_trait::async_trait]
impl shuin_core::node_book::BookKeeper for NoBook {
    async fn page(
        &self,
        _: &shuin_core::node_book::BookAsk,
    ) -> Result<shuin_core::node_book::BookPage, shuin_core::node_book::NodeBookError> {
        Err(shuin_core::node_book::NodeBookError::Unavailable(
            "no book".into(),
        ))
    }

    async fn keep(
        &self,
        _: &shuin_core::node_book::BookNote,
    ) -> Result<shuin_core::node_book::BookKept, shuin_core::node_book::NodeBookError> {
        Err(shuin_core::node_book::NodeBookError::Unavailable(
            "no book".into(),
        ))
    }
}

fn order() -> IssuanceOrder {
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    IssuanceOrder {
        application_id: "app-1".into(),
        subject_name: "YAMADA Taro".into(),
        spki_der: key.public_key_der().to_vec(),
        not_after_cap: now() + DAY * 365,
        approver: Approver {
            name: "責任者".into(),
            role: "responsible_person".into(),
            automatic: true,
        },
    }
}

/// A link presenting a node certificate of `role` (or the given one) from `issuer`.
fn link(ra: &RaNode, certificate: (Vec<u8>, Vec<u8>), desk: Arc<dyn OrderDesk>) -> PeerLink {
    let identity = identity(ra.dir.path(), "client", &certificate.0, &certificate.1);
    PeerLink {
        url: ra.url.clone(),
        tls: identity.client_config(&ra.operator_ca.der).unwrap(),
        desk,
        sealed: Arc::new(|| false),
        wait: Duration::from_millis(300),
        operator_crls: None,
        redial_after: Duration::from_secs(60),
        feed: None,
        takes_orders: true,
        books: None,
        termination: None,
        roster: None,
    }
}

/// A feed of fixed CRLs and no OCSP answers.
struct Crls(Vec<shuin_core::repository_feed::FeedCrl>);

#[async_trait::async_trait]
impl RepositoryFeed for Crls {
    async fn crls(&self) -> Vec<shuin_core::repository_feed::FeedCrl> {
        self.0.clone()
    }
    async fn ocsp_after(
        &self,
        _: u64,
        _: u64,
        _: usize,
    ) -> Option<shuin_core::repository_feed::OcspDelta> {
        None
    }
}

#[tokio::test]
async fn the_link_hands_the_node_only_crls_its_ca_signed() {
    let ra = ra_node().await;
    let (der, key, _) = node(&ra.operator_ca, NodeRole::Ca, "ca-link", &[]);
    let feed_crl =
        |scope: &str, record: shuin_store::CrlRecord| shuin_core::repository_feed::FeedCrl {
            scope: scope.into(),
            number: record.number,
            der: record.der,
        };
    // The issuing CA's CRL 5 is kept and served; a "root" CRL that the operator CA signed
    // is not the root's and is refused.
    let link = PeerLink {
        feed: Some(Arc::new(Crls(vec![
            feed_crl("ca", crl(&ra.issuing, 5, &[], now() + DAY)),
            feed_crl("root", crl(&ra.operator_ca, 9, &[], now() + DAY)),
            feed_crl("ca-p7", crl(&ra.issuing, 6, &[], now() + DAY)),
        ]))),
        ..link(
            &ra,
            (der, key),
            Arc::new(TestIssuing(ca_clone(&ra.issuing))),
        )
    };
    let mut state = LinkState::default();
    link.round(&mut state).await.unwrap();
    assert_eq!(ra.repository.ca_crl().map(|c| c.number), Some(5));
    assert!(ra.repository.root_crl().is_none());
    assert!(
        ra.repository.other_crl("ca-p7").is_none(),
        "a scope the node does not serve"
    );
    assert_eq!(state.held.as_ref().unwrap().crls.get("ca"), Some(&5));
    // The next round hands over nothing new.
    link.round(&mut state).await.unwrap();
    assert_eq!(ra.repository.ca_crl().map(|c| c.number), Some(5));
}

#[tokio::test]
async fn the_ca_link_takes_orders_and_the_ra_node_keeps_the_certificate() {
    let ra = ra_node().await;
    let (der, key, _) = node(&ra.operator_ca, NodeRole::Ca, "ca", &[]);
    let link = link(&ra, (der, key), Arc::new(TestIssuing(ca("unused"))));
    // The CA link must have been seen before the RA takes applications.
    let mut connection = LinkState::default();
    let idle = link.round(&mut connection).await.unwrap();
    assert_eq!(idle.taken, 0);
    assert!(
        ra.queue.ready().is_ok(),
        "the RA node saw the CA link, unsealed"
    );
    let issuing = {
        let queue = ra.queue.clone();
        tokio::spawn(async move { queue.issue(order()).await })
    };
    let issuing_link = PeerLink {
        desk: Arc::new(TestIssuing(ca_clone(&ra.issuing))),
        ..link
    };
    let round = issuing_link.round(&mut connection).await.unwrap();
    assert_eq!((round.taken, round.not_kept), (1, 0));
    let issued = issuing.await.unwrap().unwrap();
    assert_eq!(issued.serial, Serial::from_hex("0c0ffee0").unwrap());
}

#[tokio::test]
async fn the_cas_termination_reaches_the_ra_node_once_and_is_ledgered_first() {
    use shuin_core::termination::TERMINATION_SETTING;
    use shuin_store::{LedgerStore, SettingsStore};
    let ra = ra_node().await;
    let (der, key, _) = node(&ra.operator_ca, NodeRole::Ca, "ca", &[]);
    let ca_store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let link = PeerLink {
        termination: Some(ca_store.clone()),
        ..link(&ra, (der, key), Arc::new(TestIssuing(ca("unused"))))
    };
    let mut state = LinkState::default();
    link.round(&mut state).await.unwrap();
    let held = ra.store.setting(TERMINATION_SETTING).await.unwrap();
    assert_eq!(held, None, "nothing before the CA terminates");
    let record = r#"{"state":"started","reason":"discontinued"}"#;
    ca_store
        .set_setting(TERMINATION_SETTING, record)
        .await
        .unwrap();
    link.round(&mut state).await.unwrap();
    link.round(&mut state).await.unwrap();
    let held = ra.store.setting(TERMINATION_SETTING).await.unwrap();
    assert_eq!(held.as_deref(), Some(record));
    let received: Vec<shuin_ledger::Entry> = ra
        .store
        .ledger_rows()
        .await
        .unwrap()
        .iter()
        .filter_map(|r| shuin_ledger::Entry::from_canonical(&r.canonical).ok())
        .filter(|e| e.kind == shuin_ra::orders::TERMINATION_RECEIVED)
        .collect();
    assert_eq!(received.len(), 1, "ledgered once");
    assert_eq!(received[0].payload["termination"]["reason"], "discontinued");
}

#[tokio::test]
async fn an_answer_from_the_wrong_issuing_ca_is_not_kept() {
    let ra = ra_node().await;
    let (der, key, _) = node(&ra.operator_ca, NodeRole::Ca, "ca", &[]);
    let link = link(&ra, (der, key), Arc::new(TestIssuing(ca("another CA"))));
    let mut connection = LinkState::default();
    link.round(&mut connection).await.unwrap();
    let queue = ra.queue.clone();
    let issuing = tokio::spawn(async move { queue.issue(order()).await });
    let round = link.round(&mut connection).await.unwrap();
    assert_eq!((round.taken, round.not_kept), (1, 1));
    issuing.abort();
}

#[tokio::test]
async fn only_the_cas_node_certificate_gets_through() {
    let ra = ra_node().await;
    let desk: Arc<dyn OrderDesk> = Arc::new(TestIssuing(ca("unused")));
    let (operator_der, operator_key, _) = operator(&ra.operator_ca, "admin");
    let (ra_der, ra_key, _) = node(&ra.operator_ca, NodeRole::Ra, "ra-2", &[]);
    let stranger_ca = ca("stranger CA");
    let (foreign_der, foreign_key, _) = node(&stranger_ca, NodeRole::Ca, "ca", &[]);
    let refused = [
        ("a revoked CA node", ra.revoked.clone()),
        ("an operator", (operator_der, operator_key)),
        ("another RA node", (ra_der, ra_key)),
        ("another CA's node", (foreign_der, foreign_key)),
    ];
    for (who, certificate) in refused {
        let link = link(&ra, certificate, desk.clone());
        let result = link.round(&mut LinkState::default()).await;
        assert!(result.is_err(), "{who} got through: {result:?}");
    }
    assert!(
        ra.queue.ready().is_err(),
        "no refused client counts as the CA link"
    );
    let (der, key, _) = node(&ra.operator_ca, NodeRole::Ca, "ca-new", &[]);
    let ok = link(&ra, (der, key), desk.clone())
        .round(&mut LinkState::default())
        .await;
    assert!(ok.is_ok(), "{ok:?}");
}

fn ca_clone(ca: &Ca) -> Ca {
    Ca {
        signer: SoftwareSigner::from_pkcs8_der(&ca.pkcs8).unwrap(),
        pkcs8: ca.pkcs8.clone(),
        der: ca.der.clone(),
        identity: ca.identity.clone(),
    }
}

#[tokio::test]
async fn unpairing_the_link_reaches_the_ra_node_and_shuts_the_link_out() {
    let ra = ra_node().await;
    let (der, key, serial) = node(&ra.operator_ca, NodeRole::Ca, "ca", &[]);
    let desk: Arc<dyn OrderDesk> = Arc::new(TestIssuing(ca("unused")));
    // The CA's books: a forged CRL first (another CA's), then the operator CA's own.
    let books = Arc::new(SqliteStore::in_memory().await.unwrap());
    let scope = "operator-ca".to_owned();
    let forged = crl(&ca("stranger"), 9, &[&serial], now() + DAY);
    shuin_store::CrlStore::put_crl(books.as_ref(), &forged)
        .await
        .unwrap();
    let mut link = link(&ra, (der, key), desk);
    link.operator_crls = Some((books.clone(), scope.clone()));
    link.redial_after = Duration::ZERO;
    let mut state = LinkState::default();
    link.round(&mut state).await.unwrap();
    assert_eq!(
        state.ra_crl_number,
        Some(1),
        "a CRL the operator CA did not sign is not kept"
    );

    let books = Arc::new(SqliteStore::in_memory().await.unwrap());
    let unpaired = crl(&ra.operator_ca, 2, &[&serial], now() + DAY);
    shuin_store::CrlStore::put_crl(books.as_ref(), &unpaired)
        .await
        .unwrap();
    link.operator_crls = Some((books, scope));
    link.round(&mut state).await.unwrap();
    assert_eq!(
        state.ra_crl_number,
        Some(2),
        "the RA node keeps the operator CA's new CRL"
    );
    // The peer listener follows its store within a second; the next handshake fails.
    tokio::time::sleep(crate::tls::CRL_LOOK_EVERY * 2).await;
    let refused = link.round(&mut state).await;
    assert!(
        refused.is_err(),
        "an unpaired link still got through: {refused:?}"
    );
}

#[tokio::test]
async fn the_cas_roster_reaches_the_ra_node_once_and_is_confirmed_after() {
    use shuin_books::organisation::{RefusalBudget, RosterFeed};
    use shuin_store::LedgerStore;
    let ra = ra_node().await;
    let (der, key, _) = node(&ra.operator_ca, NodeRole::Ca, "ca", &[]);
    let ca_store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let gate = Arc::new(shuin_books::Gate::new(
        ra.operator_ca.der.clone(),
        RefusalBudget::default(),
    ));
    let feed = Arc::new(RosterFeed::new(gate, ca_store));
    let expected = feed.snapshot().await.unwrap().digest();
    let link = PeerLink {
        roster: Some(feed),
        ..link(&ra, (der, key), Arc::new(TestIssuing(ca("unused"))))
    };
    assert_eq!(ra.roster.digest(), None, "nothing before the first take");
    let mut state = LinkState::default();
    link.round(&mut state).await.unwrap();
    assert_eq!(ra.roster.digest(), Some(expected.clone()));
    let recorded = |rows: Vec<shuin_ledger::StoredEntry>| {
        rows.iter()
            .filter(|r| {
                shuin_ledger::Entry::from_canonical(&r.canonical)
                    .unwrap()
                    .kind
                    == shuin_ledger::operator_audit::ROSTER_RECEIVED
            })
            .count()
    };
    assert_eq!(recorded(ra.store.ledger_rows().await.unwrap()), 1);
    // The next takes only confirm it: it is neither sent nor recorded again.
    link.round(&mut state).await.unwrap();
    link.round(&mut state).await.unwrap();
    assert_eq!(recorded(ra.store.ledger_rows().await.unwrap()), 1);
    assert_eq!(ra.roster.digest(), Some(expected));
}
