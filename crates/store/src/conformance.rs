//! The conformance suite every store implementation must pass (garage `src/db/test.rs`).
//! Each check returns an error message instead of panicking, so the suite can live in the
//! library and be run from each implementation's tests.

use crate::{
    ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateRecord, CertificateState,
    CertificateWriter, CheckpointWriter, ConflictKind, CrlRecord, CrlStore, LedgerStore,
    NonceOutcome, NonceStore, RevocationRecord, RevocationStore, SettingsStore, StoreError,
    StoredCheckpoint,
};
use shuin_core::revocation::RevocationReason;
use shuin_core::{ReviewReason, Serial};
use shuin_ledger::{Actor, Book, EntryDraft};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `ensure!(condition, "message {}", args)`: returns the message as the check's error.
/// Shared by every conformance module of this crate.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}
pub(crate) use ensure;

/// Two stores on one database (as two processes) write pre-signed OCSP answers at once:
/// their numbers are given once each and become visible in order.
pub async fn ocsp_writers_serialise<S: crate::OcspAnswerStore>(a: &S, b: &S) -> Result<(), String> {
    crate::ocsp_conformance::writers_serialise(a, b).await
}

/// A time `secs` seconds after the epoch.
pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A check's error for a store failure.
pub(crate) fn fail(context: &str, e: StoreError) -> String {
    format!("{context}: {e}")
}

/// Runs every check against `store`, which must be empty.
pub async fn run<S>(store: &S) -> Result<(), String>
where
    S: NonceStore
        + ApplicationStore
        + CertificateWriter
        + LedgerStore
        + CheckpointWriter
        + SettingsStore
        + RevocationStore
        + CrlStore
        + crate::RegistrationStore
        + crate::NoticeOutbox
        + crate::CertificateFlags
        + crate::EvidenceRetention
        + crate::TileStore
        + crate::InstanceLock
        + crate::OrderStore
        + crate::OcspAnswerStore,
{
    crate::lifecycle_conformance::run(store).await?;
    nonces(store).await?;
    applications(store).await?;
    certificates(store).await?;
    certificates_by_application(store).await?;
    revocations(store).await?;
    crls(store).await?;
    crate::ocsp_conformance::run(store).await?;
    ledger(store).await?;
    checkpoints(store).await?;
    ledger_batches(store).await?;
    crate::ledger_conformance::run(store).await?;
    settings(store).await?;
    leases(store).await?;
    crate::retention_conformance::run(store).await?;
    crate::tiles_conformance::run(store).await?;
    crate::orders_conformance::run(store).await?;
    Ok(())
}

/// Needs `certificates` to have run: serial 7f01 is issued, 7f03 undelivered.
async fn revocations<S: RevocationStore>(store: &S) -> Result<(), String> {
    let issued = Serial::from_hex("7f01").ok_or("serial")?;
    let generation = store
        .revocation_generation()
        .await
        .map_err(|e| fail("generation", e))?;
    let record = RevocationRecord {
        serial: issued.clone(),
        revoked_at: at(1_800_000_100),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: Some(at(1_800_000_050)),
        decided_by: "lra-1".into(),
    };
    let unrevoked = store
        .issued_unrevoked(None, 100)
        .await
        .map_err(|e| fail("issued unrevoked", e))?;
    ensure!(
        unrevoked.contains(&issued) && !unrevoked.iter().any(|s| s.to_hex() == "7f03"),
        "issued and not revoked, never an undelivered reservation: {unrevoked:?}"
    );
    let one = store
        .issued_unrevoked(None, 1)
        .await
        .map_err(|e| fail("issued unrevoked", e))?;
    ensure!(one.len() == 1, "the limit holds");
    let past = store
        .issued_unrevoked(Some(&issued), 100)
        .await
        .map_err(|e| fail("issued unrevoked after", e))?;
    ensure!(
        !past.contains(&issued) && past.iter().all(|s| s.to_hex() > issued.to_hex()),
        "only serials after the cursor: {past:?}"
    );
    store.revoke(&record).await.map_err(|e| fail("revoke", e))?;
    let unrevoked = store
        .issued_unrevoked(None, 100)
        .await
        .map_err(|e| fail("issued unrevoked", e))?;
    ensure!(
        !unrevoked.contains(&issued),
        "a revoked certificate is not listed"
    );
    ensure!(
        matches!(
            store.revoke(&record).await,
            Err(StoreError::Conflict(ConflictKind::Revoked))
        ),
        "revoking twice must conflict as Revoked"
    );
    let mut unknown = record.clone();
    unknown.serial = Serial::from_hex("0bad").ok_or("serial")?;
    ensure!(
        matches!(store.revoke(&unknown).await, Err(StoreError::NotFound)),
        "unknown serial is NotFound"
    );
    let mut undelivered = record.clone();
    undelivered.serial = Serial::from_hex("7f03").ok_or("serial")?;
    ensure!(
        matches!(store.revoke(&undelivered).await, Err(StoreError::NotFound)),
        "a certificate that was never issued cannot be revoked"
    );
    let read = store
        .revocation(&issued)
        .await
        .map_err(|e| fail("read", e))?;
    ensure!(
        read.as_ref() == Some(&record),
        "revocation round trip: {read:?}"
    );
    let all = store.revocations().await.map_err(|e| fail("list", e))?;
    ensure!(all == vec![record], "one revocation listed");
    let first_page = store
        .revocations_page(None, 10)
        .await
        .map_err(|e| fail("page", e))?;
    ensure!(
        first_page.len() == 1 && first_page[0].serial == issued,
        "the first page holds the revocation"
    );
    let next_page = store
        .revocations_page(Some(&issued), 10)
        .await
        .map_err(|e| fail("page", e))?;
    ensure!(next_page.is_empty(), "nothing after the last serial");
    let after = store
        .revocation_generation()
        .await
        .map_err(|e| fail("generation", e))?;
    ensure!(
        after != generation,
        "the generation changes with a revocation"
    );
    Ok(())
}

