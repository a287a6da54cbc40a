//! End to end: key ceremonies with the real binary. Custodians are enrolled, a ceremony
//! (new issuing key, certificate signed by the root) is refused with fewer than M
//! approvals and then nothing is generated or signed; with M approvals it runs, the new
//! certificate verifies with openssl against the root, the record verifies offline and a
//! tampered approval is detected. On SoftHSM2 as well (skipped with a note when absent,
//! unless SHUIN_REQUIRE_SOFTHSM=1), with one custodian approving from their own token,
//! and on AWS KMS (moto; skipped with a note when absent, unless SHUIN_REQUIRE_MOTO=1),
//! where the new key's metadata and key policy are recorded as evidence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::servers;

use crate::common::*;
use base64::Engine;
use serde_json::Value;
use shuin_keys::softhsm::{module_for_tests, SoftHsmToken};
use shuin_keys::{KeySpec, SoftwareSigner};
use shuin_testkit::SimulatedJlisCa;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

fn run(args: &[&std::ffi::OsStr], env: &[(String, OsString)]) -> Output {
    shuin()
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .unwrap()
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "shuin failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn failed(output: Output) -> String {
    assert!(
        !output.status.success(),
        "shuin should have failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

macro_rules! args {
    ($($a:expr),* $(,)?) => { &[$(std::ffi::OsStr::new($a)),*] };
}

/// A custodian with a key file.
struct Custodian {
    name: &'static str,
    /// `file:PATH` of the custodian's key file, as `--operator-key` takes it.
    key: OsString,
}

fn file_custodian(dir: &Path, name: &'static str, spec: KeySpec) -> Custodian {
    let (_, der) = SoftwareSigner::generate(spec).unwrap();
    let path = dir.join(format!("{name}.key.pem"));
    shuin_keys::write_private_file(&path, shuin_keys::pkcs8_pem(&der).unwrap().as_bytes()).unwrap();
    let mut key = OsString::from("file:");
    key.push(&path);
    Custodian { name, key }
}

struct Setup {
    instance: Instance,
    env: Vec<(String, OsString)>,
}

/// Gives the custodians their role in the organisation book (the first admin, from init,
/// enrols them through the running server), which keeps running: ceremonies are the
/// admin's signed requests to it, run with its key backend.
fn with_custodians(
    mut instance: Instance,
    env: Vec<(String, OsString)>,
    custodians: &[&str],
) -> Setup {
    instance.serve();
    for name in custodians {
        instance.add_operator(name, "key_custodian");
    }
    Setup { instance, env }
}

impl Setup {
    fn data(&self) -> &Path {
        &self.instance.data
    }

    fn work(&self) -> &Path {
        self.instance.work.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work().join(name)
    }

    fn shuin(&self, args: &[&std::ffi::OsStr]) -> Output {
        run(args, &self.env)
    }

    /// `ceremony public-key` from `credential`, then `ceremony enroll-custodian`.
    fn enroll(&self, name: &str, credential: &[&std::ffi::OsStr]) {
        let public = self.path(&format!("{name}.pub.pem"));
        let mut command: Vec<&std::ffi::OsStr> = args!["ceremony", "public-key", "--out"].to_vec();
        command.push(public.as_os_str());
        command.extend_from_slice(credential);
        ok(self.shuin(&command));
        let mut command = args![
            "ceremony",
            "enroll-custodian",
            "--name",
            name,
            "--public-key",
            public.as_os_str()
        ]
        .to_vec();
        let admin = self.instance.operator_args(ADMIN);
        command.extend(admin.iter().map(OsString::as_os_str));
        let out = ok(self.shuin(&command));
        assert!(out.contains("enrolled"), "{out}");
    }

    fn write_ceremony(&self, file: &str, id: &str, label: &str) -> PathBuf {
        let not_before = shuin_core::timefmt::rfc3339(now() - Duration::from_secs(86_400));
        let text = format!(
            r#"id = "{id}"
purpose = "Re-key the issuing CA"
threshold = 2
custodians = ["custodian-a", "custodian-b", "custodian-c"]
witnesses = ["監査 花子"]

[[steps]]
action = "generate_key"
label = "{label}"
algorithm = "p256"

[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "{label}"
issuer_key = "root"
common_name = "shuin Issuing CA 2"
organization = "shuin"
not_before = "{not_before}"
validity_days = 3650
"#
        );
        let path = self.path(file);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn statement(&self, ceremony: &Path, out: &str) -> PathBuf {
        let path = self.path(out);
        ok(self.shuin(args![
            "ceremony",
            "statement",
            "--data",
            self.data().as_os_str(),
            "--config",
            ceremony.as_os_str(),
            "--out",
            path.as_os_str()
        ]));
        path
    }

    fn approve(
        &self,
        statement: &Path,
        custodian: &str,
        credential: &[&std::ffi::OsStr],
        out: &str,
    ) -> PathBuf {
        let path = self.path(out);
        let mut command: Vec<&std::ffi::OsStr> = args![
            "ceremony",
            "approve",
            "--statement",
            statement.as_os_str(),
            "--custodian",
            custodian,
            "--out",
            path.as_os_str()
        ]
        .to_vec();
        command.extend_from_slice(credential);
        ok(self.shuin(&command));
        path
    }

    fn run_ceremony(&self, ceremony: &Path, approvals: &[&Path]) -> Output {
        let mut command: Vec<&std::ffi::OsStr> = args![
            "ceremony",
            "run",
            "--config",
            ceremony.as_os_str(),
            "--json"
        ]
        .to_vec();
        let admin = self.instance.operator_args(ADMIN);
        command.extend(admin.iter().map(OsString::as_os_str));
        for approval in approvals {
            command.push(std::ffi::OsStr::new("--approval"));
            command.push(approval.as_os_str());
        }
        self.shuin(&command)
    }

    fn ledger(&self) -> Vec<Value> {
        let out = ok(self.shuin(args![
            "ledger",
            "show",
            "--data",
            self.data().as_os_str(),
            "--book",
            "facility",
            "--json"
        ]));
        serde_json::from_str(&out).unwrap()
    }

    fn kinds_about(&self, subject: &str) -> Vec<String> {
        self.ledger()
            .iter()
            .filter(|e| {
                e["subjects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s == subject)
            })
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    }

    fn ceremony_certificates(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data().join("ca"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_str().unwrap().contains("rekey"))
            .collect()
    }

    fn verify_record(&self, record: &Path) -> Output {
        self.shuin(args!["ceremony", "verify", "--record", record.as_os_str()])
    }
}

fn key_arg(custodian: &Custodian) -> Vec<&std::ffi::OsStr> {
    args!["--operator-key", custodian.key.as_os_str()].to_vec()
}

/// The whole flow on an instance; `key_exists` tells whether the backend holds a label.
fn ceremony_flow(
    setup: &Setup,
    credentials: &[(&str, Vec<&std::ffi::OsStr>)],
    key_exists: &dyn Fn(&str) -> bool,
) -> Value {
    let label = "issuing-2";
    let ceremony = setup.write_ceremony("rekey.toml", "rekey-2026", label);
    let statement = setup.statement(&ceremony, "statement.json");
    let (a, b, c) = (&credentials[0], &credentials[1], &credentials[2]);
    let approval_a = setup.approve(&statement, a.0, &a.1, "a.json");

    // Fewer than M: refused, nothing generated or signed.
    let error = failed(setup.run_ceremony(&ceremony, &[&approval_a]));
    assert!(
        error.contains("needs 2 custodian approvals and has 1 valid")
            && error.contains("nothing was generated or signed"),
        "{error}"
    );
    // The same custodian twice does not count twice.
    let error = failed(setup.run_ceremony(&ceremony, &[&approval_a, &approval_a]));
    assert!(error.contains("approved already"), "{error}");
    // An approval signed with a key not enrolled for the name it claims.
    let forged = setup.path("forged.json");
    let mut value: Value = serde_json::from_slice(&std::fs::read(&approval_a).unwrap()).unwrap();
    value["custodian"] = Value::String(b.0.to_owned());
    std::fs::write(&forged, value.to_string()).unwrap();
    let error = failed(setup.run_ceremony(&ceremony, &[&approval_a, &forged]));
    assert!(error.contains("not the one enrolled"), "{error}");
    // An approval of another statement (the ceremony file was changed afterwards).
    let changed = setup.write_ceremony("rekey-changed.toml", "rekey-2026", "issuing-x");
    let error = failed(setup.run_ceremony(&changed, &[&approval_a]));
    assert!(error.contains("approves another statement"), "{error}");
    assert!(
        !key_exists(label) && !key_exists("issuing-x"),
        "a key was generated"
    );
    assert!(setup.ceremony_certificates().is_empty());
    let kinds = setup.kinds_about("ceremony:rekey-2026");
    assert!(kinds.iter().all(|k| k == "ceremony.refused"), "{kinds:?}");
    assert_eq!(kinds.len(), 4);
    assert!(setup.kinds_about(&format!("key:{label}")).is_empty());

    // M approvals (two of three): the ceremony runs.
    let approval_c = setup.approve(&statement, c.0, &c.1, "c.json");
    let out = ok(setup.run_ceremony(&ceremony, &[&approval_a, &approval_c]));
    let outcome: Value = serde_json::from_str(&out).unwrap();
    assert!(key_exists(label), "the new key is in the backend");
    let kinds = setup.kinds_about("ceremony:rekey-2026");
    let position = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
    assert!(position("ceremony.started") < position("key.generating"));
    assert!(position("key.generated") < position("ca_certificate.signing"));
    assert!(position("ca_certificate.signing") < position("ca_certificate.issued"));
    assert!(position("ca_certificate.issued") < position("ceremony.completed"));

    // The certificate chains to the root (openssl).
    let certificate = PathBuf::from(outcome["certificates"][0].as_str().unwrap());
    let root = setup.data().join("ca/root.pem");
    if let Some(out) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            root.to_str().unwrap(),
            certificate.to_str().unwrap(),
        ],
    ) {
        assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // The record verifies offline and matches the facility book.
    let record_path = PathBuf::from(outcome["record"].as_str().unwrap());
    let out = ok(setup.verify_record(&record_path));
    assert!(
        out.contains("verifies") && out.contains("custodian-a, custodian-c"),
        "{out}"
    );
    let completed = setup
        .ledger()
        .into_iter()
        .find(|e| e["kind"] == "ceremony.completed" && e["payload"]["ceremony_id"] == "rekey-2026")
        .unwrap();
    let record: Value = serde_json::from_slice(&std::fs::read(&record_path).unwrap()).unwrap();
    assert_eq!(completed["payload"]["record"], record);
    assert_eq!(
        completed["payload"]["record_sha256"],
        outcome["record_sha256"]
    );
    assert_eq!(record["statement"]["witnesses"][0], "監査 花子");

    // A tampered approval is detected.
    let mut tampered = record.clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut signature = b64
        .decode(tampered["approvals"][1]["signature"].as_str().unwrap())
        .unwrap();
    let last = signature.len() - 1;
    signature[last] ^= 0x01;
    tampered["approvals"][1]["signature"] = Value::String(b64.encode(&signature));
    let tampered_path = setup.path("tampered.json");
    std::fs::write(&tampered_path, tampered.to_string()).unwrap();
    let error = failed(setup.verify_record(&tampered_path));
    assert!(
        error.contains("approval 2 (\"custodian-c\")") && error.contains("does not verify"),
        "{error}"
    );
    // Dropping an approval leaves fewer than M.
    let mut dropped = record.clone();
    dropped["approvals"].as_array_mut().unwrap().pop();
    std::fs::write(&tampered_path, dropped.to_string()).unwrap();
    let error = failed(setup.verify_record(&tampered_path));
    assert!(
        error.contains("needs 2 custodian approvals and has 1"),
        "{error}"
    );
    // A swapped certificate is detected.
    let mut swapped = record.clone();
    swapped["results"][1]["certificate"] = record["results"][0]["public_key"].clone();
    std::fs::write(&tampered_path, swapped.to_string()).unwrap();
    assert!(failed(setup.verify_record(&tampered_path)).contains("step 2"));

    // Anchored in the facility book: a field no signature covers (the operator) changed
    // passes on its own, but not against a verified ledger export.
    let export = setup.path("ledger-export");
    ok(setup.shuin(args![
        "ledger",
        "export",
        "--data",
        setup.data().as_os_str(),
        "--out",
        export.as_os_str()
    ]));
    let out = ok(setup.shuin(args![
        "ceremony",
        "verify",
        "--record",
        record_path.as_os_str(),
        "--ledger-export",
        export.as_os_str()
    ]));
    assert!(out.contains("ceremony.completed at seq"), "{out}");
    let mut relabelled = record.clone();
    relabelled["operator"] = Value::String("someone else".into());
    std::fs::write(&tampered_path, relabelled.to_string()).unwrap();
    ok(setup.verify_record(&tampered_path));
    let error = failed(setup.shuin(args![
        "ceremony",
        "verify",
        "--record",
        tampered_path.as_os_str(),
        "--ledger-export",
        export.as_os_str()
    ]));
    assert!(error.contains("no ceremony.completed entry"), "{error}");

    // A ceremony id runs once.
    let error = failed(setup.run_ceremony(&ceremony, &[&approval_a, &approval_c]));
    assert!(error.contains("was run already"), "{error}");
    ok(setup.shuin(args![
        "ledger",
        "verify",
        "--data",
        setup.data().as_os_str()
    ]));
    record
}

#[test]
fn a_ceremony_needs_m_approvals_and_its_record_verifies_offline() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    let names = ["custodian-a", "custodian-b", "custodian-c"];
    let setup = with_custodians(instance, vec![], &names);
    let custodians = [
        file_custodian(setup.work(), names[0], KeySpec::EcP256),
        file_custodian(setup.work(), names[1], KeySpec::Rsa2048),
        file_custodian(setup.work(), names[2], KeySpec::EcP384),
    ];
    for custodian in &custodians {
        setup.enroll(custodian.name, &key_arg(custodian));
    }
    // An operator without key_custodian cannot be enrolled; a key is enrolled once.
    let public = setup.path("custodian-a.pub.pem");
    let mut command = args![
        "ceremony",
        "enroll-custodian",
        "--name",
        "someone",
        "--public-key",
        public.as_os_str()
    ]
    .to_vec();
    let admin = setup.instance.operator_args(ADMIN);
    command.extend(admin.iter().map(OsString::as_os_str));
    let error = failed(setup.shuin(&command));
    assert!(error.contains("key_custodian"), "{error}");
    let credentials: Vec<(&str, Vec<&std::ffi::OsStr>)> =
        custodians.iter().map(|c| (c.name, key_arg(c))).collect();
    let keys = setup.data().join("keys");
    let record = ceremony_flow(&setup, &credentials, &|label| {
        keys.join(format!("{label}.key.pem")).exists()
    });
    assert_eq!(record["results"][0]["backend"], "software");
    assert_eq!(record["results"][0]["attributes"], Value::Null);
}

#[test]
fn a_ceremony_on_softhsm_with_a_custodian_token() {
    let Some(module) = module_for_tests().unwrap() else {
        return;
    };
    const PIN: &str = "pin-ceremony-1";
    let hsm = tempfile::tempdir().unwrap();
    let token = SoftHsmToken::create(&module, hsm.path(), "shuin-ca", PIN).unwrap();
    let pin_file = hsm.path().join("pin");
    shuin_keys::write_private_file(&pin_file, format!("{PIN}\n").as_bytes()).unwrap();
    let env = vec![("SOFTHSM2_CONF".to_owned(), OsString::from(&token.conf))];
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let backend: Vec<OsString> = vec![
        "--key-backend".into(),
        "pkcs11".into(),
        "--pkcs11-module".into(),
        token.module.clone().into(),
        "--pkcs11-token".into(),
        "shuin-ca".into(),
        "--pkcs11-pin-file".into(),
        pin_file.clone().into(),
    ];
    let instance = Instance::init_with(&[], jlis, &backend, env.clone());
    let names = ["custodian-a", "custodian-b", "custodian-c"];
    let setup = with_custodians(instance, env.clone(), &names);
    let custodians = [
        file_custodian(setup.work(), names[0], KeySpec::EcP256),
        file_custodian(setup.work(), names[1], KeySpec::EcP256),
    ];
    // Custodian C approves from a token of their own (another token in the same
    // SoftHSM2 directory stands in for their smart card or HSM).
    let init = std::process::Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &token.conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "custodian-c",
            "--pin",
            "5678",
            "--so-pin",
            "87654321",
        ])
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    if external("pkcs11-tool", "SHUIN_REQUIRE_SOFTHSM", &["--help"]).is_none() {
        return;
    }
    let generated = std::process::Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", &token.conf)
        .args([
            "--module",
            token.module.to_str().unwrap(),
            "--token-label",
            "custodian-c",
            "--login",
            "--pin",
            "5678",
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--label",
            "approval",
            "--id",
            "01",
        ])
        .output()
        .unwrap();
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let c_pin = setup.path("custodian-c.pin");
    shuin_keys::write_private_file(&c_pin, b"5678\n").unwrap();
    let token_arg: Vec<&std::ffi::OsStr> = args![
        "--operator-key",
        "pkcs11:token=custodian-c;object=approval",
        "--pkcs11-module",
        token.module.as_os_str(),
        "--pin-file",
        c_pin.as_os_str()
    ]
    .to_vec();
    setup.enroll(names[0], &key_arg(&custodians[0]));
    setup.enroll(names[1], &key_arg(&custodians[1]));
    setup.enroll(names[2], &token_arg);
    let credentials: Vec<(&str, Vec<&std::ffi::OsStr>)> = vec![
        (names[0], key_arg(&custodians[0])),
        (names[1], key_arg(&custodians[1])),
        (names[2], token_arg.clone()),
    ];
    let list = |label: &str| {
        let out = std::process::Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &token.conf)
            .args([
                "--module",
                token.module.to_str().unwrap(),
                "--token-label",
                "shuin-ca",
                "--login",
                "--pin",
                PIN,
                "--list-objects",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let wanted = format!("shuin-{label}");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim_start().strip_prefix("label:").map(str::trim) == Some(wanted.as_str()))
    };
    let record = ceremony_flow(&setup, &credentials, &list);
    assert_eq!(record["results"][0]["backend"], "pkcs11");
    assert_eq!(record["results"][0]["policy_passed"], true);
    assert_eq!(
        record["results"][0]["attributes"]["never_extractable"],
        true
    );
    assert!(record["results"][0]["uri"]
        .as_str()
        .unwrap()
        .starts_with("pkcs11:token=shuin-ca;object=shuin-issuing-2"));
}

#[test]
fn a_ceremony_makes_a_new_root_and_an_issuing_ca_under_it() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    let setup = with_custodians(instance, vec![], &["custodian-a"]);
    let custodian = file_custodian(setup.work(), "custodian-a", KeySpec::EcP256);
    setup.enroll(custodian.name, &key_arg(&custodian));
    let not_before = shuin_core::timefmt::rfc3339(now() - Duration::from_secs(3600));
    let ceremony = setup.path("hierarchy.toml");
    std::fs::write(
        &ceremony,
        format!(
            r#"id = "hierarchy-2"
purpose = "A new hierarchy"
threshold = 1
custodians = ["custodian-a"]

[[steps]]
action = "generate_key"
label = "root-2"
algorithm = "p384"

[[steps]]
action = "sign_ca_certificate"
profile = "root"
subject_key = "root-2"
issuer_key = "root-2"
common_name = "shuin Root CA 2"
not_before = "{not_before}"
validity_days = 7300

[[steps]]
action = "generate_key"
label = "issuing-3"
algorithm = "rsa2048"

[[steps]]
action = "sign_ca_certificate"
profile = "issuing"
subject_key = "issuing-3"
issuer_key = "root-2"
common_name = "shuin Issuing CA 3"
not_before = "{not_before}"
validity_days = 3650
"#
        ),
    )
    .unwrap();
    let statement = setup.statement(&ceremony, "statement.json");
    let text = std::fs::read_to_string(&statement).unwrap();
    assert!(text.contains("\"issuer_step\":2"), "{text}");
    let approval = setup.approve(&statement, custodian.name, &key_arg(&custodian), "a.json");
    let outcome: Value =
        serde_json::from_str(&ok(setup.run_ceremony(&ceremony, &[&approval]))).unwrap();
    let certificates: Vec<&str> = outcome["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(certificates.len(), 2);
    if let Some(out) = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            certificates[0],
            certificates[1],
        ],
    ) {
        assert!(
            out.status.success(),
            "openssl verify: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let record = PathBuf::from(outcome["record"].as_str().unwrap());
    let out = ok(setup.verify_record(&record));
    assert!(
        out.contains("shuin Root CA 2") && out.contains("shuin Issuing CA 3"),
        "{out}"
    );
}

#[test]
fn a_ceremony_on_aws_kms_records_the_keys_metadata_and_policy() {
    let Some(moto) = servers::Moto::start() else {
        return;
    };
    let (backend, env) = kms_instance(&moto.endpoint, "testing");
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let instance = Instance::init_with(&[], jlis, &backend, env.clone());
    let names = ["custodian-a", "custodian-b", "custodian-c"];
    let setup = with_custodians(instance, env, &names);
    let custodians: Vec<Custodian> = names
        .iter()
        .map(|name| file_custodian(setup.work(), name, KeySpec::EcP256))
        .collect();
    for custodian in &custodians {
        setup.enroll(custodian.name, &key_arg(custodian));
    }
    let credentials: Vec<(&str, Vec<&std::ffi::OsStr>)> =
        custodians.iter().map(|c| (c.name, key_arg(c))).collect();
    // Whether KMS has a key under the alias the ceremony gives it.
    let kms = shuin_keys::awskms::KmsBackend::connect(&shuin_keys::awskms::KmsSettings {
        region: Some("ap-northeast-1".into()),
        endpoint_url: Some(moto.endpoint.clone()),
        test_credentials: Some(("testing".into(), "testing".into())),
    })
    .unwrap();
    let key_exists = |label: &str| {
        let alias = shuin_keys::KeyRef::aws_kms(&format!("alias/shuin-{label}"));
        shuin_keys::KeyBackend::signer(&kms, &alias).is_ok()
    };
    let record = ceremony_flow(&setup, &credentials, &key_exists);

    // The record and the facility book hold what KMS says about the new key: made in
    // KMS for signing, and the key policy that says who may use it.
    let made = &record["results"][0];
    assert_eq!(made["backend"], "awskms", "{made}");
    assert_eq!(made["policy_passed"], true, "{made}");
    assert_eq!(made["attributes"]["origin"], "AWS_KMS", "{made}");
    assert_eq!(made["attributes"]["key_usage"], "SIGN_VERIFY", "{made}");
    assert_eq!(made["attributes"]["key_spec"], "ECC_NIST_P256", "{made}");
    assert!(made["key_policy"]["Statement"].is_array(), "{made}");
    let arn = made["uri"].as_str().unwrap().trim_start_matches("awskms:");
    assert_eq!(made["attributes"]["arn"], arn, "{made}");
    let entry = setup
        .ledger()
        .into_iter()
        .find(|e| {
            e["kind"] == "key.attributes"
                && e["subjects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|s| s == "key:issuing-2")
        })
        .unwrap();
    assert_eq!(entry["payload"]["attributes"], made["attributes"]);
    assert_eq!(entry["payload"]["key_policy"], made["key_policy"]);
}
