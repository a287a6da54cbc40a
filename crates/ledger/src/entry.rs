//! Ledger entries and their canonical encoding (DESIGN.md section 5).
//!
//! An entry is stored and hashed as the RFC 8785 canonical form ([`crate::canonical`])
//! of this JSON object:
//!
//! ```json
//! {
//!   "actor": {"name": "alice", "role": "reviewer", "zone": "back-office"},
//!   "book": "application",
//!   "evidence": ["sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"],
//!   "kind": "application.accepted",
//!   "payload": {"reason": "complete"},
//!   "seq": 17,
//!   "subjects": ["application:01J9Z3"],
//!   "time": "2025-04-01T09:30:00Z"
//! }
//! ```
//!
//! Its Merkle leaf hash is `SHA-256(0x00 || canonical bytes)` ([RFC 9162 section 2.1.1]).
//!
//! [RFC 9162 section 2.1.1]: https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1

use serde::{Deserialize, Serialize};

use crate::{canonical, merkle, LedgerError};

/// The book an entry belongs to. All books share one log.
///
/// Wire format: the JSON strings `"application"`, `"revocation"`, `"organization"` and
/// `"facility"`.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[serde(rename_all = "snake_case")]
pub enum Book {
    /// Certificate applications and their review.
    Application,
    /// Revocation requests and decisions.
    Revocation,
    /// Operating organisation: operators, roles, policy documents.
    Organization,
    /// Facility: keys, ceremonies, equipment, zones.
    Facility,
}

impl Book {
    /// Every book, in declaration order.
    pub const ALL: [Book; 4] = [
        Book::Application,
        Book::Revocation,
        Book::Organization,
        Book::Facility,
    ];

    /// The wire name of the book, as in the `book` field of an entry.
    pub fn as_str(self) -> &'static str {
        match self {
            Book::Application => "application",
            Book::Revocation => "revocation",
            Book::Organization => "organization",
            Book::Facility => "facility",
        }
    }
}

/// Who caused an entry: an operator or a service acting in a role from a zone
/// (DESIGN.md section 6).
///
/// Wire format: `{"name": "...", "role": "...", "zone": "..."}`.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Operator or service name.
    pub name: String,
    /// The role acted in.
    pub role: String,
    /// The zone acted from.
    pub zone: String,
}

/// An entry before the log assigns its sequence number and time.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct EntryDraft {
    /// The book the entry belongs to.
    pub book: Book,
    /// What happened, as `<book>.<event>`, for example `application.accepted`.
    pub kind: String,
    /// Who caused it.
    pub actor: Actor,
    /// References to what it concerns, for example `application:ID` or `serial:HEX`.
    pub subjects: Vec<String>,
    /// Kind-specific details. Numbers must be safe integers ([`crate::canonical`]).
    pub payload: serde_json::Value,
    /// Hashes of supporting documents, as `sha256:HEX`.
    pub evidence: Vec<String>,
}

impl EntryDraft {
    /// Completes the draft with the log position `seq` and the time `time`
    /// (RFC 3339 UTC with whole seconds, `YYYY-MM-DDTHH:MM:SSZ`; checked when the entry
    /// is encoded).
    pub fn into_entry(self, seq: u64, time: String) -> Entry {
        Entry {
            seq,
            time,
            book: self.book,
            kind: self.kind,
            actor: self.actor,
            subjects: self.subjects,
            payload: self.payload,
            evidence: self.evidence,
        }
    }
}

/// One ledger entry. See the [module documentation](self) for its wire format.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq, Debug)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Position in the log, from 0, without gaps. It is also the Merkle leaf index.
    pub seq: u64,
    /// When the entry was appended: RFC 3339 UTC with whole seconds,
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub time: String,
    /// The book the entry belongs to.
    pub book: Book,
    /// What happened, as `<book>.<event>`.
    pub kind: String,
    /// Who caused it.
    pub actor: Actor,
    /// References to what it concerns.
    pub subjects: Vec<String>,
    /// Kind-specific details.
    pub payload: serde_json::Value,
    /// Hashes of supporting documents, as `sha256:HEX`.
    pub evidence: Vec<String>,
}

