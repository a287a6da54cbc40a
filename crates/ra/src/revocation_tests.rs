//! Refused revocation requests with a real SQLite store and real CMS from the testkit's
//! cards: a request signed by an unknown key is counted, not ledgered; one signed by a
//! real JPKI holder who is not the subscriber is ledgered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use shuin_ledger::Entry;
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerStore;
use shuin_testkit::{CardSpec, SimulatedJlisCa, TestCard};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

const NOW: u64 = 1_800_000_000;
const SERIAL: &str = "0a0b0c";

struct World {
    ra: RaService,
    store: Arc<SqliteStore>,
    jlis: SimulatedJlisCa,
}

async fn world() -> World {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    subscriber_certificate(&store).await;
    let (ra, jlis) = crate::test_world::ra_at(NOW, store.clone());
    World { ra, store, jlis }
}

/// An issued certificate of 山田 太郎, and the application it came from.
async fn subscriber_certificate(store: &SqliteStore) {
    let basic = serde_json::json!({"name": "山田　太郎", "birth_date": "1980-01-02",
        "address": "東京都千代田区霞が関二丁目1番2号", "gender": "1"});
    let serial = Serial::from_hex(SERIAL).unwrap();
    crate::test_world::issued_application(store, NOW, "app-1", &serial, basic, &"00".repeat(32))
        .await;
}

fn card(jlis: &SimulatedJlisCa, name: &str) -> TestCard {
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let spec = CardSpec::signing(
        name,
        "1975-05-05",
        "大阪府大阪市北区中之島一丁目3番20号",
        now,
    );
    jlis.issue_card(&spec).unwrap()
}

/// A signed revocation request for the subscriber's certificate, with a fresh nonce.
async fn request(ra: &RaService, signer: &TestCard) -> Vec<u8> {
    let nonce = ra.create_challenge().await.unwrap().nonce;
    let document = serde_json::json!({"format": REVOCATION_FORMAT, "serial": SERIAL,
        "reason": "keyCompromise", "nonce": nonce});
    signer
        .sign_application(document.to_string().as_bytes())
        .unwrap()
}

async fn refused_entries(store: &SqliteStore) -> Vec<Entry> {
    let rows = store.ledger_rows().await.unwrap();
    rows.iter()
        .map(|r| Entry::from_canonical(&r.canonical).unwrap())
        .filter(|e| e.kind == "revocation.refused")
        .collect()
}

fn not_authorized(result: Result<RevocationAnswer, RaError>) -> bool {
    matches!(result, Err(RaError::Rejected(r)) if r.code == ReasonCode::RevocationNotAuthorized)
}

#[tokio::test]
async fn requests_signed_by_unknown_keys_are_counted_not_ledgered() {
    let w = world().await;
    // A self-made "J-LIS CA" with a real-looking card: the signature is valid, but no
    // configured anchor and no certificate issued here knows the key.
    let rogue = SimulatedJlisCa::generate(UNIX_EPOCH + Duration::from_secs(NOW)).unwrap();
    let forger = card(&rogue, "山田　太郎");
    let size_before = w.store.ledger_rows().await.unwrap().len();
    for _ in 0..50 {
        let body = request(&w.ra, &forger).await;
        assert!(not_authorized(w.ra.submit_revocation(&body).await));
    }
    assert_eq!(w.store.ledger_rows().await.unwrap().len(), size_before);
    assert_eq!(
        w.ra.unledgered_refusals(),
        vec![("revocation_not_authorized", 50)]
    );
}

#[tokio::test]
async fn a_real_holder_who_is_not_the_subscriber_is_ledgered() {
    let w = world().await;
    let stranger = card(&w.jlis, "鈴木　一郎");
    let body = request(&w.ra, &stranger).await;
    assert!(not_authorized(w.ra.submit_revocation(&body).await));
    let refused = refused_entries(&w.store).await;
    assert_eq!(refused.len(), 1);
    let jpki_serial = hex::encode(stranger.serial().unwrap());
    assert_eq!(refused[0].payload["signer"]["jpki_serial"], jpki_serial);
    assert_eq!(
        refused[0].payload["reason_code"],
        "revocation_not_authorized"
    );
    assert!(w.ra.unledgered_refusals().is_empty());
}
