//! Thin wrapper: arbitrary bytes as an OCSP answer, checked the way a verifier and a
//! repository node check one (against the shipped J-LIS CA as issuer). It may refuse,
//! never panic.
#![no_main]

mod common;

use der::Decode;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

type Issuer = (x509_cert::Certificate, shuin_core::ocsp::IssuerHashes);

fn issuer() -> Option<&'static Issuer> {
    static ISSUER: OnceLock<Option<Issuer>> = OnceLock::new();
    ISSUER
        .get_or_init(|| {
            let certificate = x509_cert::Certificate::from_der(&common::signca03_der()?).ok()?;
            let hashes = shuin_core::ocsp::IssuerHashes::new(&certificate).ok()?;
            Some((certificate, hashes))
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    if let Some((certificate, hashes)) = issuer() {
        let _ = shuin_core::ocsp_check::check_answer(data, certificate, hashes);
    }
});
