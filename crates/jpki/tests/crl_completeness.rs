//! Only a complete J-LIS CRL is read: a delta CRL or a partitioned one is refused, not
//! taken as complete; and an older CRL is recognised as older, so it never replaces a
//! newer one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use der::asn1::OctetString;
use der::Encode;
use shuin_jpki::{CrlRefusal, JpkiCrl, JpkiError, TrustAnchors};
use shuin_testkit::{issuing_distribution_point, CrlScope, SimulatedJlisCa};
use std::time::{Duration, SystemTime};
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::crl::BaseCrlNumber;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::Extension;

fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
    SystemTime::now()
}

fn setup() -> (SimulatedJlisCa, TrustAnchors) {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let anchors = TrustAnchors::from_der_certs(vec![jlis.cert_der().to_vec()]).unwrap();
    (jlis, anchors)
}

fn crl(jlis: &SimulatedJlisCa, number: u64, at: SystemTime, extra: Vec<Extension>) -> Vec<u8> {
    jlis.crl_der_with(
        &[vec![7]],
        at,
        at + Duration::from_secs(86_400),
        number,
        extra,
    )
    .unwrap()
}

#[test]
fn a_delta_crl_is_refused() {
    let (jlis, anchors) = setup();
    let delta = Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_DELTA_CRL_INDICATOR,
        critical: true,
        extn_value: OctetString::new(
            BaseCrlNumber(der::asn1::Uint::new(&[5]).unwrap())
                .to_der()
                .unwrap(),
        )
        .unwrap(),
    };
    let error = JpkiCrl::parse(&crl(&jlis, 6, now(), vec![delta]), &anchors).unwrap_err();
    assert!(error.to_string().contains("delta CRL"), "{error}");
    assert!(matches!(
        error,
        JpkiError::CrlInvalid {
            refusal: CrlRefusal::Delta,
            ..
        }
    ));
}

#[test]
fn a_partitioned_crl_is_refused() {
    let (jlis, anchors) = setup();
    let idp = IssuingDistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(
                der::asn1::Ia5String::new("http://crl.example.jp/part-3.crl").unwrap(),
            ),
        ])),
        only_contains_user_certs: false,
        only_contains_ca_certs: false,
        only_some_reasons: None,
        indirect_crl: false,
        only_contains_attribute_certs: false,
    };
    let extension = Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT,
        critical: true,
        extn_value: OctetString::new(idp.to_der().unwrap()).unwrap(),
    };
    let error = JpkiCrl::parse(&crl(&jlis, 6, now(), vec![extension]), &anchors).unwrap_err();
    assert!(error.to_string().contains("partitioned"), "{error}");
    assert_eq!(refusal_of(&error), Some("crl_partitioned"));
}

fn refusal_of(error: &JpkiError) -> Option<&'static str> {
    match error {
        JpkiError::CrlInvalid { refusal, .. } => Some(refusal.code()),
        _ => None,
    }
}

#[test]
fn a_crl_for_some_reasons_or_indirect_is_refused() {
    let (jlis, anchors) = setup();
    for scope in [CrlScope::SomeReasons, CrlScope::Indirect] {
        let extension = issuing_distribution_point(scope).unwrap();
        let error = JpkiCrl::parse(&crl(&jlis, 6, now(), vec![extension]), &anchors).unwrap_err();
        assert_eq!(refusal_of(&error), Some("crl_scope_limited"), "{scope:?}");
    }
    // A plain complete CRL is taken.
    assert!(JpkiCrl::parse(&crl(&jlis, 6, now(), vec![]), &anchors).is_ok());
}

#[test]
fn an_older_crl_is_older_by_number_then_by_this_update() {
    let (jlis, anchors) = setup();
    let t = now();
    let parse = |der: Vec<u8>| JpkiCrl::parse(&der, &anchors).unwrap();
    let newer = parse(crl(&jlis, 300, t, vec![]));
    let lower_number = parse(crl(&jlis, 299, t + Duration::from_secs(60), vec![]));
    let same_number_earlier = parse(crl(&jlis, 300, t - Duration::from_secs(60), vec![]));
    let next = parse(crl(&jlis, 301, t, vec![]));
    assert!(lower_number.is_older_than(&newer));
    assert!(same_number_earlier.is_older_than(&newer));
    assert!(!next.is_older_than(&newer));
    assert!(!newer.is_older_than(&newer));
    // Numbers compare as integers, not as bytes of different lengths.
    let big = parse(crl(&jlis, 0x0100, t, vec![]));
    let small = parse(crl(&jlis, 0xff, t, vec![]));
    assert!(small.is_older_than(&big));
}
