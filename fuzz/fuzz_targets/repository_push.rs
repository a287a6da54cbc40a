//! Thin wrapper: arbitrary bytes as a push of the CA's link to a node's repository
//! (`POST /peer/v1/repository`), decoded as the node decodes it. It may refuse, never
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shuin_core::repository_feed::{Held, Push};

fuzz_target!(|data: &[u8]| {
    if let Ok(push) = serde_json::from_slice::<Push>(data) {
        let _ = push.crls();
        let _ = push.ocsp_answers();
        let _ = push.is_empty();
    }
    if let Ok(held) = serde_json::from_slice::<Held>(data) {
        let _ = Push::for_node(&held, &[], None);
    }
});
