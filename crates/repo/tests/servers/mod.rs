//! Real S3 (moto) and LDAP (slapd) servers for publisher tests, on loopback ports,
//! killed on drop. Each start function returns `None` (with a note) when the program is
//! missing, unless SHUIN_REQUIRE_MOTO=1 / SHUIN_REQUIRE_SLAPD=1 makes that a failure.
//! Also used by the `shuin` end-to-end tests (`#[path]`).

// Test support code: panicking on a broken fixture is the right failure.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub const LDAP_SUFFIX: &str = "dc=example,dc=jp";
pub const LDAP_ADMIN: &str = "cn=admin,dc=example,dc=jp";
pub const LDAP_PASSWORD: &str = "slapd-test-secret";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn required(env: &str) -> bool {
    std::env::var_os(env).is_some_and(|v| v == "1")
}

fn missing<T>(what: &str, env: &str) -> Option<T> {
    assert!(
        !required(env),
        "{what} is required ({env}=1) but was not found"
    );
    eprintln!("note: {what} not found; skipping (set {env}=1 to require it)");
    None
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn wait_for_port(port: u16, child: &mut Child, what: &str, log: &Path) {
    for _ in 0..300 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{what} exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on port {port}");
}

/// A child process killed on drop, with its scratch directory.
struct Server {
    child: Child,
    _work: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `moto_server` on a loopback port.
pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    _server: Server,
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let Some(program) = on_path("moto_server") else {
            return missing(
                "moto_server (pip install 'moto[server]')",
                "SHUIN_REQUIRE_MOTO",
            );
        };
        let work = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = work.path().join("moto.log");
        let mut child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, "moto_server", &log);
        Some(Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            _server: Server { child, _work: work },
        })
    }

    /// Creates a bucket with an unsigned path-style PUT (moto accepts those).
    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.http("PUT", &format!("/{bucket}"));
        assert_eq!(status, 200, "creating bucket {bucket}: {body:?}");
    }

    /// Reads an object back with object_store; `None` if it does not exist (yet).
    pub async fn read(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .with_allow_http(true)
            .build()
            .unwrap();
        match store.get(&object_store::path::Path::from(key)).await {
            Ok(result) => Some(result.bytes().await.unwrap().to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading s3://{bucket}/{key}: {e}"),
        }
    }

    fn http(&self, method: &str, path: &str) -> (u16, Vec<u8>) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let split = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("an HTTP response");
        let head = String::from_utf8_lossy(&response[..split]).to_string();
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap();
        assert!(
            !head
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "chunked answers are not handled here"
        );
        (status, response[split + 4..].to_vec())
    }
}

/// `slapd` in the foreground from a generated slapd.conf, with the suffix entry loaded.
pub struct Slapd {
    pub url: String,
    pub port: u16,
    _server: Server,
}

fn slapd_program(name: &str) -> Option<PathBuf> {
    on_path(name).or_else(|| {
        let sbin = Path::new("/usr/sbin").join(name);
        sbin.is_file().then_some(sbin)
    })
}

impl Slapd {
    pub fn start() -> Option<Slapd> {
        let (Some(slapd), Some(slapadd)) = (slapd_program("slapd"), slapd_program("slapadd"))
        else {
            return missing(
                "slapd (apt-get install slapd ldap-utils)",
                "SHUIN_REQUIRE_SLAPD",
            );
        };
        let work = tempfile::tempdir().unwrap();
        let dir = work.path();
        std::fs::create_dir(dir.join("db")).unwrap();
        let module_path = ["/usr/lib/ldap", "/usr/lib64/openldap", "/usr/lib/openldap"]
            .into_iter()
            .find(|p| Path::new(p).join("back_mdb.so").exists())
            .unwrap_or("/usr/lib/ldap");
        let config = format!(
            "include /etc/ldap/schema/core.schema\n\
             include /etc/ldap/schema/cosine.schema\n\
             include /etc/ldap/schema/inetorgperson.schema\n\
             pidfile {dir}/slapd.pid\n\
             argsfile {dir}/slapd.args\n\
             modulepath {module_path}\n\
             moduleload back_mdb\n\
             database mdb\n\
             maxsize 104857600\n\
             suffix \"{LDAP_SUFFIX}\"\n\
             rootdn \"{LDAP_ADMIN}\"\n\
             rootpw {LDAP_PASSWORD}\n\
             directory {dir}/db\n",
            dir = dir.display()
        );
        let config_path = dir.join("slapd.conf");
        std::fs::write(&config_path, config).unwrap();
        let base = format!(
            "dn: {LDAP_SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n"
        );
        std::fs::write(dir.join("base.ldif"), base).unwrap();
        let loaded = Command::new(slapadd)
            .arg("-f")
            .arg(&config_path)
            .arg("-l")
            .arg(dir.join("base.ldif"))
            .output()
            .unwrap();
        assert!(
            loaded.status.success(),
            "slapadd: {}",
            String::from_utf8_lossy(&loaded.stderr)
        );
        let port = free_port();
        let url = format!("ldap://127.0.0.1:{port}");
        let log = dir.join("slapd.log");
        let mut child = Command::new(slapd)
            .arg("-f")
            .arg(&config_path)
            .args(["-h", &format!("{url}/"), "-d", "0"])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_for_port(port, &mut child, "slapd", &log);
        Some(Slapd {
            url,
            port,
            _server: Server { child, _work: work },
        })
    }

    /// Reads `attribute` (with `;binary`) of `dn` with ldap3: every value.
    pub async fn read(&self, dn: &str, attribute: &str) -> Vec<Vec<u8>> {
        use ldap3::{LdapConnAsync, Scope, SearchEntry};
        let (conn, mut ldap) = LdapConnAsync::new(&self.url).await.unwrap();
        let driver = tokio::spawn(conn.drive());
        ldap.simple_bind(LDAP_ADMIN, LDAP_PASSWORD)
            .await
            .unwrap()
            .success()
            .unwrap();
        let found = ldap
            .search(dn, Scope::Base, "(objectClass=*)", vec![attribute])
            .await
            .unwrap();
        let _ = ldap.unbind().await;
        driver.abort();
        if found.1.rc == 32 {
            return Vec::new(); // noSuchObject: not created yet
        }
        let (entries, _) = found.success().unwrap();
        let entry = SearchEntry::construct(entries.into_iter().next().expect("the entry"));
        entry
            .bin_attrs
            .get(attribute)
            .cloned()
            .or_else(|| {
                entry
                    .attrs
                    .get(attribute)
                    .map(|v| v.iter().map(|s| s.as_bytes().to_vec()).collect())
            })
            .unwrap_or_default()
    }

    /// `ldapsearch -LLL -o ldif-wrap=no` of one attribute, decoded from base64; `None`
    /// when ldapsearch is not installed.
    pub fn ldapsearch(&self, dn: &str, attribute: &str) -> Option<Vec<u8>> {
        use base64::Engine;
        let output = match Command::new("ldapsearch")
            .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url])
            .args([
                "-D",
                LDAP_ADMIN,
                "-w",
                LDAP_PASSWORD,
                "-s",
                "base",
                "-b",
                dn,
            ])
            .arg(attribute)
            .output()
        {
            Ok(output) => output,
            Err(_) => {
                eprintln!("note: ldapsearch not found; skipping that check");
                return None;
            }
        };
        assert!(
            output.status.success(),
            "ldapsearch: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        let prefix = format!("{attribute}:: ");
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {attribute} in {text}"));
        Some(
            base64::engine::general_purpose::STANDARD
                .decode(line.trim())
                .unwrap(),
        )
    }
}
