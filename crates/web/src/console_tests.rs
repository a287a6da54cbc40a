//! The console's pages in both languages: no key left untranslated, one language per
//! page, the console's own script and nothing inline, what applicants typed escaped, and
//! the queue searched and paginated.

use super::console::*;
use super::console_books::{self as books_pages, AuditKeyView, BookRow, BooksFilter, EntryView};
use crate::{Audience, Lang, PageRequest, Rendered};
use shuin_core::ReviewReason;

const OPERATOR: SignedIn<'static> = SignedIn {
    name: "LRA Ichiro",
    csrf: "csrf-token",
    reviews: true,
};

fn request(path: &str, lang: Lang) -> PageRequest<'_> {
    PageRequest {
        path,
        lang,
        audience: Audience::Console,
    }
}

fn evidence(card: &str, name_typed: &str) -> ReviewEvidence {
    ReviewEvidence {
        id: "00ff".into(),
        status: "pending_review".into(),
        received_at: "2026-12-07T00:00:00Z".into(),
        reasons: ReviewReason::ALL.to_vec(),
        jpki: vec![("console-jpki-serial", "0A".into())],
        items: vec![BasicItem {
            key: "console-item-name",
            card: card.into(),
            entered: name_typed.into(),
            substitutes: vec![2],
        }],
        key_fingerprint: "ab".repeat(32),
    }
}

fn rows(count: usize) -> Vec<QueueRow> {
    (0..count)
        .map(|i| QueueRow {
            id: format!("{i:04x}"),
            received_at: "2026-12-07T00:00:00Z".into(),
            reasons: vec![ReviewReason::AutomationSuspended],
            subject_name: if i == 7 {
                "Sato Hanako".into()
            } else {
                "Yamada Taro".into()
            },
        })
        .collect()
}

fn book_row() -> BookRow {
    BookRow {
        seq: 3,
        time: "2026-12-07T00:00:00Z".into(),
        book: "organization".into(),
        kind: "operator.passkey_registered".into(),
        actor: "LRA Ichiro (passkey, secure)".into(),
    }
}

fn filter() -> BooksFilter {
    BooksFilter {
        book: "organization".into(),
        kind: "operator.".into(),
        searched: Some((0, 9)),
        older_before: Some(1),
    }
}

fn entry_view(with_key: bool) -> EntryView {
    EntryView {
        row: book_row(),
        pretty: "{\n  \"kind\": \"<b>\"\n}".into(),
        canonical_base64: "e30=".into(),
        leaf_hash: "00".repeat(32),
        audit_key: with_key.then(|| AuditKeyView {
            name: "ca.example.jp/ledger".into(),
            spki_base64: "MFk=".into(),
            sha256: "ab".repeat(32),
            algorithm: "ecdsa-p256",
            key_id: "01020304".into(),
            witnesses: vec![(
                "witness.example/\"one\"".into(),
                "AAAA".into(),
                "0a0b0c0d".into(),
            )],
        }),
    }
}

/// Every console page in `lang`.
fn registration_row() -> super::console_duties::RegistrationListRow {
    super::console_duties::RegistrationListRow {
        id: "reg-<1>".into(),
        created_by: "lra-1".into(),
        created_at: "2026-12-07T00:00:00Z".into(),
        expires_at: "2027-01-06T00:00:00Z".into(),
        state: "open".into(),
        expired: true,
        failed_attempts: 2,
        application_id: None,
    }
}

fn review_report() -> super::console_review::ReviewReport {
    use super::console_review::{ExceptionRow, ReviewReport, SignalRow};
    ReviewReport {
        period: ("2026-11-01T00:00:00Z".into(), "2026-12-01T00:00:00Z".into()),
        applications: 12,
        automatic_decisions: 9,
        pending_review: vec![("name_substitute_characters".into(), 2)],
        rejections: vec![("jpki_revoked".into(), 1)],
        signals: vec![SignalRow {
            kind: "burst".into(),
            figures: vec![("applications".into(), "40".into())],
        }],
        rechecked: (9, 9, 0),
        exceptions: vec![ExceptionRow {
            seq: 41,
            time: "2026-11-02T00:00:00Z".into(),
            serial: "0A1B".into(),
            application: "app-1".into(),
            code: "evidence_purged".into(),
            detail: "purged <at> 2026-11-30".into(),
        }],
        since: "2026-11-01".into(),
    }
}

