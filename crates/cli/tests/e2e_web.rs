//! The web pages through the real binary (DESIGN.md section 12): the applicant pages on
//! the front listener in Japanese by default and in English on request, the status of a
//! real application, the repository page with fingerprints an outside verifier
//! (OpenSSL) agrees with, the headers every page carries, and no page where its zone
//! does not allow it.

// Helpers below #[test] functions panic on broken fixtures by design.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common::*;
use shuin_testkit::SimulatedJlisCa;

/// A GET with extra request headers: status, response headers, body.
fn page(url: &str, headers: &[(&str, &str)]) -> (u16, ureq::http::HeaderMap, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut answer = request.call().unwrap();
    let status = answer.status().as_u16();
    let body = answer.body_mut().read_to_string().unwrap();
    (status, answer.headers().clone(), body)
}

fn header<'a>(headers: &'a ureq::http::HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// What every page answers with: HTML, the strict CSP, no sniffing, no referrer.
#[track_caller]
fn assert_page_headers(headers: &ureq::http::HeaderMap) {
    assert_eq!(header(headers, "content-type"), "text/html; charset=utf-8");
    let csp = header(headers, "content-security-policy");
    assert!(
        csp.starts_with("default-src 'none'; style-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(header(headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(headers, "referrer-policy"), "no-referrer");
}

/// The SHA-256 fingerprint of a certificate as OpenSSL prints it (`AB:CD:...`).
fn openssl_fingerprint(der: &[u8], work: &std::path::Path) -> Option<String> {
    let path = work.join("fingerprint.der");
    std::fs::write(&path, der).unwrap();
    let path = path.to_str().unwrap();
    let args = [
        "x509",
        "-inform",
        "DER",
        "-in",
        path,
        "-noout",
        "-fingerprint",
        "-sha256",
    ];
    let output = external("openssl", "SHUIN_REQUIRE_OPENSSL", &args)?;
    let text = String::from_utf8(output.stdout).unwrap();
    Some(text.trim().split_once('=').unwrap().1.to_owned())
}

#[test]
fn applicant_pages_on_the_front_and_the_repository_page_for_verifiers() {
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let mut instance = Instance::init_with(
        &[],
        jlis,
        &["--key-backend".into(), "software".into()],
        vec![],
    );
    let (front, repository) = (free_port(), free_port());
    instance.append_config(&format!(
        "\n[[server.listeners]]\nlisten = \"127.0.0.1:{front}\"\nzone = \"front\"\n\
         \n[[server.listeners]]\nlisten = \"127.0.0.1:{repository}\"\nzone = \"repository\"\n"
    ));
    instance.serve();
    let url = |port: u16, path: &str| format!("http://127.0.0.1:{port}{path}");
    let (status, answer) = instance.apply(&holder, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let id = answer["application_id"].as_str().unwrap();
    let serial = answer["serial"].as_str().unwrap();

    // How to apply: Japanese by default, with the terms' SHA-256 the server signs for.
    let (status, headers, body) = page(&url(front, "/"), &[]);
    assert_eq!(status, 200);
    assert_page_headers(&headers);
    assert!(body.contains("<html lang=\"ja\">"), "{body}");
    assert!(body.contains("電子証明書の申込み"));
    let challenge = post(&url(front, "/api/v1/challenges"), "application/json", b"").1;
    let challenge: serde_json::Value = serde_json::from_str(&challenge).unwrap();
    assert!(body.contains(challenge["terms_sha256"].as_str().unwrap()));
    assert!(
        !body.contains("/operator/"),
        "no operator route on applicant pages"
    );

    // English on request, kept in a cookie; or as the browser asks.
    let (_, headers, body) = page(&url(front, "/?lang=en"), &[]);
    assert!(body.contains("<html lang=\"en\">") && body.contains("Applying for a certificate"));
    let cookie = header(&headers, "set-cookie");
    assert!(
        cookie.starts_with("shuin_lang=en;") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let (_, _, body) = page(&url(front, "/revoke"), &[("Cookie", "shuin_lang=en")]);
    assert!(body.contains("Revoking a certificate"), "{body}");
    let (_, headers, body) = page(
        &url(front, "/disclosure"),
        &[("Accept-Language", "en-US,en;q=0.9")],
    );
    assert!(body.contains("Disclosure of your records"));
    assert_eq!(header(&headers, "content-language"), "en");

    // The status of the real application; never cached; an unknown number is a 404 page.
    let (status, headers, body) = page(&url(front, &format!("/status?id={id}&lang=en")), &[]);
    assert_eq!(status, 200, "{body}");
    assert_eq!(header(&headers, "cache-control"), "no-store");
    assert!(
        body.contains(&format!("Its serial number is {serial}.")),
        "{body}"
    );
    let (status, headers, body) = page(&url(front, "/status?id=00ff00ff"), &[]);
    assert_eq!(status, 404);
    assert_page_headers(&headers);
    assert!(body.contains("この番号の申込みはありません"), "{body}");
    // A query that cannot be read is taken as none: the page, never a refusal.
    let (status, headers, body) = page(&url(front, "/status?lang=en&lang=ja"), &[]);
    assert_eq!(status, 200, "{body}");
    assert_page_headers(&headers);
    let (status, _, body) = page(&url(front, "/status?id=%3Cscript%3E"), &[]);
    assert_eq!(status, 404);
    assert!(!body.contains("<script>"));

    // The repository page: fingerprints OpenSSL agrees with, the CRL, the OCSP URL.
    let (status, headers, body) = page(&url(repository, "/repository?lang=en"), &[]);
    assert_eq!(status, 200);
    assert_page_headers(&headers);
    for file in ["/repository/root.crt", "/repository/ca.crt"] {
        let der = get_bytes(&instance.url(file));
        if let Some(fingerprint) = openssl_fingerprint(&der, instance.work.path()) {
            assert!(body.contains(&fingerprint), "{file} {fingerprint}: {body}");
        }
        assert!(body.contains(&instance.url(file)), "{file}");
    }
    assert!(
        body.contains(&format!("{}/ocsp", instance.url(""))),
        "{body}"
    );
    assert!(body.contains(&format!("{}/repository/ca.crl", instance.url(""))));
    // Verifiers see the repository page only.
    assert!(!body.contains("href=\"/status\""));
    let (status, headers, _) = page(&url(repository, "/static/favicon.svg"), &[]);
    assert_eq!(status, 200, "the icon every page names");
    assert_eq!(header(&headers, "content-type"), "image/svg+xml");
    let (status, _, _) = page(&url(repository, "/static/shuin.css"), &[]);
    assert_eq!(status, 200);

    // No page where its zone does not allow it.
    for path in ["/", "/status", "/revoke", "/disclosure"] {
        assert_eq!(
            page(&url(repository, path), &[]).0,
            404,
            "{path} on the repository listener"
        );
    }
    // The all-in-one listener has them all.
    assert_eq!(page(&instance.url("/"), &[]).0, 200);
}

/// The checks every page passes in the browser: nothing reported on the console (a CSP
/// violation would be), no serious or critical axe-core violation, the stylesheet
/// applied under the CSP, no script, no message key shown, the skip link first under Tab.
fn check_in_browser(browser: &mut browser::Browser, axe: &str, what: &str, lang: &str) {
    let errors = browser.errors();
    assert!(errors.is_empty(), "{what}: console errors {errors:?}");
    assert_eq!(
        browser.evaluate("document.documentElement.lang"),
        lang,
        "{what}"
    );
    let violations = browser.axe(axe);
    let serious: Vec<_> = violations
        .iter()
        .filter(|v| v.impact == "serious" || v.impact == "critical")
        .collect();
    assert!(serious.is_empty(), "{what}: axe-core {serious:#?}");
    for v in &violations {
        eprintln!(
            "note: {what}: axe-core {} ({}) {}: {:?}",
            v.id, v.impact, v.help, v.nodes
        );
    }
    let h1 = browser.evaluate("getComputedStyle(document.querySelector('h1')).color");
    assert_eq!(h1, "rgb(158, 27, 20)", "{what}: the stylesheet is applied");
    assert_eq!(browser.evaluate("document.scripts.length"), 0, "{what}");
    let keys = browser.evaluate(
        "(() => { const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); \
         const found = []; while (w.nextNode()) { const t = w.currentNode.textContent.trim(); \
         if (/^[a-z][a-z0-9]*(-[a-z0-9]+)+$/.test(t)) found.push(t); } return found; })()",
    );
    assert_eq!(keys, serde_json::json!([]), "{what}: message keys shown");
    let focused = browser.press_tab();
    assert_eq!(
        focused["class"], "skip",
        "{what}: Tab reaches the skip link first"
    );
}

#[test]
fn the_applicant_pages_in_a_real_browser() {
    let Some(axe) = browser::axe_core() else {
        return;
    };
    let Some(mut browser) = browser::Browser::launch() else {
        return;
    };
    let jlis = SimulatedJlisCa::generate(now()).unwrap();
    let holder = card(&jlis, |_| {});
    let instance = Instance::start(&[], jlis);
    let (status, answer) = instance.apply(&holder, NAME, BIRTH, ADDRESS);
    assert_eq!(status, 201, "{answer}");
    let id = answer["application_id"].as_str().unwrap().to_owned();
    let serial = answer["serial"].as_str().unwrap().to_owned();
    let shots = instance.work.path().join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let status_page = format!("/status?id={id}");
    let pages = [
        "/",
        "/status",
        "/revoke",
        "/disclosure",
        "/repository",
        &status_page,
    ];

    // Japanese for a Japanese browser.
    for path in pages {
        browser.open(&instance.url(path));
        check_in_browser(&mut browser, &axe, &format!("ja {path}"), "ja");
    }
    browser.open(&instance.url("/"));
    browser.screenshot(&shots.join("apply-ja.png"));

    // English one click away, and kept on the next pages.
    browser.navigate_by("document.querySelector('.lang a').click()");
    assert_eq!(browser.evaluate("document.documentElement.lang"), "en");
    for path in pages {
        browser.open(&instance.url(path));
        check_in_browser(&mut browser, &axe, &format!("en {path}"), "en");
    }
    browser.open(&instance.url("/repository"));
    browser.screenshot(&shots.join("repository-en.png"));

    // The status form, as an applicant fills it in.
    browser.open(&instance.url("/status"));
    browser.navigate_by(&format!(
        "document.getElementById('application-id').value = '{id}'; \
         document.querySelector('form').requestSubmit()"
    ));
    let text = browser.evaluate("document.querySelector('main').innerText");
    let text = text.as_str().unwrap();
    assert!(
        text.contains(&format!("Its serial number is {serial}.")),
        "{text}"
    );

    // The README's screenshots come from here: SHUIN_SCREENSHOTS=docs/screenshots.
    if let Some(dir) = std::env::var_os("SHUIN_SCREENSHOTS") {
        for shot in std::fs::read_dir(&shots).unwrap() {
            let shot = shot.unwrap().path();
            std::fs::copy(
                &shot,
                std::path::Path::new(&dir).join(shot.file_name().unwrap()),
            )
            .unwrap();
        }
    }
}
