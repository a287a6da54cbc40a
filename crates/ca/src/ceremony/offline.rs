//! What custodians and auditors do with files alone (`shuin ceremony approve` and
//! `verify`): read a statement to approve, and verify a record, anchored in a ledger
//! export when one is given. Errors name the file.

use super::error::Context;
use super::{
    anchor, canonical_statement, parse_statement, verify, Anchor, Approval, CeremonyError, Record,
    Result, Statement, Verified,
};
use std::path::Path;

/// `error`, as found in the file at `path`.
fn in_file(path: &Path, error: CeremonyError) -> CeremonyError {
    CeremonyError::Context {
        what: path.display().to_string(),
        source: Box::new(error),
    }
}

/// Reads the statement file at `path`: the statement, and the canonical bytes an
/// approval signs.
pub fn read_statement(path: &Path) -> Result<(Statement, Vec<u8>)> {
    let bytes = std::fs::read(path).context(path.display())?;
    let statement = parse_statement(&bytes).map_err(|e| in_file(path, e))?;
    let canonical = canonical_statement(&statement)?;
    Ok((statement, canonical))
}

/// Verifies the ceremony record at `path` and, with `ledger_export`, that the verified
/// export holds the record and the custodians' enrolments.
pub fn verify_record(
    path: &Path,
    ledger_export: Option<&Path>,
) -> Result<(Verified, Option<Anchor>)> {
    let bytes = std::fs::read(path).context(path.display())?;
    let record: Record = serde_json::from_slice(&bytes)
        .context(format!("{}: not a ceremony record", path.display()))?;
    let verified = verify(&record).map_err(|e| in_file(path, e))?;
    let anchored = match ledger_export {
        Some(export) => Some(anchor(&record, export).map_err(|e| in_file(path, e))?),
        None => None,
    };
    Ok((verified, anchored))
}

/// Writes `approval` to the new file `out` (an approval is never overwritten).
pub fn write_approval(approval: &Approval, out: &Path) -> Result<()> {
    let text = serde_json::to_string_pretty(approval).context("JSON")?;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        .context(out.display())
}

/// What `ceremony approve` says of the approval written to `out`.
pub fn approved_text(approval: &Approval, out: &Path) -> String {
    format!(
        "{} approved ceremony {} (statement sha256 {}): {}",
        approval.custodian,
        approval.ceremony_id,
        approval.statement_sha256,
        out.display()
    )
}

/// A verified record for a person: who approved, the keys and certificates it made,
/// and where the ledger export holds it.
pub fn verified_text(verified: &Verified, anchor: Option<&Anchor>) -> String {
    let witnesses = if verified.witnesses.is_empty() {
        "none".to_owned()
    } else {
        verified.witnesses.join(", ")
    };
    let mut lines = vec![format!(
        "ceremony {} verifies: statement sha256 {}, approved by {} ({} required), witnesses {witnesses}",
        verified.ceremony_id,
        verified.statement_sha256,
        verified.approved_by.join(", "),
        verified.threshold,
    )];
    lines.extend(made_lines(&verified.keys, &verified.certificates));
    if let Some(anchor) = anchor {
        lines.push(format!(
            "  ledger:      ceremony.completed at seq {}, custodian enrolments at seq {:?}, in an export of {} entries signed by the audit key sha256 {}",
            anchor.completed_seq,
            anchor.enrolment_seqs,
            anchor.export_entries,
            anchor.audit_key_sha256
        ));
    }
    lines.join("\n")
}

/// A completed run for a person, from the server's answer to `ceremony run` (a
/// [`RunOutcome`] as JSON).
pub fn run_text(answer: &serde_json::Value) -> String {
    let strings = |field: &str| -> Vec<String> {
        let values = answer[field].as_array().into_iter().flatten();
        values
            .map(|v| v.as_str().unwrap_or("").to_owned())
            .collect()
    };
    let mut lines = vec![format!(
        "ceremony {} completed (statement sha256 {})",
        answer["ceremony_id"].as_str().unwrap_or(""),
        answer["statement_sha256"].as_str().unwrap_or("")
    )];
    lines.extend(made_lines(&strings("keys"), &strings("certificates")));
    let record = answer["record"].as_str().unwrap_or("");
    lines.push(format!("  record:      {record}"));
    lines.join("\n")
}

/// One line per key and per certificate a ceremony made.
fn made_lines(keys: &[String], certificates: &[String]) -> Vec<String> {
    let keys = keys.iter().map(|key| format!("  key:         {key}"));
    let certificates = certificates
        .iter()
        .map(|certificate| format!("  certificate: {certificate}"));
    keys.chain(certificates).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        let error = read_statement(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: ", path.display())),
            "{error}"
        );
        std::fs::write(&path, "{}").unwrap();
        let error = read_statement(&path).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: not a ceremony statement", path.display())),
            "{error}"
        );
        let error = verify_record(&path, None).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}: not a ceremony record", path.display())),
            "{error}"
        );
    }
}

#[cfg(test)]
mod text_tests {
    use super::*;

    fn verified(witnesses: Vec<String>) -> Verified {
        Verified {
            ceremony_id: "c1".into(),
            statement_sha256: "ab".into(),
            approved_by: vec!["k1".into(), "k2".into()],
            threshold: 2,
            witnesses,
            keys: vec!["pkcs11:object=root".into()],
            certificates: vec!["c1-root.pem".into()],
        }
    }

    #[test]
    fn a_verified_record_reads_for_an_auditor() {
        assert_eq!(
            verified_text(&verified(vec![]), None),
            "ceremony c1 verifies: statement sha256 ab, approved by k1, k2 (2 required), witnesses none\n\
             \x20 key:         pkcs11:object=root\n\
             \x20 certificate: c1-root.pem"
        );
        let anchor = Anchor {
            completed_seq: 9,
            enrolment_seqs: vec![3, 4],
            export_entries: 10,
            audit_key_sha256: "cd".into(),
        };
        let text = verified_text(&verified(vec!["w".into()]), Some(&anchor));
        assert!(text.contains("witnesses w\n"));
        assert!(text.ends_with("  ledger:      ceremony.completed at seq 9, custodian enrolments at seq [3, 4], in an export of 10 entries signed by the audit key sha256 cd"));
    }

    #[test]
    fn a_run_reads_from_the_servers_answer() {
        let answer = serde_json::json!({"ceremony_id": "c1", "statement_sha256": "ab",
            "keys": ["k"], "certificates": ["a.pem", "b.pem"], "record": "r.json"});
        assert_eq!(
            run_text(&answer),
            "ceremony c1 completed (statement sha256 ab)\n  key:         k\n  certificate: a.pem\n  certificate: b.pem\n  record:      r.json"
        );
    }

    #[test]
    fn an_approval_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("a.json");
        let approval = Approval {
            format: crate::ceremony::APPROVAL_FORMAT.into(),
            ceremony_id: "c1".into(),
            statement_sha256: "ab".into(),
            custodian: "k1".into(),
            public_key: String::new(),
            signature_algorithm: "ecdsa-p256-sha256".into(),
            signature: String::new(),
        };
        write_approval(&approval, &out).unwrap();
        assert!(write_approval(&approval, &out).is_err());
        let text = approved_text(&approval, &out);
        assert!(text.starts_with("k1 approved ceremony c1 (statement sha256 ab): "));
    }
}
