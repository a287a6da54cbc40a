//! Nothing a stranger asks makes the OCSP key sign: counted with a signer that counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use shuin_core::x509::template::tbs_der;
use shuin_core::SystemClock;
use shuin_keys::{KeyError, KeySpec, SoftwareSigner};
use std::sync::atomic::{AtomicUsize, Ordering};
use x509_ocsp::{OcspRequest, Request, TbsRequest, Version};

#[derive(Debug)]
struct Counting {
    inner: SoftwareSigner,
    signed: Arc<AtomicUsize>,
}

impl Signer for Counting {
    fn algorithm(&self) -> shuin_core::SignatureAlgorithm {
        self.inner.algorithm()
    }
    fn public_key_der(&self) -> &[u8] {
        self.inner.public_key_der()
    }
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signed.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(message)
    }
}

/// A responder whose certificate is also the issuer's (enough for the request paths),
/// and the counter of its signatures.
async fn responder() -> (OcspService, Arc<AtomicUsize>) {
    responder_holding(HELD_ANSWERS).await
}

/// As [`responder`], holding at most `held` answers in memory (the rest spilled to an
/// in-memory store).
async fn responder_holding(held: usize) -> (OcspService, Arc<AtomicUsize>) {
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
        SystemClock.now(),
        Duration::from_secs(86_400),
    )
    .unwrap();
    let tbs = template.to_tbs(key.algorithm()).unwrap();
    let signature = key.sign(&tbs_der(&tbs).unwrap()).unwrap();
    let der = assemble_certificate(tbs, &signature)
        .unwrap()
        .to_der()
        .unwrap();
    let signed = Arc::new(AtomicUsize::new(0));
    let signer = Arc::new(Counting {
        inner: key,
        signed: signed.clone(),
    });
    let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
    let service = OcspService::new(
        Arc::new(store),
        signer,
        &der,
        &der,
        Arc::new(SystemClock),
        OcspSettings {
            response_lifetime: Duration::from_secs(3600),
            held_answers: held,
        },
    )
    .unwrap();
    (service, signed)
}

