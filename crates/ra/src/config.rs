//! The RA's sections of shuin.toml: `[ra]` (who approves automatic decisions, the
//! applicants' terms) and `[jpki]` (the J-LIS trust anchors and CRL, and what to do when
//! J-LIS revokes a holder's certificate). Each section is checked once at start-up.

use crate::{FileCrlSource, JpkiRevocationPolicy};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A section breaks one of its rules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// What is wrong, naming the setting.
    #[error("{0}")]
    InvalidSettings(&'static str),
    /// A file the section names could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The trust anchors are unusable.
    #[error("jpki.trust_anchors: {0}")]
    TrustAnchors(#[source] shuin_jpki::JpkiError),
}

/// `[ra]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaSection {
    /// The responsible person (責任者) named as approver of automatic decisions.
    pub responsible_person: String,
    /// Whether applications that pass every check are approved without an LRA.
    #[serde(default = "default_true")]
    pub automatic_approval: bool,
    /// How long an application nonce is valid.
    #[serde(default = "default_nonce_ttl")]
    pub nonce_ttl_seconds: u64,
    /// The 重要事項 text file shown to applicants.
    pub terms: PathBuf,
    /// Days between periodic reviews of automatic approval (`shuin automation review`):
    /// the next is due this long after the last sign-off. 1 to 366.
    #[serde(default = "default_review_interval")]
    pub review_interval_days: u32,
}

fn default_review_interval() -> u32 {
    crate::automation::DEFAULT_REVIEW_INTERVAL_DAYS
}

/// Where a new instance keeps its terms (重要事項), relative to its directory.
pub const TERMS_FILE: &str = "terms.txt";

fn default_true() -> bool {
    true
}

fn default_nonce_ttl() -> u64 {
    600
}

impl RaSection {
    /// The section of a new instance: automatic approval on, naming `responsible_person`
    /// (the display name of the enrolled 責任者), and the terms in [`TERMS_FILE`].
    pub fn for_new_instance(responsible_person: String) -> RaSection {
        RaSection {
            responsible_person,
            automatic_approval: true,
            nonce_ttl_seconds: default_nonce_ttl(),
            terms: PathBuf::from(TERMS_FILE),
            review_interval_days: default_review_interval(),
        }
    }

    /// The terms (重要事項) text, read from `terms` under the instance directory `dir`.
    pub fn read_terms(&self, dir: &Path) -> Result<String, ConfigError> {
        let path = dir.join(&self.terms);
        std::fs::read_to_string(&path).map_err(|source| ConfigError::Read { path, source })
    }

    /// The service's settings, with the terms as published (`terms_sha256`, at
    /// `PUBLIC_URL/repository/terms`) and the chain above subscriber certificates
    /// (issuing CA first).
    pub fn service_config(
        &self,
        public_url: &str,
        terms_sha256: &str,
        chain_der: Vec<Vec<u8>>,
    ) -> crate::RaConfig {
        crate::RaConfig {
            nonce_ttl: std::time::Duration::from_secs(self.nonce_ttl_seconds),
            terms_sha256: terms_sha256.to_owned(),
            terms_url: format!("{}/repository/terms", public_url.trim_end_matches('/')),
            responsible_person: self.responsible_person.clone(),
            automatic_approval: self.automatic_approval,
            chain_der,
            review_interval_days: self.review_interval_days,
        }
    }

    /// Checks the section once at start-up.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.responsible_person.trim().is_empty() {
            return Err(ConfigError::InvalidSettings(
                "ra.responsible_person must name the responsible person (責任者)",
            ));
        }
        if !(1..=366).contains(&self.review_interval_days) {
            return Err(ConfigError::InvalidSettings(
                "ra.review_interval_days must be 1 to 366",
            ));
        }
        Ok(())
    }
}

/// `jpki.crl`: one CRL file, or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CrlFiles {
    /// `crl = "jlis.crl"`.
    One(PathBuf),
    /// `crl = ["signca02.crl", "signca03.crl"]`.
    Several(Vec<PathBuf>),
}

impl CrlFiles {
    /// The configured paths.
    pub fn paths(&self) -> &[PathBuf] {
        match self {
            CrlFiles::One(path) => std::slice::from_ref(path),
            CrlFiles::Several(paths) => paths,
        }
    }
}

impl From<PathBuf> for CrlFiles {
    fn from(path: PathBuf) -> Self {
        CrlFiles::One(path)
    }
}

/// `[jpki]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JpkiSection {
    /// PEM files of the trusted J-LIS signing CAs.
    pub trust_anchors: Vec<PathBuf>,
    /// The J-LIS CRL file(s) an outside job refreshes: one path, or a list when CA
    /// generations overlap (signca02 and signca03), one complete CRL per CA.
    pub crl: CrlFiles,
    /// Whether the testkit's cards are accepted (development only).
    #[serde(default)]
    pub allow_test_cards: bool,
    /// What to do with a certificate whose holder's JPKI certificate J-LIS revokes
    /// (docs/revocation.md, "J-LIS follow-up"): `flag` (the default) or `revoke`.
    #[serde(default)]
    pub on_jpki_revocation: JpkiRevocationPolicy,
}

