//! End to end on a SoftHSM2 token: `shuin init --key-backend pkcs11` creates the root and
//! issuing keys inside a fresh token and records their attributes; `shuin serve` issues a
//! certificate that openssl verifies; pkcs11-tool shows the keys sensitive and never
//! extractable; and an issuing key made extractable on purpose stops `serve` at start.
//! Skipped with a note when SoftHSM2 is absent, unless SHUIN_REQUIRE_SOFTHSM=1.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use shuin_keys::softhsm::{module_for_tests, SoftHsmToken};
use shuin_testkit::SimulatedJlisCa;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "shuin-e2e";
/// Distinctive, so a copy anywhere on disk would be found.
const PIN: &str = "pin-5b7e1c93";

struct Hsm {
    dir: tempfile::TempDir,
    token: SoftHsmToken,
    pin_file: PathBuf,
}

fn hsm() -> Option<Hsm> {
    let module = module_for_tests().unwrap()?;
    let dir = tempfile::tempdir().unwrap();
    let token = SoftHsmToken::create(&module, dir.path(), TOKEN, PIN).unwrap();
    let pin_file = dir.path().join("pin");
    shuin_keys::write_private_file(&pin_file, format!("{PIN}\n").as_bytes()).unwrap();
    Some(Hsm {
        dir,
        token,
        pin_file,
    })
}

impl Hsm {
    fn init_args(&self, pin_file: &Path) -> Vec<OsString> {
        vec![
            "--key-backend".into(),
            "pkcs11".into(),
            "--pkcs11-module".into(),
            self.token.module.clone().into(),
            "--pkcs11-token".into(),
            TOKEN.into(),
            "--pkcs11-pin-file".into(),
            pin_file.into(),
        ]
    }

    fn env(&self) -> Vec<(String, OsString)> {
        vec![("SOFTHSM2_CONF".into(), self.token.conf.clone().into())]
    }

    /// `pkcs11-tool --list-objects`, if pkcs11-tool is installed.
    fn list_objects(&self) -> Option<String> {
        let output = Command::new("pkcs11-tool")
            .env("SOFTHSM2_CONF", &self.token.conf)
            .arg("--module")
            .arg(&self.token.module)
            .args([
                "--token-label",
                TOKEN,
                "--login",
                "--pin",
                PIN,
                "--list-objects",
            ])
            .output();
        match output {
            Ok(output) => {
                assert!(
                    output.status.success(),
                    "pkcs11-tool: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                Some(String::from_utf8_lossy(&output.stdout).into_owned())
            }
            Err(_) if std::env::var_os("SHUIN_REQUIRE_SOFTHSM").is_none() => {
                eprintln!(
                    "note: pkcs11-tool not found; skipping that check (apt-get install opensc)"
                );
                None
            }
            Err(e) => panic!("pkcs11-tool is required (SHUIN_REQUIRE_SOFTHSM is set): {e}"),
        }
    }
}

/// The `Private Key Object` block of `pkcs11-tool --list-objects` labelled `label`.
fn private_key_block<'a>(listing: &'a str, label: &str) -> Option<&'a str> {
    listing.split("Private Key Object").skip(1).find(|block| {
        block
            .lines()
            .any(|l| l.trim_start().strip_prefix("label:").map(str::trim) == Some(label))
    })
}

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            hits.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .unwrap()
            .windows(needle.len())
            .any(|w| w == needle)
        {
            hits.push(path);
        }
    }
    hits
}