async fn crls<S: CrlStore>(store: &S) -> Result<(), String> {
    ensure!(
        store
            .latest_crl("ca")
            .await
            .map_err(|e| fail("latest", e))?
            .is_none(),
        "no CRL yet"
    );
    ensure!(
        store
            .next_crl_number("ca")
            .await
            .map_err(|e| fail("next", e))?
            == 1,
        "CRL numbers start at 1"
    );
    for number in [1u64, 2] {
        let record = CrlRecord {
            scope: "ca".into(),
            number,
            this_update: at(1_800_000_000),
            next_update: at(1_800_086_400),
            der: vec![0x30, 0x00],
        };
        store.put_crl(&record).await.map_err(|e| fail("put", e))?;
        if number == 2 {
            ensure!(
                matches!(store.put_crl(&record).await, Err(StoreError::Conflict(_))),
                "CRL numbers are unique"
            );
        }
    }
    ensure!(
        store
            .next_crl_number("ca")
            .await
            .map_err(|e| fail("next", e))?
            == 3,
        "next CRL number"
    );
    ensure!(
        store
            .next_crl_number("root")
            .await
            .map_err(|e| fail("next", e))?
            == 1,
        "scopes are separate"
    );
    let latest = store
        .latest_crl("ca")
        .await
        .map_err(|e| fail("latest", e))?
        .ok_or("latest missing")?;
    ensure!(latest.number == 2, "latest is the largest number");
    Ok(())
}

