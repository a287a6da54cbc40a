//! Every page in both languages: no message key left untranslated, one language per
//! page, no script, and what is typed is escaped.

use super::*;

const CA_PEM: &str = include_str!("../../jpki/anchors/jlis-signca03-2023.pem");

fn site() -> Site {
    Site {
        public_url: "https://ca.example.jp".to_owned(),
        terms_sha256: "ab".repeat(32),
    }
}

fn facts() -> RepositoryFacts {
    let (_, der) = der::pem::decode_vec(CA_PEM.as_bytes()).expect("fixture");
    let cert = CertificateFacts::from_der(
        "certificate-root",
        "https://ca.example.jp/repository/root.crt".to_owned(),
        &der,
    )
    .expect("a certificate");
    RepositoryFacts {
        certificates: vec![cert],
        crls: vec![CrlFacts::new(
            "https://ca.example.jp/repository/ca.crl".to_owned(),
            7,
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000),
        )],
        has_cps: true,
    }
}

/// Every page of `audience` in `lang`, by path.
fn every_page(lang: Lang, audience: Audience) -> Vec<(String, Rendered)> {
    let (site, facts) = (site(), facts());
    let mut pages = Vec::new();
    for path in page_paths(audience) {
        let request = PageRequest {
            path,
            lang,
            audience,
        };
        let rendered = match path {
            "/" => apply(&request, &site),
            "/status" => status(&request, "", None),
            "/revoke" => revoke(&request, &site),
            "/disclosure" => disclosure(&request, &site),
            "/repository" => repository(&request, &site, &facts),
            other => panic!("no renderer for {other}"),
        };
        pages.push((path.to_owned(), rendered.expect("renders")));
    }
    let request = PageRequest {
        path: "/status",
        lang,
        audience,
    };
    for view in [
        StatusView::NotFound,
        StatusView::PendingReview(shuin_core::ReviewReason::ALL.to_vec()),
        StatusView::Approved,
        StatusView::Issued("0A1B".to_owned()),
        StatusView::Rejected("key_reused".to_owned()),
        StatusView::Unavailable,
    ] {
        let rendered = status(&request, "00ff", Some(&view)).expect("renders");
        pages.push((format!("/status ({view:?})"), rendered));
    }
    pages
}

fn is_japanese(c: char) -> bool {
    matches!(c, '\u{3000}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
}

/// The page without the language switch (which names the other language in itself).
fn without_switch(html: &str) -> String {
    html.lines()
        .filter(|line| !line.contains("class=\"lang\""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn no_page_shows_a_message_key() {
    for lang in Lang::ALL {
        for audience in [Audience::Applicant, Audience::Verifier] {
            for (path, page) in every_page(lang, audience) {
                assert!(
                    page.missing.is_empty(),
                    "{lang:?} {path}: {:?}",
                    page.missing
                );
            }
        }
    }
}

#[test]
fn english_pages_have_no_japanese_and_japanese_pages_are_japanese() {
    for (path, page) in every_page(Lang::En, Audience::Applicant) {
        let body = without_switch(&page.html);
        let stray: String = body.chars().filter(|c| is_japanese(*c)).collect();
        assert!(stray.is_empty(), "{path}: {stray}");
        assert!(page.html.contains("<html lang=\"en\">"), "{path}");
        assert!(page.html.contains("lang=\"ja\""), "{path}: the switch");
    }
    for (path, page) in every_page(Lang::Ja, Audience::Applicant) {
        assert!(page.html.contains("<html lang=\"ja\">"), "{path}");
        assert!(page.html.contains("shuin 認証局"), "{path}");
        assert!(page.html.contains(">English</a>"), "{path}: the switch");
    }
}

#[test]
fn pages_have_no_script_and_no_inline_style() {
    for lang in Lang::ALL {
        for (path, page) in every_page(lang, Audience::Applicant) {
            let html = page.html.to_ascii_lowercase();
            for forbidden in ["<script", " style=", "<style", "javascript:", " on"] {
                let hit = if forbidden == " on" {
                    html.contains(" onclick=") || html.contains(" onload=")
                } else {
                    html.contains(forbidden)
                };
                assert!(!hit, "{lang:?} {path}: {forbidden}");
            }
        }
    }
}

#[test]
fn what_is_typed_is_escaped() {
    let request = PageRequest {
        path: "/status",
        lang: Lang::En,
        audience: Audience::Applicant,
    };
    let id = "\"><script>alert(1)</script>";
    let page = status(&request, id, Some(&StatusView::NotFound)).expect("renders");
    assert!(!page.html.contains("<script>"), "{}", page.html);
    assert!(page.html.contains("&#60;script&#62;") || page.html.contains("&lt;script&gt;"));
    // The language switch keeps the id, escaped for the query.
    assert!(
        page.html.contains("/status?id=%22%3E%3Cscript"),
        "{}",
        page.html
    );
}

#[test]
fn the_navigation_marks_the_current_page_and_verifiers_see_only_the_repository() {
    let pages = every_page(Lang::En, Audience::Verifier);
    assert_eq!(pages.first().map(|(p, _)| p.as_str()), Some("/repository"));
    let (_, repository) = &pages[0];
    assert!(repository
        .html
        .contains("<a href=\"/repository\" aria-current=\"page\">Repository</a>"));
    assert!(
        !repository.html.contains("href=\"/status\""),
        "{}",
        repository.html
    );
    assert!(!repository.html.contains("href=\"/revoke\""));
}

#[test]
fn the_repository_page_shows_fingerprints_crls_and_the_ocsp_url() {
    let request = PageRequest {
        path: "/repository",
        lang: Lang::En,
        audience: Audience::Applicant,
    };
    let facts = facts();
    let page = repository(&request, &site(), &facts).expect("renders");
    let fingerprint = &facts.certificates[0].sha256;
    assert_eq!(fingerprint.len(), 32 * 3 - 1);
    assert!(page.html.contains(fingerprint.as_str()));
    assert!(
        page.html.contains("O=JPKI"),
        "{}",
        facts.certificates[0].subject
    );
    assert!(page.html.contains("https://ca.example.jp/ocsp"));
    assert!(
        page.html
            .contains("<td>7</td><td>2027-01-15T08:00:00Z</td>"),
        "{}",
        page.html
    );
    assert!(page.html.contains(&"ab".repeat(32)));
}

#[test]
fn a_certificate_that_is_not_one_has_no_facts() {
    assert!(CertificateFacts::from_der("certificate-root", "/x".to_owned(), b"not DER").is_none());
}
