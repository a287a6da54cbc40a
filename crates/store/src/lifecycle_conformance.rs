//! Conformance checks for the life-cycle stores ([`crate::lifecycle`]); run by
//! [`crate::conformance::run`] against every implementation.

use crate::lifecycle::{
    CertificateFlag, CertificateFlags, NoticeOutbox, NoticeRecord, RegistrationRecord,
    RegistrationState, RegistrationStore,
};
use crate::{ConflictKind, StoreError};
use shuin_core::Serial;

use crate::conformance::{at, ensure, fail};

/// Runs the life-cycle checks against an empty store.
pub async fn run<S>(store: &S) -> Result<(), String>
where
    S: RegistrationStore + NoticeOutbox + CertificateFlags,
{
    registrations(store).await?;
    registration_pages(store).await?;
    notices(store).await?;
    flags(store).await?;
    Ok(())
}

fn registration(id: &str) -> RegistrationRecord {
    RegistrationRecord {
        id: id.into(),
        code_mac: "00".repeat(32),
        identity: serde_json::json!({"name": "山田　太郎", "birth_date": "1990-01-02"}),
        created_by: "lra-1".into(),
        created_at: at(1_000),
        expires_at: at(2_000),
        failed_attempts: 0,
        state: RegistrationState::Open,
        application_id: None,
    }
}

async fn registrations<S: RegistrationStore>(store: &S) -> Result<(), String> {
    let record = registration("reg-1");
    store
        .insert_registration(&record)
        .await
        .map_err(|e| fail("insert_registration", e))?;
    match store.insert_registration(&record).await {
        Err(StoreError::Conflict(ConflictKind::Other)) => {}
        other => return Err(format!("a reused registration id gave {other:?}")),
    }
    let read = store
        .registration("reg-1")
        .await
        .map_err(|e| fail("registration", e))?;
    ensure!(read.as_ref() == Some(&record), "read back {read:?}");
    ensure!(
        store
            .registration("nope")
            .await
            .map_err(|e| fail("registration", e))?
            .is_none(),
        "an unknown registration was found"
    );
    for n in 1..=2u32 {
        let state = store
            .record_wrong_code("reg-1", 3)
            .await
            .map_err(|e| fail("record_wrong_code", e))?;
        ensure!(state == RegistrationState::Open, "locked after {n} of 3");
    }
    let state = store
        .record_wrong_code("reg-1", 3)
        .await
        .map_err(|e| fail("record_wrong_code", e))?;
    ensure!(
        state == RegistrationState::Locked,
        "not locked after 3 of 3"
    );
    let consumed = store
        .consume_registration("reg-1", "app-1")
        .await
        .map_err(|e| fail("consume_registration", e))?;
    ensure!(!consumed, "a locked registration was consumed");
    match store.record_wrong_code("nope", 3).await {
        Err(StoreError::NotFound) => {}
        other => return Err(format!("a wrong code on an unknown id gave {other:?}")),
    }
    store
        .insert_registration(&registration("reg-2"))
        .await
        .map_err(|e| fail("insert_registration", e))?;
    let first = store.consume_registration("reg-2", "app-2");
    let second = store.consume_registration("reg-2", "app-3");
    let (first, second) = tokio::join!(first, second);
    let first = first.map_err(|e| fail("consume_registration", e))?;
    let second = second.map_err(|e| fail("consume_registration", e))?;
    ensure!(
        first != second,
        "two concurrent consumes gave {first} and {second}"
    );
    let used = store
        .registration("reg-2")
        .await
        .map_err(|e| fail("registration", e))?
        .ok_or("reg-2 vanished")?;
    ensure!(
        used.state == RegistrationState::Used,
        "state {:?}",
        used.state
    );
    ensure!(used.application_id.is_some(), "no application id recorded");
    let state = store
        .record_wrong_code("reg-2", 1)
        .await
        .map_err(|e| fail("record_wrong_code", e))?;
    ensure!(
        state == RegistrationState::Used,
        "a used registration became {state:?}"
    );
    forget_identity(store, used.application_id.as_deref().unwrap_or_default()).await
}

