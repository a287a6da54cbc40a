//! Thin wrapper: arbitrary bytes as an applicant's CSR (PKCS#10), verified for proof of
//! possession and then held to the key policy. It may refuse, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(verified) = shuin_core::csr::verify_csr(data) {
        let _ = shuin_core::key_policy::check_subscriber_key(&verified.spki_der);
    }
});
