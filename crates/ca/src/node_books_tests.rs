#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use super::*;
use shuin_books::node_book::{adopt_audit_key, NodeBook, NodeBookInterval};
use shuin_core::node_book::BookKeeper;
use shuin_core::SystemClock;
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_ledger::NoteKey;
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerReader;
use std::time::Duration;

const ORIGIN: &str = "ca.example.jp/ledger/ra-1";

fn audit_key() -> AuditSigner {
    let (signer, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let key = NoteKey::from_spki("ca.example.jp/ledger", signer.public_key_der()).unwrap();
    AuditSigner::new(Arc::new(signer), key)
}

/// A node's store holding the adopted key and `entries` application entries.
async fn node_store(audit: &AuditSigner, entries: &[&str]) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let ca_key = audit.key_for("ca.example.jp/ledger").unwrap();
    adopt_audit_key(store.as_ref(), &ca_key, ORIGIN, &SystemClock)
        .await
        .unwrap();
    append(&store, entries).await;
    store
}

async fn append(store: &SqliteStore, entries: &[&str]) {
    for name in entries {
        let draft = EntryDraft {
            book: Book::Application,
            kind: "application.accepted".into(),
            actor: actor(),
            subjects: vec![format!("application:{name}")],
            payload: serde_json::json!({}),
            evidence: vec![],
        };
        store.append(draft, SystemClock.now()).await.unwrap();
    }
}

async fn node(store: &Arc<SqliteStore>, dir: &Path, audit: &AuditSigner) -> NodeBook<SqliteStore> {
    let interval = NodeBookInterval {
        every_entries: 1,
        every: Duration::from_secs(3600),
    };
    NodeBook::open(store.clone(), dir, Some(&audit.pin()), interval)
        .await
        .unwrap()
}

/// The node's book read directly, as the link reads it over the network.
struct Direct<'a>(&'a dyn BookKeeper);

#[async_trait::async_trait]
impl BookPages for Direct<'_> {
    async fn page(&mut self, ask: &BookAsk) -> Result<BookPage, NodeBookError> {
        self.0.page(ask).await
    }
}

struct Ca {
    signing: NodeBookSigning,
    ledger: Arc<SqliteStore>,
}

async fn ca(dir: &Path, audit: Option<AuditSigner>) -> Ca {
    let ledger = Arc::new(SqliteStore::in_memory().await.unwrap());
    let signing = NodeBookSigning::new(
        Arc::new(move || audit.clone()),
        dir,
        ledger.clone(),
        Arc::new(SystemClock),
    );
    Ca { signing, ledger }
}

async fn kinds(store: &SqliteStore) -> Vec<String> {
    let rows = store.ledger_rows().await.unwrap();
    rows.iter()
        .map(|row| {
            shuin_ledger::Entry::from_canonical(&row.canonical)
                .unwrap()
                .kind
        })
        .collect()
}

