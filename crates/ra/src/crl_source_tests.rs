//! Tests of the J-LIS CRL files: real CRLs from the testkit's simulated J-LIS CAs,
//! written to real files.

#![allow(clippy::unwrap_used)]

use super::*;
use shuin_testkit::{delta_crl_indicator, issuing_distribution_point, CrlScope, SimulatedJlisCa};
use std::path::Path;
use std::time::Duration;
use x509_cert::ext::Extension;

fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods)] // tests stand outside the injected clock
    SystemTime::now()
}

/// Writes a CRL of `jlis` numbered `number`, issued at `at`, listing `revoked`.
fn write(
    jlis: &SimulatedJlisCa,
    path: &Path,
    number: u64,
    at: SystemTime,
    revoked: &[Vec<u8>],
    extra: Vec<Extension>,
) {
    let der = jlis
        .crl_der_with(revoked, at, at + Duration::from_secs(86_400), number, extra)
        .unwrap();
    std::fs::write(path, der).unwrap();
}

fn anchors_of(cas: &[&SimulatedJlisCa]) -> TrustAnchors {
    TrustAnchors::from_der_certs(cas.iter().map(|ca| ca.cert_der().to_vec()).collect()).unwrap()
}

#[test]
fn an_older_crl_never_replaces_the_loaded_one() {
    let t = now();
    let jlis = SimulatedJlisCa::generate(t).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jlis.crl");
    let source = FileCrlSource::new(vec![path.clone()], anchors_of(&[&jlis]));
    // CRL 300 revokes card 7.
    write(&jlis, &path, 300, t, &[vec![7]], vec![]);
    assert!(source.current().is_empty(), "nothing is read on a request");
    source.refresh();
    assert!(source.current().iter().any(|crl| crl.is_revoked(&[7])));
    // A replayed CRL 299 that does not list card 7 (a different size, so it is read).
    write(&jlis, &path, 299, t, &[vec![8], vec![9]], vec![]);
    source.refresh();
    let held = source.current();
    assert_eq!(held.len(), 1);
    assert!(held.iter().all(|crl| crl.is_revoked(&[7])), "un-revoked");
    // The same number with an earlier thisUpdate is older too.
    write(&jlis, &path, 300, t - Duration::from_secs(60), &[], vec![]);
    source.refresh();
    assert!(source.current().iter().all(|crl| crl.is_revoked(&[7])));
    // An unusable file fails closed; an older CRL after the gap is still refused.
    std::fs::write(&path, b"not a CRL").unwrap();
    source.refresh();
    assert!(source.current().is_empty(), "an unusable file fails closed");
    write(&jlis, &path, 298, t, &[], vec![]);
    source.refresh();
    assert!(
        source.current().is_empty(),
        "an older CRL was taken after a gap"
    );
    // CRL 301 is taken.
    write(&jlis, &path, 301, t, &[vec![7], vec![10], vec![11]], vec![]);
    source.refresh();
    assert!(source.current().iter().all(|crl| crl.is_revoked(&[11])));
}

#[test]
fn two_ca_generations_each_answer_for_their_own_cards() {
    let t = now();
    // Two generations with the same subject name (as signca02 and signca03 are named
    // alike), told apart by the anchor whose key verifies each CRL.
    let old = SimulatedJlisCa::generate(t).unwrap();
    let new = SimulatedJlisCa::generate(t).unwrap();
    let anchors = anchors_of(&[&old, &new]);
    let fingerprints = anchors.fingerprints();
    let dir = tempfile::tempdir().unwrap();
    let (old_path, new_path) = (
        dir.path().join("signca02.crl"),
        dir.path().join("signca03.crl"),
    );
    write(&old, &old_path, 900, t, &[vec![7]], vec![]);
    write(&new, &new_path, 5, t, &[vec![8]], vec![]);
    let source = FileCrlSource::new(vec![old_path.clone(), new_path], anchors);
    source.refresh();
    source.check().unwrap();
    let set = source.current();
    assert_eq!(set.len(), 2);
    let (of_old, of_new) = (
        set.for_anchor(&fingerprints[0]).unwrap(),
        set.for_anchor(&fingerprints[1]).unwrap(),
    );
    assert!(of_old.is_revoked(&[7]) && !of_old.is_revoked(&[8]));
    assert!(of_new.is_revoked(&[8]) && !of_new.is_revoked(&[7]));
    // The old generation's CRL number (900) does not make the new one's (5) "older":
    // the order holds per issuer only. A newer CRL of the old generation replaces
    // just its own.
    write(&old, &old_path, 901, t, &[vec![7], vec![9]], vec![]);
    source.refresh();
    let set = source.current();
    assert_eq!(set.len(), 2);
    assert!(set.for_anchor(&fingerprints[0]).unwrap().is_revoked(&[9]));
    assert!(set.for_anchor(&fingerprints[1]).unwrap().is_revoked(&[8]));
}

#[test]
fn incomplete_crls_fail_closed_with_their_reason_code() {
    let t = now();
    let jlis = SimulatedJlisCa::generate(t).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jlis.crl");
    let source = FileCrlSource::new(vec![path.clone()], anchors_of(&[&jlis]));
    write(&jlis, &path, 10, t, &[vec![7]], vec![]);
    source.refresh();
    assert_eq!(source.current().len(), 1);
    let cases = [
        (delta_crl_indicator(10).unwrap(), "crl_delta"),
        (
            issuing_distribution_point(CrlScope::Partition).unwrap(),
            "crl_partitioned",
        ),
        (
            issuing_distribution_point(CrlScope::SomeReasons).unwrap(),
            "crl_scope_limited",
        ),
        (
            issuing_distribution_point(CrlScope::Indirect).unwrap(),
            "crl_scope_limited",
        ),
    ];
    for (number, (extension, code)) in (11..).zip(cases) {
        write(&jlis, &path, number, t, &[], vec![extension]);
        source.refresh();
        assert!(
            source.current().is_empty(),
            "{code}: an incomplete CRL must not stand in for the complete one"
        );
        let error = source.check().unwrap_err();
        assert!(error.contains(code), "{error}");
    }
}

#[test]
fn a_request_never_waits_for_a_reload() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jlis.crl");
    write(&jlis, &path, 1, now(), &[vec![7]], vec![]);
    let source = Arc::new(FileCrlSource::new(vec![path], anchors_of(&[&jlis])));
    source.refresh();
    // A reload in progress holds the reload lock for as long as it reads and verifies.
    let reloading = source.reload.lock().unwrap();
    let (answer, answered) = std::sync::mpsc::channel();
    let reader = source.clone();
    std::thread::spawn(move || answer.send(reader.current().len()).unwrap());
    let read = answered.recv_timeout(Duration::from_secs(5));
    drop(reloading);
    assert_eq!(read, Ok(1), "a request waited for the reload");
}
