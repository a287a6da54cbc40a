//! The conformance suite on SQLite, in memory and on disk (WAL, several connections).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shuin_store::sqlite::SqliteStore;

#[tokio::test]
async fn sqlite_in_memory_passes_the_conformance_suite() {
    let store = SqliteStore::in_memory().await.unwrap();
    shuin_store::conformance::run(&store).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_file_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("shuin.db"))
        .await
        .unwrap();
    shuin_store::conformance::run(&store).await.unwrap();
}

fn draft(i: u64) -> shuin_ledger::EntryDraft {
    shuin_ledger::EntryDraft {
        book: shuin_ledger::Book::Facility,
        kind: "test.group".into(),
        actor: shuin_ledger::Actor {
            name: "tester".into(),
            role: "system".into(),
            zone: "secure".into(),
        },
        subjects: vec![],
        payload: serde_json::json!({ "i": i }),
        evidence: vec![],
    }
}

/// `tasks` spawned tasks append `each` entries apiece to `store`; returns every seq.
async fn append_from_tasks(store: &SqliteStore, tasks: u64, each: u64) -> Vec<u64> {
    use shuin_store::LedgerStore;
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut seqs = Vec::new();
                for i in 0..each {
                    seqs.push(store.append(draft(task * 1000 + i), time).await?.seq);
                }
                Ok::<_, shuin_store::StoreError>(seqs)
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for handle in handles {
        seqs.extend(handle.await.unwrap().unwrap());
    }
    seqs
}

/// Two stores on one file (separate pools, as two processes would have) each run 100
/// concurrent appenders: group commits from both serialise on `BEGIN IMMEDIATE`, so the
/// log stays contiguous and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_group_commits_serialise_across_pools() {
    use shuin_store::LedgerStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shuin.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    let (sa, sb) = tokio::join!(append_from_tasks(&a, 100, 3), append_from_tasks(&b, 100, 3));
    let mut seqs: Vec<u64> = sa.into_iter().chain(sb).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..600).collect::<Vec<u64>>());
    let head = b.ledger_head().await.unwrap().unwrap();
    let report = shuin_ledger::verify_log(a.ledger_rows().await.unwrap(), Some(&head)).unwrap();
    assert_eq!(report.size, 600);
}

/// A transaction that fails (here a trigger refuses the insert) fails every append of
/// its group, writes nothing, and the next append works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_group_commit_fails_every_caller() {
    use shuin_store::{LedgerReader, LedgerStore};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shuin.db");
    let store = SqliteStore::open(&path).await.unwrap();
    append_from_tasks(&store, 1, 1).await;
    let head = store.ledger_head().await.unwrap();
    let admin = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TRIGGER refuse BEFORE INSERT ON ledger_entries \
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
    )
    .execute(&admin)
    .await
    .unwrap();
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append(draft(i), time).await })
        })
        .collect();
    for handle in handles {
        let result = handle.await.unwrap();
        assert!(
            matches!(result, Err(shuin_store::StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
    assert_eq!(store.ledger_size().await.unwrap(), 1);
    assert_eq!(store.ledger_head().await.unwrap(), head);
    sqlx::raw_sql("DROP TRIGGER refuse")
        .execute(&admin)
        .await
        .unwrap();
    assert_eq!(append_from_tasks(&store, 1, 1).await, vec![1]);
    let head = store.ledger_head().await.unwrap().unwrap();
    let report = shuin_ledger::verify_log(store.ledger_rows().await.unwrap(), Some(&head)).unwrap();
    assert_eq!(report.size, 2);
}

/// The binary's store type, opened from `[store]` (the default URL), runs the suite, and
/// a new database file is owner-only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_store_on_sqlite_passes_the_conformance_suite() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = shuin_store::AnyStore::open(&shuin_store::StoreSection::default(), dir.path())
        .await
        .unwrap();
    assert_eq!(store.backend(), "sqlite");
    shuin_store::conformance::run(&store).await.unwrap();
    let mode = std::fs::metadata(dir.path().join("shuin.db"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// A database file from another schema version is refused, and left as it was.
#[tokio::test]
async fn sqlite_refuses_another_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shuin.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    let admin = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
        .await
        .unwrap();
    sqlx::raw_sql("UPDATE schema_version SET version = 99")
        .execute(&admin)
        .await
        .unwrap();
    let error = SqliteStore::open(&path).await.unwrap_err();
    assert!(
        matches!(
            error,
            shuin_store::StoreError::SchemaVersion {
                found: 99,
                expected: 1
            }
        ),
        "{error}"
    );
}

/// Two stores on one file (as two processes) write pre-signed OCSP answers at once: the
/// writers serialise on `BEGIN IMMEDIATE`, so numbers are given once and seen in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_ocsp_writers_serialise_across_pools() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shuin.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    shuin_store::conformance::ocsp_writers_serialise(&a, &b)
        .await
        .unwrap();
}
