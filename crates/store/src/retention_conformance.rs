//! Conformance checks for evidence retention ([`crate::retention`]); run last by
//! [`crate::conformance::run`] against every implementation. The checks look only at
//! their own evidence and count in differences, so data left by earlier checks does not
//! matter.

use crate::retention::EvidenceRetention;
use crate::{
    ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateRecord, CertificateState,
    CertificateWriter,
};
use shuin_core::Serial;

use crate::conformance::{at, ensure, fail};

/// The certificate of application `a-issued` expires here.
const NOT_AFTER: u64 = 2_000_000_000;
/// Application `a-rejected` arrived here.
const REJECTED_AT: u64 = 1_500_000_000;

fn hash(tag: char) -> String {
    std::iter::repeat_n(tag, 64).collect()
}

fn application(
    id: &str,
    evidence: &str,
    status: ApplicationStatus,
    received: u64,
) -> ApplicationRecord {
    ApplicationRecord {
        id: id.into(),
        status,
        received_at: at(received),
        review_reasons: vec![],
        serial: None,
        rejection_reason: None,
        evidence_sha256: evidence.into(),
        details: serde_json::json!({}),
    }
}

async fn certificate<S: CertificateWriter>(
    store: &S,
    serial: &str,
    application_id: &str,
    not_after: u64,
    state: CertificateState,
) -> Result<(), String> {
    let serial = Serial::from_hex(serial).ok_or("serial")?;
    let record = CertificateRecord {
        serial: serial.clone(),
        application_id: application_id.into(),
        key_fingerprint: format!("retention-key-{application_id}"),
        tbs_sha256: "00".repeat(32),
        state: CertificateState::Reserved,
        not_before: at(1_000_000_000),
        not_after: at(not_after),
        der: None,
    };
    store
        .reserve(&record)
        .await
        .map_err(|e| fail("reserve", e))?;
    match state {
        CertificateState::Issued => store
            .complete(&serial, b"der", at(1_000_000_000))
            .await
            .map_err(|e| fail("complete", e)),
        CertificateState::Undelivered => store
            .mark_undelivered(&serial)
            .await
            .map_err(|e| fail("mark_undelivered", e)),
        CertificateState::Reserved => Ok(()),
    }
}

