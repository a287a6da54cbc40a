//! The operator CA and the gate together: enrolment, signed requests, and each way an
//! impersonation fails.

use super::*;
use shuin_books::gate::{Gate, GateError, Refusal};
use shuin_books::organisation::RefusalBudget;
use shuin_books::request::{OperatorRequest, SignedRequest, REQUEST_FORMAT};
use shuin_core::{Action, OsRandom, Zone};
use shuin_keys::{KeySpec, SoftwareSigner};
use shuin_store::sqlite::SqliteStore;
use std::sync::atomic::{AtomicUsize, Ordering};

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn admin() -> Actor {
    organisation::actor("shuin-init", Role::CaAdmin, Zone::HighSecurity)
}

fn key() -> Arc<dyn Signer> {
    let (signer, _) = SoftwareSigner::generate(KeySpec::EcP256).expect("key");
    Arc::new(signer)
}

/// A CSR for `key` with subject `CN=name`.
fn csr(key: &dyn Signer, name: &str) -> Vec<u8> {
    use der::asn1::{BitString, SetOfVec};
    use der::Encode;
    use x509_cert::request::{CertReq, CertReqInfo, Version};
    let info = CertReqInfo {
        version: Version::V1,
        subject: NameBuilder::new().common_name(name).expect("name").build(),
        public_key: spki::SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).expect("spki"),
        attributes: SetOfVec::new(),
    };
    let info_der = info.to_der().expect("info");
    let signature = key.sign(&info_der).expect("sign");
    CertReq {
        info,
        algorithm: key.algorithm().algorithm_identifier(),
        signature: BitString::from_bytes(&signature).expect("bits"),
    }
    .to_der()
    .expect("csr")
}

/// The canonical text of a request of `action` naming `key`, signed now.
fn request_text(
    key: &dyn Signer,
    action: Action,
    params: serde_json::Value,
    nonce: &str,
) -> String {
    let request = OperatorRequest {
        format: REQUEST_FORMAT.into(),
        action,
        params,
        nonce: nonce.into(),
        time: shuin_core::timefmt::rfc3339(now()),
        key_sha256: shuin_books::request::key_sha256(key.public_key_der()),
    };
    request.canonical_text().expect("text")
}

fn sign(key: &dyn Signer, action: Action, params: serde_json::Value, nonce: &str) -> SignedRequest {
    use base64::Engine;
    let text = request_text(key, action, params, nonce);
    let signature = key.sign(text.as_bytes()).expect("sign");
    SignedRequest {
        request: text,
        signature: base64::engine::general_purpose::STANDARD.encode(signature),
        passkey: None,
    }
}

struct Setup {
    store: SqliteStore,
    ca: OperatorCa,
    gate: Gate,
}

async fn setup() -> Setup {
    let store = SqliteStore::in_memory().await.expect("store");
    let ca_key = key();
    let der = create_certificate(&store, ca_key.as_ref(), "Test", &admin(), &OsRandom, now())
        .await
        .expect("operator CA");
    let ca = OperatorCa::new(ca_key, der.clone()).expect("CA");
    let gate = Gate::new(der, RefusalBudget::default());
    Setup { store, ca, gate }
}

impl Setup {
    async fn enrol(&self, name: &str, role: Role) -> Arc<dyn Signer> {
        let operator = key();
        let roster = self.gate.roster(&self.store).await.expect("roster");
        self.ca
            .enrol(
                &self.store,
                &roster,
                &csr(operator.as_ref(), name),
                role,
                OPERATOR_VALIDITY,
                &admin(),
                &OsRandom,
                now(),
            )
            .await
            .expect("enrol");
        operator
    }

    async fn nonce(&self) -> String {
        self.gate
            .nonce(&self.store, &OsRandom, now())
            .await
            .expect("nonce")
    }

    async fn admit(&self, signed: &SignedRequest) -> Result<shuin_books::Admitted, GateError> {
        self.gate
            .admit(&self.store, signed, Zone::HighSecurity, now())
            .await
    }

    async fn kinds(&self) -> Vec<String> {
        self.store
            .ledger_rows()
            .await
            .expect("rows")
            .iter()
            .map(|r| {
                shuin_ledger::Entry::from_canonical(&r.canonical)
                    .expect("entry")
                    .kind
            })
            .collect()
    }
}

