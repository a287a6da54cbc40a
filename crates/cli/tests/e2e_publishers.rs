//! Publishers end to end: `shuin serve` with a filesystem, an S3 (moto_server) and an
//! LDAP (slapd) publisher. The CA certificate and CRL appear in all three, byte-identical
//! to `/repository/`; after `shuin revoke` the new CRL does too within seconds, and each
//! publication of it is recorded in the revocation book.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::servers;

use crate::common::*;
use servers::{Moto, Slapd, LDAP_ADMIN, LDAP_PASSWORD, LDAP_SUFFIX};
use shuin_testkit::SimulatedJlisCa;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

const BUCKET: &str = "shuin-repository";
const PREFIX: &str = "pki";
const PUBLISHED_DIR: &str = "published";

fn secret(path: &Path, value: &str) {
    std::fs::write(path, format!("{value}\n")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn ca_entry() -> String {
    format!("cn=shuin Issuing CA,{LDAP_SUFFIX}")
}

/// Every copy of the items, read back from the three places.
struct Places<'a> {
    dir: std::path::PathBuf,
    moto: Option<&'a Moto>,
    slapd: Option<&'a Slapd>,
    runtime: tokio::runtime::Runtime,
}

impl Places<'_> {
    /// Which places differ from `expected` for the item `file` (`ca.crl`, `ca.crt`).
    fn differing(&self, file: &str, expected: &[u8]) -> Vec<String> {
        let mut differ = Vec::new();
        if std::fs::read(self.dir.join(file)).ok().as_deref() != Some(expected) {
            differ.push(format!("directory {file}"));
        }
        if let Some(moto) = self.moto {
            let object = self
                .runtime
                .block_on(moto.read(BUCKET, &format!("{PREFIX}/{file}")));
            if object.as_deref() != Some(expected) {
                differ.push(format!("S3 {file}"));
            }
        }
        if let Some(slapd) = self.slapd {
            let attribute = match file {
                "ca.crt" => "cACertificate;binary",
                "ca.crl" => "certificateRevocationList;binary",
                "root.crl" => "authorityRevocationList;binary",
                "ca-delta.crl" => "deltaRevocationList;binary",
                _ => return differ,
            };
            let values = self.runtime.block_on(slapd.read(&ca_entry(), attribute));
            if values != [expected.to_vec()] {
                differ.push(format!("LDAP {attribute}"));
            }
        }
        differ
    }

    fn wait_identical(&self, file: &str, expected: &[u8], within: Duration) {
        let start = Instant::now();
        loop {
            let differ = self.differing(file, expected);
            if differ.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < within,
                "after {within:?} these still differ from /repository/{file}: {differ:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn crl_number_of(instance: &Instance) -> (Vec<u8>, String) {
    let der = get_bytes(&instance.url("/repository/ca.crl"));
    let path = instance.work.path().join("current.crl");
    std::fs::write(&path, &der).unwrap();
    let number = external(
        "openssl",
        "SHUIN_REQUIRE_OPENSSL",
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            path.to_str().unwrap(),
            "-noout",
            "-crlnumber",
        ],
    )
    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    .unwrap_or_default();
    (der, number)
}

#[test]
fn the_crl_and_ca_certificate_reach_every_publisher_after_each_change() {
    let moto = Moto::start();
    let slapd = Slapd::start();
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    let data = instance.data.clone();
    let mut config =
        format!("\n[[publishers]]\nkind = \"filesystem\"\ndir = \"{PUBLISHED_DIR}\"\n");
    if let Some(moto) = &moto {
        moto.create_bucket(BUCKET);
        secret(&data.join("s3-access-key-id"), "testing");
        secret(&data.join("s3-secret-access-key"), "testing");
        config.push_str(&format!(
            "\n[[publishers]]\nkind = \"s3\"\nendpoint = \"{}\"\nbucket = \"{BUCKET}\"\n\
             prefix = \"{PREFIX}\"\nregion = \"us-east-1\"\n\
             access_key_id_file = \"s3-access-key-id\"\n\
             secret_access_key_file = \"s3-secret-access-key\"\nallow_http = true\n",
            moto.endpoint
        ));
    }
    if let Some(slapd) = &slapd {
        secret(&data.join("ldap-password"), LDAP_PASSWORD);
        config.push_str(&format!(
            "\n[[publishers]]\nkind = \"ldap\"\nurl = \"{}\"\nbind_dn = \"{LDAP_ADMIN}\"\n\
             password_file = \"ldap-password\"\nca_entry_dn = \"{}\"\nallow_plaintext_bind = true\n",
            slapd.url,
            ca_entry()
        ));
    }
    instance.append_config(&config);
    // Partitioned CRLs are published too (delta CRLs: crates/repo/tests/publishers.rs).
    instance.edit_config("crl_partitions = 0", "crl_partitions = 2");
    instance.serve();

    let places = Places {
        dir: data.join(PUBLISHED_DIR),
        moto: moto.as_ref(),
        slapd: slapd.as_ref(),
        runtime: tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap(),
    };
    // At start: both certificates and the current CRL.
    let ca_crt = get_bytes(&instance.url("/repository/ca.crt"));
    let root_crt = get_bytes(&instance.url("/repository/root.crt"));
    let (first_crl, first_number) = crl_number_of(&instance);
    places.wait_identical("ca.crt", &ca_crt, Duration::from_secs(10));
    places.wait_identical("ca.crl", &first_crl, Duration::from_secs(10));
    assert_eq!(
        std::fs::read(data.join(PUBLISHED_DIR).join("root.crt")).unwrap(),
        root_crt
    );

    // A revocation (`shuin revoke`, a signed request to the running server): the new CRL
    // reaches every place within seconds.
    let (status, answer) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    instance.add_operator("LRA 一郎", "lra");
    let revoked = instance.revoke_as(
        "LRA 一郎",
        answer["serial"].as_str().unwrap(),
        "keyCompromise",
    );
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    let revoked_at = Instant::now();
    let new_crl = loop {
        let (der, number) = crl_number_of(&instance);
        if der != first_crl {
            assert_ne!(number, first_number);
            break der;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(5),
            "no new CRL in /repository/"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let remaining = Duration::from_secs(8).saturating_sub(revoked_at.elapsed());
    places.wait_identical("ca.crl", &new_crl, remaining);
    places.wait_identical("ca.crt", &ca_crt, Duration::ZERO);
    for file in ["ca-p0.crl", "ca-p1.crl"] {
        // Compared with what /repository/ serves now, which may move on meanwhile.
        let start = Instant::now();
        loop {
            let der = get_bytes(&instance.url(&format!("/repository/{file}")));
            assert!(!der.is_empty(), "/repository/{file}");
            let differ = places.differing(file, &der);
            if differ.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(8),
                "{file} differs in {differ:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    eprintln!(
        "the new CRL was in every place {:?} after `shuin revoke` returned",
        revoked_at.elapsed()
    );

    // Each publisher's publication of the new CRL is in the revocation book.
    let out = shuin()
        .args(["ledger", "show", "--data"])
        .arg(&data)
        .args(["--book", "revocation", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let entries: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let sha256 = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(&new_crl))
    };
    let recorded: Vec<&str> = entries
        .iter()
        .filter(|e| e["kind"] == "publication.succeeded" && e["payload"]["sha256"] == sha256)
        .map(|e| e["payload"]["publisher"].as_str().unwrap())
        .collect();
    let expected = 1 + usize::from(moto.is_some()) + usize::from(slapd.is_some());
    assert_eq!(
        recorded.len(),
        expected,
        "publication.succeeded entries for the new CRL: {recorded:?}"
    );
    assert!(recorded.iter().any(|p| p.starts_with("filesystem:")));
    for entry in entries
        .iter()
        .filter(|e| e["kind"] == "publication.succeeded")
    {
        let item = entry["payload"]["item"].as_str().unwrap();
        assert!(
            [
                "ca.crl",
                "root.crl",
                "ca-delta.crl",
                "ca-p0.crl",
                "ca-p1.crl"
            ]
            .contains(&item),
            "{entry}"
        );
        assert!(entry["payload"]["crl_number"].is_u64(), "{entry}");
    }
    assert!(instance.alive());
}