fn request(service: &OcspService, serials: &[u64]) -> Vec<u8> {
    let request_list = serials
        .iter()
        .map(|n| Request {
            req_cert: service
                .issuer
                .cert_id(&Serial::from_magnitude(&n.to_be_bytes()).unwrap())
                .unwrap(),
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

#[tokio::test]
async fn serials_never_issued_get_unauthorized_and_sign_nothing() {
    let (service, signed) = responder().await;
    service.add_issued(serial(7));
    for n in 1_000..3_000u64 {
        let answer = service.respond(&request(&service, &[n])).await;
        assert_eq!(answer, ocsp::unauthorized());
    }
    assert_eq!(signed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn several_certificates_in_one_request_are_malformed_and_sign_nothing() {
    let (service, signed) = responder().await;
    service.add_issued(serial(7));
    service.add_issued(serial(8));
    let answer = service.respond(&request(&service, &[7, 8])).await;
    assert_eq!(answer, ocsp::malformed_request());
    assert_eq!(signed.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn the_request_path_never_signs_and_a_new_certificate_is_signed_at_issuance() {
    let (service, signed) = responder().await;
    service.add_issued(serial(7));
    // Issued, not pre-signed yet (issued by another process): try later, nothing signed.
    for _ in 0..10 {
        assert_eq!(
            service.respond(&request(&service, &[7])).await,
            ocsp::try_later()
        );
    }
    assert_eq!(signed.load(Ordering::SeqCst), 0);
    let waiting = service.answer_freshness();
    assert_eq!((waiting.signed, waiting.waiting), (0, 1));
    assert_eq!(waiting.earliest_next_update, None);
    // Signed once at issuance, then served as it is.
    assert!(service.presign_issued(&serial(7)));
    assert!(!service.presign_issued(&serial(7)), "already signed");
    assert!(!service.presign_issued(&serial(8)), "never issued");
    let first = service.respond(&request(&service, &[7])).await;
    assert_ne!(first, ocsp::try_later());
    for _ in 0..10 {
        assert_eq!(service.respond(&request(&service, &[7])).await, first);
    }
    assert_eq!(signed.load(Ordering::SeqCst), 1, "served from the cache");
    // Its freshness is the answer's own nextUpdate.
    let fresh = OcspResponder::freshness(&service).unwrap();
    assert_eq!((fresh.signed, fresh.waiting), (1, 0));
    let next = shuin_core::ocsp_check::next_update(&first).unwrap();
    assert_eq!(fresh.earliest_next_update, Some(next));
    assert!(next > SystemClock.now() + Duration::from_secs(3500));
    // The pre-signing round has nothing left to do for it.
    assert_eq!(service.presign(usize::MAX), 0);
}

#[tokio::test]
async fn the_feed_hands_over_each_kept_answer_once_in_order() {
    let (service, _) = responder().await;
    for n in [7, 8, 9] {
        service.add_issued(serial(n));
    }
    assert_eq!(service.presign(usize::MAX), 3);
    // A node of another epoch (or none) gets everything, in batches.
    let first = service.answers_after(0, 0, 2).await;
    assert_eq!((first.answers.len(), first.through), (2, 2));
    let rest = service.answers_after(first.epoch, first.through, 2).await;
    assert_eq!((rest.answers.len(), rest.through), (1, 3));
    let none = service.answers_after(rest.epoch, rest.through, 2).await;
    assert_eq!((none.answers.len(), none.through), (0, 3));
    // An answer signed again (its status changed) is handed over again, once.
    service.state.write().unwrap().drop_answer(&serial(8));
    assert_eq!(service.presign(usize::MAX), 1);
    let again = service.answers_after(none.epoch, none.through, 10).await;
    assert_eq!((again.answers.len(), again.through), (1, 4));
    // Each answer checks out against the issuer and names its certificate.
    let issuer = service.responder.clone();
    let named =
        shuin_core::ocsp_check::check_answer(&again.answers[0], &issuer, &service.issuer).unwrap();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].0, serial(8));
    let mut tampered = again.answers[0].as_ref().clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert!(shuin_core::ocsp_check::check_answer(&tampered, &issuer, &service.issuer).is_err());
}

#[tokio::test]
async fn a_certificate_issued_while_the_statuses_reload_stays_known() {
    let (service, signed) = responder().await;
    // Issued and told to the responder after the reload read the store (which does not
    // list it yet): the reload must not forget it.
    let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
    service.add_issued(serial(7));
    service.load(&store).await.unwrap();
    // Known (try later), not unauthorized; and the pre-signing round signs it.
    assert_eq!(
        service.respond(&request(&service, &[7])).await,
        ocsp::try_later()
    );
    assert_eq!(service.presign(usize::MAX), 1);
    assert_eq!(signed.load(Ordering::SeqCst), 1);
    // A serial never issued is still refused.
    assert_eq!(
        service.respond(&request(&service, &[8])).await,
        ocsp::unauthorized()
    );
}

#[tokio::test]
async fn a_revocation_is_answered_revoked_at_once_and_signed_once() {
    use shuin_core::revocation::RevocationReason;
    let (service, signed) = responder().await;
    service.add_issued(serial(7));
    assert!(service.presign_issued(&serial(7)));
    let good = service.respond(&request(&service, &[7])).await;
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_500);
    assert!(service.presign_revoked(&serial(7), at, RevocationReason::KeyCompromise));
    let revoked = service.respond(&request(&service, &[7])).await;
    assert_ne!(revoked, good);
    let named = shuin_core::ocsp_check::check_answer(&revoked, &service.responder, &service.issuer)
        .unwrap();
    let x509_ocsp::CertStatus::Revoked(info) = &named[0].1 else {
        panic!("not revoked: {:?}", named[0].1);
    };
    assert_eq!(
        info.revocation_time.0.to_system_time(),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    );
    // Kept in whole seconds, as the store keeps it, so the status watch's reload finds
    // no change and signs nothing again.
    assert_eq!(
        service.issued_status(&serial(7)),
        Some(Status::Revoked {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            reason: Some(RevocationReason::KeyCompromise)
        })
    );
    // The same revocation again, or the pre-signing round: nothing more is signed.
    assert!(!service.presign_revoked(&serial(7), at, RevocationReason::KeyCompromise));
    assert_eq!(service.presign(usize::MAX), 0);
    assert_eq!(signed.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_reload_that_read_the_store_before_a_revocation_keeps_it() {
    use shuin_core::revocation::RevocationReason;
    let (service, signed) = responder().await;
    service.add_issued(serial(7));
    // The store was read before the revocation was written: it lists no revocation.
    let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    assert!(service.presign_revoked(&serial(7), at, RevocationReason::Superseded));
    let revoked = service.respond(&request(&service, &[7])).await;
    assert_eq!(service.load(&store).await.unwrap(), 0);
    assert_eq!(service.respond(&request(&service, &[7])).await, revoked);
    assert_eq!(service.presign(usize::MAX), 0);
    assert_eq!(signed.load(Ordering::SeqCst), 1);
}

fn revocation(serial: &Serial) -> crate::revocation::RevocationOrder {
    crate::revocation::RevocationOrder {
        serial: serial.clone(),
        reason: shuin_core::revocation::RevocationReason::KeyCompromise,
        invalidity_date: None,
        actor: shuin_ledger::Actor {
            name: "LRA 一郎".into(),
            role: "lra".into(),
            zone: "secure".into(),
        },
        authorisation: "operator".into(),
    }
}

#[tokio::test]
async fn the_status_watch_learns_what_other_processes_did_from_the_counts() {
    use crate::ocsp_responder::StatusWatch;
    use shuin_core::issuance::Issuer;
    let fixture = crate::test_ca::fixture().await;
    let (ca, store) = (&fixture.ca, fixture.store.as_ref());
    let (service, _) = responder().await;
    let mut watch = StatusWatch::default();
    assert!(watch.check(&service, store).await);
    // Issued here, the responder told only after the watch looked (an issuance in
    // flight): not reloaded for it; then issued and revoked here, each told at once.
    let here = ca.issue(crate::test_ca::order("app-1")).await.unwrap();
    assert!(watch.check(&service, store).await);
    assert_eq!(service.known_counts(), (0, 0), "in flight: no reload");
    service.add_issued(here.serial.clone());
    let done = ca.revoke(revocation(&here.serial)).await.unwrap();
    let reason = shuin_core::revocation::RevocationReason::KeyCompromise;
    service.presign_revoked(&here.serial, done.revoked_at, reason);
    assert_eq!(service.known_counts(), (1, 1));
    for _ in 0..2 {
        assert!(watch.check(&service, store).await);
        assert_eq!(service.known_counts(), (1, 1));
    }
    // Issued, then revoked, by another process: the watch finds each by the next round.
    let elsewhere = ca.issue(crate::test_ca::order("app-2")).await.unwrap();
    for _ in 0..2 {
        assert!(watch.check(&service, store).await);
    }
    assert_eq!(service.known_counts(), (2, 1));
    assert_eq!(service.issued_status(&elsewhere.serial), Some(Status::Good));
    ca.revoke(revocation(&elsewhere.serial)).await.unwrap();
    for _ in 0..2 {
        assert!(watch.check(&service, store).await);
    }
    assert_eq!(service.known_counts(), (2, 2));
    assert!(matches!(
        service.issued_status(&elsewhere.serial),
        Some(Status::Revoked { .. })
    ));
}

#[tokio::test]
async fn answers_beyond_those_held_are_spilled_and_still_served_and_fed() {
    let (service, signed) = responder_holding(2).await;
    for n in 1..=5 {
        service.add_issued(serial(n));
    }
    assert_eq!(service.presign(usize::MAX), 5);
    let mut first = Vec::new();
    for n in 1..=5 {
        first.push(service.respond(&request(&service, &[n])).await);
    }
    // The three oldest go to the store; two stay in memory.
    assert_eq!(service.spill().await.unwrap(), 3);
    assert_eq!(service.spill().await.unwrap(), 0);
    assert_eq!(service.state.read().unwrap().held, 2);
    let from_memory = (1..=5)
        .filter(|n| {
            service
                .respond_from_cache(&request(&service, &[*n]))
                .is_some()
        })
        .count();
    assert_eq!(from_memory, 2);
    // Every answer is still the same bytes, from memory or from the store, and the
    // feed hands all five over; nothing was signed again.
    for n in 1..=5u64 {
        let index = usize::try_from(n - 1).unwrap();
        assert_eq!(
            service.respond(&request(&service, &[n])).await,
            first[index]
        );
    }
    let fed = service.answers_after(0, 0, 10).await;
    let mut fed: Vec<Vec<u8>> = fed.answers.iter().map(|a| a.as_ref().clone()).collect();
    let mut all = first.clone();
    fed.sort();
    all.sort();
    assert_eq!(fed, all);
    assert_eq!(service.presign(usize::MAX), 0);
    assert_eq!(signed.load(Ordering::SeqCst), 5);
    // A spilled answer whose status changes is signed again and held again.
    let spilled = (1..=5u64)
        .find(|n| {
            service
                .respond_from_cache(&request(&service, &[*n]))
                .is_none()
        })
        .unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let reason = shuin_core::revocation::RevocationReason::KeyCompromise;
    assert!(service.presign_revoked(&serial(spilled), at, reason));
    let revoked = service.respond(&request(&service, &[spilled])).await;
    assert_ne!(revoked, first[usize::try_from(spilled - 1).unwrap()]);
    assert!(service
        .respond_from_cache(&request(&service, &[spilled]))
        .is_some());
    assert_eq!(service.state.read().unwrap().held, 3);
}

#[test]
fn what_is_kept_per_certificate_stays_small() {
    // One entry of the status map and one of the feed numbers per issued certificate,
    // with no heap allocation of their own (docs/reliability.md, "Soak").
    let status_entry = std::mem::size_of::<(Serial, Known)>();
    let feed_entry = std::mem::size_of::<(u64, Serial)>();
    assert!(status_entry <= 80, "status entry: {status_entry} bytes");
    assert!(feed_entry <= 32, "feed entry: {feed_entry} bytes");
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
    service.add_issued(serial(7));
    assert!(service.presign_issued(&serial(7)));
    let answer = service.respond(&request(&service, &[7])).await;
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
