//! How the ledger's reports read: a JSON document for `--json`, lines for a person
//! (`shuin ledger verify|export|show`). Kept beside the reports so that every reader of
//! an export (the CLI, the audit pack) says the same thing.

use crate::export::{CosignatureReport, ExportSummary};
use crate::{Book, Entry, ExportReport, StoredEntry};
use serde_json::{json, Value};

/// `count` and the noun, in the singular for one: "1 entry", "2 entries".
pub fn counted(count: impl TryInto<u64>, singular: &str, plural: &str) -> String {
    let count = count.try_into().unwrap_or(u64::MAX);
    format!("{count} {}", if count == 1 { singular } else { plural })
}

impl ExportReport {
    /// The verified export and the witnesses' cosignatures checked on it, if any: JSON
    /// (with `"witnesses"`) or lines for a person.
    pub fn show_with(&self, cosigned: Option<&CosignatureReport>, json: bool) -> String {
        if json {
            let mut value = self.to_json();
            value["witnesses"] = json!(cosigned.map(CosignatureReport::to_json));
            return value.to_string();
        }
        match cosigned {
            Some(cosigned) => format!("{}\n  {}", self.text(), cosigned.line()),
            None => self.text(),
        }
    }

    /// The verified export as JSON, with `"ok": true`.
    pub fn to_json(&self) -> Value {
        json!({
            "ok": true,
            "origin": self.origin,
            "size": self.size,
            "root": self.root_hex,
            "checkpoints": self.checkpoints,
            "audit_key_id": self.key_id_hex,
            "audit_key_sha256": self.key_sha256_hex,
            "audit_key_pinned_in_manifest": self.manifest_pin,
            "audit_key_pin_checked": self.pin_checked,
            "since_checkpoint_size": self.since_size,
            "operator_requests_verified": self.operator_requests,
            "books": {
                "application": self.counts.application,
                "revocation": self.counts.revocation,
                "organization": self.counts.organization,
                "facility": self.counts.facility,
            },
        })
    }

    /// The verified export for a person: one fact a line.
    pub fn text(&self) -> String {
        let mut lines = vec![
            format!(
                "ledger export OK: {}, {}, root {}",
                counted(self.size, "entry", "entries"),
                counted(self.checkpoints, "signed checkpoint", "signed checkpoints"),
                self.root_hex
            ),
            format!(
                "  origin {}, audit key ID {} (SHA-256 of the key: {})",
                self.origin, self.key_id_hex, self.key_sha256_hex
            ),
        ];
        lines.push(if self.pin_checked {
            "  the audit key is the pinned one (--audit-key-sha256)".to_owned()
        } else {
            "  warning: the audit key was not checked against a pin you hold: give --audit-key-sha256 (the instance's [ledger] audit_key_sha256)".to_owned()
        });
        if let Some(size) = self.since_size {
            lines.push(format!("  extends the saved checkpoint of size {size}"));
        }
        lines.push(format!(
            "  {} re-checked against their operators' certificates",
            counted(
                self.operator_requests,
                "signed operator request",
                "signed operator requests"
            )
        ));
        lines.join("\n")
    }
}

impl ExportSummary {
    /// What an export wrote to `out` (shown as given), with the verification of it.
    pub fn to_json(&self, out: &str, report: &ExportReport) -> Value {
        json!({
            "ok": true,
            "out": out,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "root": report.root_hex,
            "origin": report.origin,
            "audit_key_id": report.key_id_hex,
        })
    }

    /// What an export wrote to `out`, and how to verify it offline.
    pub fn text(&self, out: &str, report: &ExportReport) -> String {
        format!(
            "exported {} and {} to {out} (root {})\n\
             verify it offline with: shuin ledger verify --export {out}",
            counted(self.entries, "entry", "entries"),
            counted(self.checkpoints, "signed checkpoint", "signed checkpoints"),
            report.root_hex
        )
    }
}

impl CosignatureReport {
    /// The witnesses' part of `ledger verify --export --json`.
    pub fn to_json(&self) -> Value {
        json!({
            "witnesses": self.witnesses,
            "quorum": self.quorum,
            "cosignatures": self.cosignatures,
            "final_checkpoints": self.final_checkpoints,
            "newest_final_size": self.newest_final_size,
        })
    }

    /// The witnesses' line of `ledger verify --export`.
    pub fn line(&self) -> String {
        format!(
            "{} checkpoint(s) final ({} of {} witnesses cosigned); the newest final one covers {} entries",
            self.final_checkpoints, self.quorum, self.witnesses, self.newest_final_size
        )
    }
}

impl Book {
    /// The book of a wire name (`application`, `revocation`, `organization`,
    /// `facility`), or of `organisation`, as the docs spell it.
    pub fn from_name(name: &str) -> Option<Book> {
        let name = if name == "organisation" {
            "organization"
        } else {
            name
        };
        Book::ALL.into_iter().find(|book| book.as_str() == name)
    }
}

/// A stored entry that does not decode (`listing`).
#[derive(Debug, thiserror::Error)]
#[error("entry {seq}: {source}")]
pub struct ListingError {
    /// The row.
    pub seq: u64,
    /// Why.
    #[source]
    pub source: crate::LedgerError,
}

