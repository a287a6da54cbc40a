//! End to end, as the README's production walkthrough: an instance on SoftHSM2 with 2-of-3
//! custodians and a first admin whose key is on a token of their own. The admin enrols
//! an LRA (key file) and a responsible person (token). Unseal, revocation, review
//! approval, automation suspend/resume and a CRL now all go through the running,
//! unsealed server as signed requests; no PIN file is in or beside the instance; every
//! action is in the books with a signature that `ledger verify --export` re-checks.
//! Then every impersonation is refused and ledgered within bounds, and no state-changing
//! command opens the database (strace). Skipped without SoftHSM2 unless
//! SHUIN_REQUIRE_SOFTHSM=1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use base64::Engine;
use serde_json::{json, Value};
use shuin_books::request::{key_sha256, OperatorRequest, SignedRequest, REQUEST_FORMAT};
use shuin_keys::softhsm::{module_for_tests, SoftHsmToken};
use shuin_keys::Signer;
use shuin_testkit::SimulatedJlisCa;
use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const CA_PIN: &str = "ca-pin-5c1e0b";
const CUSTODIANS: [&str; 3] = ["保管 一郎", "保管 二郎", "保管 三郎"];
const LRA: &str = "審査 一郎";
const RP: &str = "責任者 花子";

/// A personal token in the shared SoftHSM2 directory, with a P-256 key made on it.
struct Token {
    label: &'static str,
    pin_file: PathBuf,
}

