//! The JPKI trust an instance starts with (`shuin init`): the anchors
//! (`shuin_jpki::installed_anchors`) written as PEM under `jpki/anchors/`, and the J-LIS
//! CRL file the RA will read, checked once under them so that the operator hears at
//! init, not at the first application, that applications would fail closed.

use crate::crl_source::FileCrlSource;
use shuin_jpki::{InstalledAnchor, JpkiError, TrustAnchors};
use std::path::{Path, PathBuf};

/// Where the anchors go, relative to the instance directory.
pub const ANCHOR_DIR: &str = "jpki/anchors";

/// What was installed: the anchors, their files (relative to the instance directory,
/// as `[jpki] trust_anchors` names them), and what the operator should be warned of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstalledTrust {
    /// The anchors, as the facility book records them.
    pub anchors: Vec<InstalledAnchor>,
    /// `jpki/anchors/FILE`, one per anchor.
    pub anchor_files: Vec<PathBuf>,
    /// Anchors that are not pinned production signing CAs (unless in development).
    pub warnings: Vec<String>,
}

/// Why the JPKI trust could not be installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustSetupError {
    /// An anchor is not a usable CA certificate.
    #[error("trust anchors: {0}")]
    Anchors(#[source] JpkiError),
    /// An anchor could not be PEM-encoded.
    #[error("PEM encoding: {0}")]
    Pem(#[source] der::Error),
    /// An anchor file given could not be read, or holds no X.509 certificate.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The shipped anchor does not decode.
    #[error("shipped J-LIS anchor: {0}")]
    Shipped(#[source] der::Error),
    /// An anchor file could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Reads the anchor files given to `init`, each PEM `CERTIFICATE` or DER and an X.509
/// certificate; none gives the shipped, pinned anchor (`shuin_jpki::installed_anchors`).
pub fn read_anchors(files: &[PathBuf]) -> Result<Vec<InstalledAnchor>, TrustSetupError> {
    let mut given = Vec::new();
    for path in files {
        let read = |source| TrustSetupError::Read {
            path: path.clone(),
            source,
        };
        let bytes = std::fs::read(path).map_err(|e| read(e.into()))?;
        let der = shuin_core::x509::pem::der_labelled(bytes, "CERTIFICATE")
            .map_err(|e| read(e.into()))?;
        <x509_cert::Certificate as der::Decode>::from_der(&der)
            .map_err(|e| read(format!("not an X.509 certificate: {e}").into()))?;
        given.push(der);
    }
    shuin_jpki::installed_anchors(given).map_err(TrustSetupError::Shipped)
}

/// Why the CRL file `crl` would make every application fail closed under `anchors`
/// (missing, unreadable, not a CRL, not signed by an anchor, stale), or `None` when it
/// is usable now.
pub fn crl_problem(
    anchors: &[InstalledAnchor],
    crl: &Path,
) -> Result<Option<String>, TrustSetupError> {
    let ders = anchors.iter().map(|a| a.der.clone()).collect();
    let set = TrustAnchors::from_der_certs(ders).map_err(TrustSetupError::Anchors)?;
    Ok(FileCrlSource::new(vec![crl.to_path_buf()], set)
        .check()
        .err()
        .map(|e| e.to_string()))
}

/// Writes `anchors` under `dir/jpki/anchors/`. `development` silences the warning about
/// anchors that are not pinned.
pub fn install(
    dir: &Path,
    anchors: Vec<InstalledAnchor>,
    development: bool,
) -> Result<InstalledTrust, TrustSetupError> {
    TrustAnchors::from_der_certs(anchors.iter().map(|a| a.der.clone()).collect())
        .map_err(TrustSetupError::Anchors)?;
    let warnings: Vec<String> = anchors
        .iter()
        .filter_map(InstalledAnchor::warning)
        .filter(|_| !development)
        .collect();
    let mut anchor_files = Vec::new();
    for anchor in &anchors {
        let file = Path::new(ANCHOR_DIR).join(&anchor.file);
        let pem = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &anchor.der)
            .map_err(|e| TrustSetupError::Pem(e.into()))?;
        let path = dir.join(&file);
        std::fs::write(&path, pem).map_err(|source| TrustSetupError::Write { path, source })?;
        anchor_files.push(file);
    }
    Ok(InstalledTrust {
        anchors,
        anchor_files,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_anchor_is_written_and_a_bad_crl_file_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::create_dir_all(dir.path().join(ANCHOR_DIR)).expect("anchor dir");
        let anchors = shuin_jpki::installed_anchors(Vec::new()).expect("shipped");
        let crl = dir.path().join("crl.der");
        let missing = crl_problem(&anchors, &crl).expect("checked");
        assert!(missing.is_some_and(|m| m.contains("crl.der")));
        std::fs::write(&crl, b"not a CRL").expect("crl");
        assert!(crl_problem(&anchors, &crl).expect("checked").is_some());
        let installed = install(dir.path(), anchors, false).expect("installed");
        let file = Path::new(ANCHOR_DIR).join(shuin_jpki::SHIPPED_ANCHOR_FILE);
        assert_eq!(installed.anchor_files, vec![file.clone()]);
        let pem = std::fs::read_to_string(dir.path().join(file)).expect("written");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(installed.warnings.is_empty(), "{:?}", installed.warnings);
    }

    #[test]
    fn anchor_files_are_read_as_certificates_or_named() {
        let dir = tempfile::tempdir().expect("dir");
        let shipped = read_anchors(&[]).expect("shipped");
        assert_eq!(shipped.len(), 1);
        let der_file = dir.path().join("anchor.der");
        std::fs::write(&der_file, &shipped[0].der).expect("write");
        let read = read_anchors(std::slice::from_ref(&der_file)).expect("read");
        assert_eq!(read[0].der, shipped[0].der);
        std::fs::write(&der_file, b"junk").expect("write");
        let error = read_anchors(std::slice::from_ref(&der_file)).err();
        let text = error.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains("anchor.der: not an X.509 certificate"),
            "{text}"
        );
        let missing = dir.path().join("missing.pem");
        assert!(matches!(
            read_anchors(&[missing]),
            Err(TrustSetupError::Read { .. })
        ));
    }

    #[test]
    fn a_certificate_that_is_no_ca_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().expect("dir");
        let anchors = shuin_jpki::installed_anchors(vec![b"junk".to_vec()]).expect("named");
        let refused = install(dir.path(), anchors, true);
        assert!(matches!(refused, Err(TrustSetupError::Anchors(_))));
        assert!(!dir.path().join(ANCHOR_DIR).exists());
    }
}
