#![allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test

use super::*;
use shuin_core::SystemClock;
use shuin_keys::SoftwareBackend;
use shuin_ledger::head_file::HeadLock;
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerReader;
use std::sync::Mutex;

#[test]
fn the_default_origin_is_the_public_url_without_scheme() {
    assert_eq!(
        default_origin("https://ca.example.jp/"),
        "ca.example.jp/ledger"
    );
    assert_eq!(
        default_origin("http://127.0.0.1:8080/base"),
        "127.0.0.1:8080/base/ledger"
    );
}

/// The last signed head in memory; `fail_save` makes keeping it fail.
#[derive(Default)]
struct FakeHeads {
    note: Mutex<Option<String>>,
    fail_save: Mutex<bool>,
}

impl SignedHeads for FakeHeads {
    fn lock(&self) -> std::io::Result<Option<HeadLock>> {
        Ok(None)
    }

    fn load(&self) -> std::io::Result<Option<String>> {
        Ok(self.note.lock().unwrap().clone())
    }

    fn save(&self, note: &str) -> std::io::Result<()> {
        if *self.fail_save.lock().unwrap() {
            return Err(std::io::Error::other("disk full"));
        }
        *self.note.lock().unwrap() = Some(note.to_owned());
        Ok(())
    }
}

fn settings(pin: Option<AuditKeyPin>, missing_head: MissingHead) -> CheckpointSettings {
    CheckpointSettings {
        origin: None,
        public_url: "https://ca.example.jp".into(),
        new_key_label: "audit".into(),
        new_key_spec: KeySpec::EcP256,
        every_entries: 1000,
        every: Duration::from_secs(60),
        witnessing: None,
        pin,
        require_pin: pin.is_some(),
        missing_head,
    }
}

async fn store_with(entries: &[&str]) -> Arc<SqliteStore> {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    for name in entries {
        let draft = EntryDraft {
            book: Book::Application,
            kind: "application.accepted".into(),
            actor: audit_actor(),
            subjects: vec![format!("application:{name}")],
            payload: serde_json::json!({}),
            evidence: vec![],
        };
        store.append(draft, SystemClock.now()).await.unwrap();
    }
    store
}

async fn open(
    store: &Arc<SqliteStore>,
    backend: &SoftwareBackend,
    heads: &Arc<FakeHeads>,
    settings: CheckpointSettings,
) -> Result<CheckpointMaker<SqliteStore>, CheckpointError> {
    let heads: Arc<dyn SignedHeads> = heads.clone();
    CheckpointMaker::open(
        settings,
        store.clone(),
        backend,
        heads,
        Arc::new(SystemClock),
    )
    .await
}

/// Names in `to` the audit key and origin `from` uses, as a copy of the database would.
async fn share_key(from: &SqliteStore, to: &SqliteStore) {
    for setting in [AUDIT_KEY_SETTING, ORIGIN_SETTING] {
        let value = from.setting(setting).await.unwrap().unwrap();
        to.set_setting(setting, &value).await.unwrap();
    }
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
async fn the_first_checkpoint_is_kept_outside_the_database_and_later_ones_extend_it() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let store = store_with(&["a", "b"]).await;
    let heads = Arc::new(FakeHeads::default());
    let maker = open(&store, &backend, &heads, settings(None, MissingHead::First))
        .await
        .unwrap();
    let first = maker.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(heads.load().unwrap().as_deref(), Some(first.note.as_str()));
    // The key entry and the two entries.
    assert_eq!(first.size, 3);

    store
        .append(store_with_draft("c"), SystemClock.now())
        .await
        .unwrap();
    let second = maker.checkpoint_now().await.unwrap().unwrap();
    assert_eq!(second.size, 4);
    assert_eq!(heads.load().unwrap().as_deref(), Some(second.note.as_str()));

    // Another process opening the instance checks the whole ledger against the head.
    let pin = Some(maker.pin());
    let again = open(
        &store,
        &backend,
        &heads,
        settings(pin, MissingHead::AdoptStored),
    );
    again.await.unwrap();
}

fn store_with_draft(name: &str) -> EntryDraft {
    EntryDraft {
        book: Book::Application,
        kind: "application.accepted".into(),
        actor: audit_actor(),
        subjects: vec![format!("application:{name}")],
        payload: serde_json::json!({}),
        evidence: vec![],
    }
}

