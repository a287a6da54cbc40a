use super::*;
use shuin_core::{OsRandom, SystemClock, Zone};
use shuin_keys::{KeyBackend, SoftwareBackend, SoftwareSigner};
use shuin_store::sqlite::SqliteStore;
use shuin_store::{CrlStore, LedgerStore};

fn admin() -> Actor {
    shuin_books::organisation::actor("shuin-init", Role::CaAdmin, Zone::HighSecurity)
}

async fn ledger_kinds(store: &SqliteStore) -> Vec<String> {
    store
        .ledger_rows()
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let entry: serde_json::Value = serde_json::from_slice(&row.canonical).unwrap();
            entry["kind"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Checks `der`'s signature with the issuer's public key.
fn signed_by(der: &[u8], issuer_spki: &[u8]) -> bool {
    use der::{Decode, Encode};
    let certificate = x509_cert::Certificate::from_der(der).unwrap();
    shuin_core::signature::verify(
        issuer_spki,
        certificate.signature_algorithm.oid,
        &certificate.tbs_certificate.to_der().unwrap(),
        certificate.signature.raw_bytes(),
    )
    .is_ok()
}

#[tokio::test]
async fn bootstrap_makes_a_root_an_issuing_ca_and_an_operator_ca_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let backend = SoftwareBackend::new(dir.path());
    let store = SqliteStore::in_memory().await.unwrap();
    let label = |role: &str| role.to_owned();
    let place = KeyPlace {
        keys: &backend,
        attributes: None,
        describer: None,
        label: &label,
    };
    let plan = BootstrapPlan {
        ca_name: "Test",
        base_url: "https://ca.example.jp",
        policy_oid: ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1"),
        root_key: KeySpec::EcP256,
        issuing_key: KeySpec::EcP256,
        root_crl_lifetime: Duration::from_secs(30 * 86_400),
        operators: OperatorCaPlan {
            first_admin_csr: None,
            custodian_csrs: &[],
            extra_admin_roles: &[],
        },
    };
    let made = bootstrap(
        Arc::new(store.clone()),
        &place,
        &plan,
        &admin(),
        &SystemClock,
        &OsRandom,
    )
    .await
    .unwrap();
    let root_spki = backend
        .signer(&made.root_key)
        .unwrap()
        .public_key_der()
        .to_vec();
    assert!(signed_by(&made.root_der, &root_spki));
    assert!(signed_by(&made.issuing_der, &root_spki));
    let operator_spki = backend
        .signer(&made.operator_ca_key)
        .unwrap()
        .public_key_der()
        .to_vec();
    assert!(signed_by(&made.operator_ca_der, &operator_spki));
    assert!(made.enrolled.is_empty());
    assert!(store.latest_crl("root").await.unwrap().is_some());
    let kinds = ledger_kinds(&store).await;
    let expected_start = [
        "key.generating",
        "key.generated",
        "key.generating",
        "key.generated",
        "ca_certificate.signing",
        "ca_certificate.issued",
        "ca_certificate.signing",
        "ca_certificate.issued",
        "crl.signing",
        "crl.issued",
        "key.generating",
        "key.generated",
    ];
    assert_eq!(&kinds[..expected_start.len()], expected_start);
    assert!(kinds.iter().any(|k| k == OPERATOR_CA_CREATED), "{kinds:?}");
}

/// A signer whose signatures do not verify (a faulty token).
#[derive(Debug)]
struct Faulty(SoftwareSigner);

impl Signer for Faulty {
    fn algorithm(&self) -> shuin_core::SignatureAlgorithm {
        self.0.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.0.public_key_der()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signature = self.0.sign(message)?;
        if let Some(last) = signature.last_mut() {
            *last ^= 1;
        }
        Ok(signature)
    }
}

#[tokio::test]
async fn a_signature_that_does_not_verify_is_not_used() {
    let store = SqliteStore::in_memory().await.unwrap();
    let (signer, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let signer = Faulty(signer);
    let name = ca_name("Test", "Test Root CA", "root name").unwrap();
    let template = CaProfile::root(
        name,
        spki(&signer).unwrap(),
        Serial::random(&OsRandom).unwrap(),
        SystemClock.now(),
        Duration::from_secs(86_400),
    )
    .unwrap();
    let error = sign_ca_certificate(
        &store,
        &template,
        &signer,
        "root",
        &admin(),
        SystemClock.now(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, BootstrapError::InvalidSignature { .. }),
        "{error}"
    );
    // Recorded before signing; never recorded as issued.
    assert_eq!(ledger_kinds(&store).await, ["ca_certificate.signing"]);
}

/// What bootstrap made, with stand-in certificates.
fn made() -> Bootstrapped {
    let key = |uri: &str| KeyRef::parse(uri).expect("key");
    Bootstrapped {
        root_key: key("soft:root.pem"),
        issuing_key: key("soft:issuing.pem"),
        operator_ca_key: key("soft:operator-ca.pem"),
        root_der: vec![1],
        issuing_der: vec![2],
        operator_ca_der: vec![3],
        enrolled: Vec::new(),
    }
}

#[test]
fn the_certificates_are_written_as_pem_where_the_instance_keeps_them() {
    let made = made();
    let dir = tempfile::tempdir().expect("dir");
    let missing = made.write_certificates(dir.path()).err();
    assert_eq!(missing.map(|e| e.file), Some("ca/root.pem"));
    std::fs::create_dir(dir.path().join("ca")).expect("ca");
    made.write_certificates(dir.path()).expect("written");
    for (file, der) in made.certificate_files() {
        let pem = std::fs::read_to_string(dir.path().join(file)).expect("read");
        let (label, decoded) = der::pem::decode_vec(pem.as_bytes()).expect("PEM");
        assert_eq!((label, decoded.as_slice()), ("CERTIFICATE", der));
    }
}

#[test]
fn the_ca_section_names_the_files_written_and_no_pin_file_once_sealed() {
    let made = made();
    let pkcs11 = KeyBackendConfig::Pkcs11 {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        token: "shuin-ca".into(),
        pin_file: Some("/root/pin".into()),
        sessions: Default::default(),
        signing_queue: Default::default(),
        fips_validation: None,
        validation: None,
        certifications: Vec::new(),
    };
    let open = made.ca_section(pkcs11.clone(), "1.2.3", None);
    assert_eq!(open.root_certificate, std::path::Path::new("ca/root.pem"));
    assert_eq!(open.issuing_key, "soft:issuing.pem");
    assert_eq!(open.subscriber_validity_days, 1825);
    open.check_profile().expect("a valid profile");
    assert!(open.key_backend.pin_file().is_some());
    let seal = SealConfig {
        instance_id: "0011223344556677".into(),
        custodians: 3,
        threshold: 2,
        share_digests: Vec::new(),
        sealed_pin: String::new(),
    };
    let sealed = made.ca_section(pkcs11, "1.2.3", Some(seal));
    assert!(
        sealed.key_backend.pin_file().is_none(),
        "the shares hold the PIN"
    );
    assert_eq!(
        sealed.operator_ca_certificate.as_deref(),
        Some(std::path::Path::new("ca/operator-ca.pem"))
    );
}