fn pkcs11_tool(conf: &Path, module: &Path, args: &[&str]) {
    let out = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", conf)
        .arg("--module")
        .arg(module)
        .args(args)
        .output()
        .expect("pkcs11-tool (apt-get install opensc)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn personal_token(hsm: &SoftHsmToken, home: &Path, label: &'static str, pin: &str) -> Token {
    succeed(
        Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", &hsm.conf)
            .args(["--init-token", "--free", "--label", label, "--pin", pin])
            .args(["--so-pin", "so-pin-1234"]),
    );
    pkcs11_tool(
        &hsm.conf,
        &hsm.module,
        &[
            "--token-label",
            label,
            "--login",
            "--pin",
            pin,
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "operator",
            "--id",
            "01",
        ],
    );
    let pin_file = home.join(format!("{label}.pin"));
    shuin_keys::write_private_file(&pin_file, format!("{pin}\n").as_bytes()).unwrap();
    Token { label, pin_file }
}

struct Walk {
    instance: Instance,
    hsm: SoftHsmToken,
    /// The operators' own machines: their PIN files and key files, outside the instance.
    home: tempfile::TempDir,
}

impl Walk {
    fn token_args(&self, token: &Token) -> Vec<OsString> {
        vec![
            "--operator-key".into(),
            format!("pkcs11:token={};object=operator", token.label).into(),
            "--pkcs11-module".into(),
            self.hsm.module.clone().into(),
            "--pin-file".into(),
            token.pin_file.clone().into(),
        ]
    }

    /// `shuin ARGS --data DIR KEY_ARGS`.
    fn run(&self, args: &[&str], key: &[OsString]) -> Output {
        shuin()
            .args(args)
            .arg("--data")
            .arg(&self.instance.data)
            .args(key)
            .env("SOFTHSM2_CONF", &self.hsm.conf)
            .output()
            .unwrap()
    }

    #[track_caller]
    fn ok(&self, args: &[&str], key: &[OsString]) -> Value {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.run(&args, key);
        assert!(
            out.status.success(),
            "shuin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    #[track_caller]
    fn refused(&self, args: &[&str], key: &[OsString], code: &str) {
        let out = self.run(args, key);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "shuin {args:?} should be refused");
        assert!(
            stderr.contains(code),
            "shuin {args:?}: expected {code}: {stderr}"
        );
    }

    /// `shuin operator csr --name NAME` with `key` into HOME/FILE; enrols it as `role`
    /// with `admin`'s key.
    fn enrol(&self, key: &[OsString], name: &str, file: &str, role: &str, admin: &[OsString]) {
        let csr = self.home.path().join(file);
        succeed(
            shuin()
                .args(["operator", "csr", "--name", name, "--out"])
                .arg(&csr)
                .args(key)
                .env("SOFTHSM2_CONF", &self.hsm.conf),
        );
        let csr = csr.to_str().unwrap();
        self.ok(&["operator", "add", "--csr", csr, "--role", role], admin);
    }

    /// A key file and CSR for `name` on their machine, enrolled by `admin`.
    fn enrol_file_operator(&self, admin: &[OsString], name: &str, role: &str) -> Vec<OsString> {
        let key = self.home.path().join(format!("{name}.key"));
        assert!(shuin()
            .args(["operator", "key", "--out"])
            .arg(&key)
            .status()
            .unwrap()
            .success());
        self.enrol(
            &self.file_key(name),
            name,
            &format!("{name}.csr"),
            role,
            admin,
        );
        self.file_key(name)
    }

    fn file_key(&self, name: &str) -> Vec<OsString> {
        let mut key = OsString::from("file:");
        key.push(self.home.path().join(format!("{name}.key")));
        vec!["--operator-key".into(), key]
    }

    fn entries(&self) -> Vec<Value> {
        let out = shuin()
            .args(["ledger", "show", "--json", "--data"])
            .arg(&self.instance.data)
            .output()
            .unwrap();
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    }
}

/// Runs `command`, asserting it succeeded.
#[track_caller]
fn succeed(command: &mut Command) -> Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One request/answer on the local console socket, as any client could speak it.
fn socket(data: &Path, request: &Value) -> Value {
    let mut stream = std::os::unix::net::UnixStream::connect(data.join("admin.sock")).unwrap();
    stream.write_all(request.to_string().as_bytes()).unwrap();
    stream.shutdown(std::net::Shutdown::Write).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    serde_json::from_str(&answer).unwrap()
}

fn signed(data: &Path, key: &dyn Signer, action: &str, params: Value) -> SignedRequest {
    let nonce = socket(data, &json!({"command": "nonce"}));
    let request = OperatorRequest {
        format: REQUEST_FORMAT.into(),
        action: serde_json::from_value(json!(action)).unwrap(),
        params,
        nonce: nonce["nonce"].as_str().unwrap().to_owned(),
        time: shuin_core::timefmt::rfc3339(now()),
        key_sha256: key_sha256(key.public_key_der()),
    };
    let text = request.canonical_text().unwrap();
    let signature = key.sign(text.as_bytes()).unwrap();
    SignedRequest {
        request: text,
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
        passkey: None,
    }
}

fn send(data: &Path, signed: &SignedRequest) -> Value {
    socket(data, &json!({"command": "signed", "signed": signed}))["outcome"].clone()
}

fn file_signer(path: &Path) -> shuin_keys::SoftwareSigner {
    shuin_keys::SoftwareSigner::from_pkcs8_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_production_walkthrough_with_personal_keys_and_every_impersonation_refused() {
    let Some(module) = module_for_tests().unwrap() else {
        return;
    };
    let hsm_dir = tempfile::tempdir().unwrap();
    let hsm = SoftHsmToken::create(&module, hsm_dir.path(), "shuin-ca", CA_PIN).unwrap();
    let home = tempfile::tempdir().unwrap();
    let admin_token = personal_token(&hsm, home.path(), "admin-card", "admin-pin-1");
    let rp_token = personal_token(&hsm, home.path(), "rp-card", "rp-pin-2");
    let ca_pin_file = home.path().join("ca.pin");
    shuin_keys::write_private_file(&ca_pin_file, format!("{CA_PIN}\n").as_bytes()).unwrap();
    let env = vec![("SOFTHSM2_CONF".to_owned(), OsString::from(&hsm.conf))];
    let token_args = |token: &Token| -> Vec<OsString> {
        vec![
            "--operator-key".into(),
            format!("pkcs11:token={};object=operator", token.label).into(),
            "--pkcs11-module".into(),
            module.clone().into(),
            "--pin-file".into(),
            token.pin_file.clone().into(),
        ]
    };

    // The first admin's CSR, from the key on their token.
    let admin_csr = home.path().join("admin.csr");
    succeed(
        shuin()
            .args(["operator", "csr", "--name", ADMIN, "--out"])
            .arg(&admin_csr)
            .args(token_args(&admin_token))
            .env("SOFTHSM2_CONF", &hsm.conf),
    );

    // init on the CA token, 2 of 3 custodians; the CA PIN file is destroyed afterwards.
    let shares = home.path().join("shares");
    let backend: Vec<OsString> = vec![
        "--key-backend".into(),
        "pkcs11".into(),
        "--pkcs11-module".into(),
        module.clone().into(),
        "--pkcs11-token".into(),
        "shuin-ca".into(),
        "--pkcs11-pin-file".into(),
        ca_pin_file.clone().into(),
        "--custodians".into(),
        "3".into(),
        "--threshold".into(),
        "2".into(),
        "--shares-out".into(),
        shares.clone().into(),
    ];
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_full(&[], jlis, &backend, env, Some(&admin_csr), &CUSTODIANS);
    std::fs::remove_file(&ca_pin_file).unwrap();
    instance.serve();
    let mut walk = Walk {
        instance,
        hsm,
        home,
    };
    let data = walk.instance.data.clone();
    let custodian = |name: &str| walk.instance.operator_args(name)[2..].to_vec();
    let admin = token_args(&admin_token);

    // Unseal: two custodians, each with their own key and share.
    for (i, name) in [(1, CUSTODIANS[0]), (3, CUSTODIANS[2])] {
        let share = shares.join(format!("share-{i}.txt"));
        walk.ok(
            &["unseal", "--share-file", share.to_str().unwrap()],
            &custodian(name),
        );
    }

    // The admin (token) enrols an LRA (key file) and a responsible person (token).
    let lra = walk.enrol_file_operator(&admin, LRA, "lra");
    walk.enrol(
        &token_args(&rp_token),
        RP,
        "rp.csr",
        "responsible_person",
        &admin,
    );
    let rp = token_args(&rp_token);

    // An automatic issuance names the enrolled responsible person and their certificate.
    let (status, issued) = walk.instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{issued}");
    walk.instance.verify_issued(&issued);
    let accepted = walk
        .entries()
        .into_iter()
        .rfind(|e| e["kind"] == "application.accepted")
        .unwrap();
    assert_eq!(accepted["payload"]["approver"], RP, "{accepted}");
    assert!(accepted["payload"]["approver_certificate_sha256"].is_string());

    // Revocation, automation suspend, review approval, resume, CRL now.
    let serial = issued["serial"].as_str().unwrap();
    walk.ok(
        &["revoke", "--serial", serial, "--reason", "keyCompromise"],
        &lra,
    );
    walk.ok(&["automation", "suspend", "--reason", "walkthrough"], &rp);
    let (status, waiting) = walk.instance.apply(&substitute, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 202, "{waiting}");
    let id = waiting["application_id"].as_str().unwrap();
    let approved = walk.ok(&["review", "approve", "--id", id], &lra);
    assert_eq!(approved["status"], "issued", "{approved}");
    walk.ok(
        &["automation", "resume", "--reason", "walkthrough done"],
        &rp,
    );
    walk.ok(&["crl"], &lra);

    // A key ceremony on the unsealed instance, with no PIN file anywhere: two of the
    // custodians approve a new issuing key, the admin's signed request runs it with the
    // server's key backend.
    ceremony(&walk, &admin);

    // The database, its WAL and shuin.toml are the owner's alone (on PostgreSQL no
    // database file is made at all).
    let files: &[&str] = if walk.instance.database.is_some() {
        assert!(!walk.instance.data.join("shuin.db").exists());
        &["shuin.toml", "admin.sock"]
    } else {
        &["shuin.db", "shuin.db-wal", "shuin.toml", "admin.sock"]
    };
    for name in files {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(walk.instance.data.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{name} mode {mode:o}");
    }

    // No PIN file in or beside the instance, and no PIN anywhere in it.
    let mut listing = Vec::new();
    for dir in [walk.instance.data.as_path(), walk.instance.work.path()] {
        collect_files(dir, &mut listing);
    }
    for path in &listing {
        let name = path.file_name().unwrap().to_string_lossy().to_lowercase();
        assert!(!name.contains("pin"), "a PIN file: {}", path.display());
        let bytes = std::fs::read(path).unwrap_or_default();
        for pin in [CA_PIN, "admin-pin-1", "rp-pin-2"] {
            assert!(
                !bytes.windows(pin.len()).any(|w| w == pin.as_bytes()),
                "{} holds a PIN",
                path.display()
            );
        }
    }

    impersonations(&walk, &data, &admin);
    no_database_for_changes(&walk, &lra, &rp, &admin);

    // Every signed request is in the books and re-checks offline. The server signs a
    // last checkpoint as it stops; the sealed instance's export ends there.
    walk.instance.stop();
    let export = walk.instance.work.path().join("export");
    succeed(
        shuin()
            .args(["ledger", "export", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&export)
            .env("SOFTHSM2_CONF", &walk.hsm.conf),
    );
    let out = succeed(
        shuin()
            .args(["ledger", "verify", "--json", "--export"])
            .arg(&export),
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let requests = walk
        .entries()
        .iter()
        .filter(|e| e["kind"] == "operator.request")
        .count();
    assert!(requests >= 9, "{requests}");
    assert_eq!(report["operator_requests_verified"], requests, "{report}");
}

/// Two custodians (whose operator keys `init` enrolled as their ceremony keys) approve a
/// re-key of the issuing CA, and the admin runs it; the record verifies offline.
fn ceremony(walk: &Walk, admin: &[OsString]) {
    let work = walk.instance.work.path();
    let run = |args: &[&str], key: &[OsString]| -> Value { walk.ok(args, key) };
    let not_before = shuin_core::timefmt::rfc3339(now() - std::time::Duration::from_secs(3600));
    let file = work.join("rekey.toml");
    std::fs::write(
        &file,
        format!(
            r#"id = "rekey-walk"
purpose = "Re-key the issuing CA"
threshold = 2
custodians = ["{}", "{}"]

[[steps]]
action = "generate_key"
label = "issuing-2"
algorithm = "p256"

[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "issuing-2"
issuer_key = "root"
common_name = "shuin Issuing CA 2"
organization = "shuin"
not_before = "{not_before}"
validity_days = 3650
"#,
            CUSTODIANS[0], CUSTODIANS[2]
        ),
    )
    .unwrap();
    let statement = work.join("statement.json");
    succeed(
        shuin()
            .args(["ceremony", "statement", "--data"])
            .arg(&walk.instance.data)
            .arg("--config")
            .arg(&file)
            .arg("--out")
            .arg(&statement),
    );
    let mut approvals = Vec::new();
    for name in [CUSTODIANS[0], CUSTODIANS[2]] {
        let approval = work.join(format!("{}.approval.json", hex::encode(name)));
        succeed(
            shuin()
                .args(["ceremony", "approve", "--statement"])
                .arg(&statement)
                .args(["--custodian", name, "--operator-key"])
                .arg(common::operators::key_uri(work, name))
                .arg("--out")
                .arg(&approval),
        );
        approvals.push(approval);
    }
    let mut args = vec!["ceremony", "run", "--config", file.to_str().unwrap()];
    for approval in &approvals {
        args.extend(["--approval", approval.to_str().unwrap()]);
    }
    let outcome = run(&args, admin);
    assert_eq!(outcome["ceremony_id"], "rekey-walk", "{outcome}");
    let completed: Vec<Value> = walk
        .entries()
        .into_iter()
        .filter(|e| e["kind"] == "ceremony.completed")
        .collect();
    // The first key ceremony (at init, which made the root and issuing keys), then this.
    assert_eq!(completed.len(), 2);
    assert_eq!(completed[0]["payload"]["ceremony_id"], "first-keys");
    assert_eq!(completed[0]["actor"]["name"], "shuin-init");
    assert_eq!(completed[1]["actor"]["name"], ADMIN);
    let record = outcome["record"].as_str().unwrap();
    succeed(shuin().args(["ceremony", "verify", "--record", record]));
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// Unknown key, revoked certificate, missing role, replay, a body changed after
/// signing, a role written into the database by hand, and a flood.
fn impersonations(walk: &Walk, data: &Path, admin: &[OsString]) {
    let serial = "0123456789abcdef";
    let revoke = ["revoke", "--serial", serial, "--reason", "keyCompromise"];
    let before = walk.entries().len();

    // An unknown key.
    let stranger = walk.home.path().join("stranger.key");
    assert!(shuin()
        .args(["operator", "key", "--out"])
        .arg(&stranger)
        .status()
        .unwrap()
        .success());
    walk.refused(&revoke, &walk.file_key("stranger"), "operator_unknown");

    // An operator without the role (the admin may not revoke).
    walk.refused(&revoke, admin, "role_missing");

    // A revoked operator certificate: a second LRA, enrolled then revoked.
    let second = walk.enrol_file_operator(admin, "審査 二郎", "lra");
    walk.ok(&["operator", "revoke", "--name", "審査 二郎"], admin);
    walk.refused(&revoke, &second, "operator_certificate_unusable");
    let crl = get_bytes(&walk.instance.url("/repository/operator-ca.crl"));
    let crl = <x509_cert::crl::CertificateList as der::Decode>::from_der(&crl).unwrap();
    assert_eq!(
        crl.tbs_cert_list.revoked_certificates.map(|r| r.len()),
        Some(1)
    );

    // A replayed request, and a body changed after signing.
    let lra = file_signer(&walk.home.path().join(format!("{LRA}.key")));
    let once = signed(data, &lra, "review_list", json!({}));
    assert_eq!(send(data, &once)["outcome"], "done");
    assert_eq!(send(data, &once)["code"], "nonce_reused");
    let mut changed = signed(
        data,
        &lra,
        "revoke",
        json!({"serial": serial, "reason": "keyCompromise"}),
    );
    changed.request = changed.request.replace("keyCompromise", "superseded");
    assert_eq!(send(data, &changed)["code"], "request_signature_invalid");

    // A role written into the database by hand (even with correct leaf hashes): the
    // responsible person "becomes" ca_admin, and still may not enrol anyone.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use shuin_store::LedgerStore;
        let store = common::store::open_instance_store(data).await;
        store
            .append(
                shuin_ledger::EntryDraft {
                    book: shuin_ledger::Book::Organization,
                    kind: "operator.role_granted".into(),
                    actor: shuin_ledger::Actor {
                        name: ADMIN.into(),
                        role: "ca_admin".into(),
                        zone: "high_security".into(),
                    },
                    subjects: vec![format!("operator:{RP}")],
                    payload: json!({"name": RP, "role": "ca_admin"}),
                    evidence: vec![],
                },
                now(),
            )
            .await
            .unwrap();
        store.close().await;
    });
    let rp_token = Token {
        label: "rp-card",
        pin_file: walk.home.path().join("rp-card.pin"),
    };
    let rp = walk.token_args(&rp_token);
    walk.refused(
        &["operator", "grant", "--name", LRA, "--role", "ca_admin"],
        &rp,
        "role_missing",
    );
    let listed = shuin()
        .args(["operator", "list", "--data"])
        .arg(data)
        .output()
        .unwrap();
    let warning = String::from_utf8_lossy(&listed.stderr);
    assert!(
        warning.contains("had no effect") && warning.contains("not warranted"),
        "{warning}"
    );

    // Every refusal so far is in the organisation book.
    let refusals: Vec<String> = walk.entries()[before..]
        .iter()
        .filter(|e| e["kind"] == "operator.refused")
        .map(|e| e["payload"]["code"].as_str().unwrap().to_owned())
        .collect();
    for code in [
        "operator_unknown",
        "role_missing",
        "operator_certificate_unusable",
        "nonce_reused",
        "request_signature_invalid",
    ] {
        assert!(refusals.iter().any(|c| c == code), "{code}: {refusals:?}");
    }

    // A flood of forged requests grows the books by a bounded number of entries.
    let before = walk.entries().len();
    let forger = file_signer(&stranger);
    for _ in 0..60 {
        let forged = signed(data, &forger, "revoke", json!({"serial": serial}));
        assert_eq!(send(data, &forged)["code"], "operator_unknown");
    }
    let added = walk.entries().len() - before;
    assert!(added <= 12, "{added} entries for 60 refused requests");
}

/// strace: the state-changing commands open no database file and, on PostgreSQL, no
/// connection to the database server.
fn no_database_for_changes(walk: &Walk, lra: &[OsString], rp: &[OsString], admin: &[OsString]) {
    let Some(_) = external("strace", "SHUIN_REQUIRE_STRACE", &["-V"]) else {
        return;
    };
    let commands: [(&[&str], &[OsString]); 5] = [
        (&["crl"], lra),
        (
            &["revoke", "--serial", "0a0b", "--reason", "keyCompromise"],
            lra,
        ),
        (&["review", "list"], lra),
        (&["automation", "resume", "--reason", "strace"], rp),
        (
            &["operator", "grant", "--name", LRA, "--role", "monitor"],
            admin,
        ),
    ];
    for (i, (args, key)) in commands.into_iter().enumerate() {
        let trace = walk.instance.work.path().join(format!("trace-{i}.txt"));
        let out = Command::new("strace")
            .args(["-f", "-e", "trace=openat,open,creat,connect", "-o"])
            .arg(&trace)
            .arg(env!("CARGO_BIN_EXE_shuin"))
            .args(args)
            .arg("--data")
            .arg(&walk.instance.data)
            .args(key)
            .env("SOFTHSM2_CONF", &walk.hsm.conf)
            .output()
            .unwrap();
        let opened = std::fs::read_to_string(&trace).unwrap();
        assert!(opened.contains("open"), "strace saw nothing for {args:?}");
        assert!(
            !opened.contains("shuin.db"),
            "shuin {args:?} opened the database:\n{opened}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(database) = &walk.instance.database {
            let port = format!("sin_port=htons({})", database.port());
            assert!(
                !opened.contains(&port),
                "shuin {args:?} connected to the database server:\n{opened}"
            );
        }
    }
}