async fn nonces<S: NonceStore>(store: &S) -> Result<(), String> {
    let now = at(1_800_000_000);
    store
        .insert_nonce("n1", now + Duration::from_secs(600))
        .await
        .map_err(|e| fail("insert", e))?;
    ensure!(
        matches!(
            store.insert_nonce("n1", now).await,
            Err(StoreError::Conflict(ConflictKind::Nonce))
        ),
        "a duplicate nonce must conflict"
    );
    let first = store
        .consume_nonce("n1", now)
        .await
        .map_err(|e| fail("consume", e))?;
    ensure!(
        first == NonceOutcome::Fresh,
        "first use must be fresh, got {first:?}"
    );
    let second = store
        .consume_nonce("n1", now)
        .await
        .map_err(|e| fail("consume", e))?;
    ensure!(
        second == NonceOutcome::Reused,
        "second use must be reused, got {second:?}"
    );
    let unknown = store
        .consume_nonce("nope", now)
        .await
        .map_err(|e| fail("consume", e))?;
    ensure!(
        unknown == NonceOutcome::Unknown,
        "unknown nonce, got {unknown:?}"
    );
    store
        .insert_nonce("n2", now)
        .await
        .map_err(|e| fail("insert", e))?;
    let late = store
        .consume_nonce("n2", now + Duration::from_secs(1))
        .await
        .map_err(|e| fail("consume", e))?;
    ensure!(late == NonceOutcome::Expired, "expired nonce, got {late:?}");
    // Purging: only nonces expired before the cut-off go, at most `limit` at a time;
    // a purged nonce is refused as unknown.
    store
        .insert_nonce("old-1", now - Duration::from_secs(7200))
        .await
        .map_err(|e| fail("insert", e))?;
    store
        .insert_nonce("old-2", now - Duration::from_secs(7200))
        .await
        .map_err(|e| fail("insert", e))?;
    let cut = now - Duration::from_secs(3600);
    let purged = store
        .purge_expired_nonces(cut, 1)
        .await
        .map_err(|e| fail("purge", e))?;
    ensure!(
        purged == 1,
        "a purge takes at most its limit, took {purged}"
    );
    let purged = store
        .purge_expired_nonces(cut, 100)
        .await
        .map_err(|e| fail("purge", e))?;
    ensure!(purged == 1, "the second old nonce goes next, took {purged}");
    let gone = store
        .consume_nonce("old-1", now)
        .await
        .map_err(|e| fail("consume", e))?;
    ensure!(
        gone == NonceOutcome::Unknown,
        "a purged nonce, got {gone:?}"
    );
    let kept = store
        .consume_nonce("n1", now)
        .await
        .map_err(|e| fail("consume", e))?;
    ensure!(
        kept == NonceOutcome::Reused,
        "a live nonce is kept, got {kept:?}"
    );
    // Concurrent consumption: exactly one winner.
    store
        .insert_nonce("n3", now + Duration::from_secs(600))
        .await
        .map_err(|e| fail("insert", e))?;
    let results = futures_join(store, "n3", now).await?;
    let fresh = results
        .iter()
        .filter(|o| **o == NonceOutcome::Fresh)
        .count();
    ensure!(
        fresh == 1,
        "exactly one concurrent use may succeed, got {fresh}"
    );
    Ok(())
}

async fn futures_join<S: NonceStore>(
    store: &S,
    nonce: &str,
    now: SystemTime,
) -> Result<Vec<NonceOutcome>, String> {
    let (a, b, c, d) = tokio::join!(
        store.consume_nonce(nonce, now),
        store.consume_nonce(nonce, now),
        store.consume_nonce(nonce, now),
        store.consume_nonce(nonce, now)
    );
    [a, b, c, d]
        .into_iter()
        .map(|r| r.map_err(|e| fail("concurrent consume", e)))
        .collect()
}

async fn applications<S: ApplicationStore>(store: &S) -> Result<(), String> {
    store
        .put_evidence("ab", b"cms")
        .await
        .map_err(|e| fail("evidence", e))?;
    store
        .put_evidence("ab", b"cms")
        .await
        .map_err(|e| fail("evidence is idempotent", e))?;
    let evidence = store
        .evidence("ab")
        .await
        .map_err(|e| fail("evidence", e))?;
    ensure!(
        evidence.as_deref() == Some(&b"cms"[..]),
        "evidence round trip"
    );
    let mut record = ApplicationRecord {
        id: "app-1".into(),
        status: ApplicationStatus::PendingReview,
        received_at: at(1_800_000_000),
        review_reasons: vec![ReviewReason::NameSubstituteCharacters],
        serial: None,
        rejection_reason: None,
        evidence_sha256: "ab".into(),
        details: serde_json::json!({"k": "v"}),
    };
    store
        .insert_application(&record)
        .await
        .map_err(|e| fail("insert application", e))?;
    ensure!(
        matches!(
            store.insert_application(&record).await,
            Err(StoreError::Conflict(_))
        ),
        "a duplicate application id must conflict"
    );
    let read = store
        .application("app-1")
        .await
        .map_err(|e| fail("read application", e))?;
    ensure!(
        read.as_ref() == Some(&record),
        "application round trip: {read:?}"
    );
    let pending = store
        .applications_with_status(ApplicationStatus::PendingReview)
        .await
        .map_err(|e| fail("list", e))?;
    ensure!(pending.len() == 1, "one pending application");
    record.status = ApplicationStatus::Issued;
    record.serial = Serial::from_hex("0102");
    store
        .update_application(&record)
        .await
        .map_err(|e| fail("update", e))?;
    let read = store
        .application("app-1")
        .await
        .map_err(|e| fail("read", e))?;
    ensure!(read.as_ref() == Some(&record), "update round trip");
    record.id = "missing".into();
    ensure!(
        matches!(
            store.update_application(&record).await,
            Err(StoreError::NotFound)
        ),
        "updating a missing application is NotFound"
    );
    holders(store).await
}

