//! The auditor's downloads in the web console (issue 15), driven from the auditor test
//! of `e2e_console` on its remote listener: the audit pack and an export of the books,
//! each asked for by a request the passkey signs, downloaded by the browser as a tar
//! file, unpacked with `tar` and checked offline with `shuin ledger verify --export`
//! against the pin in shuin.toml. Hostile paths: a download link used twice or by
//! guess, and a decision sent to the download endpoints.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::browser::Browser;
use crate::common::*;
use crate::e2e_console::{check_page, fetch_json, sign_in_page, text_of};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Downloads the audit pack and an export in the page of the signed-in auditor, checks
/// both offline, and the hostile paths; the books then hold both requests.
pub(crate) fn download_and_check(browser: &mut Browser, instance: &Instance, axe: Option<&str>) {
    let work = instance.work.path().join("downloads");
    std::fs::create_dir_all(&work).unwrap();
    browser.allow_downloads(&work);
    let audit = origin_of(browser) + "/console/audit?lang=en";
    browser.open(&audit);
    check_page(browser, axe, "audit downloads");
    let shown_pin = text_of(browser, "code.digest");
    assert_eq!(shown_pin, pinned(&instance.data), "the page's audit key");

    // The export: downloaded by the page, unpacked, verified against the pin.
    browser.evaluate("document.getElementById('download-ledger-export').click(); 1");
    let export = unpacked(&downloaded(&work, "shuin-ledger-export-"), &work);
    let verified = shuin()
        .args([
            "ledger",
            "verify",
            "--json",
            "--audit-key-sha256",
            &shown_pin,
        ])
        .arg("--export")
        .arg(&export)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );

    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(export.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["audit_key"]["algorithm"], "ecdsa-p384-sha384");

    // The audit pack, with its own export verified when it was made.
    browser.evaluate("document.getElementById('download-audit-pack').click(); 1");
    let pack = unpacked(&downloaded(&work, "shuin-audit-pack-"), &work);
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(pack.join("pack.json")).unwrap()).unwrap();
    assert_eq!(document["format"], "shuin-audit-pack/1");
    assert_eq!(
        document["ledger"]["export"]["verified"]["ok"], true,
        "{}",
        document["ledger"]["export"]
    );
    assert!(pack.join("index.html").is_file());
    assert!(pack.join("ledger-export/entries.jsonl").is_file());
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());

    hostile_paths(browser);

    // Each download was asked for by a request the passkey signed, in the books.
    let entries = export_entries(&instance.data, &work.join("after"));
    let requested = |action: &str| {
        entries
            .iter()
            .filter(|e| e["kind"] == "operator.request" && e["payload"]["action"] == action)
            .filter(|e| e["payload"]["passkey"]["client_data_json"].is_string())
            .count()
    };
    assert_eq!(requested("audit_pack"), 1);
    assert_eq!(
        requested("ledger_read"),
        2,
        "the export, and the link used twice"
    );
}

/// A link works once, for its session; a guessed one is nothing; the download
/// endpoints make nothing else.
fn hostile_paths(browser: &mut Browser) {
    let csrf = browser.evaluate("document.querySelector('input[name=csrf]').value");
    let csrf = csrf.as_str().unwrap().to_owned();
    let (status, prepared) = fetch_json(
        browser,
        "/console/v1/download/prepare",
        &json!({"csrf": csrf, "action": "ledger_export"}),
    );
    assert_eq!(status, 200, "{prepared}");
    let assertion = sign_in_page(
        browser,
        prepared["challenge"].as_str().unwrap(),
        prepared["credential_id"].as_str().unwrap(),
        prepared["rp_id"].as_str().unwrap(),
    );
    let (status, done) = fetch_json(
        browser,
        "/console/v1/download/act",
        &json!({"csrf": csrf, "request": prepared["request"], "assertion": assertion}),
    );
    assert_eq!(status, 200, "{done}");
    let link = done["next"].as_str().unwrap().to_owned();
    assert!(link.starts_with("/console/downloads/"), "{link}");
    let fetched = |browser: &mut Browser, path: &str| {
        browser.evaluate(&format!(
            "fetch({path:?}).then(r => r.arrayBuffer().then(b => \
             [r.status, r.headers.get('content-type'), b.byteLength]))"
        ))
    };
    let first = fetched(browser, &link);
    assert_eq!(first[0], 200, "{first}");
    assert_eq!(first[1], "application/x-tar", "{first}");
    assert!(first[2].as_u64().unwrap() > 1024, "{first}");
    assert_eq!(fetched(browser, &link)[0], 404, "a link works once");
    assert_eq!(fetched(browser, "/console/downloads/guessed")[0], 404);

    // A decision is not made through the download endpoints, even where they exist.
    let (status, refused) = fetch_json(
        browser,
        "/console/v1/download/prepare",
        &json!({"csrf": csrf, "action": "review_approve", "id": "x"}),
    );
    assert_eq!(status, 400, "{refused}");
    assert_eq!(refused["code"], "invalid_params", "{refused}");
}

fn origin_of(browser: &mut Browser) -> String {
    browser
        .evaluate("location.origin")
        .as_str()
        .unwrap()
        .to_owned()
}

/// `[ledger] audit_key_sha256` of the instance's shuin.toml.
fn pinned(data: &Path) -> String {
    let config = std::fs::read_to_string(data.join("shuin.toml")).unwrap();
    let config: toml::Value = toml::from_str(&config).unwrap();
    config["ledger"]["audit_key_sha256"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The finished download in `dir` whose name starts with `prefix`.
#[track_caller]
fn downloaded(dir: &Path, prefix: &str) -> PathBuf {
    let started = Instant::now();
    loop {
        let done = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(prefix) && name.ends_with(".tar")
            });
        if let Some(path) = done {
            return path;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no {prefix}*.tar in {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `tar` unpacked into `into`; the one directory it holds.
fn unpacked(tar: &Path, into: &Path) -> PathBuf {
    let listed = Command::new("tar").arg("-tf").arg(tar).output().unwrap();
    assert!(listed.status.success());
    let top = String::from_utf8(listed.stdout).unwrap();
    let top = top.lines().next().unwrap().trim_end_matches('/').to_owned();
    let done = Command::new("tar")
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(done.success());
    into.join(top.split('/').next().unwrap())
}
