//! Group commit for ledger appends, shared by every store.
//!
//! Each `append` is durable before it returns, so appending one entry per transaction
//! costs one fsync (SQLite) or one WAL flush (PostgreSQL) per entry. Concurrent appends
//! from one process are instead gathered into one transaction. An append that finds no
//! commit in progress commits its entry alone, in its own task; one that finds a commit
//! in progress puts its draft in a queue and waits. When a commit ends and drafts are
//! queued, a committer task takes everything queued (up to 1024), writes it in one
//! durable transaction, answers every waiter, and repeats until the queue is empty, then
//! ends. While one transaction commits, the next group gathers, so the more concurrent
//! appends, the larger the group.
//!
//! - Each caller returns only after the transaction holding its entry has committed, with
//!   its own entry and seq; on a failed transaction every caller of that group gets an
//!   error (nothing is reported as written unless it was committed).
//! - Transactions are the backend's ordinary ledger transaction (SQLite `BEGIN
//!   IMMEDIATE`, PostgreSQL `ledger_state ... FOR UPDATE`, the tree recomputed from
//!   `ledger_state` inside it), so other processes appending at the same time stay safe.
//! - Queued appends are committed by a task rather than by another caller's future, so a
//!   caller that is cancelled (a dropped HTTP request) cannot abandon the others' commit;
//!   a lone append that is cancelled still hands the queue over. The task lives only
//!   while appends are queued, holding a clone of the store (a pool handle).

use crate::ledger_state::TimedDraft;
use crate::StoreError;
use async_trait::async_trait;
use shuin_ledger::{Entry, EntryDraft};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;
use tokio::sync::oneshot;

/// The most drafts written in one transaction.
const MAX_GROUP: usize = 1024;

/// A store's ledger transaction, as the committer calls it.
#[async_trait]
pub(crate) trait LedgerWriter: Clone + Send + Sync + 'static {
    /// The queue of this store.
    fn group_commit(&self) -> &GroupCommit;
    /// Writes `drafts` in order in one durable transaction. Returns, per draft, the entry
    /// written or `None` when its idempotency key was seen before.
    async fn write(&self, drafts: Vec<TimedDraft>) -> Result<Vec<Option<Entry>>, StoreError>;
}

struct Waiting {
    draft: EntryDraft,
    time: SystemTime,
    reply: oneshot::Sender<Result<Entry, StoreError>>,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    committing: bool,
}

/// The queue of appends waiting for the next transaction.
#[derive(Default)]
pub(crate) struct GroupCommit {
    queue: Mutex<Queue>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl GroupCommit {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        // Nothing panics while the lock is held, and the queue is consistent at every
        // step, so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An append's part: wait for a committer, or commit alone.
enum Turn {
    Wait(oneshot::Receiver<Result<Entry, StoreError>>),
    Alone(EntryDraft),
}

/// Appends `draft` through `writer`'s group commit and waits until it is durable.
pub(crate) async fn append<W: LedgerWriter>(
    writer: &W,
    draft: EntryDraft,
    time: SystemTime,
) -> Result<Entry, StoreError> {
    let turn = {
        let mut queue = writer.group_commit().lock();
        if queue.committing {
            let (reply, answer) = oneshot::channel();
            queue.waiting.push(Waiting { draft, time, reply });
            Turn::Wait(answer)
        } else {
            // No commit in progress, so nothing is queued: commit alone, in this task
            // (no hand-over to another task, which matters on a busy machine); appends
            // arriving meanwhile queue up for the committer started afterwards.
            queue.committing = true;
            Turn::Alone(draft)
        }
    };
    match turn {
        Turn::Wait(answer) => answer
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable(Box::new(Abandoned)))),
        Turn::Alone(draft) => {
            let handover = HandOver {
                writer,
                respawn: true,
                done: false,
            };
            let written = writer
                .write(vec![TimedDraft {
                    key: None,
                    draft,
                    time,
                }])
                .await;
            drop(handover);
            written?
                .pop()
                .flatten()
                .ok_or_else(|| crate::ledger_state::corrupt("an unkeyed append was skipped"))
        }
    }
}