#[test]
fn an_instance_on_softhsm_issues_and_its_keys_stay_in_the_token() {
    let Some(hsm) = hsm() else { return };

    // A PIN file that others can read is refused before anything is written.
    let loose = hsm.dir.path().join("loose-pin");
    std::fs::write(&loose, PIN).unwrap();
    let admin_csr = hsm.dir.path().join("admin.csr");
    std::fs::write(
        &admin_csr,
        common::operators::make_key(hsm.dir.path(), ADMIN),
    )
    .unwrap();
    let refused = shuin()
        .args(["init", "--data"])
        .arg(hsm.dir.path().join("never"))
        .args(hsm.init_args(&loose))
        .arg("--first-admin-csr")
        .arg(&admin_csr)
        .envs(hsm.env())
        .args([
            "--jpki-crl",
            "x.crl",
            "--jpki-crl-later",
            "--public-url",
            "http://127.0.0.1:1",
        ])
        .args(["--policy-oid", POLICY])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
    assert!(!hsm.dir.path().join("never").exists());

    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_with(&[], jlis, &hsm.init_args(&hsm.pin_file), hsm.env());
    instance.serve();
    let (status, answer) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");

    instance.verify_issued(&answer);

    // The configuration names the token, never the PIN.
    let config = std::fs::read_to_string(instance.data.join("shuin.toml")).unwrap();
    assert!(config.contains("kind = \"pkcs11\""), "{config}");
    assert!(config.contains("object=shuin-issuing"), "{config}");
    instance.stop();
    assert_eq!(
        files_containing(&instance.data, PIN.as_bytes()),
        Vec::<PathBuf>::new(),
        "the PIN must not be stored in the instance"
    );

    // The facility book holds the attribute evidence of the three keys (root, issuing
    // and operator CA).
    let shown = shuin()
        .args(["ledger", "show", "--data"])
        .arg(&instance.data)
        .args(["--book", "facility", "--json"])
        .output()
        .unwrap();
    assert!(shown.status.success());
    let entries: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let text = entries.to_string();
    assert!(!text.contains(PIN));
    let evidence: Vec<&serde_json::Value> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "key.attributes")
        .collect();
    assert_eq!(evidence.len(), 3, "{text}");
    for entry in evidence {
        let attributes = &entry["payload"]["attributes"];
        assert_eq!(entry["payload"]["policy_passed"], true, "{entry}");
        assert_eq!(attributes["sensitive"], true, "{entry}");
        assert_eq!(attributes["extractable"], false, "{entry}");
        assert_eq!(attributes["never_extractable"], true, "{entry}");
        assert_eq!(attributes["local"], true, "{entry}");
        assert_eq!(attributes["token"]["label"], TOKEN, "{entry}");
    }

    // pkcs11-tool sees the private keys as sensitive and never extractable.
    if let Some(listing) = hsm.list_objects() {
        for label in ["shuin-root-ca", "shuin-issuing-ca", "shuin-operator-ca"] {
            let block = private_key_block(&listing, label)
                .unwrap_or_else(|| panic!("no private key {label}: {listing}"));
            let access = block
                .lines()
                .find(|l| l.trim_start().starts_with("Access:"))
                .unwrap_or_else(|| panic!("no Access line: {block}"));
            assert!(access.contains("sensitive"), "{label}: {access}");
            assert!(access.contains("never extractable"), "{label}: {access}");
            assert!(
                !access
                    .replace("never extractable", "")
                    .contains("extractable"),
                "{label}: {access}"
            );
        }
    }
}

#[test]
fn an_extractable_issuing_key_stops_serve_at_start() {
    let Some(hsm) = hsm() else { return };
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let instance = Instance::init_with(&[], jlis, &hsm.init_args(&hsm.pin_file), hsm.env());

    // Swap the issuing key for one made extractable on purpose, under the same label.
    hsm.token.use_in_this_process();
    assert_eq!(hsm.token.destroy_objects("shuin-issuing-ca").unwrap(), 2);
    hsm.token.create_careless_key("shuin-issuing-ca").unwrap();

    let mut child = shuin()
        .args(["serve", "--data"])
        .arg(&instance.data)
        .args(["--listen", instance.base.trim_start_matches("http://")])
        .envs(hsm.env())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("shuin serve kept running with an extractable issuing key");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(!status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("shuin: error:"))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(
        line.contains("issuing key") && line.contains("CKA_EXTRACTABLE is true"),
        "{line}"
    );
    assert!(!stderr.contains(PIN));
}

