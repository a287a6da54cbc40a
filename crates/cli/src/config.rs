//! `DIR/shuin.toml`: one typed section per component, unknown fields refused, checked
//! once at start-up (STYLE.md "Config").

use crate::failure::{msg, Result};
use serde::{Deserialize, Serialize};
pub(crate) use shuin_repo::publish::PublisherConfig;
use std::path::{Path, PathBuf};

/// The instance configuration file name.
pub(crate) const CONFIG_FILE: &str = "shuin.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceConfig {
    pub(crate) instance: InstanceSection,
    pub(crate) ca: CaSection,
    pub(crate) ra: RaSection,
    pub(crate) jpki: JpkiSection,
    #[serde(default)]
    pub(crate) server: ServerSection,
    #[serde(default)]
    pub(crate) revocation: RevocationSection,
    /// Signed checkpoints of the ledger (`[ledger]`; see docs/ledger.md).
    #[serde(default)]
    pub(crate) ledger: crate::checkpoints::LedgerSection,
    /// How long evidence is kept (`[retention]`; see docs/ledger.md, "Retention").
    #[serde(default)]
    pub(crate) retention: crate::retention_cmd::RetentionSection,
    /// Entry/exit records of the certificate equipment room (`[facility]`; see
    /// docs/ledger.md, "Entry/exit records").
    #[serde(
        default,
        skip_serializing_if = "crate::facility::FacilitySection::is_default"
    )]
    pub(crate) facility: crate::facility::FacilitySection,
    /// Outside repositories that receive copies of the CA certificates and CRLs
    /// (`[[publishers]]`; see docs/repository.md). None by default.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) publishers: Vec<PublisherConfig>,
}

/// CRL and OCSP timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RevocationSection {
    /// thisUpdate to nextUpdate of the issuing CA's CRL; a new one is made at half.
    #[serde(default = "default_crl_hours")]
    pub(crate) crl_lifetime_hours: u64,
    /// thisUpdate to nextUpdate of the root's CRL (signed offline by `shuin crl --root`).
    #[serde(default = "default_root_crl_days")]
    pub(crate) root_crl_lifetime_days: u64,
    /// thisUpdate to nextUpdate of OCSP responses; refreshed at half.
    #[serde(default = "default_ocsp_hours")]
    pub(crate) ocsp_lifetime_hours: u64,
    /// Validity of the delegated OCSP responder certificate.
    #[serde(default = "default_ocsp_responder_days")]
    pub(crate) ocsp_responder_validity_days: u64,
    /// Partitioned CRLs: certificates point at one of this many partition CRLs (each
    /// with an issuingDistributionPoint); 0 for none. The full CRL is published too.
    #[serde(default)]
    pub(crate) crl_partitions: u32,
    /// Delta CRLs (deltaCRLIndicator), announced by freshestCRL in the full CRL; after a
    /// revocation a delta CRL is issued and the full CRL follows its schedule.
    #[serde(default)]
    pub(crate) delta_crl: bool,
}

fn default_crl_hours() -> u64 {
    24
}

fn default_root_crl_days() -> u64 {
    365
}

fn default_ocsp_hours() -> u64 {
    24
}

fn default_ocsp_responder_days() -> u64 {
    90
}

impl Default for RevocationSection {
    fn default() -> Self {
        Self {
            crl_lifetime_hours: default_crl_hours(),
            root_crl_lifetime_days: default_root_crl_days(),
            ocsp_lifetime_hours: default_ocsp_hours(),
            ocsp_responder_validity_days: default_ocsp_responder_days(),
            crl_partitions: 0,
            delta_crl: false,
        }
    }
}

impl RevocationSection {
    pub(crate) fn crl_lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.crl_lifetime_hours * 3600)
    }

    pub(crate) fn root_crl_lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.root_crl_lifetime_days * 86_400)
    }

    pub(crate) fn ocsp_lifetime(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ocsp_lifetime_hours * 3600)
    }

    pub(crate) fn ocsp_responder_validity(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ocsp_responder_validity_days * 86_400)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InstanceSection {
    /// Base URL under which certificates point at the repository and OCSP.
    pub(crate) public_url: String,
    /// Whether this is a development instance (`serve --dev`).
    #[serde(default)]
    pub(crate) development: bool,
    /// The CP/CPS (認証業務規程) served at `/repository/cps`.
    #[serde(default = "default_cps")]
    pub(crate) cps: PathBuf,
}

fn default_cps() -> PathBuf {
    PathBuf::from("cps.md")
}

/// Where the issuer keys live; one variant per backend.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum KeyBackendConfig {
    /// PKCS#8 files under `dir` (development and tests only).
    Software {
        /// Relative to the instance directory.
        dir: PathBuf,
    },
    /// Keys inside a PKCS#11 token (an HSM, or SoftHSM2 for tests). The PIN is read from
    /// `pin_file` (owner-only permissions) at start and is never stored here.
    Pkcs11 {
        /// The token's PKCS#11 library.
        module: PathBuf,
        /// The token label (slots are found by label, never by number).
        token: String,
        /// File holding the user PIN. Absent on an instance sealed by custodians
        /// (`[ca.seal]`): the PIN then comes from M of N shares at `shuin unseal`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pin_file: Option<PathBuf>,
        /// The HSM's FIPS 140-2/140-3 validation as the operator declares it (for
        /// example "FIPS 140-3 Level 3, certificate #0000"), reported by `shuin status`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fips_validation: Option<String>,
    },
}