/// Commits groups until the queue is empty.
async fn commit_queued<W: LedgerWriter>(writer: W) {
    let mut handover = HandOver {
        writer: &writer,
        respawn: false,
        done: false,
    };
    loop {
        // Let the appenders just answered queue their next drafts first, so groups grow.
        tokio::task::yield_now().await;
        let group: Vec<Waiting> = {
            let mut queue = writer.group_commit().lock();
            if queue.waiting.is_empty() {
                queue.committing = false;
                handover.done = true;
                return;
            }
            let take = queue.waiting.len().min(MAX_GROUP);
            queue.waiting.drain(..take).collect()
        };
        let mut replies = Vec::with_capacity(group.len());
        let drafts = group
            .into_iter()
            .map(|waiting| {
                replies.push(waiting.reply);
                TimedDraft {
                    key: None,
                    draft: waiting.draft,
                    time: waiting.time,
                }
            })
            .collect();
        match writer.write(drafts).await {
            Ok(entries) if entries.len() == replies.len() => {
                for (reply, entry) in replies.into_iter().zip(entries) {
                    // A waiter that went away does not need its answer.
                    let _ = reply.send(entry.ok_or_else(|| {
                        crate::ledger_state::corrupt("an unkeyed append was skipped")
                    }));
                }
            }
            Ok(_) => {
                for reply in replies {
                    let _ = reply.send(Err(crate::ledger_state::corrupt(
                        "a group commit answered a different number of entries",
                    )));
                }
            }
            Err(error) => {
                let error = Shared::new(error);
                for reply in replies {
                    let _ = reply.send(Err(error.copy()));
                }
            }
        }
    }
}

/// Ends a turn at committing: when the queue is empty, no commit is in progress any more;
/// otherwise a committer task takes over (`respawn`, after an append that committed
/// alone, even if its caller was cancelled). A committer task that stops early (a panic,
/// or the runtime shutting down) fails the waiters still queued (their replies are
/// dropped) instead, and the next append starts afresh.
struct HandOver<'a, W: LedgerWriter> {
    writer: &'a W,
    respawn: bool,
    /// Set when the turn already ended normally.
    done: bool,
}

impl<W: LedgerWriter> Drop for HandOver<'_, W> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let runtime = tokio::runtime::Handle::try_current().ok();
        let spawn_on = {
            let mut queue = self.writer.group_commit().lock();
            match runtime {
                Some(runtime) if self.respawn && !queue.waiting.is_empty() => Some(runtime),
                _ => {
                    queue.waiting.clear();
                    queue.committing = false;
                    None
                }
            }
        };
        if let Some(runtime) = spawn_on {
            runtime.spawn(commit_queued(self.writer.clone()));
        }
    }
}

/// The committer stopped before answering (a waiter's reply was dropped unanswered).
#[derive(Debug, thiserror::Error)]
#[error("the ledger committer stopped before reporting whether the entry was written")]
struct Abandoned;

/// One failed transaction's error, handed to every caller of its group.
enum Shared {
    Conflict(crate::ConflictKind),
    NotFound,
    Corrupt(String),
    SchemaVersion { found: i64, expected: i64 },
    Unavailable(Arc<dyn std::error::Error + Send + Sync>),
}

impl Shared {
    fn new(error: StoreError) -> Shared {
        match error {
            StoreError::Conflict(kind) => Shared::Conflict(kind),
            StoreError::NotFound => Shared::NotFound,
            StoreError::Corrupt(text) => Shared::Corrupt(text),
            StoreError::SchemaVersion { found, expected } => {
                Shared::SchemaVersion { found, expected }
            }
            StoreError::Unavailable(source) => Shared::Unavailable(Arc::from(source)),
        }
    }

    fn copy(&self) -> StoreError {
        match self {
            Shared::Conflict(kind) => StoreError::Conflict(*kind),
            Shared::NotFound => StoreError::NotFound,
            Shared::Corrupt(text) => StoreError::Corrupt(text.clone()),
            Shared::SchemaVersion { found, expected } => StoreError::SchemaVersion {
                found: *found,
                expected: *expected,
            },
            Shared::Unavailable(source) => {
                StoreError::Unavailable(Box::new(GroupFailed(source.clone())))
            }
        }
    }
}

/// The shared cause of a failed group commit.
#[derive(Debug)]
struct GroupFailed(Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for GroupFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the group commit failed: {}", self.0)
    }
}

