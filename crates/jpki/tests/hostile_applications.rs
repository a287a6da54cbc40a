//! Every hostile class against `Verifier::verify_application`, through the public API,
//! with cards from the testkit's simulated J-LIS CA.

mod common;

use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use common::*;
use der::{Decode, Encode};
use shuin_core::application::ApplicantEntries;
use shuin_core::{ReasonCode, ReviewReason};
use shuin_jpki::{
    match_applicant, shipped_signca03_pem, Era, JpkiCrl, JpkiCrlSet, JpkiError, MatchOutcome,
    TrustAnchors, Verifier, VerifierConfig,
};
use shuin_keys::Signer;
use shuin_testkit::{CardKind, SimulatedJlisCa};

fn edit(cms: &[u8], change: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let mut info = ContentInfo::from_der(cms).unwrap_or_else(|e| panic!("{e}"));
    let mut signed: SignedData = info.content.decode_as().unwrap_or_else(|e| panic!("{e}"));
    change(&mut signed);
    info.content = der::Any::from_der(&signed.to_der().unwrap_or_else(|e| panic!("{e}")))
        .unwrap_or_else(|e| panic!("{e}"));
    info.to_der().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_good_application_verifies_and_yields_the_basic_items() {
    let world = World::new();
    let card = world.card(&spec());
    let verified = world
        .verifier
        .verify_application(
            &sign(&card, CONTENT),
            &JpkiCrlSet::single(world.crl.clone()),
            now(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(verified.content, CONTENT);
    let signer = &verified.signer;
    assert_eq!(signer.der, card.cert_der);
    assert_eq!(signer.basic.name, "山田\u{3000}太郎");
    assert_eq!(signer.basic.birth.iso(), "1990-01-02");
    assert_eq!(signer.basic.birth.era, Era::Heisei);
    assert_eq!(signer.basic.gender, "1");
    assert!(!signer.test_card);
    assert!(
        signer.issuer.contains("OU=JPKI for digital signature"),
        "{}",
        signer.issuer
    );
    assert_eq!(
        signer.serial_hex,
        hex::encode(card.serial().unwrap_or_else(|e| panic!("{e}")))
    );
    assert_eq!(signer.fingerprint_sha256.len(), 64);
}

#[test]
fn a_rogue_ca_with_the_same_name_is_untrusted() {
    let world = World::new();
    let rogue = SimulatedJlisCa::generate(now()).unwrap_or_else(|e| panic!("{e}"));
    let card = rogue.issue_card(&spec()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        world.code_of(&sign(&card, CONTENT)),
        Some(ReasonCode::JpkiUntrustedIssuer)
    );
    // The real signca03 has the very same subject name; name alone must not suffice.
    let (_, real) =
        der::pem::decode_vec(shipped_signca03_pem().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let production = Verifier::new(
        TrustAnchors::from_der_certs(vec![real]).unwrap_or_else(|e| panic!("{e}")),
        VerifierConfig::default(),
    );
    let genuine_looking = world.card(&spec());
    let err = production
        .verify_application(
            &sign(&genuine_looking, CONTENT),
            &JpkiCrlSet::empty(),
            now(),
        )
        .err();
    assert_eq!(err.map(|e| e.code()), Some(ReasonCode::JpkiUntrustedIssuer));
    // A CRL signed by the rogue is refused too.
    let rogue_crl = rogue
        .crl_der(&[], now(), now() + DAY)
        .unwrap_or_else(|e| panic!("{e}"));
    let err = JpkiCrl::parse(&rogue_crl, world.verifier.anchors()).err();
    assert!(matches!(err, Some(JpkiError::CrlInvalid { .. })), "{err:?}");
}

#[test]
fn tampered_content_and_wrong_keys_fail_the_cms_signature() {
    let world = World::new();
    let card = world.card(&spec());
    let cms = sign(&card, CONTENT);
    let tampered = edit(&cms, |signed| {
        signed.encap_content_info.econtent = Some(
            der::Any::new(der::Tag::OctetString, b"{\"format\":\"evil\"}".as_slice())
                .unwrap_or_else(|e| panic!("{e}")),
        );
    });
    assert_eq!(
        world.code_of(&tampered),
        Some(ReasonCode::CmsSignatureInvalid)
    );

    // Signed by another card's key while naming this card's certificate.
    let other = world.card(&spec());
    let sign_with_other = |message: &[u8]| other.signer().sign(message);
    let wrong = shuin_client::cms_sign::sign_attached(CONTENT, &card.cert_der, &sign_with_other)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(world.code_of(&wrong), Some(ReasonCode::CmsSignatureInvalid));

    // A flipped bit in the signature value.
    let flipped = edit(&cms, |signed| {
        let info = signed.signer_infos.0.as_slice()[0].clone();
        let mut bytes = info.signature.as_bytes().to_vec();
        bytes[5] ^= 0x01;
        let mut info = info;
        info.signature = der::asn1::OctetString::new(bytes).unwrap_or_else(|e| panic!("{e}"));
        signed.signer_infos =
            cms::signed_data::SignerInfos::try_from(vec![info]).unwrap_or_else(|e| panic!("{e}"));
    });
    assert_eq!(
        world.code_of(&flipped),
        Some(ReasonCode::CmsSignatureInvalid)
    );
}

#[test]
fn a_missing_or_different_signer_certificate_is_reported() {
    let world = World::new();
    let card = world.card(&spec());
    let cms = sign(&card, CONTENT);
    let without = edit(&cms, |signed| signed.certificates = None);
    assert_eq!(
        world.code_of(&without),
        Some(ReasonCode::CmsSignerCertificateMissing)
    );
    let other = world.card(&spec());
    let swapped = edit(&cms, |signed| {
        let cert =
            x509_cert::Certificate::from_der(&other.cert_der).unwrap_or_else(|e| panic!("{e}"));
        signed.certificates = Some(
            cms::signed_data::CertificateSet::try_from(vec![
                cms::cert::CertificateChoices::Certificate(cert),
            ])
            .unwrap_or_else(|e| panic!("{e}")),
        );
    });
    assert_eq!(
        world.code_of(&swapped),
        Some(ReasonCode::CmsSignerCertificateMissing)
    );
}

#[test]
fn validity_is_checked_on_both_ends() {
    let world = World::new();
    let mut expired = spec();
    expired.not_before = now() - 10 * DAY;
    expired.not_after = now() - DAY;
    let err = world
        .verifier
        .verify_application(
            &sign(&world.card(&expired), CONTENT),
            &JpkiCrlSet::single(world.crl.clone()),
            now(),
        )
        .err();
    assert!(matches!(err, Some(JpkiError::Expired { .. })), "{err:?}");
    let mut early = spec();
    early.not_before = now() + DAY;
    assert_eq!(
        world.code_of(&sign(&world.card(&early), CONTENT)),
        Some(ReasonCode::JpkiCertificateNotYetValid)
    );
}

#[test]
fn revocation_fails_closed() {
    let mut world = World::new();
    let card = world.card(&spec());
    let cms = sign(&card, CONTENT);
    let serial = card.serial().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(world.code_of(&cms), None);
    let missing = world
        .verifier
        .verify_application(&cms, &JpkiCrlSet::empty(), now())
        .err()
        .map(|e| e.code());
    assert_eq!(missing, Some(ReasonCode::JpkiRevocationUnavailable));
    let stale = world
        .verifier
        .verify_application(
            &cms,
            &JpkiCrlSet::single(world.crl.clone()),
            now() + 8 * DAY,
        )
        .err()
        .map(|e| e.code());
    assert_eq!(stale, Some(ReasonCode::JpkiRevocationUnavailable));
    world.crl = World::crl_of(&world.ca, &[vec![1, 2, 3], serial.clone()]);
    assert_eq!(world.crl.revoked_count(), 2);
    assert!(world.crl.is_revoked(&serial));
    assert_eq!(
        world.code_of(&cms),
        Some(ReasonCode::JpkiCertificateRevoked)
    );
    // Validity is checked before revocation.
    let mut expired = spec();
    expired.not_before = now() - 10 * DAY;
    expired.not_after = now() - DAY;
    let old = world.card(&expired);
    world.crl = World::crl_of(&world.ca, &[old.serial().unwrap_or_else(|e| panic!("{e}"))]);
    assert_eq!(
        world.code_of(&sign(&old, CONTENT)),
        Some(ReasonCode::JpkiCertificateExpired)
    );
}

#[test]
fn a_crl_from_another_ca_generation_cannot_answer() {
    let world = World::new();
    let second = SimulatedJlisCa::generate(now()).unwrap_or_else(|e| panic!("{e}"));
    let anchors = TrustAnchors::from_der_certs(vec![
        world.ca.cert_der().to_vec(),
        second.cert_der().to_vec(),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    let verifier = Verifier::new(anchors.clone(), VerifierConfig::default());
    let crl_der = second
        .crl_der(&[], now(), now() + DAY)
        .unwrap_or_else(|e| panic!("{e}"));
    let second_crl = JpkiCrl::parse(&crl_der, &anchors).unwrap_or_else(|e| panic!("{e}"));
    let cms = sign(&world.card(&spec()), CONTENT);
    let code = verifier
        .verify_application(&cms, &JpkiCrlSet::single(second_crl.clone()), now())
        .err()
        .map(|e| e.code());
    assert_eq!(code, Some(ReasonCode::JpkiRevocationUnavailable));
    assert!(verifier
        .verify_application(&cms, &JpkiCrlSet::single(world.crl.clone()), now())
        .is_ok());
    // Both generations' CRLs held at once: each answers for its own cards only.
    let mut both = JpkiCrlSet::single(second_crl);
    both.admit(std::sync::Arc::new(World::crl_of(&world.ca, &[])))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(verifier.verify_application(&cms, &both, now()).is_ok());
    let second_card = second.issue_card(&spec()).unwrap_or_else(|e| panic!("{e}"));
    let second_serial = second_card.serial().unwrap_or_else(|e| panic!("{e}"));
    let second_cms = sign(&second_card, CONTENT);
    assert!(verifier
        .verify_application(&second_cms, &both, now())
        .is_ok());
    // The first generation revoking the same serial does not touch the second's card.
    both.admit(std::sync::Arc::new(World::crl_of(
        &world.ca,
        std::slice::from_ref(&second_serial),
    )))
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(verifier
        .verify_application(&second_cms, &both, now())
        .is_ok());
    let revoked_there = second
        .crl_der_with(
            &[second_serial],
            now(),
            now() + DAY,
            10_000_000_000,
            Vec::new(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    both.admit(std::sync::Arc::new(
        JpkiCrl::parse(&revoked_there, &anchors).unwrap_or_else(|e| panic!("{e}")),
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    let code = verifier
        .verify_application(&second_cms, &both, now())
        .err()
        .map(|e| e.code());
    assert_eq!(code, Some(ReasonCode::JpkiCertificateRevoked));
}

#[test]
fn user_authentication_and_test_cards_are_refused() {
    let world = World::new();
    let mut auth = spec();
    auth.kind = CardKind::UserAuthentication;
    assert_eq!(
        world.code_of(&sign(&world.card(&auth), CONTENT)),
        Some(ReasonCode::JpkiNotSigningCertificate)
    );
    let mut test = spec();
    test.kind = CardKind::SigningTestPolicy;
    let test_card = world.card(&test);
    assert_eq!(
        world.code_of(&sign(&test_card, CONTENT)),
        Some(ReasonCode::JpkiTestCertificate)
    );
    let lenient = Verifier::new(
        anchors_of(&world.ca),
        VerifierConfig {
            allow_test_cards: true,
        },
    );
    let verified = lenient
        .verify_application(
            &sign(&test_card, CONTENT),
            &JpkiCrlSet::single(world.crl.clone()),
            now(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(verified.signer.test_card);
}

#[test]
fn malformed_basic_items_are_refused() {
    let world = World::new();
    let mut cases = Vec::new();
    let mut bad_gender = spec();
    bad_gender.raw_gender = Some("4".into());
    cases.push(bad_gender);
    let mut bad_date = spec();
    bad_date.raw_birth = Some("419900230".into());
    cases.push(bad_date);
    let mut bad_era = spec();
    bad_era.raw_birth = Some("919900102".into());
    cases.push(bad_era);
    let mut bad_map = spec();
    bad_map.name_substitutes = Some("00200".into());
    cases.push(bad_map);
    let mut short_map = spec();
    short_map.address_substitutes = Some("0".into());
    cases.push(short_map);
    for case in cases {
        let err = world
            .verifier
            .verify_application(
                &sign(&world.card(&case), CONTENT),
                &JpkiCrlSet::single(world.crl.clone()),
                now(),
            )
            .err();
        assert!(
            matches!(err, Some(JpkiError::BasicInfoInvalid { .. })),
            "{case:?}: {err:?}"
        );
    }
}

fn entries() -> ApplicantEntries {
    ApplicantEntries {
        name: "山田 太郎".into(),
        birth_date: "1990-01-02".into(),
        address: "東京都千代田区霞が関一丁目１番１－２号".into(),
        gender: Some("1".into()),
    }
}

fn basic_of(world: &World, spec: &shuin_testkit::CardSpec) -> shuin_jpki::BasicInfo {
    world
        .verifier
        .verify_application(
            &sign(&world.card(spec), CONTENT),
            &JpkiCrlSet::single(world.crl.clone()),
            now(),
        )
        .unwrap_or_else(|e| panic!("{e}"))
        .signer
        .basic
}

#[test]
fn matching_normalises_and_sends_substitutes_and_unknown_eras_to_review() {
    let world = World::new();
    assert_eq!(
        match_applicant(&entries(), &basic_of(&world, &spec())),
        MatchOutcome::Match
    );
    let mut fullwidth = entries();
    fullwidth.name = "山田\u{3000}\u{3000}太郎 ".into();
    fullwidth.address = "東京都 千代田区霞が関一丁目1番1‐2号".into();
    fullwidth.gender = Some("１".into());
    assert_eq!(
        match_applicant(&fullwidth, &basic_of(&world, &spec())),
        MatchOutcome::Match
    );

    let mut substituted = spec();
    substituted.name = "髙田\u{3000}太郎".into();
    substituted.name_substitutes = Some("10000".into());
    let basic = basic_of(&world, &substituted);
    let mut typed = entries();
    typed.name = "高田 太郎".into();
    assert_eq!(
        match_applicant(&typed, &basic),
        MatchOutcome::Review(vec![ReviewReason::NameSubstituteCharacters])
    );
    let mut unflagged = substituted.clone();
    unflagged.name_substitutes = None;
    assert!(matches!(
        match_applicant(&typed, &basic_of(&world, &unflagged)),
        MatchOutcome::Mismatch(ReasonCode::ApplicantNameMismatch, _)
    ));

    let mut unknown_era = spec();
    unknown_era.era = Some(0);
    let basic = basic_of(&world, &unknown_era);
    assert_eq!(basic.birth.era, Era::Unknown);
    assert_eq!(
        match_applicant(&entries(), &basic),
        MatchOutcome::Review(vec![ReviewReason::BirthDateEraUnknown])
    );
}

#[test]
fn the_order_of_checks_is_the_documented_one() {
    let world = World::new();
    // A rogue user-authentication card: trust anchor comes before profile.
    let rogue = SimulatedJlisCa::generate(now()).unwrap_or_else(|e| panic!("{e}"));
    let mut auth = spec();
    auth.kind = CardKind::UserAuthentication;
    let card = rogue.issue_card(&auth).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        world.code_of(&sign(&card, CONTENT)),
        Some(ReasonCode::JpkiUntrustedIssuer)
    );
    // An expired card with a bad gender: validity comes before the basic items.
    let mut both = spec();
    both.not_after = now() - DAY;
    both.not_before = now() - 2 * DAY;
    both.raw_gender = Some("9".into());
    assert_eq!(
        world.code_of(&sign(&world.card(&both), CONTENT)),
        Some(ReasonCode::JpkiCertificateExpired)
    );
    // A rogue card with a tampered signature: the CMS signature comes first.
    let rogue_card = rogue.issue_card(&spec()).unwrap_or_else(|e| panic!("{e}"));
    let tampered = edit(&sign(&rogue_card, CONTENT), |signed| {
        signed.encap_content_info.econtent = Some(
            der::Any::new(der::Tag::OctetString, b"x".as_slice()).unwrap_or_else(|e| panic!("{e}")),
        );
    });
    assert_eq!(
        world.code_of(&tampered),
        Some(ReasonCode::CmsSignatureInvalid)
    );
}
