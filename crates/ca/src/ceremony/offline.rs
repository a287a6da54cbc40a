//! What custodians and auditors do with files alone (`shuin ceremony approve` and
//! `verify`): read a statement to approve, and verify a record, anchored in a ledger
//! export when one is given. Errors name the file.

use super::error::Context;
use super::{
    anchor, canonical_statement, parse_statement, verify, Anchor, CeremonyError, Record, Result,
    Statement, Verified,
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