/// Runs the retention checks.
pub async fn run<S>(store: &S) -> Result<(), String>
where
    S: ApplicationStore + CertificateWriter + EvidenceRetention,
{
    let before_far = store
        .evidence_retention_summary(at(4_000_000_000))
        .await
        .map_err(|e| fail("summary", e))?;
    // a: issued; b: rejected; c: pending review; d: no application; e: approved, not
    // issued yet; f: two applications, one rejected early, one issued (latest wins);
    // g: undelivered certificate.
    let (a, b, c, d, e, f, g) = (
        hash('a'),
        hash('b'),
        hash('c'),
        hash('d'),
        hash('e'),
        hash('f'),
        hash('9'),
    );
    for evidence in [&a, &b, &c, &d, &e, &f, &g] {
        store
            .put_evidence(evidence, evidence.as_bytes())
            .await
            .map_err(|e| fail("put_evidence", e))?;
    }
    let applications = [
        application("r-issued", &a, ApplicationStatus::Issued, 1_000_000_000),
        application("r-rejected", &b, ApplicationStatus::Rejected, REJECTED_AT),
        application(
            "r-pending",
            &c,
            ApplicationStatus::PendingReview,
            1_000_000_000,
        ),
        application("r-approved", &e, ApplicationStatus::Approved, 1_000_000_000),
        application("r-f1", &f, ApplicationStatus::Rejected, 1_000_000_000),
        application("r-f2", &f, ApplicationStatus::Issued, 1_000_000_000),
        application(
            "r-undelivered",
            &g,
            ApplicationStatus::Approved,
            1_000_000_000,
        ),
    ];
    for record in &applications {
        store
            .insert_application(record)
            .await
            .map_err(|e| fail("insert_application", e))?;
    }
    certificate(
        store,
        "7d01",
        "r-issued",
        NOT_AFTER,
        CertificateState::Issued,
    )
    .await?;
    certificate(
        store,
        "7d02",
        "r-f2",
        NOT_AFTER + 500,
        CertificateState::Issued,
    )
    .await?;
    certificate(
        store,
        "7d03",
        "r-undelivered",
        NOT_AFTER - 10,
        CertificateState::Undelivered,
    )
    .await?;

    let mine = [&a, &b, &c, &d, &e, &f, &g];
    let expired_of = |list: Vec<crate::ExpiredEvidence>| -> Vec<String> {
        list.into_iter()
            .filter(|x| mine.contains(&&x.sha256))
            .map(|x| x.sha256)
            .collect()
    };

    // Before the certificate expires: only the rejected application's evidence.
    let early = at(NOT_AFTER - 100);
    let found = store
        .expired_evidence(early, 1000)
        .await
        .map_err(|e| fail("expired_evidence", e))?;
    let rejected_row = found.iter().find(|x| x.sha256 == b).cloned();
    ensure!(
        expired_of(found) == vec![b.clone()],
        "before any certificate expires only the rejected application's evidence is expired"
    );
    let rejected_row = rejected_row.ok_or("rejected row")?;
    ensure!(
        rejected_row.anchor == at(REJECTED_AT) && rejected_row.application_id == "r-rejected",
        "the rejected application's evidence is anchored at its arrival: {rejected_row:?}"
    );
    // Deleting everything at that cutoff deletes only that one.
    let all: Vec<String> = mine.iter().map(|h| (*h).clone()).collect();
    let deleted = store
        .delete_expired_evidence(&all, early)
        .await
        .map_err(|e| fail("delete_expired_evidence", e))?;
    ensure!(
        deleted == 1,
        "only expired evidence is deleted, not {deleted}"
    );
    for held in [&a, &c, &d, &e, &f, &g] {
        ensure!(
            store
                .evidence(held)
                .await
                .map_err(|e| fail("evidence", e))?
                .is_some(),
            "evidence within retention must stay"
        );
    }
    ensure!(
        store
            .evidence(&b)
            .await
            .map_err(|e| fail("evidence", e))?
            .is_none(),
        "expired evidence is deleted"
    );

    // At the certificate's notAfter: the undelivered and the issued one, oldest first;
    // `f` waits for its later certificate.
    let found = store
        .expired_evidence(at(NOT_AFTER), 1000)
        .await
        .map_err(|e| fail("expired_evidence", e))?;
    ensure!(
        expired_of(found) == vec![g.clone(), a.clone()],
        "at the certificate's notAfter, the undelivered then the issued certificate's evidence"
    );
    let limited = store
        .expired_evidence(at(NOT_AFTER), 1)
        .await
        .map_err(|e| fail("expired_evidence", e))?;
    ensure!(limited.len() == 1, "the limit is kept");

    // Far in the future: pending, approved-not-issued and unlinked evidence is held.
    let far = at(4_000_000_000);
    let summary = store
        .evidence_retention_summary(far)
        .await
        .map_err(|e| fail("summary", e))?;
    ensure!(
        summary.stored == before_far.stored + 6
            && summary.expired == before_far.expired + 3
            && summary.undecided == before_far.undecided + 2
            && summary.unlinked == before_far.unlinked + 1,
        "summary counts: {summary:?} after {before_far:?}"
    );
    let summary = store
        .evidence_retention_summary(at(NOT_AFTER - 100))
        .await
        .map_err(|e| fail("summary", e))?;
    ensure!(
        summary.next_anchor.is_some_and(|t| t <= at(NOT_AFTER - 10)),
        "the next anchor is the undelivered certificate's notAfter: {summary:?}"
    );
    let deleted = store
        .delete_expired_evidence(&all, far)
        .await
        .map_err(|e| fail("delete_expired_evidence", e))?;
    ensure!(
        deleted == 3,
        "a, f and g are deleted far in the future, not {deleted}"
    );
    for held in [&c, &d, &e] {
        ensure!(
            store
                .evidence(held)
                .await
                .map_err(|e| fail("evidence", e))?
                .is_some(),
            "undecided and unlinked evidence is never purged"
        );
    }
    let again = store
        .delete_expired_evidence(&all, far)
        .await
        .map_err(|e| fail("delete_expired_evidence", e))?;
    ensure!(again == 0, "nothing left to delete");
    run_linked(store).await
}

