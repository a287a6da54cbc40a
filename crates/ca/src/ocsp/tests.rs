//! Nothing a stranger asks makes the OCSP key sign (counted with a signer that counts);
//! the answers and their schedule live in the store, the memory holds a bounded few.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::ocsp::Work;
use crate::ocsp_responder::StatusWatch;
use crate::test_ca::{fixture, order, Fixture};
use der::{Decode, Encode};
use shuin_core::issuance::{CaProfile, Issuer};
use shuin_core::revocation::RevocationReason;
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::template::{assemble_certificate, tbs_der};
use shuin_core::SystemClock;
use shuin_keys::{KeyError, KeySpec, SoftwareSigner};
use std::sync::atomic::{AtomicUsize, Ordering};
use x509_ocsp::{OcspRequest, Request, TbsRequest, Version};

#[derive(Debug)]
struct Counting {
    inner: SoftwareSigner,
    signed: Arc<AtomicUsize>,
    /// While set, signing fails (a key backend gone).
    failing: Arc<std::sync::atomic::AtomicBool>,
}

impl Signer for Counting {
    fn algorithm(&self) -> shuin_core::SignatureAlgorithm {
        self.inner.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.inner.public_key_der()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(KeyError::SigningFailed);
        }
        self.signed.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(message)
    }
}

/// A responder on the fixture's store and clock, whose certificate is also the issuer's
/// (enough for the request paths), and the counter of its signatures.
async fn responder(fixture: &Fixture) -> (Arc<OcspService>, Arc<AtomicUsize>) {
    responder_holding(fixture, HELD_ANSWERS).await
}

/// As [`responder`], holding at most `held` answers in memory.
async fn responder_holding(fixture: &Fixture, held: usize) -> (Arc<OcspService>, Arc<AtomicUsize>) {
    responder_failing(fixture, held, Arc::default()).await
}

/// As [`responder_holding`], whose signing fails while `failing` is set.
async fn responder_failing(
    fixture: &Fixture,
    held: usize,
    failing: Arc<std::sync::atomic::AtomicBool>,
) -> (Arc<OcspService>, Arc<AtomicUsize>) {
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let name = NameBuilder::new()
        .country("JP")
        .and_then(|b| b.common_name("Test Issuing"))
        .unwrap()
        .build();
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).unwrap();
    let template = CaProfile::root(
        name,
        spki,
        Serial::from_magnitude(&[0x42]).unwrap(),
        fixture.clock.now(),
        Duration::from_secs(86_400),
    )
    .unwrap();
    let der = certify(&key, template);
    let signed = Arc::new(AtomicUsize::new(0));
    let signer = Arc::new(Counting {
        inner: key,
        signed: signed.clone(),
        failing,
    });
    let service = OcspService::new(
        fixture.store.clone(),
        signer,
        &der,
        &der,
        fixture.clock.clone(),
        OcspSettings {
            response_lifetime: Duration::from_secs(3600),
            held_answers: held,
        },
    )
    .unwrap();
    service.load(fixture.store.as_ref()).await.unwrap();
    (Arc::new(service), signed)
}

fn request(service: &OcspService, serials: &[&Serial]) -> Vec<u8> {
    let request_list = serials
        .iter()
        .map(|serial| Request {
            req_cert: service.issuer.cert_id(serial).unwrap(),
            single_request_extensions: None,
        })
        .collect();
    OcspRequest {
        tbs_request: TbsRequest {
            version: Version::V1,
            requestor_name: None,
            request_list,
            request_extensions: None,
        },
        optional_signature: None,
    }
    .to_der()
    .unwrap()
}

fn serial(n: u64) -> Serial {
    Serial::from_magnitude(&n.to_be_bytes()).unwrap()
}

/// Issues a certificate in the fixture's store (the responder not told: as another
/// process would).
async fn issued(fixture: &Fixture, application: &str) -> Serial {
    fixture.ca.issue(order(application)).await.unwrap().serial
}