/// Filing applications under their holder (for disclosure), the start-up filing of
/// older rows, and forgetting.
async fn holders<S: ApplicationStore>(store: &S) -> Result<(), String> {
    let unfiled = store
        .unfiled_applications(10)
        .await
        .map_err(|e| fail("unfiled", e))?;
    ensure!(
        unfiled.iter().map(|a| a.id.as_str()).collect::<Vec<_>>() == ["app-1"],
        "an application filed under no holder is listed: {unfiled:?}"
    );
    let mut second = ApplicationRecord {
        id: "app-2".into(),
        status: ApplicationStatus::Approved,
        received_at: at(1_800_000_100),
        review_reasons: vec![],
        serial: None,
        rejection_reason: None,
        evidence_sha256: "ab".into(),
        details: serde_json::json!({}),
    };
    store
        .insert_application(&second)
        .await
        .map_err(|e| fail("insert second", e))?;
    for id in ["app-2", "app-1"] {
        store
            .index_holder("holder-a", id)
            .await
            .map_err(|e| fail("index", e))?;
    }
    store
        .index_holder("holder-a", "app-1")
        .await
        .map_err(|e| fail("indexing is idempotent", e))?;
    let ids = |found: Vec<ApplicationRecord>| found.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let found = store
        .applications_of_holder("holder-a")
        .await
        .map_err(|e| fail("of holder", e))?;
    ensure!(ids(found) == ["app-1", "app-2"], "oldest first");
    let other = store
        .applications_of_holder("holder-b")
        .await
        .map_err(|e| fail("of another holder", e))?;
    ensure!(other.is_empty(), "another holder finds nothing");
    let unfiled = store
        .unfiled_applications(10)
        .await
        .map_err(|e| fail("unfiled after", e))?;
    ensure!(unfiled.is_empty(), "every application is filed");
    store
        .forget_holder("app-1")
        .await
        .map_err(|e| fail("forget", e))?;
    let found = store
        .applications_of_holder("holder-a")
        .await
        .map_err(|e| fail("of holder after forgetting", e))?;
    ensure!(
        ids(found) == ["app-2"],
        "a forgotten application is no longer the holder's"
    );
    store
        .index_holder("holder-a", "app-1")
        .await
        .map_err(|e| fail("index after forgetting", e))?;
    let found = store
        .applications_of_holder("holder-a")
        .await
        .map_err(|e| fail("of holder after filing again", e))?;
    ensure!(
        ids(found) == ["app-2"],
        "a forgotten application is never filed again"
    );
    let unfiled = store
        .unfiled_applications(10)
        .await
        .map_err(|e| fail("unfiled after forgetting", e))?;
    ensure!(
        unfiled.is_empty(),
        "a forgotten application stays filed (under no holder)"
    );
    let none = store
        .applications_of_holder(crate::NO_HOLDER)
        .await
        .map_err(|e| fail("no holder", e))?;
    ensure!(ids(none) == ["app-1"], "filed under no holder");
    second.status = ApplicationStatus::Issued;
    store
        .update_application(&second)
        .await
        .map_err(|e| fail("update second", e))?;
    Ok(())
}

