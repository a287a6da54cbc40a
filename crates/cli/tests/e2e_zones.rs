//! Listeners bound to zones (`[[server.listeners]]`): each listener has only its zone's
//! routes; any other route answers 404 there, not 403. (The secure and remote zones need
//! TLS: e2e_operator_tls covers them.)

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;

fn port() -> u16 {
    crate::common::free_port()
}

#[test]
fn each_zone_listener_has_only_its_routes() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    let (front, repository) = (port(), port());
    instance.append_config(&format!(
        "\n[[server.listeners]]\nlisten = \"127.0.0.1:{front}\"\nzone = \"front\"\n\
         \n[[server.listeners]]\nlisten = \"127.0.0.1:{repository}\"\nzone = \"repository\"\n"
    ));
    // `serve --listen` adds the all-in-one listener the test helper waits on.
    instance.serve();
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    let challenge = |port: u16| post(&url(port, "/api/v1/challenges"), "application/json", b"").0;

    // Front: applicants only.
    assert_eq!(challenge(front), 201);
    assert_eq!(get(&url(front, "/repository/ca.crt")).0, 404);
    assert_eq!(get(&url(front, "/ledger/v1/checkpoint")).0, 404);
    // Repository: certificates, CRLs and OCSP only.
    assert_eq!(get(&url(repository, "/repository/ca.crt")).0, 200);
    assert_eq!(get(&url(repository, "/repository/ca.crl")).0, 200);
    assert_eq!(challenge(repository), 404);
    // No operator API on listeners without client certificates.
    assert_eq!(
        post(&url(front, "/operator/v1/nonce"), "application/json", b"").0,
        404
    );
    // Health everywhere.
    for port in [front, repository] {
        assert_eq!(get(&url(port, "/healthz")).0, 200);
    }
    // The all-in-one listener still has every route.
    assert_eq!(get(&instance.url("/repository/ca.crt")).0, 200);
}
