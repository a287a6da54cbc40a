//! Thin wrapper: arbitrary bytes as a holder's revocation request (a CMS SignedData
//! signed by the certificate's own key), then its content as JSON. It may refuse, never
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(signed) = shuin_jpki::verify_subscriber_signed_data(data) {
        let _ = serde_json::from_slice::<serde_json::Value>(&signed.content);
    }
});