fn every_page(lang: Lang) -> Vec<(&'static str, Rendered)> {
    let query = QueueQuery {
        notice: Some(("console-notice-approved", "00ff".into())),
        ..QueueQuery::default()
    };
    vec![
        ("signin", signin(&request("/console/signin", lang))),
        ("enrol", enrol(&request("/console/enrol", lang))),
        (
            "queue",
            queue(&request("/console/", lang), &OPERATOR, &rows(3), &query),
        ),
        (
            "empty queue",
            queue(
                &request("/console/", lang),
                &OPERATOR,
                &[],
                &QueueQuery::default(),
            ),
        ),
        (
            "review",
            review(
                &request("/console/reviews/00ff", lang),
                &OPERATOR,
                &evidence("Yamada Taro", "Yamada Jiro"),
            ),
        ),
        (
            "books",
            books_pages::books(
                &request("/console/books", lang),
                &OPERATOR,
                &[book_row()],
                &filter(),
            ),
        ),
        (
            "entry",
            books_pages::entry(
                &request("/console/books/3", lang),
                &OPERATOR,
                &entry_view(true),
            ),
        ),
        (
            "entry, no key",
            books_pages::entry(
                &request("/console/books/3", lang),
                &OPERATOR,
                &entry_view(false),
            ),
        ),
        (
            "revoke",
            super::console_duties::revoke(
                &request("/console/revoke", lang),
                &OPERATOR,
                Some("0A1B"),
            ),
        ),
        (
            "automation",
            super::console_duties::automation(
                &request("/console/automation", lang),
                &OPERATOR,
                &super::console_duties::AutomationView {
                    configured: true,
                    suspended: true,
                    changed: Some(("RP".into(), "2026-12-07T00:00:00Z".into(), "audit".into())),
                    overdue: true,
                    review_since: "2026-11-01".into(),
                    last_review: Some(super::console_duties::ReviewFigures {
                        by: "RP".into(),
                        exceptions: vec![("jpki_revoked_since".into(), 1)],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                Some("automation_suspend"),
            ),
        ),
        (
            "registrations",
            super::console_duties::registrations(
                &request("/console/registrations", lang),
                &OPERATOR,
                &[registration_row()],
                &super::console_duties::RegistrationFilter {
                    state: "open".into(),
                    matching: String::new(),
                    older: Some((1_800_000_000, "reg-1".into())),
                },
            ),
        ),
        (
            "review report",
            super::console_review::review(
                &request("/console/automation", lang),
                &OPERATOR,
                &review_report(),
            ),
        ),
        (
            "audit",
            books_pages::audit(&request("/console/audit", lang), &OPERATOR, Some("ab12")),
        ),
        (
            "download gone",
            message(
                &request("/console/audit", lang),
                Some(&OPERATOR),
                "console-download-gone-title",
                "console-download-gone-text",
                None,
            ),
        ),
        (
            "forbidden",
            message(
                &request("/console/", lang),
                Some(&OPERATOR),
                "console-forbidden-title",
                "console-forbidden-text",
                Some("zone_refused"),
            ),
        ),
    ]
    .into_iter()
    .map(|(name, rendered)| (name, rendered.expect("renders")))
    .collect()
}

#[test]
fn console_pages_show_no_key_and_keep_to_one_language() {
    for lang in Lang::ALL {
        for (name, page) in every_page(lang) {
            assert!(
                page.missing.is_empty(),
                "{lang:?} {name}: {:?}",
                page.missing
            );
        }
    }
    for (name, page) in every_page(Lang::En) {
        let body: String = page
            .html
            .lines()
            .filter(|l| !l.contains("class=\"lang\""))
            .collect();
        let stray: String = body
            .chars()
            .filter(|c| matches!(c, '\u{3000}'..='\u{30ff}' | '\u{4e00}'..='\u{9fff}'))
            .collect();
        assert!(stray.is_empty(), "{name}: {stray}");
    }
    for (name, page) in every_page(Lang::Ja) {
        assert!(page.html.contains("<html lang=\"ja\">"), "{name}");
        assert!(page.html.contains(">English</a>"), "{name}");
    }
}

#[test]
fn console_pages_load_only_the_console_script_and_no_inline_code() {
    for (name, page) in every_page(Lang::Ja) {
        let html = page.html.to_ascii_lowercase();
        assert_eq!(html.matches("<script").count(), 1, "{name}");
        assert!(
            html.contains("<script src=\"/static/console.js\" defer></script>"),
            "{name}"
        );
        for forbidden in [
            " style=",
            "<style",
            "javascript:",
            " onclick=",
            " onsubmit=",
        ] {
            assert!(!html.contains(forbidden), "{name}: {forbidden}");
        }
    }
    assert!(!CONSOLE_SCRIPT.contains("eval("));
    assert!(CONSOLE_CONTENT_SECURITY_POLICY.contains("script-src 'self'"));
    assert!(!CONSOLE_CONTENT_SECURITY_POLICY.contains("unsafe"));
}

#[test]
fn the_review_page_marks_differences_and_escapes_what_was_typed() {
    let page = review(
        &request("/console/reviews/00ff", Lang::En),
        &OPERATOR,
        &evidence("山田\u{3000}太郎", "山田\u{3000}<script>x</script>"),
    )
    .expect("renders");
    assert!(!page.html.contains("<script>x"), "{}", page.html);
    assert!(
        page.html
            .contains("<mark class=\"substitute\">\u{3000}</mark>"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("<mark class=\"differs\">太郎</mark>"),
        "{}",
        page.html
    );
    // Decisions carry the session's CSRF token and go to the passkey script.
    assert!(page.html.contains("data-shuin-sign=\"review_approve\""));
    assert!(page.html.contains("name=\"csrf\" value=\"csrf-token\""));
    // A decided application has no decision forms.
    let mut decided = evidence("Yamada Taro", "Yamada Taro");
    decided.status = "issued".into();
    let page = review(
        &request("/console/reviews/00ff", Lang::En),
        &OPERATOR,
        &decided,
    )
    .expect("renders");
    assert!(!page.html.contains("data-shuin-sign"));
}

#[test]
fn the_queue_is_searched_and_paginated() {
    let all = rows(QUEUE_PAGE_SIZE + 5);
    let page_two = QueueQuery {
        page: 2,
        ..QueueQuery::default()
    };
    let page = queue(&request("/console/", Lang::En), &OPERATOR, &all, &page_two).expect("renders");
    assert_eq!(page.html.matches("/console/reviews/").count(), 5);
    assert!(
        page.html.contains("href=\"/console/?page=1\" rel=\"prev\""),
        "{}",
        page.html
    );
    let search = QueueQuery {
        search: "sato".into(),
        page: 9,
        ..QueueQuery::default()
    };
    let page = queue(&request("/console/", Lang::En), &OPERATOR, &all, &search).expect("renders");
    assert_eq!(page.html.matches("/console/reviews/").count(), 1);
    assert!(page.html.contains("/console/reviews/0007"));
    assert!(!page.html.contains("rel=\"next\""));
}

#[test]
fn the_books_keep_their_filter_and_the_entry_carries_what_the_check_needs() {
    let page = books_pages::books(
        &request("/console/books", Lang::En),
        &OPERATOR,
        &[book_row()],
        &filter(),
    )
    .expect("renders");
    assert!(
        page.html
            .contains("<option value=\"organization\" selected>"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(
            "href=\"/console/books?book=organization&#38;kind=operator%2E&#38;before=1\""
        ),
        "{}",
        page.html
    );
    let page = books_pages::entry(
        &request("/console/books/3", Lang::En),
        &OPERATOR,
        &entry_view(true),
    )
    .expect("renders");
    assert!(page.html.contains("data-canonical=\"e30=\""));
    assert!(page.html.contains("data-spki=\"MFk=\""));
    // The witnesses as JSON, escaped for the attribute.
    assert!(
        page.html.contains(
            "data-witnesses=\"{&#34;witness.example/\\&#34;one\\&#34;&#34;:[&#34;AAAA&#34;,&#34;0a0b0c0d&#34;]}\""
        ),
        "{}",
        page.html
    );
    assert!(page.html.contains(&"ab".repeat(32)));
    assert!(!page.html.contains("<b>"), "the entry is escaped");
    let without = books_pages::entry(
        &request("/console/books/3", Lang::En),
        &OPERATOR,
        &entry_view(false),
    )
    .expect("renders");
    assert!(!without.html.contains("console-check"));
}

#[test]
fn the_registrations_are_listed_filtered_and_continued_with_escaped_text() {
    let filter = super::console_duties::RegistrationFilter {
        state: "used".into(),
        matching: "a&b".into(),
        older: Some((1_800_000_000, "reg 2".into())),
    };
    let page = super::console_duties::registrations(
        &request("/console/registrations", Lang::En),
        &OPERATOR,
        &[registration_row()],
        &filter,
    )
    .expect("renders");
    let html = &page.html;
    assert!(
        html.contains("<code>reg-&#60;1&#62;</code>")
            || html.contains("<code>reg-&lt;1&gt;</code>"),
        "{html}"
    );
    assert!(html.contains("Open (expired)"), "{html}");
    assert!(html.contains("<option value=\"used\" selected>"), "{html}");
    assert!(
        html.contains("before=1800000000&amp;before_id=reg%202")
            || html.contains("before=1800000000&#38;before_id=reg%202"),
        "{html}"
    );
    assert!(
        html.contains("state=used&amp;q=a%26b") || html.contains("state=used&#38;q=a%26b"),
        "{html}"
    );
}

#[test]
fn the_review_report_lists_each_signal_and_exception_and_details_only_in_english() {
    let render = |lang| {
        super::console_review::review(
            &request("/console/automation", lang),
            &OPERATOR,
            &review_report(),
        )
        .expect("renders")
        .html
    };
    let en = render(Lang::En);
    assert!(en.contains("Many decisions in one hour"), "{en}");
    assert!(en.contains("applications <code>40</code>"), "{en}");
    assert!(
        en.contains("The evidence was purged under the retention rule"),
        "{en}"
    );
    assert!(
        en.contains("purged &#60;at&#62; 2026-11-30")
            || en.contains("purged &lt;at&gt; 2026-11-30"),
        "{en}"
    );
    assert!(en.contains("value=\"2026-11-01\""), "{en}");
    let ja = render(Lang::Ja);
    assert!(ja.contains("保存期間の規則により証跡を消去済み"), "{ja}");
    assert!(
        !ja.contains("2026-11-30"),
        "the English detail stays off the Japanese page"
    );
}