/// The entries of `rows` in `book`, or of every book (`shuin ledger show`).
///
/// # Errors
///
/// [`ListingError`] for the first row whose canonical text does not decode.
pub fn listing(rows: &[StoredEntry], book: Option<Book>) -> Result<Vec<Entry>, ListingError> {
    let mut entries = Vec::new();
    for row in rows {
        let entry = Entry::from_canonical(&row.canonical).map_err(|source| ListingError {
            seq: row.seq,
            source,
        })?;
        if book.is_none_or(|b| b == entry.book) {
            entries.push(entry);
        }
    }
    Ok(entries)
}

impl Entry {
    /// One line of a listing: seq, time, book, kind, and who (in which role).
    pub fn line(&self) -> String {
        format!(
            "{:>6}  {}  {:<12}  {:<40}  {} ({})",
            self.seq,
            self.time,
            self.book.as_str(),
            self.kind,
            self.actor.name,
            self.actor.role
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Actor, BookCounts};

    fn report(since_size: Option<u64>) -> ExportReport {
        ExportReport {
            origin: "ca.example/ledger".into(),
            size: 3,
            root_hex: "ab".into(),
            counts: BookCounts::default(),
            checkpoints: 2,
            key_id_hex: "01020304".into(),
            key_sha256_hex: "cd".into(),
            since_size,
            operator_requests: 1,
            manifest_pin: None,
            pin_checked: false,
        }
    }

    #[test]
    fn the_export_report_names_the_saved_checkpoint_only_when_given() {
        assert_eq!(report(None).text().lines().count(), 4);
        let text = report(Some(2)).text();
        assert!(text.contains("\n  extends the saved checkpoint of size 2\n"));
        assert!(text.starts_with("ledger export OK: 3 entries, 2 signed checkpoints, root ab"));
        let json = report(Some(2)).to_json();
        assert_eq!(json["since_checkpoint_size"], 2);
        assert_eq!(json["books"]["facility"], 0);
        assert_eq!(json["ok"], true);
    }

    #[test]
    fn a_listing_keeps_one_book_and_names_a_bad_row() {
        let row = |seq: u64, book: Book| {
            let entry = crate::EntryDraft {
                book,
                kind: format!("{}.test", book.as_str()),
                actor: Actor {
                    name: "ops".to_owned(),
                    role: "auditor".to_owned(),
                    zone: "facility".to_owned(),
                },
                subjects: vec![],
                payload: json!({}),
                evidence: vec![],
            }
            .into_entry(seq, "2026-12-06T00:00:00Z".to_owned());
            StoredEntry {
                seq,
                canonical: entry.canonical_bytes().unwrap(),
                leaf_hash_hex: String::new(),
            }
        };
        let rows = vec![row(0, Book::Facility), row(1, Book::Organization)];
        let organisation = Book::from_name("organisation");
        assert_eq!(organisation, Book::from_name("organization"));
        assert_eq!(Book::from_name("ledger"), None);
        let listed = listing(&rows, organisation).unwrap();
        assert_eq!(listed.iter().map(|e| e.seq).collect::<Vec<_>>(), [1]);
        assert_eq!(listing(&rows, None).unwrap().len(), 2);
        let mut bad = rows;
        bad[1].canonical.push(b' ');
        let refused = listing(&bad, None).unwrap_err();
        assert_eq!(refused.seq, 1);
    }

    #[test]
    fn the_export_summary_says_how_to_verify() {
        let summary = ExportSummary {
            entries: 3,
            checkpoints: 2,
        };
        let text = summary.text("out", &report(None));
        assert_eq!(
            text,
            "exported 3 entries and 2 signed checkpoints to out (root ab)\n\
             verify it offline with: shuin ledger verify --export out"
        );
        assert_eq!(summary.to_json("out", &report(None))["out"], "out");
    }

    #[test]
    fn the_witnesses_line_names_the_quorum() {
        let cosigned = CosignatureReport {
            witnesses: 3,
            quorum: 2,
            cosignatures: 5,
            final_checkpoints: 2,
            newest_final_size: 40,
        };
        assert_eq!(
            cosigned.line(),
            "2 checkpoint(s) final (2 of 3 witnesses cosigned); the newest final one covers 40 entries"
        );
        assert_eq!(cosigned.to_json()["cosignatures"], 5);
        assert_eq!(cosigned.to_json().as_object().map(|o| o.len()), Some(5));
    }

    #[test]
    fn books_are_named_by_their_wire_names() {
        for book in Book::ALL {
            assert_eq!(Book::from_name(book.as_str()), Some(book));
            let wire: Book = serde_json::from_value(json!(book.as_str())).unwrap_or(book);
            assert_eq!(wire, book);
        }
        assert_eq!(Book::from_name("Facility"), None);
    }

    #[test]
    fn an_entry_line_lines_up() {
        let entry = Entry {
            seq: 7,
            time: "2026-01-02T03:04:05Z".into(),
            book: Book::Organization,
            kind: "organization.operator_added".into(),
            actor: Actor {
                name: "alice".into(),
                role: "ca_admin".into(),
                zone: "local".into(),
            },
            subjects: vec![],
            payload: json!({}),
            evidence: vec![],
        };
        assert_eq!(
            entry.line(),
            format!(
                "     7  2026-01-02T03:04:05Z  organization  {:<40}  alice (ca_admin)",
                "organization.operator_added"
            )
        );
    }
}