impl std::error::Error for GroupFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use shuin_ledger::{Actor, Book};
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, UNIX_EPOCH};

    /// A store that takes `delay` per transaction, numbers entries from 0, records each
    /// transaction's size, and fails while `fail` is set.
    #[derive(Clone, Default)]
    struct Fake {
        group: Arc<GroupCommit>,
        next: Arc<AtomicU64>,
        sizes: Arc<Mutex<Vec<usize>>>,
        fail: Arc<AtomicBool>,
        delay: Duration,
    }

    #[async_trait]
    impl LedgerWriter for Fake {
        fn group_commit(&self) -> &GroupCommit {
            &self.group
        }

        async fn write(&self, drafts: Vec<TimedDraft>) -> Result<Vec<Option<Entry>>, StoreError> {
            tokio::time::sleep(self.delay).await;
            if self.fail.load(Ordering::SeqCst) {
                return Err(StoreError::Unavailable(Box::new(std::io::Error::other(
                    "disk full",
                ))));
            }
            self.sizes.lock().unwrap().push(drafts.len());
            Ok(drafts
                .into_iter()
                .map(|d| {
                    let seq = self.next.fetch_add(1, Ordering::SeqCst);
                    Some(d.draft.into_entry(seq, "2027-01-15T08:00:00Z".into()))
                })
                .collect())
        }
    }

    fn draft(i: u64) -> EntryDraft {
        EntryDraft {
            book: Book::Facility,
            kind: "test.group".into(),
            actor: Actor {
                name: "tester".into(),
                role: "system".into(),
                zone: "secure".into(),
            },
            subjects: vec![],
            payload: serde_json::json!({ "i": i }),
            evidence: vec![],
        }
    }

    fn spawn_appends(
        fake: &Fake,
        range: std::ops::Range<u64>,
    ) -> Vec<tokio::task::JoinHandle<Result<Entry, StoreError>>> {
        range
            .map(|i| {
                let fake = fake.clone();
                tokio::spawn(async move { append(&fake, draft(i), UNIX_EPOCH).await })
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_transactions_and_get_their_own_entries() {
        let fake = Fake {
            delay: Duration::from_millis(5),
            ..Fake::default()
        };
        let mut seqs = Vec::new();
        for (i, handle) in (0..).zip(spawn_appends(&fake, 0..200)) {
            let entry = handle.await.unwrap().unwrap();
            assert_eq!(entry.payload, serde_json::json!({ "i": i }));
            seqs.push(entry.seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (0..200).collect::<Vec<u64>>());
        let sizes = fake.sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 200);
        assert!(sizes.len() < 50, "appends were not grouped: {sizes:?}");
        // The committer ends on its next turn after answering the last waiter, which may
        // come a moment after that waiter returns (on a busy machine).
        for _ in 0..100 {
            if !fake.group.lock().committing {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(!fake.group.lock().committing, "the committer ended");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_transaction_fails_every_caller_and_the_next_append_works() {
        let fake = Fake {
            delay: Duration::from_millis(5),
            ..Fake::default()
        };
        fake.fail.store(true, Ordering::SeqCst);
        for handle in spawn_appends(&fake, 0..50) {
            let error = handle.await.unwrap().unwrap_err();
            assert!(matches!(error, StoreError::Unavailable(_)), "{error}");
            assert!(error.to_string().contains("disk full"), "{error}");
        }
        assert!(fake.sizes.lock().unwrap().is_empty());
        fake.fail.store(false, Ordering::SeqCst);
        let entry = append(&fake, draft(0), UNIX_EPOCH).await.unwrap();
        assert_eq!(entry.seq, 0);
    }

    /// A lone append whose caller goes away mid-commit hands the queued appends to a
    /// committer task, which commits them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cancelled_lone_append_hands_the_queue_over() {
        let fake = Fake {
            delay: Duration::from_millis(50),
            ..Fake::default()
        };
        let lone = spawn_appends(&fake, 0..1).pop().unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        let queued = spawn_appends(&fake, 1..6);
        tokio::time::sleep(Duration::from_millis(10)).await;
        lone.abort();
        assert!(lone.await.unwrap_err().is_cancelled());
        for handle in queued {
            handle.await.unwrap().unwrap();
        }
        assert_eq!(fake.sizes.lock().unwrap().iter().sum::<usize>(), 5);
    }
}
