//! Conformance checks for the pre-signed OCSP answers ([`crate::OcspAnswerStore`]), run by
//! [`crate::conformance::run`] after the revocation checks (which list every revocation).
//! The certificates here are issued and revoked through the store's own APIs, under serials
//! `6b..` and keys of their own; lists are filtered to these serials, so rows left by other
//! checks do not matter.

use crate::conformance::{at, ensure, fail};
use crate::{
    CertificateRecord, CertificateState, CertificateWriter, OcspAnswerStore, OcspLookup,
    OcspToSign, PresignedAnswer, RevocationRecord, RevocationStore,
};
use shuin_core::revocation::RevocationReason;
use shuin_core::Serial;
use std::time::{Duration, SystemTime};

fn serial(n: u8) -> Result<Serial, String> {
    Serial::from_magnitude(&[0x6b, n]).ok_or_else(|| "a test serial".to_owned())
}

/// Reserves `serial` under a key of its own, and issues it when `issue`.
async fn certificate<S: CertificateWriter>(
    store: &S,
    serial: &Serial,
    issue: bool,
) -> Result<(), String> {
    let record = CertificateRecord {
        serial: serial.clone(),
        application_id: "ocsp-app".into(),
        key_fingerprint: format!("ocsp-key-{}", serial.to_hex()),
        tbs_sha256: "00".repeat(32),
        state: CertificateState::Reserved,
        not_before: at(1_800_000_000),
        not_after: at(1_900_000_000),
        der: None,
    };
    store
        .reserve(&record)
        .await
        .map_err(|e| fail("reserve", e))?;
    if issue {
        store
            .complete(serial, b"der", at(1_800_000_001))
            .await
            .map_err(|e| fail("complete", e))?;
    }
    Ok(())
}

fn answer(serial: &Serial, der: u8, revoked: bool, produced_at: SystemTime) -> PresignedAnswer {
    PresignedAnswer {
        serial: serial.clone(),
        der: vec![der; 700],
        revoked,
        produced_at,
    }
}

/// Only the entries about `mine`, in the order given.
fn only(found: Vec<OcspToSign>, mine: &[&Serial]) -> Vec<OcspToSign> {
    found
        .into_iter()
        .filter(|s| mine.contains(&&s.serial))
        .collect()
}

fn good(serial: &Serial) -> OcspToSign {
    OcspToSign {
        serial: serial.clone(),
        revoked: None,
    }
}