async fn certificates<S: CertificateWriter>(store: &S) -> Result<(), String> {
    let serial = Serial::from_hex("7f01").ok_or("serial")?;
    let record = CertificateRecord {
        serial: serial.clone(),
        application_id: "app-1".into(),
        key_fingerprint: "key-a".into(),
        tbs_sha256: "tbs".into(),
        state: CertificateState::Reserved,
        not_before: at(1_800_000_000),
        not_after: at(1_900_000_000),
        der: None,
    };
    store
        .reserve(&record)
        .await
        .map_err(|e| fail("reserve", e))?;
    ensure!(
        store
            .key_in_use("key-a")
            .await
            .map_err(|e| fail("key_in_use", e))?,
        "reserved key is in use"
    );
    let mut other_key = record.clone();
    other_key.key_fingerprint = "key-b".into();
    ensure!(
        matches!(
            store.reserve(&other_key).await,
            Err(StoreError::Conflict(ConflictKind::Serial))
        ),
        "a reused serial must conflict as Serial"
    );
    let mut same_key = record.clone();
    same_key.serial = Serial::from_hex("7f02").ok_or("serial")?;
    ensure!(
        matches!(
            store.reserve(&same_key).await,
            Err(StoreError::Conflict(ConflictKind::Key))
        ),
        "a reused key must conflict as Key"
    );
    let before = store
        .issued_count()
        .await
        .map_err(|e| fail("issued_count", e))?;
    store
        .complete(&serial, b"der", at(1_800_000_001))
        .await
        .map_err(|e| fail("complete", e))?;
    let after = store
        .issued_count()
        .await
        .map_err(|e| fail("issued_count", e))?;
    ensure!(
        after == before + 1,
        "issued_count counts the new certificate"
    );
    let serials = store
        .issued_serials()
        .await
        .map_err(|e| fail("issued_serials", e))?;
    let issued = store
        .certificates_in_state(CertificateState::Issued)
        .await
        .map_err(|e| fail("issued", e))?;
    ensure!(
        !serials.is_empty()
            && serials.len() == issued.len()
            && issued.iter().all(|record| serials.contains(&record.serial)),
        "issued_serials lists exactly the issued certificates"
    );
    let read = store
        .certificate(&serial)
        .await
        .map_err(|e| fail("read", e))?
        .ok_or("certificate missing")?;
    ensure!(
        read.state == CertificateState::Issued && read.der.as_deref() == Some(&b"der"[..]),
        "completed certificate"
    );
    ensure!(
        matches!(
            store.complete(&serial, b"x", at(1)).await,
            Err(StoreError::NotFound)
        ),
        "completing twice is refused"
    );
    // An abandoned reservation releases its key.
    let mut abandoned = record.clone();
    abandoned.serial = Serial::from_hex("7f03").ok_or("serial")?;
    abandoned.key_fingerprint = "key-c".into();
    store
        .reserve(&abandoned)
        .await
        .map_err(|e| fail("reserve", e))?;
    store
        .mark_undelivered(&abandoned.serial)
        .await
        .map_err(|e| fail("undelivered", e))?;
    ensure!(
        !store
            .key_in_use("key-c")
            .await
            .map_err(|e| fail("key_in_use", e))?,
        "undelivered releases the key"
    );
    let undelivered = store
        .certificates_in_state(CertificateState::Undelivered)
        .await
        .map_err(|e| fail("list", e))?;
    ensure!(undelivered.len() == 1, "one undelivered certificate");
    Ok(())
}

async fn ledger<S: LedgerStore>(store: &S) -> Result<(), String> {
    ensure!(
        store
            .ledger_head()
            .await
            .map_err(|e| fail("head", e))?
            .is_none(),
        "empty ledger has no head"
    );
    for i in 0..5u32 {
        let entry = store
            .append(
                EntryDraft {
                    book: Book::Application,
                    kind: "test.entry".into(),
                    actor: Actor {
                        name: "tester".into(),
                        role: "system".into(),
                        zone: "secure".into(),
                    },
                    subjects: vec![format!("application:{i}")],
                    payload: serde_json::json!({"i": i}),
                    evidence: vec![],
                },
                at(1_800_000_000),
            )
            .await
            .map_err(|e| fail("append", e))?;
        ensure!(entry.seq == u64::from(i), "sequence numbers are contiguous");
    }
    let rows = store.ledger_rows().await.map_err(|e| fail("rows", e))?;
    let head = store
        .ledger_head()
        .await
        .map_err(|e| fail("head", e))?
        .ok_or("head missing")?;
    ensure!(head.size == 5, "head size");
    let report = shuin_ledger::verify_log(rows, Some(&head)).map_err(|e| format!("verify: {e}"))?;
    ensure!(report.size == 5, "verified size");
    Ok(())
}

fn keyed(key: Option<&str>, i: u32) -> crate::KeyedDraft {
    crate::KeyedDraft {
        key: key.map(str::to_owned),
        draft: EntryDraft {
            book: Book::Facility,
            kind: "test.keyed".into(),
            actor: Actor {
                name: "importer".into(),
                role: "system".into(),
                zone: "secure".into(),
            },
            subjects: vec![],
            payload: serde_json::json!({"i": i}),
            evidence: vec![],
        },
    }
}