fn refusal(result: Result<shuin_books::Admitted, GateError>) -> Refusal {
    match result {
        Err(GateError::Refused(r)) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn an_enrolled_operator_signs_and_is_admitted_once() {
    let s = setup().await;
    let lra = s.enrol("LRA 一郎", Role::Lra).await;
    let params = serde_json::json!({"serial": "0A", "reason": "keyCompromise"});
    let signed = sign(lra.as_ref(), Action::Revoke, params, &s.nonce().await);
    let admitted = s.admit(&signed).await.expect("admitted");
    assert_eq!(admitted.operator, "LRA 一郎");
    assert_eq!(admitted.role, Role::Lra);
    let kinds = s.kinds().await;
    assert_eq!(kinds.last().map(String::as_str), Some("operator.request"));
    // The same request again is a replay.
    assert_eq!(refusal(s.admit(&signed).await), Refusal::NonceReused);
    assert_eq!(
        s.kinds().await.last().map(String::as_str),
        Some("operator.refused")
    );
}

#[tokio::test]
async fn impersonations_are_refused() {
    let s = setup().await;
    let admin_key = s.enrol("管理 太郎", Role::CaAdmin).await;
    let lra = s.enrol("LRA 一郎", Role::Lra).await;
    let monitor = s.enrol("監視 三郎", Role::Monitor).await;
    let params = || serde_json::json!({"serial": "0A", "reason": "keyCompromise"});

    // An unknown key.
    let stranger = key();
    let signed = sign(
        stranger.as_ref(),
        Action::Revoke,
        params(),
        &s.nonce().await,
    );
    assert_eq!(refusal(s.admit(&signed).await), Refusal::UnknownKey);

    // A body changed after signing.
    let mut signed = sign(lra.as_ref(), Action::Revoke, params(), &s.nonce().await);
    signed.request = signed.request.replace("\"0A\"", "\"0B\"");
    assert_eq!(refusal(s.admit(&signed).await), Refusal::SignatureInvalid);

    // A key that signs for someone else's key hash.
    let mut signed = sign(monitor.as_ref(), Action::Revoke, params(), &s.nonce().await);
    let lra_hash = shuin_books::request::key_sha256(lra.public_key_der());
    let monitor_hash = shuin_books::request::key_sha256(monitor.public_key_der());
    signed.request = signed.request.replace(&monitor_hash, &lra_hash);
    assert_eq!(refusal(s.admit(&signed).await), Refusal::SignatureInvalid);

    // An operator without the role.
    let signed = sign(monitor.as_ref(), Action::Revoke, params(), &s.nonce().await);
    assert_eq!(refusal(s.admit(&signed).await).code(), "role_missing");

    // A nonce the server never gave.
    let signed = sign(lra.as_ref(), Action::Revoke, params(), "made-up");
    assert_eq!(refusal(s.admit(&signed).await), Refusal::NonceUnknown);

    // A certificate revoked by a ca_admin's signed request.
    let signed = sign(
        admin_key.as_ref(),
        Action::OperatorRevoke,
        serde_json::json!({"name": "LRA 一郎"}),
        &s.nonce().await,
    );
    let by = s.admit(&signed).await.expect("admitted").actor();
    let roster = s.gate.roster(&s.store).await.expect("roster");
    let day = Duration::from_secs(86_400);
    s.ca.revoke(
        &s.store,
        &roster,
        "LRA 一郎",
        None,
        "keyCompromise",
        &by,
        day,
        now(),
    )
    .await
    .expect("revoke");
    let signed = sign(lra.as_ref(), Action::Revoke, params(), &s.nonce().await);
    assert_eq!(
        refusal(s.admit(&signed).await).code(),
        "operator_certificate_unusable"
    );
    let crl = s
        .store
        .latest_crl(OPERATOR_CRL_SCOPE)
        .await
        .expect("crl")
        .expect("an operator CRL");
    let crl = x509_cert::crl::CertificateList::from_der(&crl.der).expect("CRL");
    assert_eq!(
        crl.tbs_cert_list.revoked_certificates.map(|r| r.len()),
        Some(1)
    );
}

#[tokio::test]
async fn a_role_written_into_the_books_by_hand_has_no_effect() {
    let s = setup().await;
    // Mallory makes her own "operator CA" and writes an enrolment and a grant straight
    // into the ledger, as a database edit would.
    let fake_ca_key = key();
    let fake_ca_der = create_certificate(
        &s.store,
        fake_ca_key.as_ref(),
        "Test",
        &admin(),
        &OsRandom,
        now(),
    )
    .await
    .expect("fake CA");
    let fake_ca = OperatorCa::new(fake_ca_key, fake_ca_der).expect("fake CA");
    let mallory = key();
    let roster = s.gate.roster(&s.store).await.expect("roster");
    fake_ca
        .enrol(
            &s.store,
            &roster,
            &csr(mallory.as_ref(), "Mallory"),
            Role::Lra,
            OPERATOR_VALIDITY,
            &admin(),
            &OsRandom,
            now(),
        )
        .await
        .expect("written by hand");
    let signed = sign(
        mallory.as_ref(),
        Action::Revoke,
        serde_json::json!({"serial": "0A"}),
        &s.nonce().await,
    );
    assert_eq!(
        refusal(s.admit(&signed).await),
        Refusal::CertificateUntrusted("Mallory".into())
    );
}

#[tokio::test]
async fn a_flood_of_refusals_does_not_grow_the_books_without_bound() {
    let s = setup().await;
    let before = s.kinds().await.len();
    for _ in 0..200 {
        let signed = sign(key().as_ref(), Action::Revoke, serde_json::json!({}), "x");
        refusal(s.admit(&signed).await);
    }
    let added = s.kinds().await.len() - before;
    assert!(added <= 10, "{added} refusal entries for 200 refusals");
}

/// A ledger that fails every append, and a signer that counts its signatures.
#[derive(Debug)]
struct Counting(Arc<dyn Signer>, AtomicUsize);

impl Signer for Counting {
    fn algorithm(&self) -> shuin_core::SignatureAlgorithm {
        self.0.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.0.public_key_der()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, shuin_keys::KeyError> {
        self.1.fetch_add(1, Ordering::SeqCst);
        self.0.sign(message)
    }
}

struct FailingLedger;

#[async_trait::async_trait]
impl LedgerStore for FailingLedger {
    async fn append(
        &self,
        _: EntryDraft,
        _: SystemTime,
    ) -> Result<shuin_ledger::Entry, StoreError> {
        Err(StoreError::Unavailable("the disk is full".into()))
    }
    async fn append_batch(
        &self,
        _: Vec<shuin_store::KeyedDraft>,
        _: SystemTime,
    ) -> Result<Vec<shuin_ledger::Entry>, StoreError> {
        Err(StoreError::Unavailable("the disk is full".into()))
    }
    async fn ledger_rows_from(&self, _: u64) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn ledger_rows_page(
        &self,
        _: u64,
        _: u64,
    ) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError> {
        Ok(Vec::new())
    }
    async fn ledger_head(&self) -> Result<Option<shuin_ledger::TreeHead>, StoreError> {
        Ok(None)
    }
}

#[tokio::test]
async fn when_the_ledger_fails_nothing_is_signed() {
    let s = setup().await;
    let counting = Arc::new(Counting(key(), AtomicUsize::new(0)));
    let der = create_certificate(
        &s.store,
        counting.as_ref(),
        "Test",
        &admin(),
        &OsRandom,
        now(),
    )
    .await
    .expect("CA");
    let signed_before = counting.1.load(Ordering::SeqCst);
    let ca = OperatorCa::new(counting.clone(), der).expect("CA");
    let operator = key();
    let result = ca
        .enrol(
            &FailingLedger,
            &Roster::new(),
            &csr(operator.as_ref(), "LRA 一郎"),
            Role::Lra,
            OPERATOR_VALIDITY,
            &admin(),
            &OsRandom,
            now(),
        )
        .await;
    assert!(
        matches!(result, Err(OperatorCaError::Books(_))),
        "{result:?}"
    );
    assert_eq!(
        counting.1.load(Ordering::SeqCst),
        signed_before,
        "nothing signed"
    );
    let failed = create_certificate(
        &FailingLedger,
        counting.as_ref(),
        "Test",
        &admin(),
        &OsRandom,
        now(),
    )
    .await;
    assert!(failed.is_err());
    assert_eq!(
        counting.1.load(Ordering::SeqCst),
        signed_before,
        "nothing signed"
    );
}

#[tokio::test]
async fn a_csr_without_a_name_or_with_a_weak_key_is_refused() {
    let s = setup().await;
    let roster = Roster::new();
    let enrol = |der: Vec<u8>| {
        let s = &s;
        let roster = &roster;
        async move {
            s.ca.enrol(
                &s.store,
                roster,
                &der,
                Role::Lra,
                OPERATOR_VALIDITY,
                &admin(),
                &OsRandom,
                now(),
            )
            .await
        }
    };
    let operator = key();
    let nameless = enrol(csr(operator.as_ref(), " ")).await;
    assert!(
        matches!(
            nameless,
            Err(OperatorCaError::Csr {
                code: "operator_name_invalid",
                ..
            })
        ),
        "{nameless:?}"
    );
    let mut broken = csr(operator.as_ref(), "LRA 一郎");
    let last = broken.len() - 1;
    broken[last] ^= 1;
    assert!(matches!(
        enrol(broken).await,
        Err(OperatorCaError::Csr { .. })
    ));
    // The same key twice.
    s.enrol("LRA 一郎", Role::Lra).await;
    let twice = key();
    let roster = s.gate.roster(&s.store).await.expect("roster");
    s.ca.enrol(
        &s.store,
        &roster,
        &csr(twice.as_ref(), "A"),
        Role::Lra,
        OPERATOR_VALIDITY,
        &admin(),
        &OsRandom,
        now(),
    )
    .await
    .expect("first");
    let roster = s.gate.roster(&s.store).await.expect("roster");
    let again =
        s.ca.enrol(
            &s.store,
            &roster,
            &csr(twice.as_ref(), "B"),
            Role::Lra,
            OPERATOR_VALIDITY,
            &admin(),
            &OsRandom,
            now(),
        )
        .await;
    assert!(matches!(again, Err(OperatorCaError::KeyInUse(name)) if name == "A"));
}

#[tokio::test]
async fn a_signed_request_copied_into_the_books_again_warrants_nothing() {
    let s = setup().await;
    let admin_key = s.enrol("管理 太郎", Role::CaAdmin).await;
    s.enrol("監視 三郎", Role::Monitor).await;
    // A genuine grant, then its removal, each with the admin's signed request.
    let mut copied = None;
    for (action, grant) in [
        (Action::OperatorGrant, true),
        (Action::OperatorRemoveRole, false),
    ] {
        let params = serde_json::json!({"name": "監視 三郎", "role": "lra"});
        let signed = sign(admin_key.as_ref(), action, params, &s.nonce().await);
        let admitted = s.admit(&signed).await.expect("admitted");
        let by = admitted.actor();
        if grant {
            organisation::grant(&s.store, "監視 三郎", Role::Lra, &by, now())
                .await
                .expect("grant");
            copied = Some((admitted.entry_seq, by));
        } else {
            organisation::remove_role(&s.store, "監視 三郎", Role::Lra, &by, now())
                .await
                .expect("remove");
        }
    }
    let roster = s.gate.roster(&s.store).await.expect("roster");
    assert!(!roster.operator("監視 三郎").expect("op").holds(Role::Lra));
    // Someone with the database copies the old grant request and appends a grant.
    let (seq, by) = copied.expect("copied");
    let rows = s.store.ledger_rows().await.expect("rows");
    let old =
        shuin_ledger::Entry::from_canonical(&rows[usize::try_from(seq).expect("seq")].canonical)
            .expect("entry");
    s.store
        .append(
            EntryDraft {
                book: old.book,
                kind: old.kind,
                actor: old.actor,
                subjects: old.subjects,
                payload: old.payload,
                evidence: old.evidence,
            },
            now(),
        )
        .await
        .expect("copy");
    organisation::grant(&s.store, "監視 三郎", Role::Lra, &by, now())
        .await
        .expect("grant");
    let roster = s.gate.roster(&s.store).await.expect("roster");
    assert!(
        !roster.operator("監視 三郎").expect("op").holds(Role::Lra),
        "the replayed warrant worked"
    );
    assert!(
        roster.unwarranted().len() >= 2,
        "{:?}",
        roster.unwarranted()
    );
}

#[tokio::test]
async fn the_operator_crl_is_refreshed_at_half_its_lifetime() {
    let s = setup().await;
    let roster = Roster::new();
    let year = Duration::from_secs(365 * 86_400);
    let first =
        s.ca.refresh_crl(&s.store, &roster, year, now())
            .await
            .expect("crl");
    assert!(first.is_some(), "none yet: issued");
    let soon = now() + Duration::from_secs(86_400);
    assert!(s
        .ca
        .refresh_crl(&s.store, &roster, year, soon)
        .await
        .expect("crl")
        .is_none());
    let later = now() + year / 2 + Duration::from_secs(86_400);
    let again =
        s.ca.refresh_crl(&s.store, &roster, year, later)
            .await
            .expect("crl");
    assert_eq!(again.map(|c| c.number), first.map(|c| c.number + 1));
}

#[tokio::test]
async fn a_revocation_newer_than_the_operator_crl_makes_it_due_at_once() {
    let s = setup().await;
    let admin_key = s.enrol("管理 太郎", Role::CaAdmin).await;
    s.enrol("LRA 一郎", Role::Lra).await;
    let year = Duration::from_secs(365 * 86_400);
    let roster = s.gate.roster(&s.store).await.expect("roster");
    s.ca.refresh_crl(&s.store, &roster, year, now())
        .await
        .expect("crl");
    // A revocation recorded, as if the CRL issued with it had failed.
    let params = serde_json::json!({"name": "LRA 一郎"});
    let signed = sign(
        admin_key.as_ref(),
        Action::OperatorRevoke,
        params,
        &s.nonce().await,
    );
    let by = s.admit(&signed).await.expect("admitted").actor();
    let roster = s.gate.roster(&s.store).await.expect("roster");
    let certificate = roster.operator("LRA 一郎").expect("op").certificates[0].clone();
    let later = now() + Duration::from_secs(60);
    organisation::revoke_certificate(
        &s.store,
        "LRA 一郎",
        &certificate,
        "keyCompromise",
        &by,
        later,
    )
    .await
    .expect("revoked");
    // From the books, as the upkeep loop does: the gate replays the revocation.
    let crl =
        s.ca.refresh_crl_from_books(&s.gate, &s.store, year, later)
            .await
            .expect("crl");
    let crl = x509_cert::crl::CertificateList::from_der(&crl.expect("due").der).expect("CRL");
    assert_eq!(
        crl.tbs_cert_list.revoked_certificates.map(|r| r.len()),
        Some(1)
    );
}

#[tokio::test]
async fn a_refusal_keeps_only_a_bounded_part_of_the_senders_text() {
    let s = setup().await;
    let huge = format!("{{\"{}\":1}}", "x".repeat(20_000));
    let signed = SignedRequest {
        request: huge,
        signature: String::new(),
        passkey: None,
    };
    assert!(matches!(
        refusal(s.admit(&signed).await),
        Refusal::Malformed(_)
    ));
    let rows = s.store.ledger_rows().await.expect("rows");
    let last = shuin_ledger::Entry::from_canonical(&rows[rows.len() - 1].canonical).expect("entry");
    assert_eq!(last.kind, "operator.refused");
    let detail = last.payload["detail"].as_str().unwrap_or_default();
    assert!(
        detail.chars().count() <= 201,
        "{} chars",
        detail.chars().count()
    );
}

#[test]
fn a_csr_file_is_read_as_pem_or_der_and_named_when_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).expect("key");
    let der = csr(&key, "Alice");
    let pem = der::pem::encode_string("CERTIFICATE REQUEST", der::pem::LineEnding::LF, &der)
        .expect("PEM");
    let (pem_file, der_file) = (dir.path().join("a.pem"), dir.path().join("a.der"));
    std::fs::write(&pem_file, pem).expect("write");
    std::fs::write(&der_file, &der).expect("write");
    assert_eq!(read_csr_file(&pem_file).expect("PEM"), der);
    assert_eq!(read_csr_file(&der_file).expect("DER"), der);
    let missing = dir.path().join("missing.pem");
    let error = read_csr_file(&missing).err().map(|e| e.to_string());
    assert!(error.is_some_and(|e| e.starts_with(&format!("CSR {}: ", missing.display()))));
    let cert = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).expect("PEM");
    std::fs::write(&pem_file, cert).expect("write");
    let error = read_csr_file(&pem_file).err().map(|e| e.to_string());
    assert!(error.is_some_and(|e| e.contains("expected a CERTIFICATE REQUEST")));
    std::fs::write(&der_file, b"junk").expect("write");
    let error = read_csr_file(&der_file)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.starts_with(&format!("{}: ", der_file.display())),
        "{error}"
    );
}