/// Issues a certificate here: accounted for first, its answer signed after.
async fn issued_here(fixture: &Fixture, service: &OcspService, application: &str) -> Serial {
    service.making(Work::Issuance);
    let serial = issued(fixture, application).await;
    assert!(service.presign_issued(&serial));
    serial
}

async fn ask(service: &OcspService, serial: &Serial) -> Vec<u8> {
    service.respond(&request(service, &[serial])).await
}

/// The status an answer gives.
fn status(service: &OcspService, answer: &[u8]) -> x509_ocsp::CertStatus {
    let named =
        shuin_core::ocsp_check::check_answer(answer, &service.responder, &service.issuer).unwrap();
    assert_eq!(named.len(), 1);
    named[0].1
}

fn revocation(serial: &Serial) -> crate::revocation::RevocationOrder {
    crate::revocation::RevocationOrder {
        serial: serial.clone(),
        reason: RevocationReason::KeyCompromise,
        invalidity_date: None,
        actor: shuin_ledger::Actor {
            name: "LRA 一郎".into(),
            role: "lra".into(),
            zone: "secure".into(),
        },
        authorisation: "operator".into(),
    }
}

/// Revokes in the store and answers it here, as the serve loop's revoker does.
async fn revoked_here(fixture: &Fixture, service: &Arc<OcspService>, serial: &Serial) {
    service.making(Work::Revocation);
    let done = fixture.ca.revoke(revocation(serial)).await.unwrap();
    Arc::clone(service)
        .answer_revocation(
            serial.clone(),
            done.revoked_at,
            RevocationReason::KeyCompromise,
        )
        .await;
}