/// Needs `checkpoints` to have run: five entries. Batches append in order, skip keys seen
/// before (in an earlier batch or the same one), and keep the log verifiable.
async fn ledger_batches<S: LedgerStore + crate::LedgerReader>(store: &S) -> Result<(), String> {
    let first = vec![
        keyed(Some("door-1/a"), 0),
        keyed(None, 1),
        keyed(Some("door-1/b"), 2),
        keyed(Some("door-1/a"), 3),
    ];
    let written = store
        .append_batch(first, at(1_800_000_100))
        .await
        .map_err(|e| fail("batch", e))?;
    ensure!(
        written.iter().map(|e| e.seq).collect::<Vec<_>>() == vec![5, 6, 7],
        "a batch appends in order and skips a key repeated within it: {:?}",
        written.iter().map(|e| e.seq).collect::<Vec<_>>()
    );
    ensure!(
        written[2].payload == serde_json::json!({"i": 2}),
        "the third written entry is the second keyed one"
    );
    let again = vec![keyed(Some("door-1/b"), 4), keyed(Some("door-1/a"), 5)];
    let written = store
        .append_batch(again, at(1_800_000_200))
        .await
        .map_err(|e| fail("repeat batch", e))?;
    ensure!(written.is_empty(), "a repeated batch appends nothing");
    let mixed = vec![keyed(Some("door-1/a"), 6), keyed(Some("door-2/a"), 7)];
    let written = store
        .append_batch(mixed, at(1_800_000_300))
        .await
        .map_err(|e| fail("mixed batch", e))?;
    ensure!(
        written.len() == 1 && written[0].seq == 8,
        "only the new key of a mixed batch is appended"
    );
    ensure!(
        store.ledger_size().await.map_err(|e| fail("size", e))? == 9,
        "ledger size after batches"
    );
    let rows = store.ledger_rows().await.map_err(|e| fail("rows", e))?;
    let head = store
        .ledger_head()
        .await
        .map_err(|e| fail("head", e))?
        .ok_or("head missing")?;
    let report = shuin_ledger::verify_log(rows, Some(&head)).map_err(|e| format!("verify: {e}"))?;
    ensure!(report.size == 9, "verified size after batches");
    Ok(())
}

/// Needs `ledger` to have run: five entries.
async fn checkpoints<S: LedgerStore + CheckpointWriter>(store: &S) -> Result<(), String> {
    ensure!(
        store.ledger_size().await.map_err(|e| fail("size", e))? == 5,
        "ledger size"
    );
    let rows = store.ledger_rows().await.map_err(|e| fail("rows", e))?;
    let stored: Vec<String> = rows.iter().map(|r| r.leaf_hash_hex.clone()).collect();
    let leaves = store.leaf_hashes(5).await.map_err(|e| fail("leaves", e))?;
    ensure!(
        leaves.iter().map(hex::encode).collect::<Vec<_>>() == stored,
        "leaf hashes are the stored ones, in order"
    );
    ensure!(
        store
            .leaf_hashes(3)
            .await
            .map_err(|e| fail("leaves", e))?
            .len()
            == 3,
        "a prefix of leaves"
    );
    ensure!(
        store
            .leaf_hashes(100)
            .await
            .map_err(|e| fail("leaves", e))?
            .len()
            == 5,
        "no more leaves than entries"
    );
    ensure!(
        store
            .latest_checkpoint()
            .await
            .map_err(|e| fail("latest", e))?
            .is_none(),
        "no checkpoint yet"
    );
    let three = StoredCheckpoint {
        size: 3,
        note: "origin\n3\nroot\n\n\u{2014} origin sig\n".into(),
    };
    store
        .add_checkpoint(&three)
        .await
        .map_err(|e| fail("add", e))?;
    store
        .add_checkpoint(&three)
        .await
        .map_err(|e| fail("adding the same note again is a no-op", e))?;
    ensure!(
        matches!(
            store
                .add_checkpoint(&StoredCheckpoint {
                    size: 3,
                    note: "another".into()
                })
                .await,
            Err(StoreError::Conflict(ConflictKind::Other))
        ),
        "a different note for a stored size conflicts"
    );
    let five = StoredCheckpoint {
        size: 5,
        note: "five".into(),
    };
    store
        .add_checkpoint(&five)
        .await
        .map_err(|e| fail("add", e))?;
    // Witnesses' lines are added by compare and swap, never over another note.
    let cosigned = format!("{}\u{2014} witness.example/w1 cosig\n", three.note);
    store
        .add_cosignatures(3, &three.note, &cosigned)
        .await
        .map_err(|e| fail("add cosignatures", e))?;
    ensure!(
        matches!(
            store.add_cosignatures(3, &three.note, &cosigned).await,
            Err(StoreError::Conflict(ConflictKind::Other))
        ),
        "cosignatures over a note that changed meanwhile conflict"
    );
    ensure!(
        matches!(
            store
                .add_cosignatures(3, &cosigned, "a rewritten note\n")
                .await,
            Err(StoreError::Conflict(ConflictKind::Other))
        ),
        "cosignatures only add lines"
    );
    ensure!(
        matches!(
            store.add_cosignatures(4, "x\n", "x\ny\n").await,
            Err(StoreError::NotFound)
        ),
        "cosignatures of a missing checkpoint"
    );
    let three = StoredCheckpoint {
        size: 3,
        note: cosigned,
    };
    let all = store.checkpoints().await.map_err(|e| fail("list", e))?;
    ensure!(
        all == vec![three, five.clone()],
        "checkpoints in size order: {all:?}"
    );
    let latest = store
        .latest_checkpoint()
        .await
        .map_err(|e| fail("latest", e))?;
    ensure!(latest == Some(five), "latest checkpoint: {latest:?}");
    Ok(())
}

