//! The auditor's view of the web console: the books entry by entry (newest first,
//! filtered by book and kind, read in bounded pages), and one entry with what its
//! inclusion check in the page needs (its canonical bytes and the audit key the
//! facility book records). Allowed by the policy's `ledger_read` (auditors and
//! administrators, from the secure or the remote zone).

use super::{console_page, message, page_lang, request, signed_in, Console, ConsoleQuery};
use super::{FORBIDDEN, UNAVAILABLE};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use shuin_core::Action;
use shuin_ledger::{Entry, StoredEntry};
use shuin_web::console_books::{self as pages, AuditKeyView, BookRow, BooksFilter, EntryView};

/// Entries shown at most on one page of the list.
const SHOWN: usize = 50;
/// Entries read at most for one page of the list (a filter that matches rarely stops
/// here and offers the older ones).
const SCANNED: u64 = 5_000;
/// Entries read at a time.
const READ: u64 = 250;

fn row_of(entry: &Entry) -> BookRow {
    BookRow {
        seq: entry.seq,
        time: entry.time.clone(),
        book: entry.book.as_str().to_owned(),
        kind: entry.kind.clone(),
        actor: format!(
            "{} ({}, {})",
            entry.actor.name, entry.actor.role, entry.actor.zone
        ),
    }
}

/// Whether the session may read the books here; the refusal page otherwise.
pub(super) async fn reader(
    console: &Console,
    headers: &HeaderMap,
    path: &str,
    lang: (shuin_web::Lang, Option<shuin_web::Lang>),
) -> Result<std::sync::Arc<super::sessions::WebSession>, Response> {
    let Some(web) = console.session(headers).await else {
        return Err(Redirect::to("/console/signin").into_response());
    };
    match console.permits(&web, Action::LedgerRead).await {
        Ok(true) => Ok(web),
        Ok(false) => Err(message(console, path, lang, Some(&web), FORBIDDEN, None)),
        Err(()) => Err(message(console, path, lang, Some(&web), UNAVAILABLE, None)),
    }
}

pub(super) async fn list(
    State(console): State<Console>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let web = match reader(&console, &headers, "/console/books", lang).await {
        Ok(web) => web,
        Err(refused) => return refused,
    };
    let mut filter = BooksFilter {
        book: query.book.unwrap_or_default(),
        kind: query.kind.unwrap_or_default(),
        ..BooksFilter::default()
    };
    let rows = match matching(&console, &mut filter, query.before).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "the console could not read the books");
            return message(
                &console,
                "/console/books",
                lang,
                Some(&web),
                UNAVAILABLE,
                None,
            );
        }
    };
    let rendered = pages::books(
        &request("/console/books", lang),
        &signed_in(&console, &web),
        &rows,
        &filter,
    );
    console_page(rendered, StatusCode::OK, lang)
}

/// The newest entries before `before` that match `filter`, read backwards in pages;
/// notes in `filter` what was searched and whether older entries remain.
async fn matching(
    console: &Console,
    filter: &mut BooksFilter,
    before: Option<u64>,
) -> Result<Vec<BookRow>, shuin_store::StoreError> {
    let size = console.store.ledger_head().await?.map_or(0, |h| h.size);
    let top = before.unwrap_or(size).min(size);
    let mut low = top;
    let mut rows = Vec::new();
    'pages: while low > 0 && top - low < SCANNED && rows.len() < SHOWN {
        let start = low.saturating_sub(READ);
        let page: Vec<StoredEntry> = console.store.ledger_rows_page(start, low - start).await?;
        for stored in page.iter().rev() {
            let Ok(entry) = Entry::from_canonical(&stored.canonical) else {
                continue;
            };
            let book_ok = filter.book.is_empty() || entry.book.as_str() == filter.book;
            if book_ok && entry.kind.starts_with(filter.kind.as_str()) {
                rows.push(row_of(&entry));
                if rows.len() == SHOWN {
                    low = stored.seq;
                    break 'pages;
                }
            }
        }
        low = start;
    }
    filter.searched = (top > low).then(|| (low, top - 1));
    filter.older_before = (low > 0).then_some(low);
    Ok(rows)
}

pub(super) async fn entry(
    State(console): State<Console>,
    Path(position): Path<String>,
    query: ConsoleQuery,
    headers: HeaderMap,
) -> Response {
    let lang = page_lang(query.lang.as_deref(), &headers);
    let path = format!("/console/books/{}", shuin_web::query_escape(&position));
    let web = match reader(&console, &headers, &path, lang).await {
        Ok(web) => web,
        Err(refused) => return refused,
    };
    // A position that is not a number, or beyond the books, names no entry.
    let size = console
        .store
        .ledger_head()
        .await
        .map(|h| h.map_or(0, |h| h.size));
    let view = match (position.parse::<u64>(), size) {
        (Ok(seq), Ok(size)) if seq < size => entry_view(&console, seq).await,
        (_, Ok(_)) => Ok(None),
        (_, Err(e)) => Err(e),
    };
    let view = match view {
        Ok(Some(view)) => view,
        Ok(None) => {
            let not_found = (
                "console-not-found-title",
                "console-entry-not-found",
                StatusCode::NOT_FOUND,
            );
            return message(&console, &path, lang, Some(&web), not_found, None);
        }
        Err(e) => {
            tracing::error!(error = %e, "the console could not read an entry");
            return message(&console, &path, lang, Some(&web), UNAVAILABLE, None);
        }
    };
    let rendered = pages::entry(&request(&path, lang), &signed_in(&console, &web), &view);
    console_page(rendered, StatusCode::OK, lang)
}

async fn entry_view(
    console: &Console,
    seq: u64,
) -> Result<Option<EntryView>, shuin_store::StoreError> {
    let Some(stored) = console.store.ledger_rows_page(seq, 1).await?.pop() else {
        return Ok(None);
    };
    if stored.seq != seq {
        return Ok(None);
    }
    let Ok(entry) = Entry::from_canonical(&stored.canonical) else {
        return Ok(None);
    };
    let value: serde_json::Value =
        serde_json::from_slice(&stored.canonical).unwrap_or(serde_json::Value::Null);
    let b64 = base64::engine::general_purpose::STANDARD;
    let audit_key = console.audit_key.current(console.store.as_ref()).await?;
    Ok(Some(EntryView {
        row: row_of(&entry),
        pretty: serde_json::to_string_pretty(&value).unwrap_or_default(),
        canonical_base64: b64.encode(&stored.canonical),
        leaf_hash: stored.leaf_hash_hex.clone(),
        audit_key: audit_key.map(|key| AuditKeyView {
            name: key.name().to_owned(),
            spki_base64: b64.encode(key.spki_der()),
            sha256: shuin_ledger::trust::AuditKeyPin::of_key(&key).hex(),
            algorithm: match key.algorithm() {
                shuin_core::signature::SignatureAlgorithm::EcdsaP384Sha384 => "ecdsa-p384",
                shuin_core::signature::SignatureAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
                shuin_core::signature::SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256",
                // Named as not checked in the page.
                _ => "unchecked",
            },
            key_id: key.key_id_hex(),
            witnesses: console
                .witnesses
                .iter()
                .map(|w| {
                    (
                        w.name().to_owned(),
                        b64.encode(w.public_key()),
                        hex::encode(w.key_id()),
                    )
                })
                .collect(),
        }),
    }))
}
