//! A real `shuin` instance for end-to-end tests: a simulated J-LIS CA and cards from the
//! testkit, `shuin init` and `shuin serve` run as child processes, HTTP over loopback.

// Test support code: panicking on a broken fixture is the right failure.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod first_ceremony;
pub mod load;
pub mod operators;
pub mod store;
pub mod tls;
pub use operators::ADMIN;

use base64::Engine;
use serde_json::Value;
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_testkit::{CardSpec, SimulatedJlisCa, TestCard};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

pub const NAME: &str = "山田　太郎";
pub const BIRTH: &str = "1990-01-02";
pub const ADDRESS: &str = "東京都千代田区霞が関一丁目1番1号";
pub const POLICY: &str = "1.3.6.1.4.1.32473.1.1";

/// The per-client limit the tests run with (`[server.limits]`).
pub const LOOSE_LIMITS: &str =
    "\n[server.limits]\napplicant_burst = 1000.0\napplicant_per_second = 100.0\n";

pub fn shuin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_shuin"))
}

/// Asserts that `shuin ledger verify` passes on the instance at `data`.
#[track_caller]
pub fn assert_books_verify(data: &Path) {
    let out = shuin()
        .args(["ledger", "verify", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ledger verify {}: {}",
        data.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `shuin ARGS --json --data DATA`, asserting success: its JSON answer.
#[track_caller]
/// `shuin ledger export --data DATA --out OUT`, asserted to succeed; the exported
/// entries.
pub fn export_entries(data: &Path, out: &Path) -> Vec<Value> {
    let done = shuin()
        .args(["ledger", "export", "--out"])
        .arg(out)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap();
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    std::fs::read_to_string(out.join("entries.jsonl"))
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Replaces `path` with `bytes` at once (a new file renamed over it), as the outside job
/// that refreshes a J-LIS CRL does: a reader never sees it half written.
pub fn replace_file(path: &Path, bytes: &[u8]) {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, path).unwrap();
}

pub fn json_answer(args: &[&str], data: &Path) -> Value {
    let out = shuin()
        .args(args)
        .args(["--json", "--data"])
        .arg(data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "shuin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
    SystemTime::now()
}

/// A port nothing listens on now, for a server a test starts. Taken from 20000-31999,
/// below the kernel's ephemeral range (32768 and up by default), so that no outgoing
/// connection of another test takes it meanwhile, and spread by process id (nextest runs
/// each test in a process of its own), so that two tests rarely try the same one.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let spread = (std::process::id() % 600) * 20;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(20_000 + (spread + n) % 12_000).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

/// A running instance; the server is killed on drop.
pub struct Instance {
    pub work: tempfile::TempDir,
    pub data: PathBuf,
    pub base: String,
    pub jlis: SimulatedJlisCa,
    pub crl_path: PathBuf,
    /// Environment for the `shuin` children (e.g. `SOFTHSM2_CONF`).
    pub env: Vec<(String, std::ffi::OsString)>,
    /// The instance's PostgreSQL database (`SHUIN_TEST_STORE=postgres`); `None` on
    /// SQLite. Dropped after the server stops (fields drop after `Drop::drop`).
    pub database: Option<store::TestDatabase>,
    server: Option<Child>,
}

impl Instance {
    /// A J-LIS-like CA, its CRL listing `revoked`, `shuin init` and `shuin serve`.
    pub fn start(revoked: &[&TestCard], jlis: SimulatedJlisCa) -> Instance {
        let mut instance = Self::init_with(
            revoked,
            jlis,
            &["--key-backend".into(), "software".into()],
            vec![],
        );
        instance.serve();
        instance
    }

    /// `shuin init` with `backend_args` (the key backend options), not served yet.
    /// `env` is given to `init` and to every later `serve`.
    pub fn init_with(
        revoked: &[&TestCard],
        jlis: SimulatedJlisCa,
        backend_args: &[std::ffi::OsString],
        env: Vec<(String, std::ffi::OsString)>,
    ) -> Instance {
        Self::init_with_custodians(revoked, jlis, backend_args, env, &[])
    }

    /// As [`Instance::init_with_custodians`], with a key file for the first admin.
    pub fn init_with_custodians(
        revoked: &[&TestCard],
        jlis: SimulatedJlisCa,
        backend_args: &[std::ffi::OsString],
        env: Vec<(String, std::ffi::OsString)>,
        custodians: &[&str],
    ) -> Instance {
        Self::init_full(revoked, jlis, backend_args, env, None, custodians)
    }

    /// As [`Instance::init_with`], with `custodians` enrolled at init (`--custodian-csr`,
    /// each with a key file under WORK/operators; give `--custodians` in `backend_args`
    /// too) and the first admin's CSR from `admin_csr` (a key file for [`ADMIN`] when
    /// `None`).
    pub fn init_full(
        revoked: &[&TestCard],
        jlis: SimulatedJlisCa,
        backend_args: &[std::ffi::OsString],
        env: Vec<(String, std::ffi::OsString)>,
        admin_csr: Option<&Path>,
        custodians: &[&str],
    ) -> Instance {
        let work = tempfile::tempdir().unwrap();
        let anchor = work.path().join("jlis-ca.pem");
        std::fs::write(&anchor, jlis.cert_pem().unwrap()).unwrap();
        let crl_path = work.path().join("jlis.crl");
        let serials: Vec<Vec<u8>> = revoked.iter().map(|c| c.serial().unwrap()).collect();
        let t = now();
        std::fs::write(
            &crl_path,
            jlis.crl_der(&serials, t, t + Duration::from_secs(86_400))
                .unwrap(),
        )
        .unwrap();
        let data = work.path().join("inst");
        let admin_csr = match admin_csr {
            Some(path) => path.to_owned(),
            None => {
                let path = work.path().join("admin.csr");
                std::fs::write(&path, operators::make_key(work.path(), ADMIN)).unwrap();
                path
            }
        };
        // On a token, the first key ceremony makes the root and issuing keys; it needs
        // at least one custodian.
        let on_kms = backend_args.iter().any(|a| a == "awskms");
        let on_token = on_kms || backend_args.iter().any(|a| a == "pkcs11");
        let custodians: Vec<&str> = if on_token && custodians.is_empty() {
            vec![first_ceremony::CEREMONY_CUSTODIAN]
        } else {
            custodians.to_vec()
        };
        let mut custodian_args: Vec<std::ffi::OsString> = Vec::new();
        for (i, name) in custodians.iter().enumerate() {
            let path = work.path().join(format!("custodian-{i}.csr"));
            std::fs::write(&path, operators::make_key(work.path(), name)).unwrap();
            custodian_args.push("--custodian-csr".into());
            custodian_args.push(path.into());
        }
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let database = store::postgres_admin().map(|admin| store::TestDatabase::create(&admin));
        let store_args: Vec<&str> = match &database {
            Some(database) => vec!["--store-url", &database.url],
            None => Vec::new(),
        };
        let init_command = || {
            let mut command = shuin();
            command
                .args(["init", "--data"])
                .arg(&data)
                .args(backend_args)
                .args(&store_args)
                .envs(env.iter().map(|(k, v)| (k, v)))
                .arg("--jpki-trust-anchor")
                .arg(&anchor)
                .arg("--jpki-crl")
                .arg(&crl_path)
                .arg("--first-admin-csr")
                .arg(&admin_csr)
                .args(&custodian_args)
                .args([
                    "--public-url",
                    &base,
                    "--policy-oid",
                    POLICY,
                    "--responsible-person",
                    "責任者 花子",
                ]);
            command
        };
        let ceremony_args = if on_token {
            // moto's KMS signs P-384 wrongly (docs/keys.md): a P-256 root there.
            let root = if on_kms { "p256" } else { "p384" };
            first_ceremony::first_ceremony_args(work.path(), &init_command, &custodians, root)
        } else {
            Vec::new()
        };
        let status = init_command()
            .args(&ceremony_args)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "shuin init failed");
        assert_eq!(
            data.join("shuin.db").exists(),
            database.is_none(),
            "the instance's database is where SHUIN_TEST_STORE says"
        );
        let instance = Instance {
            work,
            data,
            base,
            jlis,
            crl_path,
            env,
            database,
            server: None,
        };
        // Every request of a test comes from one address: the per-client limit is
        // raised here (e2e_limits puts the default back).
        instance.append_config(LOOSE_LIMITS);
        instance
    }

    /// Appends `text` to the instance's shuin.toml (before `serve`), for example
    /// `[[publishers]]` tables.
    pub fn append_config(&self, text: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("shuin.toml"))
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    /// Runs `sql` on the instance's database: psql on PostgreSQL, the sqlite3 tool on
    /// SQLite (`None` when that tool is missing and not required by
    /// `SHUIN_REQUIRE_SQLITE3`). The text must suit both dialects.
    pub fn sql(&self, sql: &str) -> Option<std::process::Output> {
        if let Some(database) = &self.database {
            return Some(database.sql(sql));
        }
        let db = self.data.join("shuin.db");
        let out = external(
            "sqlite3",
            "SHUIN_REQUIRE_SQLITE3",
            &["-cmd", ".timeout 5000", db.to_str().unwrap(), sql],
        )?;
        assert!(
            out.status.success(),
            "sqlite3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(out)
    }

    /// Replaces `from` by `to` in the instance's shuin.toml (before `serve`).
    pub fn edit_config(&self, from: &str, to: &str) {
        let path = self.data.join("shuin.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "shuin.toml has no {from:?}");
        std::fs::write(&path, text.replace(from, to)).unwrap();
    }

    pub fn serve(&mut self) {
        let log = std::fs::File::create(self.work.path().join("serve.log")).unwrap();
        let child = shuin()
            .args(["serve", "--data"])
            .arg(&self.data)
            .args(["--listen", self.base.trim_start_matches("http://")])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.server = Some(child);
        for _ in 0..200 {
            if get(&format!("{}/healthz", self.base)).0 == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the server did not come up: {}",
            std::fs::read_to_string(self.work.path().join("serve.log")).unwrap_or_default()
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// Kills the server with SIGKILL (no shutdown of any kind) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.server.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn alive(&mut self) -> bool {
        self.server
            .as_mut()
            .is_some_and(|c| c.try_wait().unwrap().is_none())
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn challenge(&self) -> Value {
        let (status, body) = post(&self.url("/api/v1/challenges"), "application/json", b"");
        assert_eq!(status, 201, "{body}");
        serde_json::from_str(&body).unwrap()
    }

    /// An application document for `key` with a fresh challenge.
    pub fn document(&self, key: &dyn Signer, name: &str, birth: &str, address: &str) -> Value {
        let challenge = self.challenge();
        let csr = shuin_client::build_csr(key).unwrap();
        serde_json::json!({
            "format": "shuin-application/1",
            "kind": "new",
            "nonce": challenge["nonce"],
            "terms_sha256": challenge["terms_sha256"],
            "applicant": {"name": name, "birth_date": birth, "address": address, "gender": "1"},
            "csr": base64::engine::general_purpose::STANDARD.encode(csr),
        })
    }

    /// Signs `document` with `card` and submits it.
    pub fn submit(&self, card: &TestCard, document: &Value) -> (u16, Value) {
        let cms = card
            .sign_application(document.to_string().as_bytes())
            .unwrap();
        self.submit_raw("application/pkcs7-mime", &cms)
    }

    pub fn submit_raw(&self, content_type: &str, body: &[u8]) -> (u16, Value) {
        self.submit_raw_to("/api/v1/applications", content_type, body)
    }

    pub fn submit_raw_to(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
        let (status, text) = post(&self.url(path), content_type, body);
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The whole valid flow with a new key of `spec`.
    pub fn apply(&self, card: &TestCard, name: &str, birth: &str, address: &str) -> (u16, Value) {
        let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
        let document = self.document(&key, name, birth, address);
        self.submit(card, &document)
    }

    /// Writes an issued answer's certificate to `WORK/cert.pem`, fetches the root and
    /// issuing CA certificates from the repository (`root.pem`, `ca.pem`), and checks the
    /// chain with `openssl verify` (when openssl is present or required). Returns the
    /// path of `cert.pem`.
    pub fn verify_issued(&self, answer: &Value) -> std::path::PathBuf {
        let dir = self.work.path();
        let cert = dir.join("cert.pem");
        std::fs::write(&cert, answer["certificate_pem"].as_str().unwrap()).unwrap();
        self.repository_pem("/repository/root.crt", &dir.join("root.pem"));
        self.repository_pem("/repository/ca.crt", &dir.join("ca.pem"));
        let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
        if let Some(out) = external(
            "openssl",
            "SHUIN_REQUIRE_OPENSSL",
            &[
                "verify",
                "-CAfile",
                &p("root.pem"),
                "-untrusted",
                &p("ca.pem"),
                &p("cert.pem"),
            ],
        ) {
            assert!(
                out.status.success(),
                "openssl verify: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        cert
    }

    pub fn repository_pem(&self, path: &str, out: &Path) {
        let der = get_bytes(&self.url(path));
        std::fs::write(
            out,
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap(),
        )
        .unwrap();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn card(jlis: &SimulatedJlisCa, edit: impl FnOnce(&mut CardSpec)) -> TestCard {
    let mut spec = CardSpec::signing(NAME, BIRTH, ADDRESS, now());
    edit(&mut spec);
    jlis.issue_card(&spec).unwrap()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

pub fn get(url: &str) -> (u16, String) {
    match agent().get(url).call() {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

pub fn get_bytes(url: &str) -> Vec<u8> {
    let mut r = agent().get(url).call().unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r.body_mut().read_to_vec().unwrap()
}

pub fn post(url: &str, content_type: &str, body: &[u8]) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    if status >= 400 {
        assert_eq!(
            content_type, "application/problem+json",
            "errors are problem documents: {text}"
        );
    }
    (status, text)
}

/// Asserts a problem answer.
#[track_caller]
pub fn assert_problem(answer: &(u16, Value), status: u16, code: &str) {
    assert_eq!(
        answer.0, status,
        "expected {status} {code}, got {} {}",
        answer.0, answer.1
    );
    assert_eq!(answer.1["code"], code, "{}", answer.1);
    assert_eq!(answer.1["type"], format!("urn:shuin:problem:{code}"));
}

/// Runs `tool args` if the tool exists; `None` if it does not (and it is not required).
pub fn external(tool: &str, required_env: &str, args: &[&str]) -> Option<std::process::Output> {
    match Command::new(tool).args(args).output() {
        Ok(output) => Some(output),
        Err(_) if std::env::var_os(required_env).is_none() => {
            eprintln!(
                "note: {tool} not found; skipping that check (set {required_env}=1 to require it)"
            );
            None
        }
        Err(e) => panic!("{tool} is required ({required_env} is set): {e}"),
    }
}

/// An instance's keys in the AWS KMS at `endpoint` (moto): the `init` arguments, and the
/// environment that gives the credentials (`secret`) through the standard AWS chain.
pub fn kms_instance(
    endpoint: &str,
    secret: &str,
) -> (Vec<std::ffi::OsString>, Vec<(String, std::ffi::OsString)>) {
    let args = [
        "--key-backend",
        "awskms",
        "--kms-region",
        "ap-northeast-1",
        "--kms-endpoint",
        endpoint,
    ];
    let env = vec![
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), secret.into()),
    ];
    (args.iter().map(Into::into).collect(), env)
}
