//! The ledger for outsiders, end to end through the real binary: after real traffic
//! (issuance, revocation), `shuin ledger export` verifies offline; every tamper class is
//! detected with a clear message; the checkpoint and proof endpoints serve what the
//! project's verifier and an independent RFC 9162 check written here both accept.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shuin_keys::{KeySpec, Signer, SoftwareSigner};
use shuin_ledger::export::{checkpoint_file_name, AUDIT_KEY_FILE, CHECKPOINTS_DIR, ENTRIES_FILE};
use shuin_ledger::{merkle, Checkpoint, NoteKey, SignedNote};
use shuin_testkit::SimulatedJlisCa;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Runs `shuin ledger verify --export DIR [--since-checkpoint FILE]`: (success, stderr).
fn verify(export: &Path, since: Option<&Path>) -> (bool, String) {
    let mut command = shuin();
    command.args(["ledger", "verify", "--export"]).arg(export);
    if let Some(since) = since {
        command.arg("--since-checkpoint").arg(since);
    }
    let out = command.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts that verification fails with exactly one stderr line containing `needle`.
#[track_caller]
fn assert_detected(export: &Path, since: Option<&Path>, needle: &str) {
    let (ok, stderr) = verify(export, since);
    assert!(!ok, "tampering with {} was not detected", export.display());
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("FAILED"), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        if item.file_type().unwrap().is_dir() {
            copy_dir(&item.path(), &target);
        } else {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

fn lines_of(export: &Path) -> Vec<String> {
    std::fs::read_to_string(export.join(ENTRIES_FILE))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A copy of `export` named `name` whose entries are changed by `edit`.
fn tampered(export: &Path, name: &str, edit: impl FnOnce(&mut Vec<String>)) -> PathBuf {
    let copy = export.with_file_name(name);
    copy_dir(export, &copy);
    let mut lines = lines_of(&copy);
    edit(&mut lines);
    std::fs::write(copy.join(ENTRIES_FILE), format!("{}\n", lines.join("\n"))).unwrap();
    copy
}

fn unhex(text: &str) -> [u8; 32] {
    hex::decode(text).unwrap().try_into().unwrap()
}

fn path_of(answer: &Value, field: &str) -> Vec<[u8; 32]> {
    answer[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| unhex(h.as_str().unwrap()))
        .collect()
}

/// An RFC 9162 verifier written from the RFC's text, independent of shuin-ledger.
mod independent {
    use sha2::{Digest, Sha256};

    fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update([1u8]);
        hasher.update(left);
        hasher.update(right);
        hasher.finalize().into()
    }

    pub(super) fn leaf(data: &[u8]) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update([0u8]);
        hasher.update(data);
        hasher.finalize().into()
    }

    /// RFC 9162 section 2.1.3.2.
    pub(super) fn inclusion(
        leaf: [u8; 32],
        index: u64,
        size: u64,
        path: &[[u8; 32]],
        root: [u8; 32],
    ) -> bool {
        if index >= size {
            return false;
        }
        let (mut f, mut s, mut r) = (index, size - 1, leaf);
        for p in path {
            if s == 0 {
                return false;
            }
            if f % 2 == 1 || f == s {
                r = node(p, &r);
                if f % 2 == 0 {
                    while f % 2 == 0 && f != 0 {
                        f /= 2;
                        s /= 2;
                    }
                }
            } else {
                r = node(&r, p);
            }
            f /= 2;
            s /= 2;
        }
        s == 0 && r == root
    }

    /// RFC 9162 section 2.1.4.2 (for 0 < first < second).
    pub(super) fn consistency(
        first: u64,
        second: u64,
        first_root: [u8; 32],
        second_root: [u8; 32],
        path: &[[u8; 32]],
    ) -> bool {
        if first == 0 || first >= second {
            return false;
        }
        if path.is_empty() {
            return false;
        }
        let mut path = path.to_vec();
        if first.is_power_of_two() {
            path.insert(0, first_root);
        }
        let Some((&head, rest)) = path.split_first() else {
            return false;
        };
        let (mut f, mut s) = (first - 1, second - 1);
        while f % 2 == 1 {
            f /= 2;
            s /= 2;
        }
        let (mut fr, mut sr) = (head, head);
        for c in rest {
            if s == 0 {
                return false;
            }
            if f % 2 == 1 || f == s {
                fr = node(c, &fr);
                sr = node(c, &sr);
                if f % 2 == 0 {
                    while f % 2 == 0 && f != 0 {
                        f /= 2;
                        s /= 2;
                    }
                }
            } else {
                sr = node(&sr, c);
            }
            f /= 2;
            s /= 2;
        }
        fr == first_root && sr == second_root && s == 0
    }
}

fn audit_key(export: &Path, origin: &str) -> NoteKey {
    let pem = std::fs::read_to_string(export.join(AUDIT_KEY_FILE)).unwrap();
    let (_, der) = der::pem::decode_vec(pem.as_bytes()).unwrap();
    NoteKey::from_spki(origin, &der).unwrap()
}

fn fetch_checkpoint(instance: &Instance) -> String {
    for _ in 0..100 {
        let (status, body) = get(&instance.url("/ledger/v1/checkpoint"));
        if status == 200 {
            return body;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no checkpoint was served");
}

#[test]
fn an_export_after_real_traffic_verifies_offline_and_every_tamper_class_is_detected() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let work = instance.work.path().to_owned();

    // Real traffic: two issuances and a revocation.
    let (status, first) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{first}");
    let (status, second) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{second}");
    instance.add_operator("LRA 一郎", "lra");
    instance.revoke_as(
        "LRA 一郎",
        first["serial"].as_str().unwrap(),
        "keyCompromise",
    );

    // An auditor saves the current checkpoint.
    let saved_note = fetch_checkpoint(&instance);
    let saved_path = work.join("saved.note");
    std::fs::write(&saved_path, &saved_note).unwrap();

    // More traffic after the saved checkpoint.
    let (status, third) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{third}");

    // Export while the server runs, then verify offline.
    let export = work.join("exports").join("original");
    let out = shuin()
        .args(["ledger", "export", "--data"])
        .arg(&instance.data)
        .arg("--out")
        .arg(&export)
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let exported: Value = serde_json::from_slice(&out.stdout).unwrap();
    let origin = exported["origin"].as_str().unwrap().to_owned();
    assert_eq!(
        origin,
        format!("{}/ledger", instance.base.trim_start_matches("http://"))
    );
    let lines = lines_of(&export);
    let size = u64::try_from(lines.len()).unwrap();
    assert_eq!(exported["entries"], size);
    assert!(lines
        .iter()
        .any(|l| l.contains("\"kind\":\"revocation.accepted\"")));
    assert!(lines
        .iter()
        .any(|l| l.contains("\"purpose\":\"ledger_checkpoints\"")));

    let (ok, stderr) = verify(&export, None);
    assert!(ok, "{stderr}");
    let (ok, stderr) = verify(&export, Some(&saved_path));
    assert!(ok, "the export extends the saved checkpoint: {stderr}");
    let out = shuin()
        .args(["ledger", "verify", "--json", "--export"])
        .arg(&export)
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["size"], size);
    // The database mode still works, and now checks the stored checkpoints too.
    let out = shuin()
        .args(["ledger", "verify", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Proofs from the endpoints, against signed checkpoints.
    let key = audit_key(&export, &origin);
    let saved = Checkpoint::open(&saved_note, &key).unwrap();
    let latest = Checkpoint::open(&fetch_checkpoint(&instance), &key).unwrap();
    assert!(
        latest.size >= size && saved.size < size,
        "saved {} latest {} export {size}",
        saved.size,
        latest.size
    );
    for index in [0, 1, saved.size - 1, size / 2, size - 1] {
        let (status, body) = get(&instance.url(&format!(
            "/ledger/v1/proof/inclusion?index={index}&size={}",
            latest.size
        )));
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let proof = path_of(&answer, "inclusion_path");
        let line = lines[usize::try_from(index).unwrap()].as_bytes();
        assert!(merkle::verify_inclusion(
            &merkle::leaf_hash(line),
            index,
            latest.size,
            &proof,
            &latest.root
        ));
        assert!(
            independent::inclusion(
                independent::leaf(line),
                index,
                latest.size,
                &proof,
                latest.root
            ),
            "index {index}"
        );
        assert!(!independent::inclusion(
            independent::leaf(b"forged"),
            index,
            latest.size,
            &proof,
            latest.root
        ));
    }
    let (status, body) = get(&instance.url(&format!(
        "/ledger/v1/proof/consistency?from={}&to={}",
        saved.size, latest.size
    )));
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let proof = path_of(&answer, "consistency_path");
    assert!(merkle::verify_consistency(
        saved.size,
        latest.size,
        &saved.root,
        &latest.root,
        &proof
    ));
    assert!(independent::consistency(
        saved.size,
        latest.size,
        saved.root,
        latest.root,
        &proof
    ));
    assert!(!independent::consistency(
        saved.size,
        latest.size,
        [0; 32],
        latest.root,
        &proof
    ));

    // Out-of-range and malformed parameters: 400 problem documents.
    for query in [
        format!("inclusion?index={size}&size={size}"),
        format!("inclusion?index=0&size={}", latest.size + 1000),
        "inclusion?index=-1&size=3".to_owned(),
        "inclusion?index=x&size=3".to_owned(),
        "inclusion?size=3".to_owned(),
        "consistency?from=5&to=2".to_owned(),
        format!("consistency?from=1&to={}", latest.size + 10),
        "consistency?from=1".to_owned(),
        "consistency?from=99999999999999999999&to=1".to_owned(),
    ] {
        let answer = get_problem(&instance.url(&format!("/ledger/v1/proof/{query}")));
        assert_problem(&answer, 400, "malformed_request");
        assert!(!answer.1["detail"].as_str().unwrap().is_empty(), "{query}");
    }

    // Tamper classes, each on a copy of the export.
    let seq_of = |line: &str| -> u64 {
        serde_json::from_str::<Value>(line).unwrap()["seq"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(seq_of(&lines[3]), 3);
    let deleted = tampered(&export, "deleted", |l| {
        l.remove(3);
    });
    assert_detected(
        &deleted,
        None,
        "FAILED: entries_missing: entries.jsonl line 4 holds seq 4 where seq 3 was expected",
    );
    let out = shuin()
        .args(["ledger", "verify", "--json", "--export"])
        .arg(&deleted)
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["code"], "entries_missing", "{answer}");
    let duplicated = tampered(&export, "duplicated", |l| {
        let copy = l[5].clone();
        l.insert(6, copy);
    });
    assert_detected(
        &duplicated,
        None,
        "line 7 holds seq 5 where seq 6 was expected",
    );
    let reordered = tampered(&export, "reordered", |l| l.swap(7, 8));
    assert_detected(
        &reordered,
        None,
        "line 8 holds seq 8 where seq 7 was expected",
    );
    let edited = tampered(&export, "edited", |l| {
        let target = l
            .iter()
            .position(|x| x.contains("\"kind\":\"revocation.accepted\""))
            .unwrap();
        let before = l[target].clone();
        l[target] = before.replacen("\"time\":\"20", "\"time\":\"19", 1);
        assert_ne!(l[target], before);
    });
    assert_detected(&edited, None, "does not match the entries");
    let noncanonical = tampered(&export, "noncanonical", |l| {
        l[2] = l[2].replacen("{\"actor\":", "{ \"actor\":", 1);
    });
    assert_detected(&noncanonical, None, "line 3: not a canonical ledger entry");
    let truncated = tampered(&export, "truncated", |l| l.truncate(l.len() - 2));
    assert_detected(&truncated, None, "the export is truncated");

    let bad_signature = export.with_file_name("bad-signature");
    copy_dir(&export, &bad_signature);
    let note_path = bad_signature
        .join(CHECKPOINTS_DIR)
        .join(checkpoint_file_name(size));
    let mut note = SignedNote::parse(&std::fs::read_to_string(&note_path).unwrap()).unwrap();
    note.signatures[0].signature[12] ^= 0x01;
    std::fs::write(&note_path, note.encode()).unwrap();
    assert_detected(&bad_signature, None, "does not verify");

    // A whole different history signed by a key of the forger's own: it verifies alone,
    // but not against the checkpoint saved earlier.
    let forged = export.with_file_name("forged");
    let (forger, _) = SoftwareSigner::generate(KeySpec::EcP256).unwrap();
    let forged_lines: Vec<String> = lines
        .iter()
        .map(|l| l.replace("責任者 花子", "別人 次郎"))
        .collect();
    rewrite(&export, &forged, &forged_lines, &forger, &origin);
    let (ok, stderr) = verify(&forged, None);
    assert!(
        ok,
        "a self-consistent forgery verifies on its own: {stderr}"
    );
    // Not against the instance's pinned audit key.
    let config = std::fs::read_to_string(instance.data.join("shuin.toml")).unwrap();
    let config: toml::Value = toml::from_str(&config).unwrap();
    let pin = config["ledger"]["audit_key_sha256"].as_str().unwrap();
    let out = shuin()
        .args(["ledger", "verify", "--audit-key-sha256", pin, "--export"])
        .arg(&forged)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit_key_mismatch"));
    assert_detected(
        &forged,
        Some(&saved_path),
        "the saved checkpoint does not verify with this export's audit key",
    );

    // The same with the real audit key (an insider with the HSM): the saved checkpoint
    // verifies, but the rewritten history is not its extension.
    let key_file = std::fs::read_dir(instance.data.join("keys"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("audit-")
        })
        .unwrap();
    let insider =
        SoftwareSigner::from_pkcs8_pem(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let rewritten = export.with_file_name("rewritten");
    rewrite(&export, &rewritten, &forged_lines, &insider, &origin);
    assert!(verify(&rewritten, None).0);
    assert_detected(
        &rewritten,
        Some(&saved_path),
        "the history was replaced or rewritten",
    );
    // And rolled back to before the saved checkpoint.
    let rolled_back = export.with_file_name("rolled-back");
    let short = usize::try_from(saved.size).unwrap() - 1;
    rewrite(&export, &rolled_back, &lines[..short], &insider, &origin);
    assert!(verify(&rolled_back, None).0);
    assert_detected(&rolled_back, Some(&saved_path), "truncated or rolled back");

    // More traffic, then a shutdown: the shutdown checkpoint covers the whole ledger.
    let (status, fourth) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{fourth}");
    let mut instance = instance;
    instance.stop();
    let out = shuin()
        .args(["ledger", "verify", "--json", "--data"])
        .arg(&instance.data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["size"].as_u64().unwrap() > size);
    assert_eq!(report["latest_checkpoint_size"], report["size"], "{report}");
}

/// Writes `to`: `from` with `lines` as entries, one checkpoint over them signed by
/// `signer`, and `signer`'s public key.
fn rewrite(from: &Path, to: &Path, lines: &[String], signer: &SoftwareSigner, origin: &str) {
    copy_dir(from, to);
    std::fs::write(to.join(ENTRIES_FILE), format!("{}\n", lines.join("\n"))).unwrap();
    let checkpoints = to.join(CHECKPOINTS_DIR);
    std::fs::remove_dir_all(&checkpoints).unwrap();
    std::fs::create_dir(&checkpoints).unwrap();
    let leaves: Vec<[u8; 32]> = lines
        .iter()
        .map(|l| merkle::leaf_hash(l.as_bytes()))
        .collect();
    let key = NoteKey::from_spki(origin, signer.public_key_der()).unwrap();
    let size = u64::try_from(lines.len()).unwrap();
    let note = Checkpoint {
        origin: origin.to_owned(),
        size,
        root: merkle::root(&leaves),
    }
    .sign(&key, |m| signer.sign(m))
    .unwrap();
    std::fs::write(checkpoints.join(checkpoint_file_name(size)), note).unwrap();
    let pem = der::pem::encode_string(
        "PUBLIC KEY",
        der::pem::LineEnding::LF,
        signer.public_key_der(),
    )
    .unwrap();
    std::fs::write(to.join(AUDIT_KEY_FILE), pem).unwrap();
    // A self-consistent forger names their own key's fingerprint in the manifest too.
    let manifest_path = to.join("manifest.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["audit_key"]["pinned_sha256"] =
        Value::String(hex::encode(Sha256::digest(signer.public_key_der())));
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
}

/// GET that expects a problem document.
fn get_problem(url: &str) -> (u16, Value) {
    let (status, body) = get(url);
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}
