//! Queueing holders' notices from the books and sending them, on a real SQLite store:
//! only certificates whose application named an address get notices; a revocation by
//! reissue or termination gets none here (it has its own); each notice is queued once
//! however often the books are read again; the sender is given the address, the books
//! never are.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::notices::{Delivery, NoticeSender};
use crate::Lifecycle;
use async_trait::async_trait;
use shuin_core::{OsRandom, Serial};
use shuin_ledger::{Book, Entry, EntryDraft};
use shuin_store::sqlite::SqliteStore;
use shuin_store::{ApplicationStore, LedgerStore, NoticeOutbox, NoticeRecord, SettingsStore};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

const NOW: u64 = 1_800_000_000;
const ADDRESS: &str = "holder@example.jp";

async fn issued(store: &SqliteStore, id: &str, serial: &Serial, address: Option<&str>) {
    let basic = serde_json::json!({"name": "山田　太郎"});
    crate::test_world::issued_application(store, NOW, id, serial, basic, &"ee".repeat(32)).await;
    if let Some(address) = address {
        let mut record = store.application(id).await.unwrap().unwrap();
        record.details["notice_email"] = address.into();
        store.update_application(&record).await.unwrap();
    }
}

async fn ledger(store: &SqliteStore, kind: &str, payload: serde_json::Value) {
    let draft = EntryDraft {
        book: if kind == "certificate.issued" {
            Book::Application
        } else {
            Book::Revocation
        },
        kind: kind.into(),
        actor: crate::application::system_actor(),
        subjects: vec![],
        payload,
        evidence: vec![],
    };
    store
        .append(draft, UNIX_EPOCH + Duration::from_secs(NOW))
        .await
        .unwrap();
}

async fn kinds(store: &SqliteStore, kind: &str) -> Vec<Entry> {
    crate::test_world::entries_of_kind(store, kind).await
}

/// Remembers what it was asked to send.
#[derive(Default)]
struct Recording(Mutex<Vec<(String, Option<String>)>>);

#[async_trait]
impl NoticeSender for Recording {
    async fn send(
        &self,
        notice: &NoticeRecord,
        to: Option<&str>,
    ) -> Result<Delivery, std::io::Error> {
        let mut sent = self.0.lock().unwrap();
        sent.push((notice.id.clone(), to.map(str::to_owned)));
        Ok(if to.is_some() {
            Delivery::Mail
        } else {
            Delivery::File
        })
    }
}

#[tokio::test]
async fn notices_follow_the_books_once_for_addressed_certificates_only() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let code_key = crate::CodeKey::open_or_create(&dir.path().join("code.key"), &OsRandom).unwrap();
    let (ra, _jlis) = crate::test_world::ra_at(NOW, store.clone());
    let ra = ra.with_lifecycle(Lifecycle::new(store.clone(), code_key, Default::default()));
    let (one, two, three) = (
        Serial::from_hex("0a01").unwrap(),
        Serial::from_hex("0a02").unwrap(),
        Serial::from_hex("0a03").unwrap(),
    );
    issued(&store, "app-1", &one, Some(ADDRESS)).await;
    issued(&store, "app-2", &two, None).await;
    issued(&store, "app-3", &three, Some(ADDRESS)).await;
    for serial in [&one, &two, &three] {
        ledger(
            &store,
            "certificate.issued",
            serde_json::json!({"serial": serial.to_hex()}),
        )
        .await;
    }
    let revoked = |serial: &Serial, authorisation: &str| serde_json::json!({"serial": serial.to_hex(), "reason": "keyCompromise", "authorisation": authorisation});
    ledger(
        &store,
        "revocation.accepted",
        revoked(&one, "subscriber_key"),
    )
    .await;
    ledger(&store, "revocation.accepted", revoked(&two, "operator")).await;
    ledger(&store, "revocation.accepted", revoked(&three, "reissue")).await;
    ledger(
        &store,
        "revocation.accepted",
        revoked(&three, "termination:end-1"),
    )
    .await;

    assert_eq!(ra.queue_holder_notices().await.unwrap(), 3);
    assert_eq!(ra.queue_holder_notices().await.unwrap(), 0, "read once");
    let mut ids: Vec<String> = store
        .pending_notices(10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["issued:0a01", "issued:0a03", "revoked:0a01"]);

    // Read from the start again (a lost setting): nothing is queued or ledgered twice.
    store
        .set_setting("notices.followed_seq", "0")
        .await
        .unwrap();
    ra.queue_holder_notices().await.unwrap();
    assert_eq!(store.pending_notices(10).await.unwrap().len(), 3);
    assert_eq!(kinds(&store, "notice.queued").await.len(), 3);

    // The sender is given the address; the books never hold it.
    let sender = Recording::default();
    assert_eq!(ra.send_notices(&sender, 10).await.unwrap(), 3);
    let sent = sender.0.lock().unwrap().clone();
    assert!(
        sent.iter().all(|(_, to)| to.as_deref() == Some(ADDRESS)),
        "{sent:?}"
    );
    let sent_entries = kinds(&store, "notice.sent").await;
    assert_eq!(sent_entries.len(), 3);
    assert!(sent_entries.iter().all(|e| e.payload["channel"] == "smtp"));
    for row in store.ledger_rows().await.unwrap() {
        let text = String::from_utf8(row.canonical).unwrap();
        assert!(!text.contains(ADDRESS), "an address in the books: {text}");
    }
    assert!(store.pending_notices(10).await.unwrap().is_empty());
}

