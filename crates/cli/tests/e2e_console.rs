//! The web console through the real binary and a real browser (issue 15, DESIGN.md
//! section 12): an LRA asks for a passkey invitation with their operator key, registers
//! a passkey in headless Chromium (its virtual authenticator), signs in, reads the review
//! queue and an application's evidence, and approves it with a request the passkey
//! signs; the books hold each step, and `ledger verify` re-checks the passkey's
//! assertions offline. Hostile paths: a spent invitation, a form from another session,
//! a signed request altered after signing, a request without a session, and the console
//! absent from every other listener.
//!
//! The auditor's view on a remote console listener: the books filtered, an entry's
//! inclusion checked in the page against the signed checkpoint (and the check failing
//! when the page is given other bytes than the books hold), the LRA's pages refused, and
//! a decision refused by the zone policy even when the passkey signed it; the audit
//! pack and an export downloaded there (`e2e_console_downloads`).

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::browser::{axe_core, Browser};
use crate::common::tls::listener_certificates;
use crate::common::*;
use crate::e2e_witness::WitnessProcess;
use serde_json::{json, Value};
use shuin_testkit::SimulatedJlisCa;
use std::path::Path;
use std::time::{Duration, Instant};

const LRA: &str = "審査 一郎";

/// base64(SHA-256(SubjectPublicKeyInfo)) of the certificate at `pem`: what Chromium's
/// `--ignore-certificate-errors-spki-list` takes, so that it trusts the test listener's
/// certificate as a browser trusts a public one (WebAuthn refuses pages with
/// certificate errors).
fn spki_pin(pem: &Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        pem.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Waits until the page is at `expected`: that path (with any query), or, when
/// `expected` has a query, a location starting with it. Returns the path and query.
#[track_caller]
fn wait_for_location(browser: &mut Browser, expected: &str) -> String {
    let started = Instant::now();
    loop {
        let location = browser.evaluate("location.pathname + location.search");
        let location = location.as_str().unwrap_or_default().to_owned();
        let path = location.split('?').next().unwrap_or_default();
        let arrived = if expected.contains('?') {
            location.starts_with(expected)
        } else {
            path == expected
        };
        if arrived {
            // Let the new page finish loading.
            std::thread::sleep(Duration::from_millis(300));
            return location;
        }
        let status = browser.evaluate(
            "(document.getElementById('console-status') || {textContent: ''}).textContent",
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never reached {expected}: at {location}, status {status}, errors {:?}",
            browser.errors()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The text of the first element matching `selector`; the page's text in the panic if
/// there is none.
#[track_caller]
pub(crate) fn text_of(browser: &mut Browser, selector: &str) -> String {
    let script = format!(
        "(() => {{ const e = document.querySelector({selector:?}); \
         return e ? e.innerText : 'MISSING ' + location.href + ' ' + document.body.innerText; }})()"
    );
    let text = browser.evaluate(&script);
    let text = text.as_str().unwrap_or_default().to_owned();
    assert!(!text.starts_with("MISSING"), "no {selector}: {text}");
    text
}

/// A JSON POST from the page (same origin, with its cookies): [status, body].
pub(crate) fn fetch_json(browser: &mut Browser, path: &str, body: &Value) -> (u64, Value) {
    let script = format!(
        "fetch({path:?}, {{method: 'POST', headers: {{'content-type': 'application/json'}}, \
         credentials: 'same-origin', body: JSON.stringify({body})}})\
         .then(r => r.json().then(j => [r.status, j]))"
    );
    let answer = browser.evaluate(&script);
    (answer[0].as_u64().unwrap(), answer[1].clone())
}

/// Signs `challenge` (base64url) with the page's passkey `credential` in the page.
pub(crate) fn sign_in_page(
    browser: &mut Browser,
    challenge: &str,
    credential: &str,
    rp_id: &str,
) -> Value {
    let script = format!(
        "(() => {{ const d = t => Uint8Array.from(atob(t.replace(/-/g,'+').replace(/_/g,'/')), c => c.charCodeAt(0)); \
         const e = b => btoa(String.fromCharCode(...new Uint8Array(b))); \
         return navigator.credentials.get({{publicKey: {{challenge: d({challenge:?}), rpId: {rp_id:?}, \
         userVerification: 'required', allowCredentials: [{{type: 'public-key', id: d({credential:?})}}]}}}})\
         .then(c => ({{credential_id: {credential:?}, authenticator_data: e(c.response.authenticatorData), \
         client_data_json: e(c.response.clientDataJSON), signature: e(c.response.signature)}})); }})()"
    );
    browser.evaluate(&script)
}

/// A new instance with software keys (not served yet).
fn software_instance(jlis: SimulatedJlisCa) -> Instance {
    Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    )
}

/// A TLS console listener of `zone` for `localhost` on a free port; its origin.
fn console_listener(instance: &mut Instance, zone: &str) -> String {
    listener_certificates(&instance.data, "DNS:localhost");
    let port = free_port();
    let origin = format!("https://localhost:{port}");
    instance.append_config(&format!(
        "\n[[server.listeners]]\nlisten = \"127.0.0.1:{port}\"\nzone = \"{zone}\"\nclient_auth = \"passkey\"\n\
         console_origin = \"{origin}\"\ntls = {{ certificate = \"tls/cert.pem\", key = \"tls/key.pem\" }}\n"
    ));
    origin
}

/// Chromium trusting the console's certificate, with a virtual passkey authenticator.
fn browser_with_passkeys(instance: &Instance) -> Option<Browser> {
    let pin = spki_pin(&instance.data.join("tls/cert.pem"));
    let flags = [format!("--ignore-certificate-errors-spki-list={pin}")];
    let mut browser = Browser::launch_with(&flags)?;
    browser.call("WebAuthn.enable", json!({}));
    browser.call(
        "WebAuthn.addVirtualAuthenticator",
        json!({"options": {"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
            "hasUserVerification": true, "isUserVerified": true,
            "automaticPresenceSimulation": true}}),
    );
    Some(browser)
}

/// Registers a passkey with the invitation `token` on the console at `origin`.
fn enrol(browser: &mut Browser, origin: &str, token: &str) {
    browser.open(&format!("{origin}/console/enrol"));
    browser.evaluate(&format!(
        "document.getElementById('invitation').value = {token:?}; \
         document.querySelector('#console-enrol button').click(); 1"
    ));
    wait_for_location(browser, "/console/signin");
}

/// The texts of the inclusion check's results, once it has `count` of them or failed.
#[track_caller]
fn proof_results(browser: &mut Browser, count: usize) -> Vec<String> {
    let started = Instant::now();
    loop {
        let items = browser.evaluate(
            "Array.from(document.querySelectorAll('#console-proof-results li'), \
             li => (li.className === 'failed' ? 'FAILED ' : '') + li.textContent)",
        );
        let items: Vec<String> = items
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        if items.len() >= count || items.iter().any(|i| i.starts_with("FAILED")) {
            return items;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the check did not finish: {items:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The page passes axe-core (when it is there) and shows no message key: what every
/// console page must.
#[track_caller]
pub(crate) fn check_page(browser: &mut Browser, axe: Option<&str>, what: &str) {
    if let Some(source) = axe {
        let violations = browser.axe(source);
        assert!(violations.is_empty(), "{what}: {violations:?}");
    }
    let keys = browser.evaluate(
        "(document.body.innerText.match(/\\b(console|nav|metric)-[a-z0-9-]+/g) || []).join(' ')",
    );
    assert_eq!(keys, "", "{what} shows message keys");
}

fn of_kind<'a>(entries: &'a [Value], kind: &str) -> Vec<&'a Value> {
    entries.iter().filter(|e| e["kind"] == kind).collect()
}

#[test]
fn an_lra_registers_a_passkey_signs_in_and_approves_in_a_real_browser() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    let other = card(&jlis, |s| s.name_substitutes = Some("10000".into()));
    let mut instance = software_instance(jlis);
    let origin = console_listener(&mut instance, "secure");
    instance.serve();
    instance.add_operator(LRA, "lra");

    // The console exists only on its listener.
    assert_eq!(get(&instance.url("/console/")).0, 404);
    assert_eq!(get(&instance.url("/console/v1/signin/begin")).0, 404);

    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let id = answer["application_id"].as_str().unwrap().to_owned();
    let (status, answer) = instance.apply(&other, "山田　三郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let second = answer["application_id"].as_str().unwrap().to_owned();

    // The invitation, signed with the LRA's operator key on the local console.
    let invited = instance.as_operator_json(LRA, &["operator", "passkey-invite"]);
    let token = invited["token"].as_str().unwrap().to_owned();
    assert_eq!(invited["operator"], LRA, "{invited}");

    let Some(mut browser) = browser_with_passkeys(&instance) else {
        return;
    };

    // Not signed in: the queue sends to the sign-in page.
    browser.open(&format!("{origin}/console/"));
    wait_for_location(&mut browser, "/console/signin");
    let axe = axe_core();
    for lang in ["en", "ja"] {
        for page in ["signin", "enrol"] {
            browser.open(&format!("{origin}/console/{page}?lang={lang}"));
            check_page(&mut browser, axe.as_deref(), &format!("{page} ({lang})"));
        }
    }

    // Enrolment with the invitation.
    enrol(&mut browser, &origin, &token);
    // The invitation is spent.
    let (status, answer) = fetch_json(
        &mut browser,
        "/console/v1/enrol/begin",
        &json!({"token": token}),
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("passkey_invitation_closed")),
        "{answer}"
    );

    // Sign-in.
    browser.evaluate("document.getElementById('console-signin').click(); 1");
    wait_for_location(&mut browser, "/console/");
    browser.open(&format!("{origin}/console/"));
    let queue = text_of(&mut browser, "main");
    assert!(queue.contains(&id) && queue.contains(&second), "{queue}");
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
    check_page(&mut browser, axe.as_deref(), "queue");
    if let Some(dir) = std::env::var_os("SHUIN_SCREENSHOTS") {
        browser.screenshot(&Path::new(&dir).join("console-queue-ja.png"));
    }
    // Search narrows the queue.
    browser.open(&format!("{origin}/console/?q={second}"));
    let searched = text_of(&mut browser, "tbody");
    assert!(
        searched.contains(&second) && !searched.contains(&id),
        "{searched}"
    );

    // The evidence: the card's name against the typed one, the substitute marked.
    browser.open(&format!("{origin}/console/reviews/{id}?lang=en"));
    let marks = browser.evaluate("document.querySelectorAll('mark.substitute').length");
    assert!(marks.as_u64().unwrap() >= 1, "no substitute marked");
    check_page(&mut browser, axe.as_deref(), "review");
    if let Some(dir) = std::env::var_os("SHUIN_SCREENSHOTS") {
        browser.screenshot(&Path::new(&dir).join("console-review-en.png"));
    }
    let csrf = browser.evaluate("document.querySelector('input[name=csrf]').value");
    let csrf = csrf.as_str().unwrap().to_owned();

    // Hostile: a form from another session, and a signed request altered after signing.
    let (status, answer) = fetch_json(
        &mut browser,
        "/console/v1/prepare",
        &json!({"csrf": "forged", "action": "review_approve", "id": id}),
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("csrf_mismatch"))
    );
    let (status, prepared) = fetch_json(
        &mut browser,
        "/console/v1/prepare",
        &json!({"csrf": csrf, "action": "review_reject", "id": id, "reason": "test"}),
    );
    assert_eq!(status, 200, "{prepared}");
    let assertion = sign_in_page(
        &mut browser,
        prepared["challenge"].as_str().unwrap(),
        prepared["credential_id"].as_str().unwrap(),
        "localhost",
    );
    let altered = prepared["request"]
        .as_str()
        .unwrap()
        .replace(&format!("\"id\":\"{id}\""), &format!("\"id\":\"{second}\""));
    let (status, answer) = fetch_json(
        &mut browser,
        "/console/v1/act",
        &json!({"csrf": csrf, "request": altered, "assertion": assertion}),
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (403, Some("request_signature_invalid")),
        "{answer}"
    );

    // Approval, signed by the passkey.
    browser.evaluate(
        "document.getElementById('approve-note').value = 'checked against the card'; \
         document.querySelector('form[data-shuin-sign=review_approve] button').click(); 1",
    );
    let landed = wait_for_location(&mut browser, "/console/?done=review_approve");
    assert!(landed.contains(&id), "{landed}");
    let (status, body) = get(&instance.url(&format!("/api/v1/applications/{id}")));
    assert_eq!(status, 200);
    let application: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(application["status"], "issued", "{application}");

    // The LRA revokes the certificate just issued, signed by the passkey.
    let serial = application["serial"].as_str().unwrap().to_owned();
    browser.open(&format!("{origin}/console/revoke"));
    check_page(&mut browser, axe.as_deref(), "revoke");
    browser.evaluate(&format!(
        "document.getElementById('revoke-serial').value = {serial:?}; \
         document.getElementById('revoke-reason').value = 'keyCompromise'; \
         document.querySelector('form[data-shuin-sign=revoke] button').click(); 1"
    ));
    wait_for_location(&mut browser, "/console/revoke?done=revoke");
    let notice = text_of(&mut browser, "section.result");
    assert!(notice.contains(&serial), "{notice}");

    // A registration of the legacy flow: the identity beside the signed request, the
    // code shown once in the page.
    browser.open(&format!("{origin}/console/registrations"));
    browser.evaluate(
        "document.getElementById('registration-name').value = '佐藤\\u3000花子'; \
         document.getElementById('registration-birth').value = '1985-04-01'; \
         document.getElementById('registration-address').value = '大阪府大阪市北区中之島一丁目3番20号'; \
         document.querySelector('form[data-shuin-sign=registration_create] button').click(); 1",
    );
    let started = Instant::now();
    let code = loop {
        let code = browser.evaluate(
            "document.getElementById('console-result').hidden ? '' : \
             document.getElementById('result-identification_code').textContent",
        );
        let code = code.as_str().unwrap_or_default().to_owned();
        if !code.is_empty() {
            break code;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no code shown: {}",
            text_of(&mut browser, "main")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(code.len() >= 8, "{code}");
    check_page(&mut browser, axe.as_deref(), "registrations");
    // The list of registrations made: this one, open, found by its number; no identity.
    let made = browser.evaluate("document.getElementById('result-registration_id').textContent");
    let made = made.as_str().unwrap().to_owned();
    browser.open(&format!(
        "{origin}/console/registrations?state=open&q={made}&lang=en"
    ));
    let listed = text_of(&mut browser, "tbody");
    assert!(listed.contains(&made) && listed.contains(LRA), "{listed}");
    assert!(
        listed.contains("Open") && !listed.contains("佐藤"),
        "{listed}"
    );
    check_page(&mut browser, axe.as_deref(), "registrations made");
    browser.open(&format!(
        "{origin}/console/registrations?state=used&q={made}&lang=ja"
    ));
    assert!(text_of(&mut browser, "main").contains("該当する登録はありません"));

    // The same operator as responsible person: suspend, resume, and sign off the
    // periodic review, each signed by the passkey.
    instance.add_operator(LRA, "responsible_person");
    for (action, field) in [
        ("automation_suspend", "suspend-reason"),
        ("automation_resume", "resume-reason"),
    ] {
        browser.open(&format!("{origin}/console/automation"));
        browser.evaluate(&format!(
            "document.getElementById({field:?}).value = 'console test'; \
             document.querySelector('form[data-shuin-sign={action}] button').click(); 1"
        ));
        wait_for_location(&mut browser, &format!("/console/automation?done={action}"));
    }
    browser.open(&format!("{origin}/console/automation?lang=en"));
    check_page(&mut browser, axe.as_deref(), "automation");
    // The review first, without sign-off: its report for this session, then the
    // sign-off from it.
    browser.evaluate("document.getElementById('review-preview').click(); 1");
    let started = Instant::now();
    while !browser
        .evaluate("location.pathname.startsWith('/console/automation/reviews/')")
        .as_bool()
        .unwrap_or(false)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no review shown"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(300));
    let report = text_of(&mut browser, "main");
    assert!(
        report
            .contains("Issuances re-checked against their evidence\n1 (automatic 0, by an LRA 1)"),
        "{report}"
    );
    assert!(
        report.contains("Sent to an LRA: name_substitute_characters: 2"),
        "{report}"
    );
    let tables = browser.evaluate("document.querySelectorAll('main table').length");
    assert_eq!(tables, 0, "no exception: {report}");
    check_page(&mut browser, axe.as_deref(), "review report");
    let report_url = browser
        .evaluate("location.href")
        .as_str()
        .unwrap()
        .to_owned();
    browser.evaluate(
        "document.querySelector('form[data-shuin-sign=automation_review] button').click(); 1",
    );
    wait_for_location(&mut browser, "/console/automation?done=automation_review");
    let page = text_of(&mut browser, "main");
    assert!(
        page.contains("signed off") && page.contains("Running"),
        "{page}"
    );
    // The review's figures, from its entry in the books: the approval above was by
    // an LRA, so no automatic decision and no exception.
    assert!(page.contains("The last review signed off"), "{page}");
    assert!(page.contains(&format!("Signed off by\n{LRA}")), "{page}");
    assert!(page.contains("Exceptions found\nNone"), "{page}");

    // Sign-out ends the session; a request without one is refused.
    browser.evaluate("document.querySelector('form.signout button').click(); 1");
    wait_for_location(&mut browser, "/console/signin");
    // A review's report is for its session only: after sign-out it is not shown.
    let status = browser.evaluate(&format!("fetch({report_url:?}).then(r => r.redirected)"));
    assert_eq!(
        status, true,
        "the report without a session sends to sign-in"
    );
    let (status, answer) = fetch_json(
        &mut browser,
        "/console/v1/prepare",
        &json!({"csrf": csrf, "action": "review_approve", "id": second}),
    );
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("session_required"))
    );

    // The passkey lost: signed in again, the LRA removes it; the session ends with it,
    // and it signs in no more.
    browser.evaluate("document.getElementById('console-signin').click(); 1");
    wait_for_location(&mut browser, "/console/");
    browser.open(&format!("{origin}/console/passkeys"));
    check_page(&mut browser, axe.as_deref(), "passkeys");
    let listed = text_of(&mut browser, "tbody");
    assert!(listed.contains("(this session)"), "{listed}");
    browser.evaluate(
        "document.querySelector('form[data-shuin-sign=passkey_remove] button').click(); 1",
    );
    wait_for_location(&mut browser, "/console/signin");
    browser.evaluate("document.getElementById('console-signin').click(); 1");
    let started = Instant::now();
    loop {
        let status = text_of(&mut browser, "#console-status");
        if status.contains("passkey_unknown") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the removed passkey still signs in: {status}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    drop(browser);
    instance.stop();

    // The books: the invitation, the registration, the session, the reading of the
    // evidence, the request with its assertion; all re-checked offline.
    let out = instance.work.path().join("export");
    let entries = export_entries(&instance.data, &out);
    assert_eq!(of_kind(&entries, "operator.passkey_invited").len(), 1);
    assert_eq!(of_kind(&entries, "operator.passkey_registered").len(), 1);
    assert_eq!(of_kind(&entries, "operator.passkey_removed").len(), 1);
    let viewed = of_kind(&entries, "application.evidence_viewed");
    assert!(viewed
        .iter()
        .any(|e| e["payload"]["application"] == id.as_str()));
    let opened = of_kind(&entries, "session.opened");
    assert!(opened
        .iter()
        .any(|e| e["payload"]["operator"] == LRA && e["payload"]["zone"] == "secure"));
    assert!(of_kind(&entries, "session.closed")
        .iter()
        .any(|e| e["payload"]["operator"] == LRA));
    let approved = of_kind(&entries, "operator.request")
        .into_iter()
        .find(|e| e["payload"]["action"] == "review_approve")
        .expect("the approval request");
    assert!(approved["payload"]["passkey"]["client_data_json"].is_string());
    assert_eq!(approved["actor"]["name"], LRA);
    for action in [
        "revoke",
        "automation_suspend",
        "automation_resume",
        "automation_review",
    ] {
        let request = of_kind(&entries, "operator.request")
            .into_iter()
            .find(|e| e["payload"]["action"] == action)
            .unwrap_or_else(|| panic!("no {action} request"));
        assert!(request["payload"]["passkey"].is_object(), "{request}");
    }
    assert!(of_kind(&entries, "revocation.accepted")
        .iter()
        .any(|e| e["payload"]["serial"].as_str() == Some(serial.as_str())));
    assert_eq!(of_kind(&entries, "automation.review_signed_off").len(), 1);
    // The registration: its request carries the identity's salted hash, never the
    // identity; the code is nowhere in the books.
    let registration = of_kind(&entries, "operator.request")
        .into_iter()
        .find(|e| e["payload"]["action"] == "registration_create")
        .expect("the registration request");
    assert!(registration["payload"]["passkey"].is_object());
    let books = std::fs::read_to_string(out.join("entries.jsonl")).unwrap();
    assert!(!books.contains("佐藤") && !books.contains(&code));
    assert_books_verify(&instance.data);
    let verified = shuin()
        .args(["ledger", "verify", "--export"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

const AUDITOR: &str = "監査 三郎";

#[test]
fn an_auditor_checks_an_entry_of_the_books_in_the_page_from_the_remote_zone() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let substitute = card(&jlis, |s| s.name_substitutes = Some("00100".into()));
    // An audit key of ECDSA P-384, which the page checks with WebCrypto as it does P-256.
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &[
            "--key-backend".into(),
            "software".into(),
            "--audit-key-type".into(),
            "p384".into(),
        ],
        vec![],
    );
    // A witness of this log, run by a third party; checkpoints every second.
    let work = instance.work.path().to_owned();
    let entries = export_entries(&instance.data, &work.join("first-export"));
    let log_key = entries
        .iter()
        .find(|e| e["payload"]["purpose"] == "ledger_checkpoints")
        .and_then(|e| e["payload"]["verifier_key"].as_str())
        .unwrap()
        .to_owned();
    let witness = WitnessProcess::init(&work, "witness.example/one", &log_key);
    instance.edit_config(
        "checkpoint_every_seconds = 60\n",
        "checkpoint_every_seconds = 1\nwitness_quorum = 1\n",
    );
    instance.append_config(&format!(
        "\n[[ledger.witnesses]]\nurl = \"{}\"\nkey = \"{}\"\n",
        witness.base,
        witness.key.verifier_key()
    ));
    let origin = console_listener(&mut instance, "remote");
    instance.serve();
    instance.add_operator(AUDITOR, "auditor");
    let (status, answer) = instance.apply(&substitute, "山田　次郎", BIRTH, ADDRESS);
    assert_eq!(status, 202, "{answer}");
    let id = answer["application_id"].as_str().unwrap().to_owned();
    let invited = instance.as_operator_json(AUDITOR, &["operator", "passkey-invite"]);
    let token = invited["token"].as_str().unwrap().to_owned();
    let Some(mut browser) = browser_with_passkeys(&instance) else {
        return;
    };
    enrol(&mut browser, &origin, &token);
    browser.evaluate("document.getElementById('console-signin').click(); 1");
    // From the remote zone the console opens on the books.
    wait_for_location(&mut browser, "/console/books");
    browser.open(&format!(
        "{origin}/console/books?kind=operator.passkey&lang=en"
    ));
    let listed = text_of(&mut browser, "tbody");
    assert!(
        listed.contains("operator.passkey_invited")
            && listed.contains("operator.passkey_registered"),
        "{listed}"
    );
    assert!(!listed.contains("operator.enrolled"), "{listed}");
    let axe = axe_core();
    check_page(&mut browser, axe.as_deref(), "books");
    // What names no entry, and a query that cannot be read, are pages, never axum's
    // plain-text refusals.
    for (path, expected) in [
        ("/console/books/abc", 404),
        ("/console/books/99999999999", 404),
        ("/console/books?before=x&page=y", 200),
    ] {
        let answer = browser.evaluate(&format!(
            "fetch({path:?}).then(r => [r.status, r.headers.get('content-type')])"
        ));
        assert_eq!(answer[0], expected, "{path}: {answer}");
        assert!(
            answer[1].as_str().unwrap().starts_with("text/html"),
            "{path}: {answer}"
        );
    }

    // An early entry, under the latest checkpoint once the witness cosigned it: checked
    // in the page, cosignature included.
    let started = Instant::now();
    while !get(&instance.url("/ledger/v1/checkpoint"))
        .1
        .contains("\u{2014} witness.example/one ")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never cosigned"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    browser.open(&format!("{origin}/console/books/1?lang=en"));
    // Checkpoints come every second: the newest may not be cosigned yet when the page
    // fetches it (it then says so as its fourth step); checked again until it is.
    let started = Instant::now();
    let results = loop {
        browser.evaluate("document.getElementById('console-check').click(); 1");
        std::thread::sleep(Duration::from_millis(500));
        let results = proof_results(&mut browser, 3);
        let cosigned = results.len() >= 4 && results[3].contains("witnesses verify");
        if cosigned || results.iter().any(|r| r.starts_with("FAILED")) {
            break results;
        }
        if results.len() >= 4 {
            assert!(
                results[3].contains("has cosigned this checkpoint yet"),
                "{results:?}"
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never a cosigned checkpoint: {results:?}"
        );
    };
    assert!(
        results.iter().all(|r| !r.starts_with("FAILED")),
        "{results:?}"
    );
    assert!(
        results[1].contains("signature verifies with the audit key"),
        "the P-384 signature checked in the page: {results:?}"
    );
    assert!(results[2].contains("inclusion proof leads"), "{results:?}");
    assert!(
        results[3].contains("witnesses verify") && results[3].contains("witness.example/one"),
        "{results:?}"
    );
    check_page(&mut browser, axe.as_deref(), "entry");
    assert!(browser.errors().is_empty(), "{:?}", browser.errors());
    if let Some(dir) = std::env::var_os("SHUIN_SCREENSHOTS") {
        browser.screenshot(&Path::new(&dir).join("console-entry-en.png"));
    }
    // A page given other bytes than the books hold fails the check: first the leaf,
    // then, with the stored hash changed to match, the proof against the signed root.
    browser.evaluate(
        "const p = document.getElementById('console-proof'); \
         p.dataset.canonical = btoa(atob(p.dataset.canonical).replace('\"seq\":1', '\"seq\":2')); \
         document.getElementById('console-check').click(); 1",
    );
    let results = proof_results(&mut browser, 1);
    assert!(
        results[0].starts_with("FAILED") && results[0].contains("leaf_hash_mismatch"),
        "{results:?}"
    );
    browser.evaluate(
        "(async () => { const p = document.getElementById('console-proof'); \
         const bytes = Uint8Array.from(atob(p.dataset.canonical), c => c.charCodeAt(0)); \
         const leaf = new Uint8Array(await crypto.subtle.digest('SHA-256', new Uint8Array([0, ...bytes]))); \
         document.getElementById('leaf-hash').textContent = Array.from(leaf, b => b.toString(16).padStart(2, '0')).join(''); \
         document.getElementById('console-check').click(); return 1; })()",
    );
    let results = proof_results(&mut browser, 3);
    assert!(
        results.last().unwrap().starts_with("FAILED")
            && results.last().unwrap().contains("inclusion_proof_invalid"),
        "{results:?}"
    );

    // Monitoring from the remote zone, in the browser: the figures of /metrics.
    browser.open(&format!("{origin}/console/monitoring"));
    let figures = text_of(&mut browser, "main");
    assert!(figures.contains("shuin_ledger_entries"), "{figures}");
    check_page(&mut browser, axe.as_deref(), "monitoring");

    // The audit pack and an export, downloaded from the remote zone and checked offline.
    crate::e2e_console_downloads::download_and_check(&mut browser, &instance, axe.as_deref());

    // From the remote zone operators only read: the secure zone's pages and the signed
    // decisions do not exist there (404).
    let csrf = browser.evaluate("document.querySelector('input[name=csrf]').value");
    let csrf = csrf.as_str().unwrap().to_owned();
    for path in [
        format!("/console/reviews/{id}"),
        "/console/revoke".to_owned(),
        "/console/registrations".to_owned(),
        "/console/automation".to_owned(),
        "/console/passkeys".to_owned(),
    ] {
        let status = browser.evaluate(&format!("fetch({path:?}).then(r => r.status)"));
        assert_eq!(status, 404, "{path}");
    }
    for path in ["/console/v1/prepare", "/console/v1/act"] {
        let (status, _) = fetch_json(
            &mut browser,
            path,
            &json!({"csrf": csrf, "action": "review_approve", "id": id}),
        );
        assert_eq!(status, 404, "{path}");
    }
    drop(browser);
    instance.stop();
    assert_books_verify(&instance.data);
}