impl Entry {
    /// The RFC 8785 canonical JSON of the entry: the bytes that are stored and hashed.
    ///
    /// # Errors
    ///
    /// [`LedgerError::InvalidTime`] if `time` is not `YYYY-MM-DDTHH:MM:SSZ`, and the
    /// errors of [`canonical::to_canonical_bytes`] for an unsupported payload.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, LedgerError> {
        check_time(&self.time)?;
        // Exactly `canonical::to_canonical_bytes(&serde_json::to_value(self))`, written
        // directly: the members in RFC 8785 order (their names are ASCII, so UTF-16 and
        // byte order agree), without first copying the entry into a `Value`.
        let mut out = Vec::with_capacity(256);
        out.extend_from_slice(b"{\"actor\":{\"name\":");
        canonical::write_string(&self.actor.name, &mut out);
        out.extend_from_slice(b",\"role\":");
        canonical::write_string(&self.actor.role, &mut out);
        out.extend_from_slice(b",\"zone\":");
        canonical::write_string(&self.actor.zone, &mut out);
        out.extend_from_slice(b"},\"book\":");
        canonical::write_string(self.book.as_str(), &mut out);
        out.extend_from_slice(b",\"evidence\":");
        write_strings(&self.evidence, &mut out);
        out.extend_from_slice(b",\"kind\":");
        canonical::write_string(&self.kind, &mut out);
        out.extend_from_slice(b",\"payload\":");
        canonical::write_value(&self.payload, 1, &mut out)?;
        out.extend_from_slice(b",\"seq\":");
        if self.seq > canonical::MAX_SAFE_INTEGER {
            return Err(LedgerError::UnsupportedNumber {
                number: self.seq.to_string(),
            });
        }
        out.extend_from_slice(self.seq.to_string().as_bytes());
        out.extend_from_slice(b",\"subjects\":");
        write_strings(&self.subjects, &mut out);
        out.extend_from_slice(b",\"time\":");
        canonical::write_string(&self.time, &mut out);
        out.push(b'}');
        Ok(out)
    }

    /// The Merkle leaf hash of the entry, `SHA-256(0x00 || canonical bytes)`
    /// ([RFC 9162 section 2.1.1](https://www.rfc-editor.org/rfc/rfc9162#section-2.1.1)).
    ///
    /// # Errors
    ///
    /// As [`Entry::canonical_bytes`].
    pub fn leaf_hash(&self) -> Result<[u8; 32], LedgerError> {
        Ok(merkle::leaf_hash(&self.canonical_bytes()?))
    }

    /// Decodes stored bytes, accepting only the exact canonical form of an entry.
    ///
    /// # Errors
    ///
    /// [`LedgerError::Decode`] if the bytes are not JSON of an entry (including unknown
    /// or duplicate fields), [`LedgerError::NotCanonical`] if they are but differ from
    /// its canonical form, and the errors of [`Entry::canonical_bytes`].
    pub fn from_canonical(bytes: &[u8]) -> Result<Entry, LedgerError> {
        let entry: Entry = serde_json::from_slice(bytes).map_err(LedgerError::Decode)?;
        let canonical = entry.canonical_bytes()?;
        if canonical != bytes {
            let offset = canonical
                .iter()
                .zip(bytes)
                .position(|(expected, found)| expected != found)
                .unwrap_or_else(|| canonical.len().min(bytes.len()));
            return Err(LedgerError::NotCanonical { offset });
        }
        Ok(entry)
    }
}

/// A JSON array of strings in canonical form.
fn write_strings(strings: &[String], out: &mut Vec<u8>) {
    out.push(b'[');
    for (position, string) in strings.iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        canonical::write_string(string, out);
    }
    out.push(b']');
}

/// Checks that `time` is `YYYY-MM-DDTHH:MM:SSZ` naming a real calendar date and a time
/// without leap second, as shuin's clock formats it.
fn check_time(time: &str) -> Result<(), LedgerError> {
    if parse_time(time.as_bytes()).is_none() {
        return Err(LedgerError::InvalidTime {
            time: time.to_owned(),
        });
    }
    Ok(())
}

