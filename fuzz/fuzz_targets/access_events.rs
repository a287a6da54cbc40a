//! Thin wrapper: arbitrary bytes into the entry/exit record parsers, as
//! `shuin facility import-access` (CSV) and `POST /ledger/v1/access-events` (JSON) read
//! them. None may panic; every event accepted has its idempotency key and payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shuin_core::access_event::{parse_csv, parse_json, AccessPolicy};
use std::time::{Duration, UNIX_EPOCH};

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(1_795_651_200);
    let policies = [
        AccessPolicy::default(),
        AccessPolicy {
            doors: vec!["east".into(), "west".into()],
            max_skew: Duration::ZERO,
        },
    ];
    for policy in &policies {
        if let Ok(events) = parse_csv(data, policy, now) {
            for event in events {
                let _ = event.idempotency_key();
                let _ = event.payload("csv:fuzz");
            }
        }
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(data) {
            let _ = parse_json(&value, policy, now);
        }
    }
});
