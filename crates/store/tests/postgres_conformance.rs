//! The conformance suite on PostgreSQL. Needs a server: `SHUIN_TEST_POSTGRES_URL` points
//! at a database the test may `CREATE DATABASE` from (`scripts/postgres-test-server` starts
//! one). Each test works in its own fresh database and drops it at the end. Without the
//! variable the tests print a note and pass, unless `SHUIN_REQUIRE_POSTGRES=1`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::postgres::PostgresStore;
use shuin_store::LedgerStore;
use sqlx::postgres::PgPoolOptions;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, UNIX_EPOCH};

/// The admin URL, or `None` (after a note) when PostgreSQL tests are skipped.
fn admin_url() -> Option<String> {
    match std::env::var("SHUIN_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("SHUIN_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "SHUIN_REQUIRE_POSTGRES=1 but SHUIN_TEST_POSTGRES_URL is unset \
                 (start a server with scripts/postgres-test-server)"
            );
            eprintln!("note: SHUIN_TEST_POSTGRES_URL is unset; skipping the PostgreSQL tests");
            None
        }
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..authority_end]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

/// A database created for one test, dropped by [`TestDb::drop_now`].
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    async fn create(admin: &str) -> TestDb {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        // RandomState is seeded randomly per process: a random suffix without a clock.
        let random = RandomState::new().build_hasher().finish();
        let name = format!(
            "shuin_test_{}_{}_{random:016x}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(admin)
            .await
            .unwrap();
        // The name is ours: letters, digits and underscores.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
        TestDb {
            admin: admin.to_owned(),
            url: with_database(admin, &name),
            name,
        }
    }

    async fn drop_now(self) {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect(&self.admin)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
}

fn draft(i: usize) -> EntryDraft {
    EntryDraft {
        book: Book::Application,
        kind: "test.entry".into(),
        actor: Actor {
            name: "tester".into(),
            role: "system".into(),
            zone: "secure".into(),
        },
        subjects: vec![format!("application:{i}")],
        payload: serde_json::json!({ "i": i }),
        evidence: vec![],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_passes_the_conformance_suite() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let result = shuin_store::conformance::run(&store).await;
    store.close().await;
    db.drop_now().await;
    result.unwrap();
}

/// Two stores (separate pools, as two processes would have) connect to one new database at
/// once (the schema is applied under a lock), then append concurrently: the appends
/// serialise on the `ledger_state` row, so the log stays contiguous and verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ledger_appends_serialise_across_pools() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let (a, b) = tokio::join!(
        PostgresStore::connect(&db.url),
        PostgresStore::connect(&db.url)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let time = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let run = |store: PostgresStore, offset: usize| async move {
        let mut seqs = Vec::new();
        for i in 0..20 {
            seqs.push(store.append(draft(offset + i), time).await?.seq);
        }
        Ok::<_, shuin_store::StoreError>(seqs)
    };
    let (sa, sb, sc, sd) = tokio::join!(
        tokio::spawn(run(a.clone(), 0)),
        tokio::spawn(run(a.clone(), 100)),
        tokio::spawn(run(b.clone(), 200)),
        tokio::spawn(run(b.clone(), 300)),
    );
    let rows = a.ledger_rows().await;
    let head = b.ledger_head().await;
    a.close().await;
    b.close().await;
    // A reconnect finds the schema in place.
    let again = PostgresStore::connect(&db.url).await;
    let head_again = match &again {
        Ok(store) => Some(store.ledger_head().await),
        Err(_) => None,
    };
    if let Ok(store) = &again {
        store.close().await;
    }
    db.drop_now().await;

    let mut seqs: Vec<u64> = [sa, sb, sc, sd]
        .into_iter()
        .flat_map(|r| r.unwrap().unwrap())
        .collect();
    seqs.sort_unstable();
    let (rows, head) = (rows.unwrap(), head.unwrap());
    again.unwrap();
    let head_again = head_again.unwrap().unwrap();
    assert_eq!(seqs, (0..80).collect::<Vec<u64>>());
    let head = head.unwrap();
    assert_eq!(head.size, 80);
    assert_eq!(head_again, Some(head.clone()));
    let report = shuin_ledger::verify_log(rows, Some(&head)).unwrap();
    assert_eq!(report.size, 80);
}

/// Two stores (as two processes) write pre-signed OCSP answers at once: the writers
/// serialise on an advisory lock, so numbers are given once and seen in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ocsp_writers_serialise_across_pools() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let a = PostgresStore::connect(&db.url).await.unwrap();
    let b = PostgresStore::connect(&db.url).await.unwrap();
    let result = shuin_store::conformance::ocsp_writers_serialise(&a, &b).await;
    a.close().await;
    b.close().await;
    db.drop_now().await;
    result.unwrap();
}