fn parse_time(text: &[u8]) -> Option<()> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2, b'T', h1, h2, b':', n1, n2, b':', s1, s2, b'Z'] =
        *text
    else {
        return None;
    };
    let year = digits(&[y1, y2, y3, y4])?;
    let month = digits(&[m1, m2])?;
    let day = digits(&[d1, d2])?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let in_range = (1..=days_in_month).contains(&day)
        && digits(&[h1, h2])? < 24
        && digits(&[n1, n2])? < 60
        && digits(&[s1, s2])? < 60;
    in_range.then_some(())
}

fn digits(text: &[u8]) -> Option<u32> {
    text.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    fn sample() -> Entry {
        EntryDraft {
            book: Book::Application,
            kind: "application.accepted".to_owned(),
            actor: Actor {
                name: "alice".to_owned(),
                role: "reviewer".to_owned(),
                zone: "back-office".to_owned(),
            },
            subjects: vec!["application:01J9Z3".to_owned()],
            payload: json!({"reason": "complete", "pages": 3}),
            evidence: vec!["sha256:00ff".to_owned()],
        }
        .into_entry(17, "2025-04-01T09:30:00Z".to_owned())
    }

    const SAMPLE_CANONICAL: &str = concat!(
        r#"{"actor":{"name":"alice","role":"reviewer","zone":"back-office"},"#,
        r#""book":"application","evidence":["sha256:00ff"],"kind":"application.accepted","#,
        r#""payload":{"pages":3,"reason":"complete"},"seq":17,"#,
        r#""subjects":["application:01J9Z3"],"time":"2025-04-01T09:30:00Z"}"#,
    );

    /// Computed independently: `hashlib.sha256(b"\x00" + SAMPLE_CANONICAL).hexdigest()`.
    const SAMPLE_LEAF_HASH: &str =
        "1b2202e8226771f7e1646c3b34900837127afb4d073e2e2e9ed8d3e63237c56f";

    #[test]
    fn canonical_bytes_are_the_documented_wire_format() {
        let bytes = sample().canonical_bytes().unwrap();
        assert_eq!(String::from_utf8(bytes).unwrap(), SAMPLE_CANONICAL);
    }

    #[test]
    fn leaf_hash_is_sha256_of_zero_byte_and_canonical_bytes() {
        assert_eq!(hex::encode(sample().leaf_hash().unwrap()), SAMPLE_LEAF_HASH);
    }

    #[test]
    fn canonical_bytes_round_trip() {
        let entry = Entry::from_canonical(SAMPLE_CANONICAL.as_bytes()).unwrap();
        assert_eq!(entry, sample());
    }

    #[test]
    fn books_use_their_wire_names() {
        for book in Book::ALL {
            assert_eq!(
                serde_json::to_value(book).unwrap(),
                json!(book.as_str()),
                "{book:?}"
            );
        }
    }

    fn rejects_as_not_canonical(text: &str) -> bool {
        matches!(
            Entry::from_canonical(text.as_bytes()),
            Err(LedgerError::NotCanonical { .. })
        )
    }

    #[test]
    fn non_canonical_encodings_are_rejected() {
        // Whitespace.
        assert!(rejects_as_not_canonical(&format!("{SAMPLE_CANONICAL}\n")));
        assert!(rejects_as_not_canonical(
            &SAMPLE_CANONICAL.replacen(":", ": ", 1)
        ));
        // Members out of order.
        assert!(rejects_as_not_canonical(&SAMPLE_CANONICAL.replace(
            r#""pages":3,"reason":"complete""#,
            r#""reason":"complete","pages":3"#
        )));
        // A needless escape.
        assert!(rejects_as_not_canonical(
            &SAMPLE_CANONICAL.replace("alice", "\\u0061lice")
        ));
        // A duplicate member inside the payload (serde_json keeps the last one).
        assert!(rejects_as_not_canonical(
            &SAMPLE_CANONICAL.replace(r#""pages":3,"#, r#""pages":2,"pages":3,"#)
        ));
    }

    #[test]
    fn the_first_difference_is_reported() {
        let text = SAMPLE_CANONICAL.replacen(":", ": ", 1);
        let offset = SAMPLE_CANONICAL.find(':').unwrap() + 1;
        assert!(matches!(
            Entry::from_canonical(text.as_bytes()),
            Err(LedgerError::NotCanonical { offset: found }) if found == offset
        ));
    }

    #[test]
    fn malformed_entries_are_rejected_as_undecodable() {
        for text in [
            "",
            "[]",
            "{}",
            &SAMPLE_CANONICAL.replace(r#""seq":17,"#, r#""seq":17,"extra":1,"#),
            &SAMPLE_CANONICAL.replace(r#""seq":17,"#, r#""seq":17,"seq":17,"#),
            &SAMPLE_CANONICAL.replace("application\",", "ledger\","),
            &SAMPLE_CANONICAL.replace(r#""seq":17"#, r#""seq":-1"#),
        ] {
            assert!(
                matches!(
                    Entry::from_canonical(text.as_bytes()),
                    Err(LedgerError::Decode(_))
                ),
                "{text}"
            );
        }
    }

    #[test]
    fn fractional_payload_numbers_are_rejected() {
        let text = SAMPLE_CANONICAL.replace(r#""pages":3"#, r#""pages":3.5"#);
        assert!(matches!(
            Entry::from_canonical(text.as_bytes()),
            Err(LedgerError::UnsupportedNumber { .. })
        ));
    }

    /// The direct encoder refuses what the generic one refuses, with the same error.
    #[test]
    fn direct_encoding_fails_like_the_generic_one() {
        let generic = |entry: &Entry| {
            canonical::to_canonical_bytes(&serde_json::to_value(entry).unwrap())
                .map_err(|e| e.to_string())
        };
        let deep = |levels: usize| (0..levels).fold(json!(null), |inner, _| json!([inner]));
        let mut cases = Vec::new();
        for (payload, seq) in [
            (deep(canonical::MAX_DEPTH - 1), 1),
            (deep(canonical::MAX_DEPTH), 1),
            (json!({"n": 1.5}), 1),
            (json!({"ok": 1}), canonical::MAX_SAFE_INTEGER),
            (json!({"ok": 1}), canonical::MAX_SAFE_INTEGER + 1),
            (json!({"n": 1.5}), u64::MAX),
        ] {
            let mut entry = sample();
            entry.payload = payload;
            entry.seq = seq;
            cases.push(entry);
        }
        for entry in &cases {
            assert_eq!(
                entry.canonical_bytes().map_err(|e| e.to_string()),
                generic(entry)
            );
        }
        assert!(cases[0].canonical_bytes().is_ok());
        assert!(cases[1].canonical_bytes().is_err());
    }

    #[test]
    fn times_must_be_utc_whole_seconds() {
        for good in [
            "2025-04-01T09:30:00Z",
            "2024-02-29T23:59:59Z",
            "2000-02-29T00:00:00Z",
        ] {
            assert!(check_time(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "2025-04-01T09:30:00",
            "2025-04-01T09:30:00.5Z",
            "2025-04-01T09:30:00+09:00",
            "2025-04-01t09:30:00z",
            "2025-04-01 09:30:00Z",
            "2025-13-01T09:30:00Z",
            "2025-00-01T09:30:00Z",
            "2025-04-31T09:30:00Z",
            "2025-02-29T09:30:00Z",
            "1900-02-29T09:30:00Z",
            "2025-04-01T24:00:00Z",
            "2025-04-01T09:60:00Z",
            "2025-04-01T09:30:60Z",
            "+025-04-01T09:30:00Z",
        ] {
            assert!(check_time(bad).is_err(), "{bad}");
        }
        let mut entry = sample();
        entry.time = "2025-04-01T09:30:00.000Z".to_owned();
        assert!(matches!(
            entry.canonical_bytes(),
            Err(LedgerError::InvalidTime { .. })
        ));
    }
}