impl JpkiSection {
    /// Checks the section once at start-up.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.trust_anchors.is_empty() {
            return Err(ConfigError::InvalidSettings(
                "jpki.trust_anchors must name at least one J-LIS signing CA",
            ));
        }
        if self.crl.paths().is_empty() {
            return Err(ConfigError::InvalidSettings(
                "jpki.crl must name at least one J-LIS CRL file",
            ));
        }
        Ok(())
    }
}

impl JpkiSection {
    /// The J-LIS verifier and CRL source of an instance in `dir`: the trust anchors read
    /// (PEM or DER), the CRL file watched. A J-LIS CRL that is not usable yet is logged;
    /// applications then fail closed with `jpki_revocation_unavailable`.
    pub fn open(
        &self,
        dir: &Path,
    ) -> Result<(shuin_jpki::Verifier, Arc<FileCrlSource>), ConfigError> {
        let mut anchor_ders = Vec::new();
        for path in &self.trust_anchors {
            let path = dir.join(path);
            let bytes = std::fs::read(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            anchor_ders.push(match der::pem::decode_vec(&bytes) {
                Ok((_, der)) => der,
                Err(_) => bytes,
            });
        }
        let anchors = shuin_jpki::TrustAnchors::from_der_certs(anchor_ders)
            .map_err(ConfigError::TrustAnchors)?;
        let paths = self.crl.paths().iter().map(|path| dir.join(path)).collect();
        let crl_source = Arc::new(FileCrlSource::new(paths, anchors.clone()));
        if let Err(e) = crl_source.check() {
            tracing::warn!(error = %e, "the J-LIS CRL is not usable; applications fail closed with jpki_revocation_unavailable");
        }
        // Loaded once here, at start; later by the upkeep loop (`RaService::upkeep`).
        crate::CrlSource::refresh(crl_source.as_ref());
        let verifier = shuin_jpki::Verifier::new(
            anchors,
            shuin_jpki::VerifierConfig {
                allow_test_cards: self.allow_test_cards,
            },
        );
        Ok((verifier, crl_source))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ra_section() -> RaSection {
        toml::from_str("responsible_person = \"責任者\"\nterms = \"terms.md\"\n").unwrap()
    }

    #[test]
    fn the_service_config_points_at_the_published_terms() {
        let config = ra_section().service_config("https://ca.example/", "ab12", vec![vec![1]]);
        assert_eq!(config.terms_url, "https://ca.example/repository/terms");
        assert_eq!(config.terms_sha256, "ab12");
        assert_eq!(config.nonce_ttl, std::time::Duration::from_secs(600));
        assert!(config.automatic_approval);
        assert_eq!(config.chain_der, vec![vec![1]]);
    }

    #[test]
    fn the_review_interval_defaults_to_30_days_and_is_checked() {
        let section = ra_section();
        assert_eq!(section.review_interval_days, 30);
        section.check().unwrap();
        for (days, ok) in [(0, false), (1, true), (366, true), (367, false)] {
            let section = RaSection {
                review_interval_days: days,
                ..ra_section()
            };
            assert_eq!(section.check().is_ok(), ok, "{days}");
        }
    }

    #[test]
    fn missing_terms_name_their_file() {
        let error = ra_section()
            .read_terms(Path::new("/nonexistent"))
            .unwrap_err();
        assert!(
            error.to_string().starts_with("/nonexistent/terms.md: "),
            "{error}"
        );
    }

    #[test]
    fn the_jpki_revocation_policy_is_flag_unless_revoke_is_asked() {
        let text = "trust_anchors = [\"a.pem\"]\ncrl = \"jlis.crl\"\n";
        let section: JpkiSection = toml::from_str(text).unwrap();
        assert_eq!(section.on_jpki_revocation, JpkiRevocationPolicy::Flag);
        section.check().unwrap();
        let several: JpkiSection =
            toml::from_str("trust_anchors = [\"a.pem\"]\ncrl = [\"02.crl\", \"03.crl\"]\n")
                .unwrap();
        assert_eq!(several.crl.paths().len(), 2);
        let none: JpkiSection = toml::from_str("trust_anchors = [\"a.pem\"]\ncrl = []\n").unwrap();
        assert!(none.check().is_err());
        let revoke: JpkiSection =
            toml::from_str(&format!("{text}on_jpki_revocation = \"revoke\"\n")).unwrap();
        assert_eq!(revoke.on_jpki_revocation, JpkiRevocationPolicy::Revoke);
        assert!(
            toml::from_str::<JpkiSection>(&format!("{text}on_jpki_revocation = \"Revoke\"\n"))
                .is_err()
        );
    }
}
