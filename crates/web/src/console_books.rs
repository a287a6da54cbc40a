//! The auditor's view of the console (DESIGN.md section 12): the books entry by entry,
//! filtered by book and kind, newest first; and one entry with its inclusion in the
//! log checked by the page's own script (`/static/console.js`) against the signed
//! checkpoint, the checkpoint's signature against the audit key the facility book
//! records.

use crate::console::{chrome, SignedIn};
use crate::messages::Messages;
use crate::pages::{finish, PageRequest, RenderError, Rendered};
use askama::Template;

/// The books an entry may be in, as the filter offers them.
pub const BOOKS: [&str; 4] = ["application", "revocation", "organization", "facility"];

/// One entry of the list.
#[derive(Debug, Clone)]
pub struct BookRow {
    /// Its position.
    pub seq: u64,
    /// When (RFC 3339).
    pub time: String,
    /// Its book.
    pub book: String,
    /// Its kind.
    pub kind: String,
    /// Who acted: name (role, zone).
    pub actor: String,
}

/// What the list shows: the filter, and the link to older entries.
#[derive(Debug, Clone, Default)]
pub struct BooksFilter {
    /// Only this book (empty: every book).
    pub book: String,
    /// Only kinds starting with this (empty: every kind).
    pub kind: String,
    /// The positions searched: from, to (inclusive), when any was.
    pub searched: Option<(u64, u64)>,
    /// Older entries remain before this position.
    pub older_before: Option<u64>,
}

/// The audit key that signs checkpoints, as the page's script checks with it.
#[derive(Debug, Clone)]
pub struct AuditKeyView {
    /// The key's name (the log's origin).
    pub name: String,
    /// Its SubjectPublicKeyInfo DER, standard base64.
    pub spki_base64: String,
    /// SHA-256 (hex) of that DER: the fingerprint `[ledger] audit_key_sha256` pins.
    pub sha256: String,
    /// How the page's script checks its signatures: `ecdsa-p256`, `ecdsa-p384` or
    /// `rsa-pkcs1-sha256`.
    pub algorithm: &'static str,
    /// Its note key ID (hex): the first four bytes of each of its signatures.
    pub key_id: String,
    /// The configured witnesses: (name, Ed25519 public key in standard base64, key ID
    /// in hex).
    pub witnesses: Vec<(String, String, String)>,
}

impl AuditKeyView {
    /// The witnesses as the page's script reads them: a JSON object name → [key, key
    /// ID].
    pub fn witnesses_json(&self) -> String {
        let mut out = String::from("{");
        for (i, (name, key, id)) in self.witnesses.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json_string(name));
            out.push_str(":[");
            out.push_str(&json_string(key));
            out.push(',');
            out.push_str(&json_string(id));
            out.push(']');
        }
        out.push('}');
        out
    }
}

/// `text` as a JSON string.
fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One entry.
#[derive(Debug, Clone)]
pub struct EntryView {
    /// The list's facts.
    pub row: BookRow,
    /// The entry as canonical JSON, indented for reading.
    pub pretty: String,
    /// The canonical bytes as stored, standard base64 (what the leaf hash is over).
    pub canonical_base64: String,
    /// The stored leaf hash (hex).
    pub leaf_hash: String,
    /// The audit key, if the books record one.
    pub audit_key: Option<AuditKeyView>,
}

#[derive(Template)]
#[template(path = "console_books.html")]
struct BooksPage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    rows: &'a [BookRow],
    filter: &'a BooksFilter,
    books: [&'static str; 4],
    older: Option<String>,
}

#[derive(Template)]
#[template(path = "console_entry.html")]
struct EntryPage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    entry: &'a EntryView,
}

/// `/console/books`: the entries that match the filter, newest first.
pub fn books(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    rows: &[BookRow],
    filter: &BooksFilter,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let query = format!(
        "book={}&kind={}&",
        crate::pages::query_escape(&filter.book),
        crate::pages::query_escape(&filter.kind)
    );
    let older = filter
        .older_before
        .map(|before| format!("/console/books?{query}before={before}"));
    let page = BooksPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), &query),
        rows,
        filter,
        books: BOOKS,
        older,
    };
    finish(page.render(), &t)
}

/// `/console/books/{seq}`: one entry, and the check of its inclusion.
pub fn entry(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    entry: &EntryView,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = EntryPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), ""),
        entry,
    };
    finish(page.render(), &t)
}

#[derive(Template)]
#[template(path = "console_audit.html")]
struct AuditPage<'a> {
    t: &'a Messages,
    chrome: crate::pages::Chrome,
    csrf: &'a str,
    key_sha256: Option<&'a str>,
}

/// `/console/audit`: the audit pack and an export of the books to download, each made
/// when a request the passkey signs asks for it; `key_sha256` is the fingerprint of the
/// audit key the books record, if any.
pub fn audit(
    request: &PageRequest<'_>,
    signed_in: &SignedIn<'_>,
    key_sha256: Option<&str>,
) -> Result<Rendered, RenderError> {
    let t = Messages::new(request.lang);
    let page = AuditPage {
        t: &t,
        chrome: chrome(request, Some(signed_in), ""),
        csrf: signed_in.csrf,
        key_sha256,
    };
    finish(page.render(), &t)
}
