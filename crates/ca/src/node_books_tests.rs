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
            actor: crate::checkpoint::audit_actor(),
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

/// A CA with the audit key (none: sealed) and a node's book of `entries` after its
/// `key.adopted`.
struct Fixture {
    ca_dir: tempfile::TempDir,
    node_dir: tempfile::TempDir,
    audit: AuditSigner,
    store: Arc<SqliteStore>,
    book: NodeBook<SqliteStore>,
    ca: Ca,
}

async fn fixture(entries: &[&str], unsealed: bool) -> Fixture {
    let (ca_dir, node_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let audit = audit_key();
    let store = node_store(&audit, entries).await;
    let book = node(&store, node_dir.path(), &audit).await;
    let ca = ca(ca_dir.path(), unsealed.then(|| audit.clone())).await;
    Fixture {
        ca_dir,
        node_dir,
        audit,
        store,
        book,
        ca,
    }
}

async fn sign(signing: &NodeBookSigning, book: &NodeBook<SqliteStore>) -> Option<BookNote> {
    signing.sign("ra-1", &mut Direct(book)).await.unwrap()
}

/// Another store under the same origin and key: another past.
async fn another_book(
    audit: &AuditSigner,
    entries: &[&str],
) -> (tempfile::TempDir, NodeBook<SqliteStore>) {
    let dir = tempfile::tempdir().unwrap();
    let store = node_store(audit, entries).await;
    let book = node(&store, dir.path(), audit).await;
    (dir, book)
}

#[tokio::test]
async fn the_ca_signs_a_node_book_and_the_node_keeps_and_verifies_it() {
    let f = fixture(&["a", "b"], true).await;
    let note = sign(&f.ca.signing, &f.book).await.unwrap();
    assert_eq!(f.book.keep(&note).await.unwrap().size, 3);
    assert_eq!(kinds(&f.ca.ledger).await, vec![NODE_BOOK_SIGNED.to_owned()]);
    // Nothing new: nothing signed, nothing recorded.
    assert!(sign(&f.ca.signing, &f.book).await.is_none());
    assert_eq!(kinds(&f.ca.ledger).await.len(), 1);

    // The node's book verifies as `shuin ledger verify` checks it: the pinned key, the
    // last signed head in the node's directory, the interval.
    let freshness = shuin_ledger::trust::Freshness {
        every_entries: 1000,
        every: Duration::from_secs(60),
    };
    let trust = shuin_books::ledger_trust::LedgerTrust::read(
        f.node_dir.path(),
        Some(f.audit.pin()),
        true,
        freshness,
        SystemClock.now(),
    )
    .unwrap();
    let verified = shuin_books::checkpoints::verify_store(f.store.as_ref(), &trust)
        .await
        .unwrap();
    assert_eq!(verified.checkpoints, 1);

    // A CA restarted from its directory goes on from the tree it kept.
    append(&f.store, &["c"]).await;
    let audit = f.audit.clone();
    let restarted = NodeBookSigning::new(
        Arc::new(move || Some(audit.clone())),
        f.ca_dir.path(),
        f.ca.ledger.clone(),
        Arc::new(SystemClock),
    );
    let note = sign(&restarted, &f.book).await.unwrap();
    assert_eq!(f.book.keep(&note).await.unwrap().size, 4);
}

#[tokio::test]
async fn a_rewritten_past_is_refused_once_recorded_and_latched() {
    let f = fixture(&["a", "b"], true).await;
    let note = sign(&f.ca.signing, &f.book).await.unwrap();
    f.book.keep(&note).await.unwrap();

    let (_dir, forged) = another_book(&f.audit, &["x", "y", "z"]).await;
    for _ in 0..2 {
        let refused = f.ca.signing.sign("ra-1", &mut Direct(&forged)).await;
        assert_eq!(refused.unwrap_err().code(), "node_book_forked");
    }
    assert_eq!(
        kinds(&f.ca.ledger).await,
        vec![NODE_BOOK_SIGNED.to_owned(), NODE_BOOK_REFUSED.to_owned()],
        "the refusal is recorded once"
    );
}

#[tokio::test]
async fn a_shorter_book_is_refused_as_rolled_back() {
    let f = fixture(&["a", "b", "c"], true).await;
    sign(&f.ca.signing, &f.book).await.unwrap();
    let (_dir, shorter) = another_book(&f.audit, &["a"]).await;
    let refused = f.ca.signing.sign("ra-1", &mut Direct(&shorter)).await;
    assert_eq!(refused.unwrap_err().code(), "node_book_rolled_back");
}

#[tokio::test]
async fn a_sealed_ca_signs_nothing() {
    let f = fixture(&["a"], false).await;
    let sealed = f.ca.signing.sign("ra-1", &mut Direct(&f.book)).await;
    assert_eq!(sealed.unwrap_err(), NodeBookError::Sealed);
    assert!(kinds(&f.ca.ledger).await.is_empty());
}

#[tokio::test]
async fn the_node_keeps_only_notes_of_its_tree_by_the_pinned_key() {
    let f = fixture(&["a", "b"], true).await;
    // Another key, under the node's origin.
    let other_dir = tempfile::tempdir().unwrap();
    let other_ca = ca(other_dir.path(), Some(audit_key())).await;
    let note = sign(&other_ca.signing, &f.book).await.unwrap();
    let refused = f.book.keep(&note).await.unwrap_err();
    assert_eq!(refused.code(), "checkpoint_refused");

    // The right key, but a tree the node does not hold.
    let checkpoint = Checkpoint {
        origin: ORIGIN.into(),
        size: 3,
        root: [7; 32],
    };
    let note = BookNote {
        note: f.audit.sign(checkpoint).await.unwrap(),
    };
    let refused = f.book.keep(&note).await.unwrap_err();
    assert_eq!(refused.code(), "checkpoint_refused");
    assert!(f.store.latest_checkpoint().await.unwrap().is_none());
    assert!(HeadFile::in_dir(f.node_dir.path())
        .load()
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn a_node_behind_on_a_shared_book_gets_the_last_note_again() {
    let f = fixture(&["a"], true).await;
    let second_dir = tempfile::tempdir().unwrap();
    let second = node(&f.store, second_dir.path(), &f.audit).await;
    let note = sign(&f.ca.signing, &f.book).await.unwrap();
    f.book.keep(&note).await.unwrap();
    let again = sign(&f.ca.signing, &second).await.unwrap();
    assert_eq!(again, note);
    second.keep(&again).await.unwrap();
    assert!(sign(&f.ca.signing, &second).await.is_none());
    assert_eq!(kinds(&f.ca.ledger).await.len(), 1, "signed once");
}
