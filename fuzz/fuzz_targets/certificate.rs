//! Thin wrapper: arbitrary bytes as a certificate: as a JPKI trust anchor, and checked as
//! issued by the shipped J-LIS CA (the check an RA node makes on the CA's answers). It
//! may refuse, never panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn issuer() -> Option<&'static Vec<u8>> {
    static ISSUER: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    ISSUER.get_or_init(common::signca03_der).as_ref()
}

fuzz_target!(|data: &[u8]| {
    let _ = shuin_jpki::TrustAnchors::from_der_certs(vec![data.to_vec()]);
    if let Some(der) = issuer() {
        let _ = shuin_core::x509::issued::check_issued_by(data, der);
    }
});
