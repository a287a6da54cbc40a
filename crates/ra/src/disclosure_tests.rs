//! Disclosure with a real SQLite store and real CMS from the testkit's cards: the holder
//! obtains their records with their card's key; another card's key is refused; a
//! replayed or untrusted request discloses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::Lifecycle;
use shuin_core::revocation::RevocationReason;
use shuin_core::{OsRandom, Serial};
use shuin_ledger::Entry;
use shuin_store::sqlite::SqliteStore;
use shuin_store::{ApplicationStatus, ApplicationStore, RevocationRecord, RevocationStore};
use shuin_testkit::{CardSpec, SimulatedJlisCa, TestCard};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

const NOW: u64 = 1_800_000_000;
const SERIAL: &str = "0a0b0c";
const NAME: &str = "山田　太郎";
const BIRTH: &str = "1980-01-02";
const ADDRESS: &str = "東京都千代田区霞が関二丁目1番2号";

struct World {
    ra: RaService,
    store: Arc<SqliteStore>,
    jlis: SimulatedJlisCa,
    _dir: tempfile::TempDir,
}

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

async fn world() -> World {
    let store = Arc::new(SqliteStore::in_memory().await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    let code_key = crate::CodeKey::open_or_create(&dir.path().join("code.key"), &OsRandom).unwrap();
    let (ra, jlis) = crate::test_world::ra_at(NOW, store.clone());
    let ra = ra.with_lifecycle(Lifecycle::new(store.clone(), code_key, Default::default()));
    World {
        ra,
        store,
        jlis,
        _dir: dir,
    }
}

/// 山田 太郎's application (stored before the holder index existed: filed by
/// `file_holders`), its certificate, revoked; and the signed application as evidence.
async fn kept_records(store: &SqliteStore) {
    let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
    store
        .put_evidence(&"ee".repeat(32), b"signed application")
        .await
        .unwrap();
    let serial = Serial::from_hex(SERIAL).unwrap();
    let basic =
        serde_json::json!({"name": NAME, "birth_date": BIRTH, "address": ADDRESS, "gender": "1"});
    crate::test_world::issued_application(store, NOW, "app-1", &serial, basic, &"ee".repeat(32))
        .await;
    store
        .revoke(&RevocationRecord {
            serial,
            revoked_at: at(NOW - 10),
            reason: RevocationReason::KeyCompromise,
            invalidity_date: None,
            decided_by: "subscriber (certificate key)".into(),
        })
        .await
        .unwrap();
}

fn card(jlis: &SimulatedJlisCa, name: &str, birth: &str, address: &str) -> TestCard {
    jlis.issue_card(&CardSpec::signing(name, birth, address, now()))
        .unwrap()
}

/// A signed disclosure request with a fresh nonce, for `application_id` if given.
async fn request(ra: &RaService, signer: &TestCard, application_id: Option<&str>) -> Vec<u8> {
    let nonce = ra.create_challenge().await.unwrap().nonce;
    let mut document = serde_json::json!({"format": DISCLOSURE_FORMAT, "nonce": nonce});
    if let Some(id) = application_id {
        document["application_id"] = id.into();
    }
    signer
        .sign_application(document.to_string().as_bytes())
        .unwrap()
}

async fn entries(store: &SqliteStore, kind: &str) -> Vec<Entry> {
    crate::test_world::entries_of_kind(store, kind).await
}

fn code(error: RaError) -> ReasonCode {
    match error {
        RaError::Rejected(rejection) => rejection.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn the_holder_obtains_their_records_with_their_card() {
    let world = world().await;
    kept_records(&world.store).await;
    world.ra.file_holders().await;
    // The same person, the address written with full-width digits on a renewed card.
    let holder = card(
        &world.jlis,
        NAME,
        BIRTH,
        "東京都千代田区霞が関二丁目１番２号",
    );
    let body = request(&world.ra, &holder, None).await;
    let disclosure = world.ra.submit_disclosure(&body).await.unwrap();
    assert_eq!(disclosure.applications.len(), 1);
    assert!(!disclosure.truncated);
    let application = &disclosure.applications[0];
    assert_eq!(application.id, "app-1");
    assert_eq!(application.status, "issued");
    assert_eq!(application.details["basic"]["name"], NAME);
    let evidence = base64::engine::general_purpose::STANDARD
        .decode(application.evidence.as_deref().unwrap())
        .unwrap();
    assert_eq!(evidence, b"signed application");
    let certificate = &application.certificates[0];
    assert_eq!(certificate.serial, SERIAL);
    assert_eq!(certificate.state, "issued");
    let revocation = certificate.revocation.as_ref().unwrap();
    assert_eq!(revocation.reason, "keyCompromise");

    let made = entries(&world.store, "disclosure.made").await;
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].seq, disclosure.entry_seq);
    assert_eq!(made[0].subjects, vec!["application:app-1".to_owned()]);
    assert_eq!(made[0].payload["certificates"][0], SERIAL);
    let text = serde_json::to_string(&made[0]).unwrap();
    assert!(!text.contains("山田") && !text.contains(BIRTH), "{text}");
    // The request is kept, and its retention follows the application it disclosed.
    let sha = hex::encode(Sha256::digest(&body));
    assert_eq!(made[0].evidence, vec![format!("sha256:{sha}")]);
    assert_eq!(
        world.store.evidence(&sha).await.unwrap(),
        Some(body.clone())
    );

    // The same request again discloses nothing.
    let replay = world.ra.submit_disclosure(&body).await.unwrap_err();
    assert_eq!(code(replay), ReasonCode::NonceReused);
    assert_eq!(entries(&world.store, "disclosure.made").await.len(), 1);

    // One application by id.
    let one = request(&world.ra, &holder, Some("app-1")).await;
    let disclosure = world.ra.submit_disclosure(&one).await.unwrap();
    assert_eq!(disclosure.applications.len(), 1);
}

#[tokio::test]
async fn another_cards_key_is_refused_and_ledgered_without_personal_data() {
    let world = world().await;
    kept_records(&world.store).await;
    world.ra.file_holders().await;
    let other = card(
        &world.jlis,
        "鈴木　花子",
        "1975-05-05",
        "大阪府大阪市北区中之島一丁目3番20号",
    );
    let targeted = request(&world.ra, &other, Some("app-1")).await;
    let refused = world.ra.submit_disclosure(&targeted).await.unwrap_err();
    assert_eq!(code(refused), ReasonCode::DisclosureNotAuthorized);
    let all = request(&world.ra, &other, None).await;
    let refused = world.ra.submit_disclosure(&all).await.unwrap_err();
    assert_eq!(code(refused), ReasonCode::NoRecordsHeld);
    // Same name and address but another birth date: another person.
    let namesake = card(&world.jlis, NAME, "1981-01-02", ADDRESS);
    let refused = world
        .ra
        .submit_disclosure(&request(&world.ra, &namesake, None).await)
        .await
        .unwrap_err();
    assert_eq!(code(refused), ReasonCode::NoRecordsHeld);

    assert!(entries(&world.store, "disclosure.made").await.is_empty());
    let refusals = entries(&world.store, "disclosure.refused").await;
    assert_eq!(refusals.len(), 3);
    assert_eq!(
        refusals[0].payload["reason_code"],
        "disclosure_not_authorized"
    );
    assert_eq!(refusals[1].payload["reason_code"], "no_records_held");
    let text = serde_json::to_string(&refusals).unwrap();
    assert!(!text.contains("鈴木") && !text.contains("1975"), "{text}");
}

#[tokio::test]
async fn an_untrusted_signer_is_refused_and_never_ledgered() {
    let world = world().await;
    kept_records(&world.store).await;
    world.ra.file_holders().await;
    // A look-alike card from a CA nobody trusts, with the holder's very items.
    let stranger = SimulatedJlisCa::generate(now()).unwrap();
    let forged = card(&stranger, NAME, BIRTH, ADDRESS);
    let refused = world
        .ra
        .submit_disclosure(&request(&world.ra, &forged, None).await)
        .await
        .unwrap_err();
    assert_eq!(code(refused), ReasonCode::JpkiUntrustedIssuer);
    let garbage = world.ra.submit_disclosure(b"not cms").await.unwrap_err();
    assert!(matches!(garbage, RaError::Rejected(_)));
    assert!(entries(&world.store, "disclosure.made").await.is_empty());
    assert!(entries(&world.store, "disclosure.refused").await.is_empty());
}

#[tokio::test]
async fn a_forgotten_application_is_no_longer_disclosed() {
    let world = world().await;
    kept_records(&world.store).await;
    world.ra.file_holders().await;
    world.store.forget_holder("app-1").await.unwrap();
    let holder = card(&world.jlis, NAME, BIRTH, ADDRESS);
    let refused = world
        .ra
        .submit_disclosure(&request(&world.ra, &holder, None).await)
        .await
        .unwrap_err();
    assert_eq!(code(refused), ReasonCode::NoRecordsHeld);
}

#[test]
fn holder_keys_follow_the_same_person_rule() {
    let basic = |name: &str, birth: &str, address: &str| serde_json::json!({"name": name, "birth_date": birth, "address": address, "gender": "1"});
    let key = holder_key(&basic(NAME, BIRTH, ADDRESS)).unwrap();
    assert_eq!(key.len(), 64);
    assert_eq!(
        holder_key(&basic(NAME, BIRTH, "東京都千代田区霞が関二丁目１番２号")),
        Some(key.clone())
    );
    assert_ne!(
        holder_key(&basic(NAME, "1980-01-03", ADDRESS)),
        Some(key.clone())
    );
    assert_ne!(holder_key(&basic("山田　次郎", BIRTH, ADDRESS)), Some(key));
    assert_eq!(holder_key(&serde_json::Value::Null), None);
}

#[tokio::test]
async fn a_record_without_gender_is_the_holders_and_one_with_another_gender_is_not() {
    let world = world().await;
    let at = UNIX_EPOCH + Duration::from_secs(NOW - 50);
    for (id, gender) in [("lra-made", serde_json::Value::Null), ("other", "2".into())] {
        world
            .store
            .insert_application(&ApplicationRecord {
                id: id.into(),
                status: ApplicationStatus::Approved,
                received_at: at,
                review_reasons: vec![],
                serial: None,
                rejection_reason: None,
                evidence_sha256: "ee".repeat(32),
                details: serde_json::json!({"basic": {
                    "name": NAME, "birth_date": BIRTH, "address": ADDRESS, "gender": gender}}),
            })
            .await
            .unwrap();
    }
    world.ra.file_holders().await;
    let holder = card(&world.jlis, NAME, BIRTH, ADDRESS);
    let disclosure = world
        .ra
        .submit_disclosure(&request(&world.ra, &holder, None).await)
        .await
        .unwrap();
    let ids: Vec<&str> = disclosure
        .applications
        .iter()
        .map(|a| a.id.as_str())
        .collect();
    assert_eq!(ids, ["lra-made"]);
}