#[test]
fn the_root_and_issuing_keys_come_only_from_a_first_ceremony_that_m_custodians_approved() {
    let Some(hsm) = hsm() else { return };
    let work = hsm.dir.path();
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let anchor = work.join("jlis.pem");
    std::fs::write(&anchor, jlis.cert_pem().unwrap()).unwrap();
    let csr = |name: &str, file: &str| {
        let path = work.join(file);
        std::fs::write(&path, common::operators::make_key(work, name)).unwrap();
        path
    };
    let admin_csr = csr(ADMIN, "admin.csr");
    let custodians = ["保管 一", "保管 二", "保管 三"];
    let custodian_csrs: Vec<PathBuf> = custodians
        .iter()
        .enumerate()
        .map(|(i, name)| csr(name, &format!("c{i}.csr")))
        .collect();
    let data = work.join("inst");
    let init = |public_url: &str| {
        let mut command = shuin();
        command
            .args(["init", "--data"])
            .arg(&data)
            .args(hsm.init_args(&hsm.pin_file))
            .envs(hsm.env())
            .arg("--jpki-trust-anchor")
            .arg(&anchor)
            .args([
                "--jpki-crl",
                "x.crl",
                "--jpki-crl-later",
                "--public-url",
                public_url,
            ])
            .args(["--policy-oid", POLICY, "--first-admin-csr"])
            .arg(&admin_csr);
        for path in &custodian_csrs {
            command.arg("--custodian-csr").arg(path);
        }
        command
    };
    let refused = |command: &mut Command, expected: &str| {
        let out = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        assert!(!data.exists(), "a refused init leaves nothing behind");
    };
    let url = "http://127.0.0.1:1";

    // Without a ceremony, init on a token makes no keys.
    refused(&mut init(url), "first key ceremony");

    // The statement; approvals by the custodians' operator keys.
    let file = work.join("first.toml");
    std::fs::write(&file, common::first_ceremony::ceremony_file(&custodians, 2)).unwrap();
    let statement = |public_url: &str, out: &str| {
        let path = work.join(out);
        let done = init(public_url)
            .arg("--first-ceremony")
            .arg(&file)
            .arg("--statement-out")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        assert!(!data.exists(), "--statement-out makes nothing else");
        path
    };
    let approve = |statement: &Path, custodian: &str, out: &str| {
        let path = work.join(out);
        let done = shuin()
            .args(["ceremony", "approve", "--statement"])
            .arg(statement)
            .args(["--custodian", custodian, "--operator-key"])
            .arg(common::operators::key_uri(work, custodian))
            .arg("--out")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
        path
    };
    let ours = statement(url, "statement.json");
    let a = approve(&ours, custodians[0], "a.json");
    let c = approve(&ours, custodians[2], "c.json");
    // An approval of another instance's statement (another URL) does not count.
    let other = statement("http://127.0.0.1:2", "other.json");
    let b_other = approve(&other, custodians[1], "b-other.json");
    let with = |approvals: &[&Path]| {
        let mut command = init(url);
        command.arg("--first-ceremony").arg(&file);
        for path in approvals {
            command.arg("--approval").arg(path);
        }
        command
    };
    refused(&mut with(&[&a]), "needs 2 custodian approvals");
    refused(&mut with(&[&a, &a]), "approval");
    refused(&mut with(&[&a, &b_other]), "approves another statement");
    if let Some(listing) = hsm.list_objects() {
        assert!(!listing.contains("shuin-root-ca"), "{listing}");
    }

    // Two of three: the ceremony runs inside init and the instance adopts its keys.
    let made = with(&[&a, &c]).output().unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let config = std::fs::read_to_string(data.join("shuin.toml")).unwrap();
    assert!(config.contains("object=shuin-root-ca"), "{config}");
    assert!(config.contains("object=shuin-issuing-ca"), "{config}");
    let record = data.join("ceremonies/first-keys.json");
    let verified = shuin()
        .args(["ceremony", "verify", "--record"])
        .arg(&record)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verified.stdout);
    assert!(verified.status.success(), "{text}");
    assert!(
        text.contains(&format!("approved by {}, {}", custodians[0], custodians[2])),
        "{text}"
    );
    // The issuing CA certificate the instance uses is the one in the record.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    let issuing = std::fs::read_to_string(data.join("ca/issuing.pem")).unwrap();
    let der = der::pem::decode_vec(issuing.as_bytes()).unwrap().1;
    use base64::Engine;
    assert_eq!(
        record["results"][3]["certificate"],
        base64::engine::general_purpose::STANDARD.encode(der)
    );
}