#[tokio::test]
async fn a_rewritten_history_is_refused_and_the_refusal_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let genuine = store_with(&["a", "b", "c"]).await;
    let heads = Arc::new(FakeHeads::default());
    let maker = open(
        &genuine,
        &backend,
        &heads,
        settings(None, MissingHead::First),
    );
    let maker = maker.await.unwrap();
    maker.checkpoint_now().await.unwrap().unwrap();
    let pin = Some(maker.pin());

    // The same database with the second entry rewritten (and its tree recomputed), and
    // no checkpoint: the head kept outside it tells.
    let forged = store_with(&["a", "B", "c", "d"]).await;
    share_key(&genuine, &forged).await;
    let error = open(
        &forged,
        &backend,
        &heads,
        settings(pin, MissingHead::AdoptStored),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.refusal().unwrap().code(),
        "history_rewritten",
        "{error}"
    );
    assert!(!error.is_fatal());
    assert!(error.to_string().contains("checkpoint.refused"), "{error}");
    assert_eq!(kinds(&forged).await.last().unwrap(), "checkpoint.refused");
    assert!(forged.latest_checkpoint().await.unwrap().is_none());

    // A database rolled back to fewer entries than the head.
    let short = store_with(&["a"]).await;
    share_key(&genuine, &short).await;
    let error = open(
        &short,
        &backend,
        &heads,
        settings(pin, MissingHead::AdoptStored),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.refusal().unwrap().code(),
        "ledger_rolled_back",
        "{error}"
    );
}

#[tokio::test]
async fn a_running_signer_refuses_once_the_head_stops_matching_and_stays_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let store = store_with(&["a"]).await;
    let heads = Arc::new(FakeHeads::default());
    let maker = open(&store, &backend, &heads, settings(None, MissingHead::First));
    let maker = maker.await.unwrap();
    maker.checkpoint_now().await.unwrap().unwrap();
    // Another history signed with the same key becomes the last signed head.
    let other = store_with(&["x", "y", "z", "w"]).await;
    share_key(&store, &other).await;
    let other_heads = Arc::new(FakeHeads::default());
    let other_maker = open(
        &other,
        &backend,
        &other_heads,
        settings(None, MissingHead::First),
    );
    other_maker.await.unwrap().checkpoint_now().await.unwrap();
    *heads.note.lock().unwrap() = other_heads.load().unwrap();

    store
        .append(store_with_draft("b"), SystemClock.now())
        .await
        .unwrap();
    store
        .append(store_with_draft("c"), SystemClock.now())
        .await
        .unwrap();
    store
        .append(store_with_draft("d"), SystemClock.now())
        .await
        .unwrap();
    let error = maker.checkpoint_now().await.unwrap_err();
    assert_eq!(
        error.refusal().unwrap().code(),
        "history_rewritten",
        "{error}"
    );
    let recorded = kinds(&store).await;
    assert_eq!(recorded.last().unwrap(), "checkpoint.refused");
    // Latched: nothing more is signed, and the refusal is not recorded again.
    store
        .append(store_with_draft("e"), SystemClock.now())
        .await
        .unwrap();
    assert!(maker.checkpoint_now().await.is_err());
    assert!(!matches!(maker.tick().await, Ok(Some(_))));
    assert_eq!(store.latest_checkpoint().await.unwrap().unwrap().size, 2);
    let refusals = kinds(&store).await;
    assert_eq!(
        refusals
            .iter()
            .filter(|k| *k == "checkpoint.refused")
            .count(),
        1
    );
}

#[tokio::test]
async fn another_key_than_the_pinned_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let store = store_with(&["a"]).await;
    let heads = Arc::new(FakeHeads::default());
    let other = AuditKeyPin::parse(&"ab".repeat(32)).unwrap();
    let error = open(
        &store,
        &backend,
        &heads,
        settings(Some(other), MissingHead::First),
    )
    .await
    .unwrap_err();
    let refusal = error.refusal().unwrap();
    assert_eq!(refusal.code(), "audit_key_mismatch");
    assert!(error.to_string().contains(&"ab".repeat(32)), "{error}");

    let unpinned = CheckpointSettings {
        require_pin: true,
        ..settings(None, MissingHead::AdoptStored)
    };
    let error = open(&store, &backend, &heads, unpinned).await.unwrap_err();
    assert_eq!(error.refusal().unwrap().code(), "audit_key_not_pinned");
}