#[tokio::test]
async fn serials_never_issued_get_unauthorized_and_sign_nothing() {
    let fixture = fixture().await;
    let (service, signed) = responder(&fixture).await;
    issued(&fixture, "app-1").await;
    for n in 1_000..3_000u64 {
        assert_eq!(ask(&service, &serial(n)).await, ocsp::unauthorized());
    }
    assert_eq!(signed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn several_certificates_in_one_request_are_malformed_and_sign_nothing() {
    let fixture = fixture().await;
    let (service, signed) = responder(&fixture).await;
    let (one, two) = (
        issued(&fixture, "app-1").await,
        issued(&fixture, "app-2").await,
    );
    let answer = service.respond(&request(&service, &[&one, &two])).await;
    assert_eq!(answer, ocsp::malformed_request());
    assert_eq!(signed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_request_path_never_signs_and_a_new_certificate_is_signed_at_issuance() {
    let fixture = fixture().await;
    let (service, signed) = responder(&fixture).await;
    service.making(Work::Issuance);
    let seven = issued(&fixture, "app-1").await;
    // Issued, not pre-signed yet: try later, nothing signed.
    for _ in 0..10 {
        assert_eq!(ask(&service, &seven).await, ocsp::try_later());
    }
    assert_eq!(signed.load(Ordering::SeqCst), 0);
    service.count_answers().await;
    let waiting = service.answer_freshness();
    assert_eq!((waiting.signed, waiting.waiting), (0, 1));
    assert_eq!(waiting.earliest_next_update, None);
    // Signed once at issuance, then served as it is.
    assert!(service.presign_issued(&seven));
    assert!(!service.presign_issued(&seven), "already signed");
    let first = ask(&service, &seven).await;
    assert_eq!(
        status(&service, &first),
        x509_ocsp::CertStatus::Good(der::asn1::Null)
    );
    for _ in 0..10 {
        assert_eq!(ask(&service, &seven).await, first);
    }
    assert_eq!(signed.load(Ordering::SeqCst), 1, "served from memory");
    // The round writes it and has nothing to sign; its freshness is its nextUpdate.
    assert_eq!(service.upkeep(usize::MAX).await, 0);
    service.count_answers().await;
    let fresh = OcspResponder::freshness(service.as_ref()).unwrap();
    assert_eq!((fresh.signed, fresh.waiting), (1, 0));
    let next = shuin_core::ocsp_check::next_update(&first).unwrap();
    assert_eq!(fresh.earliest_next_update, Some(next));
    assert_eq!(signed.load(Ordering::SeqCst), 1);
    // A serial never issued is still refused.
    assert_eq!(ask(&service, &serial(8)).await, ocsp::unauthorized());
}

#[tokio::test]
async fn the_feed_hands_over_each_kept_answer_once_in_order() {
    let fixture = fixture().await;
    let (service, _) = responder(&fixture).await;
    let mut serials = Vec::new();
    for n in 1..=3 {
        serials.push(issued(&fixture, &format!("app-{n}")).await);
    }
    // Issued elsewhere: the round's look through the store signs them.
    assert_eq!(service.upkeep(usize::MAX).await, 3);
    // A node of another epoch (or none) gets everything, in batches.
    let first = service.answers_after(0, 0, 2).await;
    assert_eq!(first.answers.len(), 2);
    let rest = service.answers_after(first.epoch, first.through, 2).await;
    assert_eq!(rest.answers.len(), 1);
    assert_eq!(rest.through, first.through + 1);
    let none = service.answers_after(rest.epoch, rest.through, 2).await;
    assert_eq!((none.answers.len(), none.through), (0, rest.through));
    // An answer signed again (its certificate revoked) is handed over again, once.
    revoked_here(&fixture, &service, &serials[1]).await;
    let again = service.answers_after(none.epoch, none.through, 10).await;
    assert_eq!(again.answers.len(), 1);
    let named = shuin_core::ocsp_check::check_answer(
        &again.answers[0],
        &service.responder,
        &service.issuer,
    )
    .unwrap();
    assert_eq!(named[0].0, serials[1]);
    assert!(matches!(named[0].1, x509_ocsp::CertStatus::Revoked(_)));
    let mut tampered = again.answers[0].as_ref().clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(
        shuin_core::ocsp_check::check_answer(&tampered, &service.responder, &service.issuer)
            .is_err()
    );
}

#[tokio::test]
async fn a_revocation_is_answered_revoked_at_once_and_signed_once() {
    let fixture = fixture().await;
    let (service, signed) = responder(&fixture).await;
    let seven = issued_here(&fixture, &service, "app-1").await;
    let good = ask(&service, &seven).await;
    fixture.clock.advance(Duration::from_millis(1_500));
    revoked_here(&fixture, &service, &seven).await;
    let revoked = ask(&service, &seven).await;
    assert_ne!(revoked, good);
    let x509_ocsp::CertStatus::Revoked(info) = status(&service, &revoked) else {
        panic!("not revoked");
    };
    // In whole seconds, as the store keeps it.
    assert_eq!(
        info.revocation_time.0.to_system_time(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_001)
    );
    // Written at once: the store serves it too, and the round has nothing to sign.
    assert_eq!(
        fixture.store.ocsp_lookup(&seven).await.unwrap(),
        OcspLookup::Answered(revoked.clone())
    );
    assert_eq!(service.upkeep(usize::MAX).await, 0);
    assert_eq!(signed.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_good_answer_signed_from_a_read_before_a_revocation_is_not_kept() {
    let fixture = fixture().await;
    let (service, signed) = responder(&fixture).await;
    let seven = issued(&fixture, "app-1").await;
    // A round read the store (good) and signed; meanwhile the certificate was revoked here.
    let read_at = service.read().recent.now();
    let good = service.sign_one(&seven, Status::Good).unwrap();
    revoked_here(&fixture, &service, &seven).await;
    assert!(!service.keep(seven.clone(), good, read_at, presigning::Source::Round));
    assert!(matches!(
        status(&service, &ask(&service, &seven).await),
        x509_ocsp::CertStatus::Revoked(_)
    ));
    // Nothing is left to sign; the store still says revoked.
    assert_eq!(service.upkeep(usize::MAX).await, 0);
    assert_eq!(signed.load(Ordering::SeqCst), 2);
    let OcspLookup::Answered(kept) = fixture.store.ocsp_lookup(&seven).await.unwrap() else {
        panic!("no answer kept");
    };
    assert!(matches!(
        status(&service, &kept),
        x509_ocsp::CertStatus::Revoked(_)
    ));
}

#[tokio::test]
async fn the_status_watch_notices_what_other_processes_did_from_the_counts() {
    let fixture = fixture().await;
    let store = fixture.store.as_ref();
    let (service, _) = responder(&fixture).await;
    assert_eq!(service.upkeep(usize::MAX).await, 0, "the look at the start");
    let watch = StatusWatch;
    let nothing_elsewhere = |service: &OcspService| {
        assert_eq!(service.read().scan, None, "nothing done elsewhere");
    };
    // Issued here: accounted for before its row is written, so the watch, looking
    // before, during or after, takes none of it for another process's work; then
    // revoked here.
    service.making(Work::Issuance);
    watch.check(&service, store).await;
    let here = issued(&fixture, "app-1").await;
    watch.check(&service, store).await;
    assert!(service.presign_issued(&here));
    revoked_here(&fixture, &service, &here).await;
    // A revocation that failed is taken back.
    service.making(Work::Revocation);
    assert!(fixture.ca.revoke(revocation(&here)).await.is_err());
    service.not_made(Work::Revocation);
    for _ in 0..2 {
        watch.check(&service, store).await;
        nothing_elsewhere(&service);
    }
    assert_eq!(service.accounted(), (1, 1));
    // Issued by another process: found by the next round, and signed.
    let elsewhere = issued(&fixture, "app-2").await;
    watch.check(&service, store).await;
    assert_eq!(service.accounted(), (2, 1));
    assert_eq!(service.upkeep(usize::MAX).await, 1);
    let good = ask(&service, &elsewhere).await;
    assert_eq!(
        status(&service, &good),
        x509_ocsp::CertStatus::Good(der::asn1::Null)
    );
    // Revoked, and answered, by another process (its own responder on the same store):
    // the good answer this one held is let go, and the store's revoked one served.
    let held = issued_here(&fixture, &service, "app-3").await;
    let good = ask(&service, &held).await;
    let (other, _) = responder(&fixture).await;
    revoked_here(&fixture, &other, &held).await;
    assert_eq!(ask(&service, &held).await, good, "not noticed yet");
    watch.check(&service, store).await;
    assert_eq!(service.accounted(), (3, 2));
    let revoked = ask(&other, &held).await;
    assert!(matches!(
        status(&other, &revoked),
        x509_ocsp::CertStatus::Revoked(_)
    ));
    assert_eq!(ask(&service, &held).await, revoked);
    assert_eq!(service.upkeep(usize::MAX).await, 0);
    for _ in 0..2 {
        watch.check(&service, store).await;
        nothing_elsewhere(&service);
    }
}

#[tokio::test]
async fn what_could_not_be_signed_is_signed_at_a_later_round() {
    let fixture = fixture().await;
    let failing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (service, signed) = responder_failing(&fixture, HELD_ANSWERS, failing.clone()).await;
    service.making(Work::Issuance);
    let seven = issued(&fixture, "app-1").await;
    assert!(!service.presign_issued(&seven));
    for _ in 0..3 {
        assert_eq!(service.upkeep(usize::MAX).await, 0);
        assert_eq!(ask(&service, &seven).await, ocsp::try_later());
    }
    // Revoked while the key is gone: never `good`, and signed once the key is back.
    revoked_here(&fixture, &service, &seven).await;
    assert_eq!(ask(&service, &seven).await, ocsp::try_later());
    failing.store(false, Ordering::SeqCst);
    // After the look's pause (a failing backend is not asked every round).
    let mut rounds = 0;
    while service.upkeep(usize::MAX).await == 0 {
        rounds += 1;
        assert!(rounds <= 20, "never signed");
    }
    assert!(rounds > 0, "the look waits after a failure");
    assert!(matches!(
        status(&service, &ask(&service, &seven).await),
        x509_ocsp::CertStatus::Revoked(_)
    ));
    assert_eq!(signed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn answers_past_half_their_lifetime_are_signed_again_by_the_stores_index() {
    let fixture = fixture().await;
    let (service, signed) = responder(&fixture).await;
    let seven = issued_here(&fixture, &service, "app-1").await;
    let first = ask(&service, &seven).await;
    assert_eq!(service.upkeep(usize::MAX).await, 0);
    fixture.clock.advance(Duration::from_secs(1700));
    assert_eq!(service.upkeep(usize::MAX).await, 0, "not half its life yet");
    fixture.clock.advance(Duration::from_secs(200));
    assert_eq!(service.upkeep(usize::MAX).await, 1);
    let second = ask(&service, &seven).await;
    assert_ne!(second, first, "the held answer is replaced");
    assert!(
        shuin_core::ocsp_check::next_update(&second).unwrap()
            > shuin_core::ocsp_check::next_update(&first).unwrap()
    );
    assert_eq!(signed.load(Ordering::SeqCst), 2);
}

/// A certificate for `key` from `issuer` (its key and certificate) made from `template`.
fn certify(
    issuer_key: &SoftwareSigner,
    template: shuin_core::x509::template::CertificateTemplate,
) -> Vec<u8> {
    let tbs = template.to_tbs(issuer_key.algorithm()).unwrap();
    let signature = issuer_key.sign(&tbs_der(&tbs).unwrap()).unwrap();
    assemble_certificate(tbs, &signature)
        .unwrap()
        .to_der()
        .unwrap()
}

/// The check of an answer signed by a responder the CA certified, for OCSP signing
/// (`for_ocsp`) or as an operator.
async fn checked_answer(
    ca_key: &SoftwareSigner,
    identity: &shuin_core::issuance::IssuerIdentity,
    ca_der: &[u8],
    for_ocsp: bool,
) -> Result<Vec<(Serial, x509_ocsp::CertStatus)>, shuin_core::ocsp_check::OcspCheckError> {
    let (now, day) = (SystemClock.now(), Duration::from_secs(86_400));
    let (key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let spki = spki::SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).unwrap();
    let subject = NameBuilder::new().common_name("responder").unwrap().build();
    let template = if for_ocsp {
        CaProfile::ocsp_responder(identity, subject, spki, serial(2), now, day)
    } else {
        CaProfile::operator(identity, "someone", spki, serial(3), now, day)
    };
    let responder_der = certify(ca_key, template.unwrap());
    let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
    let settings = OcspSettings {
        response_lifetime: Duration::from_secs(3600),
        held_answers: HELD_ANSWERS,
    };
    let clock = Arc::new(SystemClock);
    let service = OcspService::new(
        Arc::new(store),
        Arc::new(key),
        &responder_der,
        ca_der,
        clock,
        settings,
    )
    .unwrap();
    assert!(service.presign_issued(&serial(7)));
    let answer = service.respond(&request(&service, &[&serial(7)])).await;
    let ca = Certificate::from_der(ca_der).unwrap();
    shuin_core::ocsp_check::check_answer(&answer, &ca, &service.issuer)
}

#[tokio::test]
async fn only_the_ca_or_a_responder_it_certified_for_ocsp_speaks_for_it() {
    use shuin_core::issuance::IssuerIdentity;
    use shuin_core::x509::extensions::key_identifier;
    let (ca_key, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let name = NameBuilder::new().common_name("Test CA").unwrap().build();
    let ca_spki = spki::SubjectPublicKeyInfoOwned::from_der(ca_key.public_key_der()).unwrap();
    let identity = IssuerIdentity {
        name: name.clone(),
        key_id: key_identifier(&ca_spki),
    };
    let day = Duration::from_secs(86_400);
    let root = CaProfile::root(name, ca_spki, serial(1), SystemClock.now(), day).unwrap();
    let ca_der = certify(&ca_key, root);
    assert!(checked_answer(&ca_key, &identity, &ca_der, true)
        .await
        .is_ok());
    assert_eq!(
        checked_answer(&ca_key, &identity, &ca_der, false)
            .await
            .unwrap_err(),
        shuin_core::ocsp_check::OcspCheckError::NotAnOcspResponder
    );
}