/// On an RA node of a split deployment the books hold the CA's answers
/// (`orders.answered`), not `certificate.issued`: the issued certificates among them get
/// their notices, once the node keeps their copies (kept right after the entry).
#[tokio::test]
async fn an_ra_node_notifies_the_issuances_the_cas_answers_carry() {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let code_key = crate::CodeKey::open_or_create(&dir.path().join("code.key"), &OsRandom).unwrap();
    let (ra, _jlis) = crate::test_world::ra_at(NOW, store.clone());
    let ra = ra.with_lifecycle(Lifecycle::new(store.clone(), code_key, Default::default()));
    let (kept, later, quiet) = (
        Serial::from_hex("0b01").unwrap(),
        Serial::from_hex("0b02").unwrap(),
        Serial::from_hex("0b03").unwrap(),
    );
    issued(&store, "app-1", &kept, Some(ADDRESS)).await;
    issued(&store, "app-3", &quiet, None).await;
    let answered = |answers: serde_json::Value| serde_json::json!({"answers": answers});
    let draft = |payload| EntryDraft {
        book: Book::Application,
        kind: "orders.answered".into(),
        actor: crate::application::system_actor(),
        subjects: vec![],
        payload,
        evidence: vec![],
    };
    let at = UNIX_EPOCH + Duration::from_secs(NOW);
    store
        .append(
            draft(answered(serde_json::json!([
                {"order": "issue:app-1", "outcome": "issued", "serial": "0b01"},
                {"order": "issue:app-3", "outcome": "issued", "serial": "0b03"},
                {"order": "revoke:0a09", "outcome": "revoked", "revoked_at": NOW},
            ]))),
            at,
        )
        .await
        .unwrap();
    // The second answer's certificate is not kept yet: the reading stops before it.
    store
        .append(
            draft(answered(serde_json::json!([
                {"order": "issue:app-2", "outcome": "issued", "serial": "0b02"},
            ]))),
            at,
        )
        .await
        .unwrap();
    assert_eq!(ra.queue_holder_notices().await.unwrap(), 1);
    assert_eq!(ra.queue_holder_notices().await.unwrap(), 0, "still waiting");
    issued(&store, "app-2", &later, Some(ADDRESS)).await;
    assert_eq!(ra.queue_holder_notices().await.unwrap(), 1);
    assert_eq!(ra.queue_holder_notices().await.unwrap(), 0, "read once");
    let mut ids: Vec<String> = store
        .pending_notices(10)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["issued:0b01", "issued:0b02"]);

    // Revocations among the answers: the holder's gets its notice with the order's
    // reason; a reissue's sends its own; a certificate the node never kept gets none.
    let revoked = serde_json::json!([
        {"order": "revoke:0b01", "outcome": "revoked", "revoked_at": NOW, "reason": "keyCompromise", "authorisation": "subscriber_key"},
        {"order": "revoke:0b02", "outcome": "revoked", "revoked_at": NOW, "reason": "superseded", "authorisation": "reissue"},
        {"order": "revoke:0b0f", "outcome": "revoked", "revoked_at": NOW, "reason": "unspecified", "authorisation": "operator"},
    ]);
    store.append(draft(answered(revoked)), at).await.unwrap();
    assert_eq!(ra.queue_holder_notices().await.unwrap(), 1);
    let notices = store.pending_notices(10).await.unwrap();
    let revoked = notices.iter().find(|n| n.id == "revoked:0b01").unwrap();
    assert_eq!(revoked.payload["reason"], "keyCompromise");
    assert!(!notices.iter().any(|n| n.id == "revoked:0b02"));

    // A certificate never kept stops the reading only for a while (COPY_PATIENCE).
    let stale = UNIX_EPOCH + Duration::from_secs(NOW - 700);
    let never =
        serde_json::json!([{"order": "issue:app-9", "outcome": "issued", "serial": "0b09"}]);
    store.append(draft(answered(never)), stale).await.unwrap();
    let fresh = Serial::from_hex("0b05").unwrap();
    issued(&store, "app-5", &fresh, Some(ADDRESS)).await;
    let five = serde_json::json!([{"order": "issue:app-5", "outcome": "issued", "serial": "0b05"}]);
    store.append(draft(answered(five)), at).await.unwrap();
    assert_eq!(
        ra.queue_holder_notices().await.unwrap(),
        1,
        "past the stale one"
    );
}
