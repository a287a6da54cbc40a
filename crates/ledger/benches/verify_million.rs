//! Writes an export of 1,000,000 entries in the real format (entries.jsonl, a checkpoint
//! signed by a P-256 audit key every 1000 entries as the server's default makes them,
//! audit-key.pem, manifest.json) and times [`shuin_ledger::verify_export`], the function
//! `shuin ledger verify --export` runs. Run:
//! `cargo bench -p shuin-ledger --bench verify_million`
//! (`ENTRIES=N` to change the size; `EXPORT_OUT=DIR` keeps the export in DIR, which must
//! not exist or be empty, so the release binary can be timed on it too; `VERIFY_ONLY=DIR`
//! only times the verification of the export in DIR).
//!
//! Prints `ledger_verify: entries=1000000 checkpoints=1000 bytes=.. seconds=..`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: fail loudly

use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_ledger::export::write_export;
use shuin_ledger::{
    merkle, Actor, Book, Checkpoint, CompactTree, EntryDraft, NoteKey, StoredEntry,
};
use std::time::Instant;

const ORIGIN: &str = "ca.example.jp/ledger";
const CHECKPOINT_EVERY: u64 = 1000;

/// Entries shaped like the server's: every book, subjects, a payload, evidence.
fn canonical_entry(seq: u64) -> Vec<u8> {
    let book = Book::ALL[usize::try_from(seq % 4).unwrap()];
    let (kind, payload) = match book {
        Book::Application => (
            "application.accepted",
            serde_json::json!({"decision": "automatic", "checks": ["card_chain", "card_crl", "name_match"], "n": seq}),
        ),
        Book::Revocation => (
            "revocation.accepted",
            serde_json::json!({"serial": format!("{:032x}", u128::from(seq) * 0x9E37_79B9_7F4A_7C15), "reason": "keyCompromise"}),
        ),
        Book::Organization => (
            "operator.added",
            serde_json::json!({"operator": format!("operator-{seq}"), "role": "lra"}),
        ),
        Book::Facility => (
            "facility.access",
            serde_json::json!({"door": "secure-1", "direction": "in", "badge": format!("B{seq:08}")}),
        ),
    };
    EntryDraft {
        book,
        kind: kind.into(),
        actor: Actor {
            name: "shuin-ca".into(),
            role: "system".into(),
            zone: "high_security".into(),
        },
        subjects: vec![format!("application:01JBENCH{seq:010}")],
        payload,
        evidence: vec![format!("sha256:{:064x}", u128::from(seq) << 7)],
    }
    .into_entry(seq, "2026-04-01T09:30:00Z".into())
    .canonical_bytes()
    .unwrap()
}

fn main() {
    let n: u64 = std::env::var("ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    if let Some(dir) = std::env::var_os("VERIFY_ONLY") {
        // Time an export written before (for profiling).
        let started = Instant::now();
        let report = shuin_ledger::verify_export(std::path::Path::new(&dir), None).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "ledger_verify: entries={} seconds={seconds:.3}",
            report.size
        );
        return;
    }
    let (signer, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let key = NoteKey::from_spki(ORIGIN, signer.public_key_der()).unwrap();

    let canonical: Vec<Vec<u8>> = (0..n).map(canonical_entry).collect();
    let mut tree = CompactTree::new();
    let mut notes = Vec::new();
    for (seq, bytes) in (1u64..).zip(&canonical) {
        tree.append(merkle::leaf_hash(bytes));
        if seq % CHECKPOINT_EVERY == 0 || seq == n {
            let checkpoint = Checkpoint {
                origin: ORIGIN.into(),
                size: seq,
                root: tree.root(),
            };
            notes.push(checkpoint.sign(&key, |text| signer.sign(text)).unwrap());
        }
    }
    let kept = std::env::var_os("EXPORT_OUT").map(std::path::PathBuf::from);
    let temp = tempfile::tempdir().unwrap();
    let dir = kept.clone().unwrap_or_else(|| temp.path().join("export"));
    let rows = canonical
        .into_iter()
        .zip(0u64..)
        .map(|(canonical, seq)| StoredEntry {
            seq,
            canonical,
            // write_export does not read the stored leaf hash; the export carries none.
            leaf_hash_hex: String::new(),
        });
    write_export(&dir, rows, &notes, &key, None).unwrap();
    let bytes = std::fs::metadata(dir.join("entries.jsonl")).unwrap().len();

    let started = Instant::now();
    let report = shuin_ledger::verify_export(&dir, None).unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(report.size, n);
    assert_eq!(report.root_hex, hex::encode(tree.root()));
    println!(
        "ledger_verify: entries={n} checkpoints={} bytes={bytes} seconds={seconds:.3}",
        notes.len()
    );
}
