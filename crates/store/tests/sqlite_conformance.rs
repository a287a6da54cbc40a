//! The conformance suite on SQLite, in memory and on disk (WAL, several connections).

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
