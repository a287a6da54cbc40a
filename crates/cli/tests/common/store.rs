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

impl super::Instance {
    /// A second node of this instance: a copy of its directory (without the database
    /// file and the console socket) whose `[store]` names the same database (the same
    /// PostgreSQL database, or this node's SQLite file by absolute path), on a port of
    /// its own; not served yet. Its `jlis` is a stand-in: make cards with this node's.
    pub fn another_node(&self) -> super::Instance {
        let work = tempfile::tempdir().unwrap();
        let data = work.path().join("inst");
        copy_dir(&self.data, &data);
        if self.database.is_none() {
            let text = std::fs::read_to_string(data.join("shuin.toml")).unwrap();
            let shared = format!("url = \"sqlite:{}\"", self.data.join("shuin.db").display());
            assert!(text.contains("url = \"sqlite:shuin.db\""), "{text}");
            let text = text.replace("url = \"sqlite:shuin.db\"", &shared);
            std::fs::write(data.join("shuin.toml"), text).unwrap();
        }
        let port = super::free_port();
        super::Instance {
            work,
            data,
            base: format!("http://127.0.0.1:{port}"),
            jlis: shuin_testkit::SimulatedJlisCa::generate(super::now()).unwrap(),
            crl_path: self.crl_path.clone(),
            env: self.env.clone(),
            database: None,
            server: None,
        }
    }
}

/// Copies an instance directory, leaving out the SQLite files and the socket. The
/// instance may be serving: a file it replaces meanwhile (written to a temporary name,
/// then renamed) may be gone by the time it is copied, and is left out.
fn copy_dir(from: &Path, to: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if name_text.starts_with("shuin.db") || name_text == "admin.sock" {
            continue;
        }
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&entry.path(), &to.join(&name));
        } else if kind.is_file() {
            match std::fs::copy(entry.path(), to.join(&name)) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("copying {}: {e}", entry.path().display()),
            }
        }
    }
}
