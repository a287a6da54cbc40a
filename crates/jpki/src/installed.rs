//! The trust anchors `shuin init` installs under `jpki/anchors/`: the certificates the
//! operator gave, or the shipped J-LIS signca03 when none is given. Each is named by its
//! file, fingerprinted, and marked as a pinned production signing CA or not; the facility
//! book records that list (`facility.jpki_trust_anchors_configured`).

use crate::anchors::{check_pinned_production_anchor, shipped_signca03_pem};
use sha2::{Digest, Sha256};

/// The file name of the shipped signca03 anchor.
pub const SHIPPED_ANCHOR_FILE: &str = "jlis-signca03-2023.pem";

/// One installed anchor. Serialised, it is the facility book's evidence of it (the DER
/// itself stays in the file).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InstalledAnchor {
    /// The file name under `jpki/anchors/`.
    pub file: String,
    /// The certificate, DER.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// Hex SHA-256 of the DER.
    pub sha256: String,
    /// Whether it is one of the pinned J-LIS production signing CAs.
    pub pinned_production: bool,
}

impl InstalledAnchor {
    /// The anchor `der`, to be written as `file`.
    pub fn new(file: String, der: Vec<u8>) -> InstalledAnchor {
        InstalledAnchor {
            file,
            sha256: hex::encode(Sha256::digest(&der)),
            pinned_production: check_pinned_production_anchor(&der),
            der,
        }
    }

    /// The warning for an anchor that is not a pinned production signing CA (`None`
    /// for one that is).
    pub fn warning(&self) -> Option<String> {
        (!self.pinned_production).then(|| {
            format!(
                "trust anchor {} (sha256 {}) is not a pinned J-LIS production signing CA; use it for testing only",
                self.file, self.sha256
            )
        })
    }
}

/// The anchors to install: `given` (DER) as `anchor-0.pem`, `anchor-1.pem`, …, or the
/// shipped signca03 when none is given.
pub fn installed_anchors(given: Vec<Vec<u8>>) -> Result<Vec<InstalledAnchor>, der::Error> {
    if given.is_empty() {
        let (_, der) = der::pem::decode_vec(shipped_signca03_pem().as_bytes())?;
        return Ok(vec![InstalledAnchor::new(
            SHIPPED_ANCHOR_FILE.to_owned(),
            der,
        )]);
    }
    let named = given.into_iter().enumerate();
    Ok(named
        .map(|(i, der)| InstalledAnchor::new(format!("anchor-{i}.pem"), der))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::anchors::SIGNCA03_SHA256;

    #[test]
    fn without_anchors_the_pinned_signca03_is_installed() {
        let anchors = installed_anchors(Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(anchors.len(), 1);
        assert_eq!(anchors[0].file, SHIPPED_ANCHOR_FILE);
        assert_eq!(anchors[0].sha256, SIGNCA03_SHA256);
        assert!(anchors[0].pinned_production);
        assert_eq!(anchors[0].warning(), None);
    }

    #[test]
    fn given_anchors_are_numbered_and_an_unpinned_one_warns() {
        let anchors =
            installed_anchors(vec![b"a".to_vec(), b"b".to_vec()]).unwrap_or_else(|e| panic!("{e}"));
        let files: Vec<&str> = anchors.iter().map(|a| a.file.as_str()).collect();
        assert_eq!(files, ["anchor-0.pem", "anchor-1.pem"]);
        let warning = anchors[1].warning().unwrap_or_default();
        assert!(warning.starts_with("trust anchor anchor-1.pem (sha256 3e23e816"));
        let evidence = serde_json::to_value(&anchors[0]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            evidence.as_object().map(|o| o.len()),
            Some(3),
            "the DER stays out of the evidence: {evidence}"
        );
    }
}
