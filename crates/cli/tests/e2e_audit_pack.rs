//! The audit pack end to end through the real binary: after real traffic (an issuance,
//! a revocation, a periodic review sign-off), `shuin audit pack` writes pack.json with
//! every survey item of docs/criteria.md and the modernisation conditions, each with
//! evidence or an organisational mark; the ledger export inside verifies offline; and
//! index.html opens in headless Chromium showing every item. Also `shuin retention`.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use serde_json::Value;
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::process::Command;

/// The ids of the 25 survey items, read from docs/criteria.md.
fn criteria_ids() -> Vec<String> {
    let text = include_str!("../../../docs/criteria.md");
    let ids: Vec<String> = text
        .lines()
        .filter_map(|line| line.strip_prefix("| "))
        .filter_map(|rest| rest.split(' ').next())
        .filter(|id| {
            id.len() >= 2
                && matches!(id.as_bytes()[0], b'F' | b'V' | b'B' | b'L')
                && id[1..].bytes().all(|b| b.is_ascii_digit())
        })
        .map(str::to_owned)
        .collect();
    assert_eq!(
        ids.len(),
        25,
        "docs/criteria.md lists 25 survey items: {ids:?}"
    );
    ids
}

/// Dumps the DOM of a local page with headless Chromium, or `None` when Chromium is
/// missing and not required (`SHUIN_REQUIRE_CHROMIUM=1`).
fn chromium_dom(page: &Path, profile: &Path) -> Option<String> {
    let url = format!("file://{}", page.display());
    let profile = format!("--user-data-dir={}", profile.display());
    let args = [profile.as_str(), "--dump-dom", url.as_str()];
    let out = ["chromium", "chromium-browser"].iter().find_map(|tool| {
        Command::new(tool)
            .args(crate::common::browser::CHROMIUM_FLAGS)
            .args(args)
            .output()
            .ok()
    });
    match out {
        Some(out) => {
            assert!(
                out.status.success(),
                "chromium: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Some(String::from_utf8(out.stdout).unwrap())
        }
        None => {
            assert!(
                std::env::var("SHUIN_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
                "SHUIN_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install chromium)"
            );
            eprintln!("note: chromium not found; skipping the browser check");
            None
        }
    }
}

#[test]
fn the_audit_pack_maps_every_item_to_evidence_and_opens_in_chromium() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let card = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let work = instance.work.path().to_owned();

    // A pack straight after init: only what init recorded is evidence.
    instance.add_operator("監査 三郎", "auditor");
    let fresh_dir = work.join("audit-fresh");
    let fresh = instance.audit_pack("監査 三郎", &fresh_dir);

    // Real traffic: an issuance, a revocation, a periodic review signed off.
    let (status, issued) = instance.apply(&card, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{issued}");
    instance.add_operator("LRA 一郎", "lra");
    let revoked = instance.revoke_as(
        "LRA 一郎",
        issued["serial"].as_str().unwrap(),
        "keyCompromise",
    );
    assert_eq!(revoked["status"], "revoked", "{revoked}");
    instance.add_operator("責任者 花子", "responsible_person");
    let review = instance.as_operator_json(
        "責任者 花子",
        &[
            "automation",
            "review",
            "--since",
            "2020-01-01",
            "--sign-off",
        ],
    );
    assert_eq!(review["signed_off"]["by"], "責任者 花子", "{review}");

    // Retention: nothing is past retention now; a purge deletes nothing.
    let shown = json_answer(&["retention", "show"], &instance.data);
    assert_eq!(shown["evidence_years_after_expiry"], 10);
    assert_eq!(shown["ledger_entries_deletable"], false);
    assert!(
        shown["evidence"]["stored"].as_u64().unwrap() >= 1,
        "{shown}"
    );
    assert_eq!(shown["evidence"]["expired"], 0, "{shown}");
    let dry = json_answer(&["retention", "show", "--due"], &instance.data);
    assert_eq!(dry["purged"], serde_json::json!([]), "{dry}");
    let refused = instance.as_operator("LRA 一郎", &["retention", "purge"]);
    assert!(!refused.status.success(), "an LRA may not purge");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("role_missing"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );

    // The pack.
    let out = work.join("audit");
    // An LRA may not take the pack; an auditor may (their request is recorded).
    let refused = instance.as_operator(
        "LRA 一郎",
        &["audit", "pack", "--out", out.to_str().unwrap()],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("role_missing"));
    let pack = instance.audit_pack("監査 三郎", &out);
    assert_eq!(pack["format"], "shuin-audit-pack/1");
    // Software keys: each key the CA opened is listed, and none is shown as complete.
    let keys = pack["keys"]["keys"].as_array().unwrap();
    assert!(keys.len() >= 4, "{}", pack["keys"]);
    for key in keys {
        assert_eq!(key["backend"], "software", "{key}");
        assert_eq!(key["complete"], false, "{key}");
    }
    for code in ["validation_missing", "not_production_grade"] {
        assert!(
            pack["keys"]["missing"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == code),
            "{code}: {}",
            pack["keys"]
        );
    }

    let ids = criteria_ids();
    let items = pack["items"].as_array().unwrap();
    let listed: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        listed, ids,
        "pack.json lists the 25 items in the order of docs/criteria.md"
    );
    let conditions = pack["conditions"].as_array().unwrap();
    let condition_ids: Vec<&str> = conditions
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert!(condition_ids.contains(&"C-REMOTE"), "{condition_ids:?}");
    assert!(
        condition_ids
            .iter()
            .filter(|id| id.starts_with("C-AUTO-"))
            .count()
            >= 3,
        "{condition_ids:?}"
    );
    for item in items.iter().chain(conditions) {
        let status = item["status"].as_str().unwrap();
        let evidence = item["evidence"].as_array().unwrap();
        match status {
            "evidence" => assert!(
                item["organisational"].is_null()
                    && evidence
                        .iter()
                        .any(|e| e["records"] == true && e["found"] == true),
                "{item}"
            ),
            "partial" => assert!(
                !evidence.is_empty()
                    && (item["organisational"].is_string()
                        || evidence.iter().any(|e| e["found"] == true)),
                "{item}"
            ),
            "organisational" => assert!(item["organisational"].is_string(), "{item}"),
            other => panic!("unknown status {other}: {item}"),
        }
    }
    let by_id = |id: &str| {
        items
            .iter()
            .chain(conditions)
            .find(|i| i["id"] == id)
            .unwrap()
            .clone()
    };
    // Item by item: the fresh pack claims evidence only where records exist, and the
    // traffic turns its items into evidence.
    let fresh_items: Vec<&Value> = fresh["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(fresh["conditions"].as_array().unwrap())
        .collect();
    for item in &fresh_items {
        if item["status"] == "evidence" {
            assert!(
                item["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["records"] == true && e["found"] == true),
                "{item}"
            );
        }
        // Configuration facts are never what makes evidence.
        for e in item["evidence"].as_array().unwrap() {
            if e["source"] == "config" || e["source"] == "software" || e["source"] == "file" {
                assert_eq!(e["records"], false, "{e}");
            }
        }
    }
    let status_in =
        |pack: &[&Value], id: &str| pack.iter().find(|i| i["id"] == id).unwrap()["status"].clone();
    // (B8 counts the root and issuing CRLs that init issued: real records.)
    for id in ["B4", "L2", "V1", "C-AUTO-REVIEW", "C-AUTO-BOOKS"] {
        assert_ne!(
            status_in(&fresh_items, id),
            "evidence",
            "{id} before any traffic"
        );
    }
    for id in ["B4", "B8", "L2", "V1", "C-AUTO-BOOKS"] {
        assert_eq!(
            by_id(id)["status"],
            "evidence",
            "{id} after traffic: {}",
            by_id(id)
        );
    }
    let fresh_evidence = fresh["summary"]["evidence"].as_u64().unwrap();
    let used_evidence = pack["summary"]["evidence"].as_u64().unwrap();
    assert!(
        fresh_evidence < used_evidence,
        "{fresh_evidence} vs {used_evidence}"
    );
    // A software key is never reported as production grade.
    let f4 = by_id("F4");
    assert!(
        f4["evidence"][0]["summary"]
            .as_str()
            .unwrap()
            .contains("production grade: no"),
        "{f4}"
    );
    // The traffic shows up as evidence.
    assert_eq!(by_id("B8")["status"], "evidence", "{}", by_id("B8"));
    assert_eq!(
        by_id("C-AUTO-REVIEW")["status"],
        "evidence",
        "{}",
        by_id("C-AUTO-REVIEW")
    );
    // No termination on record: its software part is there, its records are not.
    assert_eq!(by_id("B10")["status"], "partial");
    // F1's entry/exit records: none imported here, so partial with its organisational part.
    assert_eq!(by_id("F1")["status"], "partial");

    // The named evidence: key backend, seal, zone policy, automation and review, CRL,
    // ledger verification and checkpoint, retention.
    assert_eq!(
        pack["key_backend"]["status"]["key_backend"]["kind"],
        "software"
    );
    assert!(pack["seal"].is_object());
    // The zone policy comes from the gate's own table.
    let actions = pack["zone_policy"]["actions"].as_array().unwrap();
    assert!(
        actions.iter().any(|a| a["action"] == "revoke"),
        "{actions:?}"
    );
    assert_eq!(pack["crl"]["fresh"], true, "{}", pack["crl"]);
    assert_eq!(pack["ledger"]["verification"]["ok"], true);
    // The applicants' kept personal data records match the books' commitments.
    assert!(
        pack["ledger"]["verification"]["personal_data_records_checked"]
            .as_u64()
            .unwrap()
            >= 1,
        "{}",
        pack["ledger"]["verification"]
    );
    assert!(pack["ledger"]["latest_checkpoint"]["note"]
        .as_str()
        .unwrap()
        .contains("/ledger\n"));
    assert_eq!(pack["ledger"]["export"]["verified"]["ok"], true);
    assert_eq!(pack["retention"]["evidence_years_after_expiry"], 10);

    // The export inside the pack verifies offline.
    let verified = shuin()
        .args(["ledger", "verify", "--export"])
        .arg(out.join("ledger-export"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let verified: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(
        verified["size"],
        pack["ledger"]["export"]["verified"]["size"]
    );

    // The page: every item and condition, with a status, rendered by Chromium.
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(!html.contains("<script"), "no scripts in the page");
    let dom = chromium_dom(&out.join("index.html"), &work.join("chromium-profile"));
    for page in [Some(html), dom].into_iter().flatten() {
        for item in items.iter().chain(conditions) {
            let id = item["id"].as_str().unwrap();
            assert!(
                page.contains(&format!("id=\"item-{id}\"")),
                "the page shows {id}"
            );
        }
        // B10 and B11 gained a software part, so "partial" is what this pack shows.
        assert!(page.contains("partial / 一部組織的"));
        assert!(page.contains("evidence / 証跡あり"));
    }

    // A second pack into the same directory is refused.
    let again = instance.as_operator(
        "監査 三郎",
        &["audit", "pack", "--out", out.to_str().unwrap()],
    );
    assert!(!again.status.success());
}
