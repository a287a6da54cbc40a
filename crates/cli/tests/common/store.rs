//! The store the test instances use. SQLite (`DIR/shuin.db`) by default; PostgreSQL when
//! `SHUIN_TEST_STORE=postgres`, with `SHUIN_TEST_POSTGRES_URL` the admin URL of a
//! throwaway server (`scripts/postgres-test-server`). Each instance then gets a database
//! of its own, created before `shuin init --store-url` and dropped with the instance.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// The admin URL when the instances run on PostgreSQL.
pub fn postgres_admin() -> Option<String> {
    match std::env::var("SHUIN_TEST_STORE").as_deref() {
        Ok("postgres") => {}
        Ok("sqlite") | Ok("") | Err(_) => return None,
        Ok(other) => panic!("SHUIN_TEST_STORE={other}: expected sqlite or postgres"),
    }
    let url = std::env::var("SHUIN_TEST_POSTGRES_URL").unwrap_or_default();
    assert!(
        !url.is_empty(),
        "SHUIN_TEST_STORE=postgres needs SHUIN_TEST_POSTGRES_URL (scripts/postgres-test-server)"
    );
    Some(url)
}

/// Whether the instances of this run are on PostgreSQL.
pub fn on_postgres() -> bool {
    postgres_admin().is_some()
}

/// A database of one test instance, dropped (with its connections) on drop.
pub struct TestDatabase {
    admin: String,
    name: String,
    /// The URL the instance uses (`[store] url`).
    pub url: String,
}

impl TestDatabase {
    /// A new, empty database on the server of `admin`.
    pub fn create(admin: &str) -> TestDatabase {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "shuin_e2e_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        psql(admin, &format!("CREATE DATABASE {name}"));
        TestDatabase {
            url: with_database(admin, &name),
            admin: admin.to_owned(),
            name,
        }
    }

    /// Runs `sql` in this database (psql, stopping at the first error).
    pub fn sql(&self, sql: &str) -> Output {
        psql(&self.url, sql)
    }

    /// The server's TCP port.
    pub fn port(&self) -> u16 {
        let authority = self.url.split("://").nth(1).unwrap_or_default();
        let host_port = authority.split('/').next().unwrap_or_default();
        host_port
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(5432)
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", &self.admin, "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// `psql -d url -c sql`, asserting success.
fn psql(url: &str, sql: &str) -> Output {
    let out = Command::new("psql")
        .args(["-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .expect("psql (the postgresql-client package) runs");
    assert!(
        out.status.success(),
        "psql {sql:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
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

/// Opens the store of the instance in `data` as the binary does (`[store]` of its
/// shuin.toml), for tests that write into it behind the server's back.
pub async fn open_instance_store(data: &Path) -> shuin_store::AnyStore {
    #[derive(serde::Deserialize)]
    struct StoreOnly {
        #[serde(default)]
        store: shuin_store::StoreSection,
    }
    let text = std::fs::read_to_string(data.join("shuin.toml")).unwrap();
    let section = toml::from_str::<StoreOnly>(&text).unwrap().store;
    shuin_store::AnyStore::open(&section, data).await.unwrap()
}
