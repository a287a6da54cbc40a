//! Thin wrapper: arbitrary bytes into the application verifier (against the shipped
//! J-LIS anchor) and into the application document parser. Neither may panic.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

fn verifier() -> Option<&'static shuin_jpki::Verifier> {
    static VERIFIER: OnceLock<Option<shuin_jpki::Verifier>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            let der = common::signca03_der()?;
            let anchors = shuin_jpki::TrustAnchors::from_der_certs(vec![der]).ok()?;
            Some(shuin_jpki::Verifier::new(
                anchors,
                shuin_jpki::VerifierConfig::default(),
            ))
        })
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    if let Some(verifier) = verifier() {
        let _ = verifier.verify_application(data, &shuin_jpki::JpkiCrlSet::empty(), now);
    }
    let _ = shuin_core::application::ApplicationDocument::parse(data);
});