impl KeyBackendConfig {
    /// The PIN file, where the backend has one.
    pub(crate) fn pin_file(&self) -> Option<&std::path::Path> {
        match self {
            KeyBackendConfig::Software { .. } => None,
            KeyBackendConfig::Pkcs11 { pin_file, .. } => pin_file.as_deref(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CaSection {
    pub(crate) key_backend: KeyBackendConfig,
    pub(crate) root_key: String,
    pub(crate) issuing_key: String,
    pub(crate) root_certificate: PathBuf,
    pub(crate) issuing_certificate: PathBuf,
    /// The accredited-policy OID written into subscriber certificates.
    pub(crate) policy_oid: String,
    #[serde(default = "default_validity_days")]
    pub(crate) subscriber_validity_days: u32,
    /// M-of-N custodians: the instance starts sealed (docs/keys.md, "Sealed start").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seal: Option<crate::seal_shares::SealConfig>,
    /// The operator CA's key (DESIGN.md section 8): it certifies operators' personal keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operator_ca_key: Option<String>,
    /// The operator CA's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) operator_ca_certificate: Option<PathBuf>,
}

fn default_validity_days() -> u32 {
    1825
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RaSection {
    /// The responsible person (責任者) named as approver of automatic decisions.
    pub(crate) responsible_person: String,
    #[serde(default = "default_true")]
    pub(crate) automatic_approval: bool,
    #[serde(default = "default_nonce_ttl")]
    pub(crate) nonce_ttl_seconds: u64,
    /// The 重要事項 text file shown to applicants.
    pub(crate) terms: PathBuf,
}

fn default_true() -> bool {
    true
}

fn default_nonce_ttl() -> u64 {
    600
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JpkiSection {
    /// PEM files of the trusted J-LIS signing CAs.
    pub(crate) trust_anchors: Vec<PathBuf>,
    /// The J-LIS CRL file an outside job refreshes.
    pub(crate) crl: PathBuf,
    #[serde(default)]
    pub(crate) allow_test_cards: bool,
    /// What to do with a certificate whose holder's JPKI certificate J-LIS revokes
    /// (docs/revocation.md, "J-LIS follow-up").
    #[serde(default)]
    pub(crate) on_jpki_revocation: OnJpkiRevocation,
}

/// `[jpki] on_jpki_revocation`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum OnJpkiRevocation {
    /// Put the certificate on the review list (`shuin registration flags`).
    #[default]
    Flag,
    /// Revoke it (privilegeWithdrawn).
    Revoke,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServerSection {
    #[serde(default = "default_listen")]
    pub(crate) listen: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        Self {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8080".into()
}

impl InstanceConfig {
    /// Reads and checks `DIR/shuin.toml`.
    pub(crate) fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            msg(format!(
                "{}: {e}; run `shuin init --data {}` first (or `shuin serve --dev`)",
                path.display(),
                dir.display()
            ))
        })?;
        let config: InstanceConfig =
            toml::from_str(&text).map_err(|e| msg(format!("{}: {e}", path.display())))?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<()> {
        if !(self.instance.public_url.starts_with("http://")
            || self.instance.public_url.starts_with("https://"))
        {
            return Err(msg(
                "instance.public_url must start with http:// or https://",
            ));
        }
        if shuin_core::signature::parse_oid(&self.ca.policy_oid).is_none() {
            return Err(msg(format!(
                "ca.policy_oid {:?} is not an OID",
                self.ca.policy_oid
            )));
        }
        if self.ca.subscriber_validity_days == 0 || self.ca.subscriber_validity_days > 1826 {
            return Err(msg(
                "ca.subscriber_validity_days must be 1..=1826 (5 years at most)",
            ));
        }
        if self.jpki.trust_anchors.is_empty() {
            return Err(msg(
                "jpki.trust_anchors must name at least one J-LIS signing CA",
            ));
        }
        let r = &self.revocation;
        if !(1..=24 * 31).contains(&r.crl_lifetime_hours)
            || !(1..=3650).contains(&r.root_crl_lifetime_days)
            || !(1..=24 * 14).contains(&r.ocsp_lifetime_hours)
            || !(2..=3650).contains(&r.ocsp_responder_validity_days)
            || r.crl_partitions > 256
        {
            return Err(msg("revocation: lifetimes out of range (CRL 1..744 h, root CRL 1..3650 d, OCSP 1..336 h, responder 2..3650 d)"));
        }
        shuin_repo::publish::check(&self.publishers).map_err(|e| msg(e.to_string()))?;
        if let Some(seal) = &self.ca.seal {
            seal.check()?;
            if !matches!(self.ca.key_backend, KeyBackendConfig::Pkcs11 { .. }) {
                return Err(msg("ca.seal needs ca.key_backend kind = \"pkcs11\""));
            }
        }
        self.ledger.check()?;
        self.facility.check()?;
        self.retention.check()?;
        if self.ra.responsible_person.trim().is_empty() {
            return Err(msg(
                "ra.responsible_person must name the responsible person (責任者)",
            ));
        }
        Ok(())
    }

    /// Writes the file (refusing to overwrite).
    pub(crate) fn write_new(&self, dir: &Path) -> Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let text = toml::to_string_pretty(self).map_err(|e| msg(e.to_string()))?;
        let header = "# shuin instance configuration. See docs/operations.md.\n";
        let path = dir.join(CONFIG_FILE);
        // Owner only: it names the keys, the custodians' sealed PIN and the token.
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| {
                use std::io::Write;
                f.write_all(header.as_bytes())?;
                f.write_all(text.as_bytes())
            })
            .map_err(|e| msg(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses() {
        let text = include_str!("../../../docs/examples/shuin.toml");
        let config: InstanceConfig = toml::from_str(text).unwrap();
        config.check().unwrap();
    }
}