#[tokio::test]
async fn the_ca_signs_a_node_book_and_the_node_keeps_and_verifies_it() {
    let (ca_dir, node_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let audit = audit_key();
    let store = node_store(&audit, &["a", "b"]).await;
    let book = node(&store, node_dir.path(), &audit).await;
    let ca = ca(ca_dir.path(), Some(audit.clone())).await;

    let note = ca
        .signing
        .sign("ra-1", &mut Direct(&book))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(book.keep(&note).await.unwrap().size, 3);
    assert_eq!(kinds(&ca.ledger).await, vec![NODE_BOOK_SIGNED.to_owned()]);
    // Nothing new: nothing signed, nothing recorded.
    assert!(ca
        .signing
        .sign("ra-1", &mut Direct(&book))
        .await
        .unwrap()
        .is_none());
    assert_eq!(kinds(&ca.ledger).await.len(), 1);

    // The node's book verifies as `shuin ledger verify` checks it: the pinned key, the
    // last signed head in the node's directory, the interval.
    let freshness = shuin_ledger::trust::Freshness {
        every_entries: 1000,
        every: Duration::from_secs(60),
    };
    let trust = shuin_books::ledger_trust::LedgerTrust::read(
        node_dir.path(),
        Some(audit.pin()),
        true,
        freshness,
        SystemClock.now(),
    )
    .unwrap();
    let verified = shuin_books::checkpoints::verify_store(store.as_ref(), &trust)
        .await
        .unwrap();
    assert_eq!(verified.checkpoints, 1);

    // A CA restarted from its directory goes on from the tree it kept.
    append(&store, &["c"]).await;
    let restarted = NodeBookSigning::new(
        Arc::new(move || Some(audit.clone())),
        ca_dir.path(),
        ca.ledger.clone(),
        Arc::new(SystemClock),
    );
    let note = restarted
        .sign("ra-1", &mut Direct(&book))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(book.keep(&note).await.unwrap().size, 4);
}

#[tokio::test]
async fn a_rewritten_past_is_refused_once_recorded_and_latched() {
    let (ca_dir, node_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let audit = audit_key();
    let store = node_store(&audit, &["a", "b"]).await;
    let book = node(&store, node_dir.path(), &audit).await;
    let ca = ca(ca_dir.path(), Some(audit.clone())).await;
    let note = ca
        .signing
        .sign("ra-1", &mut Direct(&book))
        .await
        .unwrap()
        .unwrap();
    book.keep(&note).await.unwrap();

    // The same origin with another past and more entries.
    let forged = node_store(&audit, &["x", "y", "z"]).await;
    let forged_dir = tempfile::tempdir().unwrap();
    let forged_book = node(&forged, forged_dir.path(), &audit).await;
    let refused = ca.signing.sign("ra-1", &mut Direct(&forged_book)).await;
    assert_eq!(refused.unwrap_err().code(), "node_book_forked");
    let again = ca.signing.sign("ra-1", &mut Direct(&forged_book)).await;
    assert_eq!(again.unwrap_err().code(), "node_book_forked");
    let recorded = kinds(&ca.ledger).await;
    assert_eq!(
        recorded,
        vec![NODE_BOOK_SIGNED.to_owned(), NODE_BOOK_REFUSED.to_owned()],
        "the refusal is recorded once"
    );
}

#[tokio::test]
async fn a_shorter_book_is_refused_as_rolled_back() {
    let (ca_dir, node_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let audit = audit_key();
    let store = node_store(&audit, &["a", "b", "c"]).await;
    let book = node(&store, node_dir.path(), &audit).await;
    let ca = ca(ca_dir.path(), Some(audit.clone())).await;
    ca.signing
        .sign("ra-1", &mut Direct(&book))
        .await
        .unwrap()
        .unwrap();

    let shorter = node_store(&audit, &["a"]).await;
    let shorter_dir = tempfile::tempdir().unwrap();
    let shorter_book = node(&shorter, shorter_dir.path(), &audit).await;
    let refused = ca.signing.sign("ra-1", &mut Direct(&shorter_book)).await;
    assert_eq!(refused.unwrap_err().code(), "node_book_rolled_back");
}

#[tokio::test]
async fn a_sealed_ca_signs_nothing() {
    let (ca_dir, node_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let audit = audit_key();
    let store = node_store(&audit, &["a"]).await;
    let book = node(&store, node_dir.path(), &audit).await;
    let ca = ca(ca_dir.path(), None).await;
    let sealed = ca.signing.sign("ra-1", &mut Direct(&book)).await;
    assert_eq!(sealed.unwrap_err(), NodeBookError::Sealed);
    assert!(kinds(&ca.ledger).await.is_empty());
}

#[tokio::test]
async fn the_node_keeps_only_notes_of_its_tree_by_the_pinned_key() {
    let (ca_dir, node_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let audit = audit_key();
    let store = node_store(&audit, &["a", "b"]).await;
    let book = node(&store, node_dir.path(), &audit).await;

    // Another key, under the node's origin.
    let other = audit_key();
    let other_ca = ca(ca_dir.path(), Some(other)).await;
    let note = other_ca
        .signing
        .sign("ra-1", &mut Direct(&book))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        book.keep(&note).await.unwrap_err().code(),
        "checkpoint_refused"
    );

    // The right key, but a tree the node does not hold.
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        root: [7; 32],
    };
    let note = BookNote {
        note: audit.sign(checkpoint).await.unwrap(),
    };
    assert_eq!(
        book.keep(&note).await.unwrap_err().code(),
        "checkpoint_refused"
    );
    assert!(store.latest_checkpoint().await.unwrap().is_none());
    assert!(HeadFile::in_dir(node_dir.path()).load().unwrap().is_none());
}

#[tokio::test]
async fn a_node_behind_on_a_shared_book_gets_the_last_note_again() {
    let (ca_dir, first_dir, second_dir) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let audit = audit_key();
    let store = node_store(&audit, &["a"]).await;
    let first = node(&store, first_dir.path(), &audit).await;
    let second = node(&store, second_dir.path(), &audit).await;
    let ca = ca(ca_dir.path(), Some(audit.clone())).await;
    let note = ca
        .signing
        .sign("ra-1", &mut Direct(&first))
        .await
        .unwrap()
        .unwrap();
    first.keep(&note).await.unwrap();
    let again = ca
        .signing
        .sign("ra-2", &mut Direct(&second))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again, note);
    second.keep(&again).await.unwrap();
    assert!(ca
        .signing
        .sign("ra-2", &mut Direct(&second))
        .await
        .unwrap()
        .is_none());
    assert_eq!(kinds(&ca.ledger).await.len(), 1, "signed once");
}
