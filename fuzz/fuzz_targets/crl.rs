//! Thin wrapper: arbitrary bytes as a CRL, the way J-LIS CRLs are loaded (against the
//! shipped anchor) and the way nodes check the CA's CRLs. Either may refuse, never panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn issuer() -> Option<&'static (Vec<u8>, shuin_jpki::TrustAnchors)> {
    static ISSUER: OnceLock<Option<(Vec<u8>, shuin_jpki::TrustAnchors)>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            let der = common::signca03_der()?;
            let anchors = shuin_jpki::TrustAnchors::from_der_certs(vec![der.clone()]).ok()?;
            Some((der, anchors))
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    if let Some((der, anchors)) = issuer() {
        if let Ok(crl) = shuin_jpki::JpkiCrl::parse(data, anchors) {
            let _ = crl.is_revoked(&[1]);
        }
        let _ = shuin_core::x509::issued::check_crl_issued_by(data, der);
    }
});
