#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::test_ca::{fixture, kinds, order};
use der::Decode;
use shuin_core::issuance::Issuer;
use shuin_core::{Clock, Serial};
use shuin_store::sqlite::SqliteStore;
use shuin_store::{
    CertificateReader, CertificateRecord, CertificateWriter, CrlStore, InstanceLock, LedgerStore,
    RevocationStore,
};
use std::sync::Arc;

fn reservation(serial: &str, application_id: &str, at: SystemTime) -> CertificateRecord {
    CertificateRecord {
        serial: Serial::from_hex(serial).unwrap(),
        application_id: application_id.into(),
        key_fingerprint: format!("key-{serial}"),
        tbs_sha256: "00".repeat(32),
        state: CertificateState::Reserved,
        not_before: at,
        not_after: at + Duration::from_secs(86_400),
        der: None,
    }
}

/// Case (d): a CLI command opening the CA next to a running server reconciled every
/// reservation, aborting issuances in flight.
#[tokio::test]
async fn a_reservation_in_flight_is_left_alone_and_only_a_stale_one_is_undelivered() {
    let f = fixture().await;
    let now = f.clock.now();
    let stale_at = now - RECONCILE_AFTER - Duration::from_secs(1);
    f.store
        .reserve(&reservation("7f01", "old", stale_at))
        .await
        .unwrap();
    // A live server's issuance: reserved a moment ago, signing now.
    f.store
        .reserve(&reservation("7f02", "live", now))
        .await
        .unwrap();

    let done = f.ca.reconcile().await.unwrap();
    assert_eq!(done.undelivered, vec!["7f01".to_owned()]);
    let live = f
        .store
        .certificate(&Serial::from_hex("7f02").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(live.state, CertificateState::Reserved);
    // The live issuance completes as if nothing had happened.
    f.store
        .complete(&Serial::from_hex("7f02").unwrap(), b"der", now)
        .await
        .unwrap();
    // Idempotent: nothing more to do, and no second undelivered entry.
    let again = f.ca.reconcile().await.unwrap();
    assert!(again.undelivered.is_empty());
    let undelivered = kinds(&f.store).await;
    let count = undelivered
        .iter()
        .filter(|k| *k == "certificate.undelivered")
        .count();
    assert_eq!(count, 1);
}

/// Case (d): reconciliation runs under the instance lock only.
#[tokio::test]
async fn reconciliation_waits_while_another_process_holds_the_instance_lock() {
    let f = fixture().await;
    let now = f.clock.now();
    f.store
        .reserve(&reservation("7f01", "old", now - Duration::from_secs(3600)))
        .await
        .unwrap();
    assert!(f
        .store
        .take_lease(
            RECONCILE_LEASE,
            "another process",
            now,
            now + Duration::from_secs(60)
        )
        .await
        .unwrap());
    let done = f.ca.reconcile().await.unwrap();
    assert!(done.locked_elsewhere);
    assert!(done.undelivered.is_empty());

    // Once that lease runs out, this process reconciles.
    f.clock.advance(Duration::from_secs(61));
    let done = f.ca.reconcile().await.unwrap();
    assert!(!done.locked_elsewhere);
    assert_eq!(done.undelivered, vec!["7f01".to_owned()]);
}

/// Case (c): `revocation.accepted` ledgered, then the process stopped before the
/// revocation row: the books said revoked while CRL and OCSP said good.
#[tokio::test]
async fn an_accepted_revocation_without_its_row_is_applied_from_the_books() {
    let f = fixture().await;
    let issued = f.ca.issue(order("app-1")).await.unwrap();
    let serial = issued.serial.to_hex();
    let accepted_at = f.clock.now();
    // What `CaService::revoke` records before it stores anything.
    f.store
        .append(
            EntryDraft {
                book: Book::Revocation,
                kind: "revocation.accepted".into(),
                actor: Actor {
                    name: "窓口 一郎".into(),
                    role: "lra".into(),
                    zone: "high_security".into(),
                },
                subjects: vec![format!("serial:{serial}")],
                payload: serde_json::json!({
                    "serial": serial,
                    "reason": "keyCompromise",
                    "invalidity_date": "2027-01-01T00:00:00Z",
                    "authorisation": "operator",
                }),
                evidence: vec![],
            },
            accepted_at,
        )
        .await
        .unwrap();

    // Too fresh: the process that accepted it may be storing it right now.
    let done = f.ca.reconcile().await.unwrap();
    assert!(done.revocations_applied.is_empty());
    assert!(f.store.revocation(&issued.serial).await.unwrap().is_none());

    f.clock.advance(RECONCILE_AFTER);
    let done = f.ca.reconcile().await.unwrap();
    assert_eq!(done.revocations_applied, vec![serial.clone()]);
    let row = f.store.revocation(&issued.serial).await.unwrap().unwrap();
    assert_eq!(row.revoked_at, accepted_at);
    assert_eq!(row.reason, RevocationReason::KeyCompromise);
    assert_eq!(row.decided_by, "窓口 一郎");
    assert_eq!(row.invalidity_date, parse_rfc3339("2027-01-01T00:00:00Z"));
    // A new CRL lists it.
    let crl = f.store.latest_crl("ca").await.unwrap().unwrap();
    let parsed = x509_cert::crl::CertificateList::from_der(&crl.der).unwrap();
    let listed = parsed
        .tbs_cert_list
        .revoked_certificates
        .unwrap_or_default();
    assert_eq!(listed.len(), 1);

    // Idempotent: applied once.
    let again = f.ca.reconcile().await.unwrap();
    assert!(!again.changed());
}

/// Found by the crash harness (crates/cli/tests/crash.rs): the revocation row stored,
/// then the process killed before its CRL. OCSP said revoked, the CRL never listed it.
/// Here another revocation's CRL, signed after this revocation's time but before its
/// row was stored, is the newest: only reading it shows the serial missing.
#[tokio::test]
async fn a_stored_revocation_that_no_crl_lists_gets_a_crl() {
    let f = fixture().await;
    let issued = f.ca.issue(order("app-1")).await.unwrap();
    let serial = issued.serial.to_hex();
    let at = f.clock.now();
    let draft = EntryDraft {
        book: Book::Revocation,
        kind: "revocation.accepted".into(),
        actor: ca_actor(),
        subjects: vec![format!("serial:{serial}")],
        payload: serde_json::json!({"serial": serial, "reason": "keyCompromise"}),
        evidence: vec![],
    };
    f.store.append(draft, at).await.unwrap();
    f.clock.advance(Duration::from_secs(1));
    f.ca.issue_crl().await.unwrap();
    let record = RevocationRecord {
        serial: issued.serial.clone(),
        revoked_at: at,
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        decided_by: "subscriber".into(),
    };
    f.store.revoke(&record).await.unwrap();
    let listed = |der: &[u8]| {
        let parsed = x509_cert::crl::CertificateList::from_der(der).unwrap();
        parsed
            .tbs_cert_list
            .revoked_certificates
            .unwrap_or_default()
            .len()
    };
    assert_eq!(
        listed(&f.store.latest_crl("ca").await.unwrap().unwrap().der),
        0
    );

    // Its own process may be signing the CRL right now.
    assert!(!f.ca.reconcile().await.unwrap().changed());
    f.clock.advance(LISTING_GRACE);
    let done = f.ca.reconcile().await.unwrap();
    assert_eq!(done.unlisted, vec![serial]);
    assert_eq!(
        listed(&f.store.latest_crl("ca").await.unwrap().unwrap().der),
        1
    );
    assert!(!f.ca.reconcile().await.unwrap().changed(), "once");
}

#[tokio::test]
async fn a_stored_certificate_without_its_entry_gets_it_once_it_is_stale() {
    let f = fixture().await;
    let now = f.clock.now();
    f.store
        .reserve(&reservation("7f05", "app-5", now))
        .await
        .unwrap();
    f.store
        .complete(&Serial::from_hex("7f05").unwrap(), b"der", now)
        .await
        .unwrap();
    // Its issuance may still be writing certificate.issued.
    assert!(f.ca.reconcile().await.unwrap().completed.is_empty());
    f.clock.advance(RECONCILE_AFTER);
    assert_eq!(
        f.ca.reconcile().await.unwrap().completed,
        vec!["7f05".to_owned()]
    );
    assert!(!f.ca.reconcile().await.unwrap().changed());
}

/// A ledger that remembers how it was read.
struct ReadCounting {
    inner: Arc<SqliteStore>,
    pages: std::sync::Mutex<Vec<(u64, usize)>>,
    whole_reads: std::sync::atomic::AtomicUsize,
}

#[async_trait::async_trait]
impl LedgerStore for ReadCounting {
    async fn append(
        &self,
        draft: EntryDraft,
        time: SystemTime,
    ) -> Result<shuin_ledger::Entry, StoreError> {
        self.inner.append(draft, time).await
    }
    async fn append_batch(
        &self,
        drafts: Vec<shuin_store::KeyedDraft>,
        time: SystemTime,
    ) -> Result<Vec<shuin_ledger::Entry>, StoreError> {
        self.inner.append_batch(drafts, time).await
    }
    async fn ledger_rows_from(
        &self,
        from: u64,
    ) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError> {
        self.whole_reads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.ledger_rows_from(from).await
    }
    async fn ledger_rows_page(
        &self,
        from: u64,
        limit: u64,
    ) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError> {
        let page = self.inner.ledger_rows_page(from, limit).await?;
        self.pages.lock().unwrap().push((from, page.len()));
        Ok(page)
    }
    async fn ledger_head(&self) -> Result<Option<shuin_ledger::TreeHead>, StoreError> {
        self.inner.ledger_head().await
    }
}

fn entry(kind: &str, payload: serde_json::Value) -> shuin_store::KeyedDraft {
    shuin_store::KeyedDraft {
        key: None,
        draft: EntryDraft {
            book: Book::Application,
            kind: kind.into(),
            actor: ca_actor(),
            subjects: vec![],
            payload,
            evidence: vec![],
        },
    }
}

#[tokio::test]
async fn the_books_are_read_in_bounded_pages_then_only_what_is_new() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let time = std::time::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    // 2,500 entries: an issuance first, a revocation last, filler between.
    let mut drafts = vec![entry(
        "certificate.issued",
        serde_json::json!({"serial": "aa"}),
    )];
    drafts.extend((1..2_499).map(|i| entry("application.received", serde_json::json!({"i": i}))));
    drafts.push(entry(
        "revocation.accepted",
        serde_json::json!({"serial": "bb", "reason": "keyCompromise"}),
    ));
    store.append_batch(drafts, time).await.unwrap();
    let ledger = ReadCounting {
        inner: store.clone(),
        pages: std::sync::Mutex::new(Vec::new()),
        whole_reads: std::sync::atomic::AtomicUsize::new(0),
    };
    let mut books = BookCursor::default();
    books.catch_up(&ledger).await.unwrap();
    assert!(books
        .issued
        .contains(&shuin_core::Serial::from_hex("aa").unwrap()));
    assert!(books.revocations.contains_key("bb"));
    assert_eq!(books.next, 2_500);
    assert_eq!(
        *ledger.pages.lock().unwrap(),
        vec![(0, 1_000), (1_000, 1_000), (2_000, 500)],
        "the ledger is read a page of {BOOK_PAGE} at a time"
    );
    // The next round reads only the entry appended since.
    ledger.pages.lock().unwrap().clear();
    ledger
        .append(
            entry("certificate.issued", serde_json::json!({"serial": "cc"})).draft,
            time,
        )
        .await
        .unwrap();
    books.catch_up(&ledger).await.unwrap();
    assert!(books
        .issued
        .contains(&shuin_core::Serial::from_hex("cc").unwrap()));
    assert_eq!(*ledger.pages.lock().unwrap(), vec![(2_500, 1)]);
    assert_eq!(
        ledger
            .whole_reads
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "the whole ledger was loaded at once"
    );
}
