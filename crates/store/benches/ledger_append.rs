//! Ledger appends per second under concurrency, on a durable SQLite file (WAL,
//! `synchronous=FULL`) in a temporary directory, and on PostgreSQL when
//! `SHUIN_TEST_POSTGRES_URL` is set (a fresh database is created and dropped). Run:
//! `cargo bench -p shuin-store --bench ledger_append`
//! (`APPENDS=N` appends per concurrent run, `TASKS=64,256`, `BASELINE=N` one-at-a-time
//! appends).
//!
//! Prints one line per run:
//! `ledger_append: backend=sqlite tasks=1 appends=.. seconds=.. appends_per_second=..`;
//! `tasks=1` is the one-at-a-time baseline (each append waits for its own commit).
//! After each run the whole log is read back and verified.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::postgres::PostgresStore;
use shuin_store::sqlite::SqliteStore;
use shuin_store::LedgerStore;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn task_counts() -> Vec<u64> {
    std::env::var("TASKS")
        .ok()
        .map(|v| v.split(',').filter_map(|t| t.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![64, 256])
}

/// An entry of the size the application book writes.
fn draft(task: u64, i: u64) -> EntryDraft {
    EntryDraft {
        book: Book::Application,
        kind: "application.accepted".into(),
        actor: Actor {
            name: "shuin-ra".into(),
            role: "responsible_person".into(),
            zone: "secure".into(),
        },
        subjects: vec![format!("application:01JBENCH{task:06}{i:08}")],
        payload: serde_json::json!({
            "decision": "automatic",
            "policy": "individual-signing",
            "checks": ["card_chain", "card_crl", "name_match", "key_unused"],
            "task": task,
            "i": i,
        }),
        evidence: vec![format!(
            "sha256:{:064x}",
            u128::from(task) << 64 | u128::from(i)
        )],
    }
}

fn per_second(count: u64, seconds: f64) -> f64 {
    f64::from(u32::try_from(count).unwrap_or(u32::MAX)) / seconds
}

/// Appends `appends` entries from `tasks` concurrent tasks and returns the seconds taken.
async fn run<S: LedgerStore + 'static>(store: Arc<S>, tasks: u64, appends: u64) -> f64 {
    let time = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let each = appends / tasks;
    let started = Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    store.append(draft(task, i), time).await.unwrap();
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

async fn check<S: LedgerStore>(store: &S, expected: u64) {
    let rows = store.ledger_rows().await.unwrap();
    let head = store.ledger_head().await.unwrap().unwrap();
    let report = shuin_ledger::verify_log(rows, Some(&head)).unwrap();
    assert_eq!(report.size, expected, "every append is in the verified log");
}

async fn bench<S: LedgerStore + 'static>(backend: &str, store: Arc<S>) {
    let appends = env_number("APPENDS", 50_000);
    let baseline = env_number("BASELINE", 500);
    let mut total = 0;
    let mut runs = vec![(1, baseline)];
    runs.extend(
        task_counts()
            .into_iter()
            .map(|t| (t, appends - appends % t)),
    );
    let mut baseline_rate = None;
    for (tasks, count) in runs {
        let seconds = run(store.clone(), tasks, count).await;
        total += count;
        check(store.as_ref(), total).await;
        let rate = per_second(count, seconds);
        let ratio = baseline_rate.map_or(String::new(), |b: f64| {
            format!(" ratio_to_one_at_a_time={:.1}", rate / b)
        });
        baseline_rate.get_or_insert(rate);
        println!(
            "ledger_append: backend={backend} tasks={tasks} appends={count} seconds={seconds:.3} appends_per_second={rate:.0}{ratio}"
        );
    }
}

async fn postgres(admin: &str) {
    let name = format!("shuin_bench_{}", std::process::id());
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
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let authority_end = base
        .find("://")
        .map(|s| s + 3)
        .and_then(|s| base[s..].find('/').map(|i| s + i))
        .unwrap_or(base.len());
    let mut url = format!("{}/{name}", &base[..authority_end]);
    if !query.is_empty() {
        url = format!("{url}?{query}");
    }
    let store = Arc::new(PostgresStore::connect(&url).await.unwrap());
    bench("postgres", store.clone()).await;
    store.close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("shuin.db"))
                .await
                .unwrap(),
        );
        bench("sqlite", store.clone()).await;
        store.close().await;
        match std::env::var("SHUIN_TEST_POSTGRES_URL") {
            Ok(admin) if !admin.is_empty() => postgres(&admin).await,
            _ => eprintln!("note: SHUIN_TEST_POSTGRES_URL is unset; PostgreSQL not measured"),
        }
    });
}
