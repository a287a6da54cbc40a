//! Thin wrapper: arbitrary bytes into the signed-note and checkpoint parsers and into the
//! canonical entry decoder, as `shuin ledger verify --export` reads them. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(note) = shuin_ledger::SignedNote::parse(text) {
            let _ = note.encode();
            let _ = shuin_ledger::Checkpoint::parse_body(&note.text);
        }
        let _ = shuin_ledger::Checkpoint::parse_body(text);
    }
    for line in data.split(|&b| b == b'\n') {
        let _ = shuin_ledger::Entry::from_canonical(line);
    }
});