#[tokio::test]
async fn a_missing_head_is_adopted_from_a_stored_checkpoint_only() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let store = store_with(&["a", "b"]).await;
    let heads = Arc::new(FakeHeads::default());
    let maker = open(&store, &backend, &heads, settings(None, MissingHead::First));
    maker
        .await
        .unwrap()
        .checkpoint_now()
        .await
        .unwrap()
        .unwrap();
    // Adopted: an instance made before the head was kept.
    let lost = Arc::new(FakeHeads::default());
    let adopted = open(
        &store,
        &backend,
        &lost,
        settings(None, MissingHead::AdoptStored),
    );
    adopted.await.unwrap();

    // Entries, no checkpoint and no head: refused outside development.
    let bare = store_with(&["a"]).await;
    share_key(&store, &bare).await;
    let error = open(
        &bare,
        &backend,
        &lost,
        settings(None, MissingHead::AdoptStored),
    )
    .await
    .unwrap_err();
    assert_eq!(
        error.refusal().unwrap().code(),
        "last_head_missing",
        "{error}"
    );
    let development = Arc::new(FakeHeads::default());
    let bare = store_with(&["a"]).await;
    share_key(&store, &bare).await;
    let dev = open(
        &bare,
        &backend,
        &development,
        settings(None, MissingHead::Development),
    );
    dev.await.unwrap();
}

#[tokio::test]
async fn a_head_that_cannot_be_kept_stops_the_signer_before_the_checkpoint_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let store = store_with(&["a"]).await;
    let heads = Arc::new(FakeHeads::default());
    *heads.fail_save.lock().unwrap() = true;
    let maker = open(&store, &backend, &heads, settings(None, MissingHead::First));
    let error = maker.await.unwrap().checkpoint_now().await.unwrap_err();
    assert!(error.is_fatal(), "{error}");
    assert!(store.latest_checkpoint().await.unwrap().is_none());
}

#[tokio::test]
async fn an_export_streams_the_books_in_pages_up_to_the_newest_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let store = store_with(&["a", "b", "c", "d", "e", "f", "g"]).await;
    let heads = Arc::new(FakeHeads::default());
    let maker = open(&store, &backend, &heads, settings(None, MissingHead::First))
        .await
        .unwrap();
    // The key entry and seven entries are covered; two more are not yet.
    assert_eq!(maker.checkpoint_now().await.unwrap().unwrap().size, 8);
    for name in ["h", "i"] {
        store
            .append(store_with_draft(name), SystemClock.now())
            .await
            .unwrap();
    }
    let out = dir.path().join("export");
    let quiet = &shuin_ledger::export::Quiet;
    // No key at hand: the one the facility book records, found while streaming.
    let (summary, report) = shuin_books::checkpoints::export_signed_in_pages(
        &out,
        store.as_ref(),
        None,
        None,
        quiet,
        3,
    )
    .await
    .unwrap();
    assert_eq!((summary.entries, summary.checkpoints), (8, 1));
    assert_eq!(report.size, 8);
    let lines = std::fs::read_to_string(out.join("entries.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 8);
    assert!(shuin_ledger::export::verify_export(&out, None).is_ok());

    // A key that is not the pinned one is refused before anything is written.
    let other = AuditKeyPin::parse(&"ab".repeat(32)).unwrap();
    let refused = dir.path().join("refused");
    let error = shuin_books::checkpoints::export_signed_in_pages(
        &refused,
        store.as_ref(),
        Some(maker.key().clone()),
        Some(&other),
        quiet,
        3,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        error,
        shuin_books::checkpoints::SignedExportError::Trust(_)
    ));
    assert!(!refused.exists());

    // The key the books record, found only while writing, is not the pinned one: what
    // was written is removed, so no incomplete export is left behind.
    let unpinned = dir.path().join("unpinned");
    let error = shuin_books::checkpoints::export_signed_in_pages(
        &unpinned,
        store.as_ref(),
        None,
        Some(&other),
        quiet,
        3,
    )
    .await
    .unwrap_err();
    assert!(matches!(
        error,
        shuin_books::checkpoints::SignedExportError::Trust(_)
    ));
    assert!(!unpinned.exists());
}