#[test]
fn with_database_replaces_only_the_path() {
    assert_eq!(
        with_database("postgres://u@127.0.0.1:5432/postgres", "x"),
        "postgres://u@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h:1?sslmode=disable", "x"),
        "postgres://u:p@h:1/x?sslmode=disable"
    );
}

/// 200 spawned appenders share group commits; then a transaction that fails (a trigger
/// refuses the insert) fails every append of its group and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_group_commit_is_all_or_nothing() {
    use shuin_store::LedgerReader;
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    let time = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let spawn_appends = |offset: usize| -> Vec<_> {
        (0..200)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move { store.append(draft(offset + i), time).await })
            })
            .collect()
    };
    let mut seqs = Vec::new();
    for handle in spawn_appends(0) {
        seqs.push(handle.await.unwrap().map(|e| e.seq));
    }
    let head = store.ledger_head().await;
    let admin_pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$; \
         CREATE TRIGGER refuse BEFORE INSERT ON ledger_entries \
         FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .execute(&admin_pool)
    .await
    .unwrap();
    let mut refused = Vec::new();
    for handle in spawn_appends(1000) {
        refused.push(handle.await.unwrap());
    }
    let size = store.ledger_size().await;
    let head_after = store.ledger_head().await;
    let rows = store.ledger_rows().await;
    admin_pool.close().await;
    store.close().await;
    db.drop_now().await;

    let mut seqs: Vec<u64> = seqs.into_iter().map(Result::unwrap).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..200).collect::<Vec<u64>>());
    for result in refused {
        assert!(
            matches!(result, Err(shuin_store::StoreError::Unavailable(_))),
            "{result:?}"
        );
    }
    assert_eq!(size.unwrap(), 200);
    let head = head.unwrap().unwrap();
    assert_eq!(head_after.unwrap(), Some(head.clone()));
    let report = shuin_ledger::verify_log(rows.unwrap(), Some(&head)).unwrap();
    assert_eq!(report.size, 200);
}

/// A reservation of serial `i` for key `key`.
fn reservation(i: usize, key: &str) -> shuin_store::CertificateRecord {
    shuin_store::CertificateRecord {
        serial: shuin_core::Serial::from_hex(&format!("7e{i:04x}")).unwrap(),
        application_id: format!("app-{i}"),
        key_fingerprint: key.to_owned(),
        tbs_sha256: "tbs".into(),
        state: shuin_store::CertificateState::Reserved,
        not_before: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        not_after: UNIX_EPOCH + Duration::from_secs(1_900_000_000),
        der: None,
    }
}