impl Setup {
    async fn pair(
        &self,
        name: &str,
        role: NodeRole,
        hosts: &[&str],
    ) -> Result<Vec<u8>, OperatorCaError> {
        let roster = self.gate.roster(&self.store).await.expect("roster");
        let hosts: Vec<String> = hosts.iter().map(|h| (*h).to_owned()).collect();
        let pairing = Pairing {
            csr_der: &csr(key().as_ref(), name),
            role,
            hosts: &hosts,
        };
        self.ca
            .pair_node(
                &self.store,
                &roster,
                &pairing,
                NODE_VALIDITY,
                &admin(),
                &OsRandom,
                now(),
            )
            .await
    }
}

use shuin_core::x509::node::{NodeIdentity, NodeRole};

#[tokio::test]
async fn a_paired_node_is_certified_and_unpairing_lists_it_on_the_operator_crl() {
    let s = setup().await;
    let der = s
        .pair("ra-1", NodeRole::Ra, &["ra1.example.jp", "127.0.0.1"])
        .await
        .expect("pair");
    let node = NodeIdentity::of(&der).expect("a node certificate");
    assert_eq!((node.role, node.name.as_str()), (NodeRole::Ra, "ra-1"));
    shuin_core::x509::issued::check_issued_by(&der, s.ca.certificate_der())
        .expect("the operator CA's");
    let kinds = s.kinds().await;
    assert!(
        kinds.contains(&"node_certificate.signing".to_owned()),
        "{kinds:?}"
    );
    assert!(kinds.contains(&"operator.enrolled".to_owned()), "{kinds:?}");

    let roster = s.gate.roster(&s.store).await.expect("roster");
    let (revoked, crl) =
        s.ca.revoke(
            &s.store,
            &roster,
            "ra-1",
            None,
            "cessationOfOperation",
            &admin(),
            Duration::from_secs(86_400),
            now(),
        )
        .await
        .expect("unpair");
    assert_eq!(revoked, 1);
    let list = x509_cert::crl::CertificateList::from_der(&crl.der).expect("CRL");
    let serial = x509_cert::Certificate::from_der(&der)
        .expect("cert")
        .tbs_certificate
        .serial_number;
    let listed = list.tbs_cert_list.revoked_certificates.unwrap_or_default();
    assert!(
        listed.iter().any(|r| r.serial_number == serial),
        "the node is on the operator CRL"
    );
}

