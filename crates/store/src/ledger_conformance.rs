//! Conformance checks for concurrent ledger appends (group commit), run by
//! [`crate::conformance::run`].

use crate::{LedgerReader, LedgerStore, StoreError};
use shuin_ledger::{Actor, Book, EntryDraft};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, UNIX_EPOCH};

/// How many appends run at once.
const CONCURRENT: u64 = 200;

fn draft(i: u64) -> EntryDraft {
    EntryDraft {
        book: Book::Application,
        kind: "test.concurrent".into(),
        actor: Actor {
            name: "tester".into(),
            role: "system".into(),
            zone: "secure".into(),
        },
        subjects: vec![format!("application:c{i}")],
        payload: serde_json::json!({ "i": i }),
        evidence: vec![],
    }
}

/// Polls every future until all are ready (no spawning, so they may borrow the store).
pub(crate) async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

/// Any state: 200 concurrent appends all succeed, each with its own entry, with
/// distinct seqs that continue the log without gaps, and the log verifies.
pub(crate) async fn run<S: LedgerStore + LedgerReader>(store: &S) -> Result<(), String> {
    let fail = |what: &str, e: StoreError| format!("{what}: {e}");
    let before = store.ledger_size().await.map_err(|e| fail("size", e))?;
    let time = UNIX_EPOCH + Duration::from_secs(1_800_000_400);
    let appends = (0..CONCURRENT)
        .map(|i| store.append(draft(i), time))
        .collect();
    let mut seqs = Vec::new();
    for (i, result) in (0..).zip(join_all(appends).await) {
        let entry = result.map_err(|e| fail("concurrent append", e))?;
        if entry.payload != serde_json::json!({ "i": i }) {
            return Err(format!("append {i} got another caller's entry"));
        }
        seqs.push(entry.seq);
    }
    seqs.sort_unstable();
    if seqs != (before..before + CONCURRENT).collect::<Vec<_>>() {
        return Err(format!(
            "concurrent appends got seqs {seqs:?}, not {before}..{}",
            before + CONCURRENT
        ));
    }
    let rows = store.ledger_rows().await.map_err(|e| fail("rows", e))?;
    // Pages: bounded, in order, and together the same rows.
    let mut paged = Vec::new();
    loop {
        let from = paged
            .last()
            .map_or(0, |row: &shuin_ledger::StoredEntry| row.seq + 1);
        let page = store
            .ledger_rows_page(from, 7)
            .await
            .map_err(|e| fail("page", e))?;
        if page.len() > 7 {
            return Err(format!("a page of 7 held {} rows", page.len()));
        }
        let done = page.len() < 7;
        paged.extend(page);
        if done {
            break;
        }
    }
    if paged != rows {
        return Err("the pages differ from the rows".into());
    }
    let head = store
        .ledger_head()
        .await
        .map_err(|e| fail("head", e))?
        .ok_or("head missing")?;
    let report = shuin_ledger::verify_log(rows, Some(&head)).map_err(|e| format!("verify: {e}"))?;
    if report.size != before + CONCURRENT {
        return Err(format!(
            "verified size {} after concurrent appends",
            report.size
        ));
    }
    Ok(())
}