/// Two nodes (two pools) on one database: both try to reserve the same 50 serials (each
/// node with keys of its own), and both race for the same 50 keys (with serials of their
/// own); meanwhile 100 appenders on each node append to the ledger. Every serial and
/// every key goes to exactly one node, the loser gets a typed conflict, and the ledger
/// stays one linear chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_nodes_never_share_a_serial_or_fork_the_ledger() {
    use shuin_store::{CertificateWriter, ConflictKind, StoreError};
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let a = PostgresStore::connect(&db.url).await.unwrap();
    let b = PostgresStore::connect(&db.url).await.unwrap();
    let time = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let reserve = |store: PostgresStore, node: usize| async move {
        let mut outcomes = Vec::new();
        for i in 0..50 {
            // The same serial on both nodes, a key of this node's own.
            let same_serial = store
                .reserve(&reservation(i, &format!("key-{node}-{i}")))
                .await;
            // The same key on both nodes, a serial of this node's own.
            let same_key = store
                .reserve(&reservation(1000 * (node + 1) + i, &format!("shared-{i}")))
                .await;
            outcomes.push((same_serial, same_key));
        }
        outcomes
    };
    let appends = |store: &PostgresStore, node: usize| -> Vec<_> {
        (0..100)
            .map(|task| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut seqs = Vec::new();
                    for i in 0..3 {
                        let entry = store.append(draft(node * 10_000 + task * 10 + i), time);
                        seqs.push(entry.await?.seq);
                    }
                    Ok::<_, StoreError>(seqs)
                })
            })
            .collect()
    };
    let (appends_a, appends_b) = (appends(&a, 1), appends(&b, 2));
    let (ra, rb) = tokio::join!(
        tokio::spawn(reserve(a.clone(), 0)),
        tokio::spawn(reserve(b.clone(), 1))
    );
    let mut seqs = Vec::new();
    for handle in appends_a.into_iter().chain(appends_b) {
        seqs.push(handle.await.unwrap());
    }
    let rows = a.ledger_rows().await;
    let head = b.ledger_head().await;
    a.close().await;
    b.close().await;
    db.drop_now().await;

    for (i, (x, y)) in ra.unwrap().into_iter().zip(rb.unwrap()).enumerate() {
        for (one, other, what) in [(&x.0, &y.0, "serial"), (&x.1, &y.1, "key")] {
            let won = usize::from(one.is_ok()) + usize::from(other.is_ok());
            assert_eq!(won, 1, "{what} {i}: {one:?} / {other:?}");
            let lost = if one.is_ok() { other } else { one };
            let expected = if what == "serial" {
                ConflictKind::Serial
            } else {
                ConflictKind::Key
            };
            assert!(
                matches!(lost, Err(StoreError::Conflict(kind)) if *kind == expected),
                "{what} {i}: {lost:?}"
            );
        }
    }
    let mut seqs: Vec<u64> = seqs.into_iter().flat_map(Result::unwrap).collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (0..600).collect::<Vec<u64>>());
    let head = head.unwrap().unwrap();
    assert_eq!(head.size, 600);
    let report = shuin_ledger::verify_log(rows.unwrap(), Some(&head)).unwrap();
    assert_eq!(report.size, 600);
}

/// The binary's store type runs the same suite on PostgreSQL, opened from `[store]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_store_on_postgres_passes_the_conformance_suite() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let section = shuin_store::StoreSection::with_url(&db.url);
    let store = shuin_store::AnyStore::open(&section, dir.path()).await;
    let result = match &store {
        Ok(store) => shuin_store::conformance::run(store).await,
        Err(e) => Err(e.to_string()),
    };
    if let Ok(store) = &store {
        assert_eq!(store.backend(), "postgres");
        store.close().await;
    }
    db.drop_now().await;
    result.unwrap();
}

/// A database from another schema version is refused, and left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refuses_another_schema_version() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::create(&admin).await;
    PostgresStore::connect(&db.url).await.unwrap().close().await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&db.url)
        .await
        .unwrap();
    sqlx::raw_sql("UPDATE schema_version SET version = 99")
        .execute(&pool)
        .await
        .unwrap();
    let again = PostgresStore::connect(&db.url).await;
    let version: i64 = sqlx::query_scalar("SELECT version FROM schema_version")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    db.drop_now().await;
    let error = again.unwrap_err();
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
    assert_eq!(version, 99);
}

/// An unreachable server is a prompt, plain error (no panic, no pool timeout).
#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    // Port 1 on loopback: nothing listens there.
    let section = shuin_store::StoreSection::with_url("postgres://shuin@127.0.0.1:1/shuin");
    let started = std::time::Instant::now();
    let error = shuin_store::AnyStore::open(&section, std::path::Path::new("/nonexistent"))
        .await
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(10), "{error}");
    assert!(
        error.contains("postgres://shuin@127.0.0.1:1/shuin"),
        "{error}"
    );
    assert!(error.to_lowercase().contains("refused"), "{error}");
}
