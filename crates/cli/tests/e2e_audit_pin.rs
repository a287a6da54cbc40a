//! Ledger trust end to end (DESIGN.md section 11, issue 13 item 1): the audit key is
//! pinned in shuin.toml at init and in every export, and another key is refused; a
//! ledger whose newest checkpoint is too old fails verification; and rewriting the
//! history in the database (hashes and tree state recomputed, checkpoints deleted) is
//! caught by `ledger verify`, and the server refuses to sign after it, recording why.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use crate::common::*;
use serde_json::Value;
use shuin_ledger::{merkle, CompactTree};
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

const OTHER_PIN: &str = "5d41402abc4b2a76b9719d911017c592aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Runs `shuin` with `args`: (success, stdout, stderr).
fn run(args: &[&str], data: &Path) -> (bool, String, String) {
    let out = shuin().args(args).arg(data).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `shuin ledger verify --data DIR`: (success, stderr).
fn verify_data(data: &Path) -> (bool, String) {
    let (ok, _, stderr) = run(&["ledger", "verify", "--data"], data);
    (ok, stderr)
}

fn pin_of(data: &Path) -> String {
    let text = std::fs::read_to_string(data.join("shuin.toml")).unwrap();
    let config: toml::Value = toml::from_str(&text).unwrap();
    config["ledger"]["audit_key_sha256"]
        .as_str()
        .expect("init pins the audit key")
        .to_owned()
}

/// `shuin serve` that must refuse to start: its stderr once it has exited.
fn serve_refused(instance: &Instance) -> String {
    let log = instance.work.path().join("refused.log");
    let mut child = shuin()
        .args(["serve", "--data"])
        .arg(&instance.data)
        .args(["--listen", instance.base.trim_start_matches("http://")])
        .envs(instance.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "serve should have refused to start");
            return std::fs::read_to_string(&log).unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("serve started: {}", std::fs::read_to_string(&log).unwrap());
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().unwrap()
}

/// Appends an entry behind the server's back, dated `age` ago.
fn append_dated(data: &Path, age: Duration) {
    runtime().block_on(async {
        use shuin_store::LedgerStore;
        let store = common::store::open_instance_store(data).await;
        let draft = shuin_ledger::EntryDraft {
            book: shuin_ledger::Book::Facility,
            kind: "facility.note".into(),
            actor: shuin_ledger::Actor {
                name: "test".into(),
                role: "system".into(),
                zone: "high_security".into(),
            },
            subjects: vec![],
            payload: serde_json::json!({}),
            evidence: vec![],
        };
        store.append(draft, now() - age).await.unwrap();
        store.close().await;
    });
}

/// Rewrites the actor of three entries, recomputes their leaf hashes and the stored tree
/// head as a forger would, and deletes every checkpoint.
fn rewrite_history(instance: &Instance) {
    let rows = runtime().block_on(async {
        use shuin_store::LedgerStore;
        let store = common::store::open_instance_store(&instance.data).await;
        let rows = store.ledger_rows().await.unwrap();
        store.close().await;
        rows
    });
    let mut tree = CompactTree::new();
    let mut statements = Vec::new();
    let mut rewritten = 0;
    for row in rows {
        let text = String::from_utf8(row.canonical.clone()).unwrap();
        let mut canonical = row.canonical.clone();
        if rewritten < 3 && text.contains("\"name\":\"shuin-init\"") {
            canonical = text
                .replace("\"name\":\"shuin-init\"", "\"name\":\"shuin-inix\"")
                .into_bytes();
            let literal = if instance.database.is_some() {
                format!("'\\x{}'::bytea", hex::encode(&canonical))
            } else {
                format!("X'{}'", hex::encode(&canonical))
            };
            let leaf = merkle::leaf_hash(&canonical);
            statements.push(format!(
                "UPDATE ledger_entries SET canonical = {literal}, leaf_hash = '{}' WHERE seq = {};",
                hex::encode(leaf),
                row.seq
            ));
            rewritten += 1;
        }
        tree.append(merkle::leaf_hash(&canonical));
    }
    assert_eq!(rewritten, 3);
    let compact: Vec<String> = tree.to_state().iter().map(hex::encode).collect();
    statements.push(format!(
        "UPDATE ledger_state SET root = '{}', compact = '{}' WHERE id = 0;",
        hex::encode(tree.root()),
        compact.join(",")
    ));
    statements.push("DELETE FROM ledger_checkpoints;".into());
    instance
        .sql(&statements.join("\n"))
        .expect("the sqlite3 tool (or psql) rewrites the database");
}

#[test]
fn the_pinned_audit_key_and_forward_heads_catch_a_rewritten_ledger() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let mut instance = Instance::start(&[], jlis);
    let data = instance.data.clone();
    let work = instance.work.path().to_owned();

    // init pinned the audit key and kept the first signed head outside the database.
    let pin = pin_of(&data);
    assert_eq!(pin.len(), 64);
    assert!(data.join("ledger-head.checkpoint").exists());
    let (ok, stdout, stderr) = run(&["ledger", "verify", "--json", "--data"], &data);
    assert!(ok, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["audit_key_sha256"], pin.as_str());
    assert_eq!(report["audit_key_pinned"], true);

    // (3) Every export names the pin; an export checked against another key is refused.
    let export = work.join("export");
    let (ok, _, stderr) = run(
        &[
            "ledger",
            "export",
            "--out",
            export.to_str().unwrap(),
            "--data",
        ],
        &data,
    );
    assert!(ok, "{stderr}");
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["audit_key"]["pinned_sha256"], pin.as_str());
    let verify_export = |pin: &str| {
        run(
            &["ledger", "verify", "--audit-key-sha256", pin, "--export"],
            &export,
        )
    };
    let (ok, stdout, stderr) = verify_export(&pin);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("the audit key is the pinned one"),
        "{stdout}"
    );
    let (ok, _, stderr) = verify_export(OTHER_PIN);
    assert!(!ok);
    assert!(stderr.contains("audit_key_mismatch"), "{stderr}");
    assert!(
        stderr.contains(OTHER_PIN) && stderr.contains(&pin),
        "{stderr}"
    );

    // Another pin in shuin.toml: verification and the server refuse the key.
    instance.stop();
    instance.edit_config(&pin, OTHER_PIN);
    let (ok, stderr) = verify_data(&data);
    assert!(!ok && stderr.contains("audit_key_mismatch"), "{stderr}");
    let refused = serve_refused(&instance);
    assert!(refused.contains("audit_key_mismatch"), "{refused}");
    instance.edit_config(OTHER_PIN, &pin);

    // (4) A stale ledger: an entry left unsigned for an hour fails verification, until
    // the server signs it at start.
    append_dated(&data, Duration::from_secs(3600));
    let (ok, stderr) = verify_data(&data);
    assert!(!ok && stderr.contains("checkpoint_stale"), "{stderr}");
    instance.serve();
    instance.stop();
    let (ok, stderr) = verify_data(&data);
    assert!(ok, "signed at start: {stderr}");

    // (1) History rewritten with recomputed hashes and tree head, checkpoints deleted.
    rewrite_history(&instance);
    let (ok, stderr) = verify_data(&data);
    assert!(!ok, "the rewrite was not detected");
    assert!(stderr.contains("history_rewritten"), "{stderr}");

    // (2) The server refuses to sign over it, says why, and the refusal is recorded.
    let refused = serve_refused(&instance);
    assert!(refused.contains("history_rewritten"), "{refused}");
    assert!(refused.contains("checkpoint refused"), "{refused}");
    let (ok, stdout, stderr) = run(
        &["ledger", "show", "--book", "facility", "--json", "--data"],
        &data,
    );
    assert!(ok, "{stderr}");
    let entries: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let refusal = entries
        .iter()
        .rev()
        .find(|e| e["kind"] == "checkpoint.refused")
        .expect("the refusal is in the facility book");
    assert_eq!(refusal["payload"]["code"], "history_rewritten");
    // Nor does an export sign the forged history.
    let forged = work.join("forged-export");
    let (ok, _, stderr) = run(
        &[
            "ledger",
            "export",
            "--out",
            forged.to_str().unwrap(),
            "--data",
        ],
        &data,
    );
    assert!(!ok && stderr.contains("history_rewritten"), "{stderr}");
    // Both failures carry the reason code in their JSON as well.
    let (ok, stdout, _) = run(&["ledger", "verify", "--json", "--data"], &data);
    let failure: Value = serde_json::from_str(&stdout).unwrap();
    assert!(!ok);
    assert_eq!(failure["code"], "history_rewritten", "{failure}");
    let forged = work.join("forged-export-json");
    let out = forged.to_str().unwrap();
    let (ok, stdout, _) = run(
        &["ledger", "export", "--json", "--out", out, "--data"],
        &data,
    );
    let failure: Value = serde_json::from_str(&stdout).unwrap();
    assert!(!ok);
    assert_eq!(failure["code"], "history_rewritten", "{failure}");
}
