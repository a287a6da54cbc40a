//! Thin wrapper: arbitrary bytes into the application verifier (against the shipped
//! J-LIS anchor) and into the application document parser. Neither may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use std::time::{Duration, UNIX_EPOCH};

fn verifier() -> Option<&'static shuin_jpki::Verifier> {
    static VERIFIER: OnceLock<Option<shuin_jpki::Verifier>> = OnceLock::new();
    VERIFIER
        .get_or_init(|| {
            let (_, der) = der_pem(shuin_jpki::shipped_signca03_pem())?;
            let anchors = shuin_jpki::TrustAnchors::from_der_certs(vec![der]).ok()?;
            Some(shuin_jpki::Verifier::new(
                anchors,
                shuin_jpki::VerifierConfig::default(),
            ))
        })
        .as_ref()
}

/// Minimal PEM reader, to keep the fuzz crate's dependencies to the two under test.
fn der_pem(pem: &str) -> Option<(String, Vec<u8>)> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for c in body.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from((buffer >> bits) & 0xff).ok()?);
        }
    }
    Some(("CERTIFICATE".to_owned(), out))
}

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    if let Some(verifier) = verifier() {
        let _ = verifier.verify_application(data, &shuin_jpki::JpkiCrlSet::empty(), now);
    }
    let _ = shuin_core::application::ApplicationDocument::parse(data);
});
