//! The evidence half of a hand-over export (引継ぎ, at business termination;
//! docs/termination.md): every piece of evidence the exported books refer to and the
//! store still keeps, written as `evidence/<sha256>` beside the books, with a manifest
//! that says what was kept and what the store does not hold (purged at the end of
//! retention, or never stored as evidence, such as a CRL's hash).

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use shuin_store::ApplicationStore;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The manifest's file name, in the evidence directory.
pub const MANIFEST: &str = "manifest.json";

/// What the evidence directory holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EvidenceManifest {
    /// Hashes written (each file's bytes have that SHA-256).
    pub kept: Vec<String>,
    /// Hashes the books name that the store does not hold.
    pub not_in_store: Vec<String>,
}

/// Why the evidence could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandOverError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The exported entries could not be read.
    #[error("the exported entries: {0}")]
    Entries(String),
    /// The store failed.
    #[error("the store: {0}")]
    Store(#[from] shuin_store::StoreError),
    /// The store gave bytes that do not have the hash they are kept under.
    #[error("evidence {0} in the store does not have that SHA-256")]
    Altered(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> HandOverError + '_ {
    move |source| HandOverError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The evidence hashes an entry refers to: its `evidence` list and the personal data
/// record its payload names.
fn referenced(entry: &Value, into: &mut BTreeSet<String>) {
    for item in entry["evidence"].as_array().into_iter().flatten() {
        if let Some(hex) = item.as_str().and_then(|s| s.strip_prefix("sha256:")) {
            into.insert(hex.to_owned());
        }
    }
    if let Some(hex) = entry["payload"]["personal_data"]["record_sha256"].as_str() {
        into.insert(hex.to_owned());
    }
}

/// Reads `entries` (the export's `entries.jsonl`) and writes every piece of evidence it
/// refers to from `store` into `out` (made if missing), with [`MANIFEST`].
pub async fn write_evidence<S: ApplicationStore + ?Sized>(
    store: &S,
    entries: &Path,
    out: &Path,
) -> Result<EvidenceManifest, HandOverError> {
    let text = std::fs::read_to_string(entries).map_err(io(entries))?;
    let mut wanted = BTreeSet::new();
    for (number, line) in text.lines().enumerate() {
        let entry: Value = serde_json::from_str(line)
            .map_err(|e| HandOverError::Entries(format!("line {}: {e}", number + 1)))?;
        referenced(&entry, &mut wanted);
    }
    std::fs::create_dir_all(out).map_err(io(out))?;
    let mut manifest = EvidenceManifest::default();
    for hex in wanted {
        // Only hashes that can be file names: 64 lowercase hex digits.
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            manifest.not_in_store.push(hex);
            continue;
        }
        let Some(bytes) = store.evidence(&hex).await? else {
            manifest.not_in_store.push(hex);
            continue;
        };
        if hex::encode(Sha256::digest(&bytes)) != hex {
            return Err(HandOverError::Altered(hex));
        }
        let path = out.join(&hex);
        std::fs::write(&path, &bytes).map_err(io(&path))?;
        manifest.kept.push(hex);
    }
    let path = out.join(MANIFEST);
    let text = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    std::fs::write(&path, text).map_err(io(&path))?;
    Ok(manifest)
}

/// Writes the hand-over export into `out` (made again from the start if a stopped write
/// left it): `books/`, a ledger export of `store` ending with its newest checkpoint
/// signed by `key` (which `shuin ledger verify --export` checks), and `evidence/` with
/// its manifest ([`write_evidence`]), all readable by the owner only. Returns what it
/// holds, for the books.
pub async fn write_hand_over<S>(
    store: &S,
    out: &Path,
    key: shuin_ledger::NoteKey,
    pin: Option<&shuin_ledger::AuditKeyPin>,
) -> Result<Value, Box<dyn std::error::Error + Send + Sync>>
where
    S: ApplicationStore + shuin_store::LedgerStore + shuin_store::LedgerReader + ?Sized,
{
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io(out))?;
    }
    // Personal data: owner only, from the first byte.
    std::fs::create_dir_all(out).map_err(io(out))?;
    restrict_to_owner(out)?;
    let books = out.join("books");
    let (summary, _) = crate::checkpoints::export_signed(
        &books,
        store,
        Some(key),
        pin,
        &shuin_ledger::export::Quiet,
    )
    .await?;
    let evidence =
        write_evidence(store, &books.join("entries.jsonl"), &out.join("evidence")).await?;
    restrict_to_owner(out)?;
    Ok(serde_json::json!({
        "entries": summary.entries,
        "checkpoints": summary.checkpoints,
        "evidence_kept": evidence.kept.len(),
        "evidence_not_in_store": evidence.not_in_store.len(),
    }))
}

/// Makes `dir` and everything below it readable by its owner only (0700 directories,
/// 0600 files): the hand-over holds personal data.
pub fn restrict_to_owner(dir: &Path) -> Result<(), HandOverError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path))
        };
        mode(dir, 0o700)?;
        for item in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = item.map_err(io(dir))?.path();
            if path.is_dir() {
                restrict_to_owner(&path)?;
            } else {
                mode(&path, 0o600)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use shuin_store::sqlite::SqliteStore;

    #[tokio::test]
    async fn kept_evidence_is_written_and_the_rest_is_named() {
        let store = SqliteStore::in_memory().await.unwrap();
        let kept = hex::encode(Sha256::digest(b"signed application"));
        store
            .put_evidence(&kept, b"signed application")
            .await
            .unwrap();
        let record = hex::encode(Sha256::digest(b"personal data record"));
        store
            .put_evidence(&record, b"personal data record")
            .await
            .unwrap();
        let purged = "ab".repeat(32);
        let altered = hex::encode(Sha256::digest(b"other"));
        let dir = tempfile::tempdir().unwrap();
        let entries = dir.path().join("entries.jsonl");
        let lines = [
            serde_json::json!({"evidence": [format!("sha256:{kept}")], "payload": {"personal_data": {"record_sha256": record}}}),
            serde_json::json!({"evidence": [format!("sha256:{purged}"), "sha256:../../etc/passwd"], "payload": {}}),
        ];
        let text: Vec<String> = lines.iter().map(Value::to_string).collect();
        std::fs::write(&entries, text.join("\n")).unwrap();
        let out = dir.path().join("evidence");
        let manifest = write_evidence(&store, &entries, &out).await.unwrap();
        let mut expected = vec![kept.clone(), record.clone()];
        expected.sort();
        assert_eq!(manifest.kept, expected);
        assert_eq!(
            manifest.not_in_store,
            vec!["../../etc/passwd".to_owned(), purged]
        );
        assert_eq!(
            std::fs::read(out.join(&kept)).unwrap(),
            b"signed application"
        );
        assert!(out.join(MANIFEST).exists());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            restrict_to_owner(dir.path()).unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&out), 0o700);
            assert_eq!(mode(&out.join(&kept)), 0o600);
            assert_eq!(mode(&entries), 0o600);
        }

        // Bytes that do not match their hash are refused, never handed over.
        store.put_evidence(&altered, b"not other").await.unwrap();
        std::fs::write(
            &entries,
            serde_json::json!({"evidence": [format!("sha256:{altered}")]}).to_string(),
        )
        .unwrap();
        let refused = write_evidence(&store, &entries, &dir.path().join("e2"))
            .await
            .unwrap_err();
        assert!(matches!(refused, HandOverError::Altered(_)));
    }
}
