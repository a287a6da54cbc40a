//! Thin wrapper: arbitrary bytes into the OCSP request parser. It may refuse, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = shuin_core::ocsp::parse_request(data) {
        assert!(!request.cert_ids.is_empty());
        assert!(request.cert_ids.len() <= shuin_core::ocsp::MAX_REQUESTS);
    }
});
