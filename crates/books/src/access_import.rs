//! `shuin facility import-access` before anything is sent: the CSV read with its size
//! bound, and the refusal of a bad file (every invalid line named, with a one-line
//! summary). Validation itself is `shuin_core::access_event`; the server validates again
//! and records all rows or none (docs/ledger.md, "Entry/exit records").

use serde_json::{json, Value};
use shuin_core::access_event::{AccessImportError, MAX_CSV_BYTES};
use std::io::Read;
use std::path::Path;

/// How many line numbers the one-line summary names (all are listed above it).
pub const SUMMARY_LINES: usize = 20;

/// Reads at most `MAX_CSV_BYTES` and one more, so that the parser can tell a file that
/// is too large.
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let file = std::fs::File::open(path)?;
    let limit = u64::try_from(MAX_CSV_BYTES)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut bytes = Vec::new();
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The reason code of a CSV refused here, the same as the server's for the same import.
pub const INVALID_CSV: &str = "invalid_csv";

/// Why a CSV file `file` was refused: one line, the invalid lines one by one (for
/// stderr), and the same as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRefusal {
    /// The one-line error: `invalid_csv: FILE: N invalid line(s) (line a, b, …); nothing
    /// was imported`.
    pub summary: String,
    /// `FILE:LINE: what is wrong`, one per invalid line (empty when the whole file is
    /// refused).
    pub lines: Vec<String>,
    /// `{"ok": false, "code": "invalid_csv", "error": summary}`, with `errors` (line,
    /// field, message) for invalid lines.
    pub json: Value,
}

impl ImportRefusal {
    /// The refusal of `file` (as it is to be named) for `error`.
    pub fn new(file: &str, error: &AccessImportError) -> ImportRefusal {
        let invalid = match error {
            AccessImportError::Invalid(invalid) => invalid,
            other => {
                let summary = format!("{INVALID_CSV}: {file}: {other}; nothing was imported");
                return ImportRefusal {
                    json: json!({"ok": false, "code": INVALID_CSV, "error": summary}),
                    summary,
                    lines: Vec::new(),
                };
            }
        };
        let mut numbers: Vec<u64> = invalid.iter().map(|i| i.position).collect();
        numbers.dedup();
        let mut named: Vec<String> = numbers
            .iter()
            .take(SUMMARY_LINES)
            .map(u64::to_string)
            .collect();
        if numbers.len() > SUMMARY_LINES {
            named.push("…".into());
        }
        let summary = format!(
            "{INVALID_CSV}: {file}: {} invalid line(s) (line {}); nothing was imported",
            numbers.len(),
            named.join(", ")
        );
        let errors: Vec<Value> = invalid
            .iter()
            .map(|i| {
                json!({
                    "line": i.position,
                    "field": i.error.field().map(|f| f.as_str()),
                    "message": i.error.to_string(),
                })
            })
            .collect();
        ImportRefusal {
            json: json!({"ok": false, "code": INVALID_CSV, "error": summary, "errors": errors}),
            lines: invalid
                .iter()
                .map(|i| format!("{file}:{}: {}", i.position, i.error))
                .collect(),
            summary,
        }
    }
}

/// What `shuin facility import-access` says of what the server recorded.
pub fn imported_text(recorded: &Value) -> String {
    let at = match (
        recorded["first_seq"].as_u64(),
        recorded["last_seq"].as_u64(),
    ) {
        (Some(first), Some(last)) => format!(" (seq {first} to {last})"),
        _ => String::new(),
    };
    format!(
        "imported {} entry/exit record(s) into the facility book{at}; {} duplicate(s) skipped",
        recorded["imported"], recorded["duplicates"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_core::access_event::{parse_csv, AccessPolicy};
    use std::time::{Duration, UNIX_EPOCH};

    fn refusal(csv: &str) -> ImportRefusal {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        match parse_csv(csv.as_bytes(), &AccessPolicy::default(), now) {
            Ok(_) => panic!("{csv:?} was accepted"),
            Err(error) => ImportRefusal::new("in.csv", &error),
        }
    }

    #[test]
    fn every_invalid_line_is_named() {
        let refused = refusal("time,person,door,direction\nnot a time,a,d,in\nx,b,d,sideways\n");
        assert_eq!(
            refused.summary,
            "invalid_csv: in.csv: 2 invalid line(s) (line 2, 3); nothing was imported"
        );
        assert!(refused.lines.len() >= 2);
        assert!(refused.lines[0].starts_with("in.csv:2: "));
        assert_eq!(refused.json["ok"], false);
        assert_eq!(refused.json["errors"][0]["line"], 2);
    }

    #[test]
    fn the_summary_names_at_most_twenty_lines() {
        let mut csv = String::from("time,person,door,direction\n");
        for _ in 0..25 {
            csv.push_str("bad,a,d,in\n");
        }
        let refused = refusal(&csv);
        assert!(refused.summary.contains("25 invalid line(s)"));
        assert!(refused.summary.contains(", 21, …)"));
        assert!(!refused.summary.contains(" 22"));
    }

    #[test]
    fn a_whole_file_refusal_has_no_lines() {
        let refused = ImportRefusal::new("in.csv", &AccessImportError::NotAnArray);
        assert!(refused.lines.is_empty());
        assert_eq!(refused.json.as_object().map(|o| o.len()), Some(3));
        assert_eq!(refused.json["code"], INVALID_CSV);
        assert!(refused.summary.ends_with("; nothing was imported"));
    }

    #[test]
    fn the_import_reads_with_its_sequence_numbers() {
        let text =
            imported_text(&json!({"imported": 2, "duplicates": 1, "first_seq": 4, "last_seq": 5}));
        assert_eq!(
            text,
            "imported 2 entry/exit record(s) into the facility book (seq 4 to 5); 1 duplicate(s) skipped"
        );
        assert!(!imported_text(&json!({"imported": 0, "duplicates": 3})).contains("seq"));
    }
}