/// Pages of registrations: newest first, filtered by state and by an exact id,
/// application or creator, and continued from the last one shown without a gap or a
/// repeat, also among registrations made in the same second.
async fn registration_pages<S: RegistrationStore>(store: &S) -> Result<(), String> {
    use crate::lifecycle::RegistrationQuery;
    for (id, secs, by) in [
        ("page-a", 5_000, "lra-2"),
        ("page-b", 5_000, "lra-2"),
        ("page-c", 5_001, "lra-3"),
    ] {
        let record = RegistrationRecord {
            created_at: at(secs),
            created_by: by.into(),
            ..registration(id)
        };
        store
            .insert_registration(&record)
            .await
            .map_err(|e| fail("insert_registration", e))?;
    }
    let page = |query: RegistrationQuery| async move {
        let records = store
            .registrations_page(&query)
            .await
            .map_err(|e| fail("registrations_page", e))?;
        Ok::<Vec<String>, String>(records.into_iter().map(|r| r.id).collect())
    };
    let newest = RegistrationQuery {
        limit: 2,
        ..RegistrationQuery::default()
    };
    let first = page(newest.clone()).await?;
    ensure!(first == ["page-c", "page-b"], "first page {first:?}");
    let next = page(RegistrationQuery {
        before: Some((at(5_000), "page-b".into())),
        ..newest.clone()
    })
    .await?;
    ensure!(next == ["page-a", "reg-2"], "second page {next:?}");
    let by = page(RegistrationQuery {
        matching: Some("lra-2".into()),
        limit: 10,
        ..RegistrationQuery::default()
    })
    .await?;
    ensure!(by == ["page-b", "page-a"], "by creator {by:?}");
    let one = page(RegistrationQuery {
        matching: Some("page-c".into()),
        limit: 10,
        ..RegistrationQuery::default()
    })
    .await?;
    ensure!(one == ["page-c"], "by id {one:?}");
    let used = page(RegistrationQuery {
        state: Some(RegistrationState::Used),
        limit: 10,
        ..RegistrationQuery::default()
    })
    .await?;
    ensure!(used == ["reg-2"], "used {used:?}");
    let of_application = store
        .registration("reg-2")
        .await
        .map_err(|e| fail("registration", e))?
        .and_then(|r| r.application_id)
        .ok_or("reg-2 has no application")?;
    let by_application = page(RegistrationQuery {
        matching: Some(of_application),
        limit: 10,
        ..RegistrationQuery::default()
    })
    .await?;
    ensure!(
        by_application == ["reg-2"],
        "by application {by_application:?}"
    );
    Ok(())
}

/// The identity of a used registration is forgotten for its application only, once.
async fn forget_identity<S: RegistrationStore>(
    store: &S,
    application_id: &str,
) -> Result<(), String> {
    let forgotten = |n: u64| {
        move |r: Result<u64, StoreError>| match r {
            Ok(found) if found == n => Ok(()),
            other => Err(format!(
                "forget_registration_identity gave {other:?}, not {n}"
            )),
        }
    };
    forgotten(0)(store.forget_registration_identity("app-none").await)?;
    forgotten(1)(store.forget_registration_identity(application_id).await)?;
    forgotten(0)(store.forget_registration_identity(application_id).await)?;
    let used = store
        .registration("reg-2")
        .await
        .map_err(|e| fail("registration", e))?
        .ok_or("reg-2 vanished")?;
    ensure!(
        used.identity == serde_json::json!({}),
        "identity {}",
        used.identity
    );
    let open = store
        .registration("reg-1")
        .await
        .map_err(|e| fail("registration", e))?
        .ok_or("reg-1 vanished")?;
    ensure!(
        open.identity != serde_json::json!({}),
        "another registration was forgotten"
    );
    Ok(())
}

async fn notices<S: NoticeOutbox>(store: &S) -> Result<(), String> {
    let serial = Serial::from_hex("7e01").ok_or("serial")?;
    for (id, time) in [("n-2", 20), ("n-1", 10)] {
        store
            .enqueue_notice(&NoticeRecord {
                id: id.into(),
                kind: "old_certificate_revoked".into(),
                serial: serial.clone(),
                payload: serde_json::json!({"reason": "superseded"}),
                created_at: at(time),
                sent_at: None,
            })
            .await
            .map_err(|e| fail("enqueue_notice", e))?;
    }
    let pending = store
        .pending_notices(10)
        .await
        .map_err(|e| fail("pending_notices", e))?;
    let ids: Vec<&str> = pending.iter().map(|n| n.id.as_str()).collect();
    ensure!(ids == ["n-1", "n-2"], "pending {ids:?}");
    store
        .mark_notice_sent("n-1", at(30))
        .await
        .map_err(|e| fail("mark_notice_sent", e))?;
    match store.mark_notice_sent("nope", at(30)).await {
        Err(StoreError::NotFound) => {}
        other => return Err(format!("marking an unknown notice gave {other:?}")),
    }
    let pending = store
        .pending_notices(10)
        .await
        .map_err(|e| fail("pending_notices", e))?;
    ensure!(
        pending.len() == 1 && pending[0].id == "n-2",
        "pending {pending:?}"
    );
    let all = store
        .notices_for(&serial)
        .await
        .map_err(|e| fail("notices_for", e))?;
    ensure!(
        all.len() == 2 && all[0].sent_at == Some(at(30)),
        "notices_for {all:?}"
    );
    Ok(())
}

async fn flags<S: CertificateFlags>(store: &S) -> Result<(), String> {
    let flag = CertificateFlag {
        serial: Serial::from_hex("7e02").ok_or("serial")?,
        reason: "jpki_revoked".into(),
        jpki_serial: "0a0b".into(),
        flagged_at: at(40),
    };
    let first = store
        .flag_certificate(&flag)
        .await
        .map_err(|e| fail("flag_certificate", e))?;
    let again = store
        .flag_certificate(&flag)
        .await
        .map_err(|e| fail("flag_certificate", e))?;
    ensure!(first && !again, "flagging twice gave {first} then {again}");
    let all = store
        .certificate_flags()
        .await
        .map_err(|e| fail("certificate_flags", e))?;
    ensure!(all == vec![flag], "flags {all:?}");
    Ok(())
}