async fn settings<S: SettingsStore>(store: &S) -> Result<(), String> {
    ensure!(
        store
            .setting("a")
            .await
            .map_err(|e| fail("get", e))?
            .is_none(),
        "missing setting"
    );
    store
        .set_setting("a", "1")
        .await
        .map_err(|e| fail("set", e))?;
    store
        .set_setting("a", "2")
        .await
        .map_err(|e| fail("set", e))?;
    ensure!(
        store
            .setting("a")
            .await
            .map_err(|e| fail("get", e))?
            .as_deref()
            == Some("2"),
        "setting overwritten"
    );
    Ok(())
}

/// Needs `certificates` to have run: serial 7f01 was issued for `app-1`.
async fn certificates_by_application<S: CertificateWriter>(store: &S) -> Result<(), String> {
    let found = store
        .certificates_of_application("app-1")
        .await
        .map_err(|e| fail("certificates_of_application", e))?;
    ensure!(
        found
            .iter()
            .any(|c| c.serial.to_hex() == "7f01" && c.state == CertificateState::Issued),
        "the certificate issued for app-1 is found by its application"
    );
    ensure!(
        found.iter().all(|c| c.application_id == "app-1"),
        "only app-1's certificates"
    );
    ensure!(
        store
            .certificates_of_application("no-such-application")
            .await
            .map_err(|e| fail("certificates_of_application", e))?
            .is_empty(),
        "an application without certificates has none"
    );
    Ok(())
}

async fn leases<S: crate::InstanceLock>(store: &S) -> Result<(), String> {
    let take = |holder: &'static str, now: u64, until: u64| {
        store.take_lease("reconcile", holder, at(now), at(until))
    };
    ensure!(
        take("a", 1_800_000_000, 1_800_000_060)
            .await
            .map_err(|e| fail("take", e))?,
        "a free lease is taken"
    );
    ensure!(
        !take("b", 1_800_000_030, 1_800_000_090)
            .await
            .map_err(|e| fail("take", e))?,
        "a running lease is not taken by another holder"
    );
    ensure!(
        take("a", 1_800_000_030, 1_800_000_090)
            .await
            .map_err(|e| fail("take", e))?,
        "the holder renews its lease"
    );
    ensure!(
        take("b", 1_800_000_090, 1_800_000_150)
            .await
            .map_err(|e| fail("take", e))?,
        "an expired lease is taken by another holder"
    );
    store
        .release_lease("reconcile", "a")
        .await
        .map_err(|e| fail("release", e))?;
    ensure!(
        !take("a", 1_800_000_100, 1_800_000_160)
            .await
            .map_err(|e| fail("take", e))?,
        "releasing someone else's lease does nothing"
    );
    store
        .release_lease("reconcile", "b")
        .await
        .map_err(|e| fail("release", e))?;
    ensure!(
        take("a", 1_800_000_100, 1_800_000_160)
            .await
            .map_err(|e| fail("take", e))?,
        "a released lease is free"
    );
    Ok(())
}