/// Runs the checks; needs the revocation checks to have run already.
pub(crate) async fn run<S>(store: &S) -> Result<(), String>
where
    S: OcspAnswerStore + CertificateWriter + RevocationStore,
{
    let (a, b, c, reserved, never) = (serial(1)?, serial(2)?, serial(3)?, serial(4)?, serial(5)?);
    let mine = [&a, &b, &c, &reserved, &never];
    for s in [&a, &b, &c] {
        certificate(store, s, true).await?;
    }
    certificate(store, &reserved, false).await?;
    let lookup = |s: &Serial| {
        let s = s.clone();
        async move { store.ocsp_lookup(&s).await.map_err(|e| fail("lookup", e)) }
    };
    let unanswered = |after: Option<Serial>, limit: u32| async move {
        store
            .ocsp_unanswered(after.as_ref(), limit)
            .await
            .map_err(|e| fail("unanswered", e))
    };
    let due = |by: SystemTime, limit: u32| async move {
        store.ocsp_due(by, limit).await.map_err(|e| fail("due", e))
    };
    let after = |number: u64, limit: u32| async move {
        store
            .ocsp_answers_after(number, limit)
            .await
            .map_err(|e| fail("answers after", e))
    };
    let put = |answers: Vec<PresignedAnswer>| async move {
        store
            .put_ocsp_answers(&answers)
            .await
            .map_err(|e| fail("put", e))
    };

    // Before any answer.
    ensure!(
        lookup(&never).await? == OcspLookup::NotIssued,
        "a serial never issued is NotIssued"
    );
    ensure!(
        lookup(&reserved).await? == OcspLookup::NotIssued,
        "a reservation is not issued"
    );
    ensure!(
        lookup(&a).await? == OcspLookup::Unanswered,
        "an issued certificate without an answer is Unanswered"
    );
    let listed = only(unanswered(None, 10_000).await?, &mine);
    ensure!(
        listed == vec![good(&a), good(&b), good(&c)],
        "the issued certificates without an answer, in serial order, and no reservation: {listed:?}"
    );
    let past_a = unanswered(Some(a.clone()), 10_000).await?;
    ensure!(
        past_a.iter().all(|s| s.serial.to_hex() > a.to_hex())
            && only(past_a, &mine) == vec![good(&b), good(&c)],
        "unanswered after a serial lists only later serials"
    );
    ensure!(
        unanswered(Some(a.clone()), 1).await? == vec![good(&b)],
        "unanswered honours its limit"
    );
    ensure!(
        put(vec![]).await?.is_empty(),
        "putting nothing gives no numbers"
    );

    // Answers: numbered one above the largest kept, in the order given.
    let (count_before, _) = store
        .ocsp_answer_count()
        .await
        .map_err(|e| fail("count", e))?;
    let numbers = put(vec![
        answer(&a, 1, false, at(300)),
        answer(&b, 2, false, at(100) + Duration::from_millis(900)),
    ])
    .await?;
    let first = *numbers.first().ok_or("no numbers given")?;
    ensure!(
        first >= 1 && numbers == vec![first, first + 1],
        "one number per answer, one apart, in order: {numbers:?}"
    );
    ensure!(
        lookup(&a).await? == OcspLookup::Answered(vec![1; 700]),
        "a kept answer answers"
    );
    ensure!(
        only(unanswered(None, 10_000).await?, &mine) == vec![good(&c)],
        "answered certificates are no longer unanswered"
    );
    let numbers = put(vec![answer(&a, 3, false, at(200))]).await?;
    ensure!(
        numbers == vec![first + 2],
        "numbers go on across calls, and a replaced answer takes a new one: {numbers:?}"
    );
    ensure!(
        lookup(&a).await? == OcspLookup::Answered(vec![3; 700]),
        "the newest answer replaces the older"
    );
    let feed = after(first - 1, 100).await?;
    ensure!(
        feed == vec![(first + 1, vec![2; 700]), (first + 2, vec![3; 700])],
        "each serial once, with its newest number, in number order: {:?}",
        feed.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    ensure!(
        after(first - 1, 1).await? == vec![(first + 1, vec![2; 700])],
        "answers after honours its limit"
    );
    ensure!(
        after(first + 1, 100).await? == vec![(first + 2, vec![3; 700])],
        "answers after a number are numbered above it"
    );
    ensure!(
        after(first + 2, 100).await?.is_empty(),
        "nothing after the largest number"
    );
    let (count, oldest) = store
        .ocsp_answer_count()
        .await
        .map_err(|e| fail("count", e))?;
    ensure!(
        count == count_before + 2,
        "one answer kept per serial: {count} after {count_before}"
    );
    ensure!(
        oldest.is_some_and(|t| t <= at(100)) && (count_before > 0 || oldest == Some(at(100))),
        "the oldest producedAt, in whole seconds: {oldest:?}"
    );

    // The schedule: answers produced at or before a time, oldest first.
    ensure!(
        only(due(at(99), 10_000).await?, &mine).is_empty(),
        "no answer is due before it was produced"
    );
    ensure!(
        only(due(at(100), 10_000).await?, &mine) == vec![good(&b)],
        "producedAt is kept in whole seconds, and due at the cut-off"
    );
    ensure!(
        only(due(at(1_000), 10_000).await?, &mine) == vec![good(&b), good(&a)],
        "due answers oldest first, newer ones not yet"
    );
    ensure!(
        due(at(1_000), 1).await? == vec![good(&b)],
        "due honours its limit"
    );

    // A revocation: the good answer no longer answers, until a revoked one is kept.
    let revocation = RevocationRecord {
        serial: a.clone(),
        revoked_at: at(1_800_000_500),
        reason: RevocationReason::Superseded,
        invalidity_date: None,
        decided_by: "ocsp-conformance".into(),
    };
    store
        .revoke(&revocation)
        .await
        .map_err(|e| fail("revoke", e))?;
    let revoked_a = OcspToSign {
        serial: a.clone(),
        revoked: Some((revocation.revoked_at, revocation.reason)),
    };
    ensure!(
        lookup(&a).await? == OcspLookup::Unanswered,
        "an answer signed good does not answer for a revoked certificate"
    );
    let listed = only(unanswered(None, 10_000).await?, &mine);
    ensure!(
        listed == vec![revoked_a.clone(), good(&c)],
        "a revoked certificate answered good is unanswered, with its revocation: {listed:?}"
    );
    ensure!(
        only(due(at(1_000), 10_000).await?, &mine) == vec![good(&b), revoked_a.clone()],
        "due answers come with their certificate's revocation"
    );
    let numbers = put(vec![answer(&a, 4, true, at(400))]).await?;
    ensure!(numbers == vec![first + 3], "the next number: {numbers:?}");
    ensure!(
        lookup(&a).await? == OcspLookup::Answered(vec![4; 700]),
        "an answer signed revoked answers for a revoked certificate"
    );
    ensure!(
        only(unanswered(None, 10_000).await?, &mine) == vec![good(&c)],
        "a revoked certificate answered revoked is answered"
    );
    ensure!(
        only(due(at(300), 10_000).await?, &mine) == vec![good(&b)],
        "a newer answer is not due before its producedAt"
    );
    ensure!(
        only(due(at(400), 10_000).await?, &mine) == vec![good(&b), revoked_a],
        "the revoked answer is due at its producedAt"
    );
    ensure!(
        after(first + 1, 100).await? == vec![(first + 3, vec![4; 700])],
        "the feed holds the newest answer only"
    );
    // A good answer signed from an older read never replaces the revoked one.
    let numbers = put(vec![answer(&a, 5, false, at(500))]).await?;
    ensure!(
        numbers.is_empty(),
        "a stale good answer is not kept: {numbers:?}"
    );
    ensure!(
        lookup(&a).await? == OcspLookup::Answered(vec![4; 700]),
        "the revoked answer stays"
    );
    let (count, _) = store
        .ocsp_answer_count()
        .await
        .map_err(|e| fail("count", e))?;
    ensure!(
        count == count_before + 2,
        "replacing keeps the count: {count}"
    );
    Ok(())
}

/// Batches per writer, and answers per batch, in [`writers_serialise`].
const BATCHES: u8 = 10;
const PER_BATCH: u8 = 5;

/// `BATCHES` batches of answers put by one writer of [`writers_serialise`]; the numbers
/// given.
async fn write_batches<S: OcspAnswerStore>(store: &S, writer: u8) -> Result<Vec<u64>, String> {
    let mut given = Vec::new();
    for batch in 0..BATCHES {
        let answers: Vec<PresignedAnswer> = (0..PER_BATCH)
            .map(|i| {
                let serial = Serial::from_magnitude(&[0x6c, writer, batch, i])
                    .ok_or_else(|| "a test serial".to_owned())?;
                Ok(answer(&serial, i, false, at(500)))
            })
            .collect::<Result<_, String>>()?;
        let numbers = store
            .put_ocsp_answers(&answers)
            .await
            .map_err(|e| fail("concurrent put", e))?;
        let first = *numbers.first().ok_or("no numbers given")?;
        ensure!(
            numbers == (first..first + u64::from(PER_BATCH)).collect::<Vec<_>>(),
            "a batch is numbered consecutively: {numbers:?}"
        );
        given.extend(numbers);
        tokio::task::yield_now().await;
    }
    Ok(given)
}

/// Two stores on one database (as two processes would have) put answers at once, two
/// writers each, while a reader follows the feed: every batch is numbered consecutively
/// from one above the largest kept, no number is given twice, and the reader never sees
/// a number before a smaller one (numbers become visible in order).
pub(crate) async fn writers_serialise<S: OcspAnswerStore>(a: &S, b: &S) -> Result<(), String> {
    let mut start = 0;
    loop {
        let page = a
            .ocsp_answers_after(start, 1_000)
            .await
            .map_err(|e| fail("answers after", e))?;
        match page.last() {
            Some((number, _)) => start = *number,
            None => break,
        }
    }
    let total = 4 * u64::from(BATCHES) * u64::from(PER_BATCH);
    let read = async {
        let mut last = start;
        for _ in 0..10_000 {
            let page = b
                .ocsp_answers_after(last, 7)
                .await
                .map_err(|e| fail("feed", e))?;
            for (number, _) in page {
                ensure!(
                    number == last + 1,
                    "the feed showed {number} while {} was not visible yet",
                    last + 1
                );
                last = number;
            }
            if last == start + total {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        Err(format!("the feed stopped at {last}"))
    };
    let (w1, w2, w3, w4, seen) = tokio::join!(
        write_batches(a, 0),
        write_batches(a, 1),
        write_batches(b, 2),
        write_batches(b, 3),
        read
    );
    let mut given: Vec<u64> = [w1?, w2?, w3?, w4?].concat();
    seen?;
    given.sort_unstable();
    ensure!(
        given == (start + 1..=start + total).collect::<Vec<_>>(),
        "every number is given once, from one above the largest kept"
    );
    Ok(())
}