#[tokio::test]
async fn a_pairing_names_a_new_node_and_its_hosts() {
    let s = setup().await;
    s.enrol("admin", Role::CaAdmin).await;
    s.pair("ra-1", NodeRole::Ra, &["127.0.0.1"])
        .await
        .expect("pair");
    let code = |e: OperatorCaError| match e {
        OperatorCaError::Csr { code, .. } => code,
        other => panic!("{other}"),
    };
    let taken = s
        .pair("ra-1", NodeRole::Ra, &["127.0.0.2"])
        .await
        .expect_err("taken");
    assert_eq!(code(taken), "node_name_taken");
    let operator = s
        .pair("admin", NodeRole::Ra, &["127.0.0.2"])
        .await
        .expect_err("operator");
    assert_eq!(code(operator), "node_name_taken");
    let ca_with_host = s
        .pair("ca", NodeRole::Ca, &["ca.example.jp"])
        .await
        .expect_err("ca host");
    assert_eq!(code(ca_with_host), "node_hosts_invalid");
    let ra_without = s
        .pair("ra-2", NodeRole::Ra, &[])
        .await
        .expect_err("no host");
    assert_eq!(code(ra_without), "node_hosts_invalid");
    let ca = s
        .pair("ca", NodeRole::Ca, &[])
        .await
        .expect("the CA's link");
    assert_eq!(NodeIdentity::of(&ca).expect("node").role, NodeRole::Ca);
}

#[path = "passkey_tests.rs"]
mod passkey;

mod handed;