/// Evidence linked to an application (a personal data record) follows that
/// application's retention; before it is linked it is held as unlinked.
async fn run_linked<S>(store: &S) -> Result<(), String>
where
    S: ApplicationStore + CertificateWriter + EvidenceRetention,
{
    let (cms, record, pending_record) = (
        format!("{:0>64}", "1d1"),
        format!("{:0>64}", "1d2"),
        format!("{:0>64}", "1d3"),
    );
    for evidence in [&cms, &record, &pending_record] {
        store
            .put_evidence(evidence, evidence.as_bytes())
            .await
            .map_err(|e| fail("put_evidence", e))?;
    }
    let far = at(4_000_000_000);
    let held = |list: Vec<crate::ExpiredEvidence>| -> Vec<String> {
        let mut mine: Vec<String> = list
            .into_iter()
            .map(|x| x.sha256)
            .filter(|x| [&cms, &record, &pending_record].contains(&x))
            .collect();
        mine.sort();
        mine
    };
    let unlinked = store
        .evidence_retention_summary(far)
        .await
        .map_err(|e| fail("summary", e))?
        .unlinked;
    for record in [
        application("rl-issued", &cms, ApplicationStatus::Issued, 1_000_000_000),
        application(
            "rl-pending",
            &hash('8'),
            ApplicationStatus::PendingReview,
            1_000_000_000,
        ),
    ] {
        store
            .insert_application(&record)
            .await
            .map_err(|e| fail("insert_application", e))?;
    }
    certificate(
        store,
        "7d11",
        "rl-issued",
        NOT_AFTER,
        CertificateState::Issued,
    )
    .await?;
    for (evidence, id) in [
        (&record, "rl-issued"),
        (&record, "rl-issued"),
        (&pending_record, "rl-pending"),
    ] {
        store
            .link_evidence(evidence, id)
            .await
            .map_err(|e| fail("link_evidence", e))?;
    }
    let after = store
        .evidence_retention_summary(far)
        .await
        .map_err(|e| fail("summary", e))?;
    ensure!(
        after.unlinked + 3 == unlinked,
        "the request and both linked records no longer count as unlinked: {after:?}, {unlinked} before"
    );
    let found = store
        .expired_evidence(at(NOT_AFTER - 1), 1000)
        .await
        .map_err(|e| fail("expired_evidence", e))?;
    ensure!(
        held(found).is_empty(),
        "linked evidence is kept while the certificate is valid"
    );
    let found = store
        .expired_evidence(at(NOT_AFTER), 1000)
        .await
        .map_err(|e| fail("expired_evidence", e))?;
    let mut expected = vec![cms.clone(), record.clone()];
    expected.sort();
    ensure!(
        held(found) == expected,
        "a linked record expires with its application's certificate"
    );
    let all = vec![cms.clone(), record.clone(), pending_record.clone()];
    let deleted = store
        .delete_expired_evidence(&all, at(NOT_AFTER))
        .await
        .map_err(|e| fail("delete_expired_evidence", e))?;
    ensure!(
        deleted == 2,
        "the request and its linked record go, not {deleted}"
    );
    ensure!(
        store
            .evidence(&pending_record)
            .await
            .map_err(|e| fail("evidence", e))?
            .is_some(),
        "a record linked to a pending application is held"
    );
    Ok(())
}
