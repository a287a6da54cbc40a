//! The CA's sections of shuin.toml: `[ca]` (keys, certificates, the subscriber
//! profile), `[revocation]` (CRL and OCSP timing) and `[ledger]` (when checkpoints are
//! signed). Fields have usable defaults where they can; each section is checked once at
//! start-up.

use crate::checkpoint::{CheckpointSettings, MissingHead};
use crate::witnessing::{WitnessTarget, Witnessing};
use serde::{Deserialize, Serialize};
use shuin_core::issuance::SubscriberProfile;
use shuin_keys::activation::SealConfig;
use shuin_keys::config::KeyBackendConfig;
use shuin_ledger::trust::{AuditKeyPin, Freshness};
use shuin_ledger::WitnessKey;
use std::path::PathBuf;
use std::time::Duration;

/// A section breaks one of its rules.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// What is wrong, naming the section.
    #[error("{0}")]
    InvalidSettings(&'static str),
    /// `ca.policy_oid` is not an OID.
    #[error("ca.policy_oid {0:?} is not an OID")]
    PolicyOid(String),
}

/// `[ca]`: where the keys and certificates are, and what subscriber certificates carry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaSection {
    /// Where the issuer keys live.
    pub key_backend: KeyBackendConfig,
    /// The root key's URI.
    pub root_key: String,
    /// The issuing key's URI.
    pub issuing_key: String,
    /// The root certificate, relative to the instance directory.
    pub root_certificate: PathBuf,
    /// The issuing CA certificate, relative to the instance directory.
    pub issuing_certificate: PathBuf,
    /// The accredited-policy OID written into subscriber certificates.
    pub policy_oid: String,
    /// Validity of subscriber certificates (5 years at most).
    #[serde(default = "default_validity_days")]
    pub subscriber_validity_days: u32,
    /// M-of-N custodians: the instance starts sealed (docs/keys.md, "Sealed start").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<SealConfig>,
    /// The operator CA's key (DESIGN.md section 8): it certifies operators' personal keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_ca_key: Option<String>,
    /// The operator CA's certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_ca_certificate: Option<PathBuf>,
}

/// Subscriber certificates are valid for five years unless `[ca]` says otherwise.
pub const DEFAULT_VALIDITY_DAYS: u32 = 1825;

fn default_validity_days() -> u32 {
    DEFAULT_VALIDITY_DAYS
}

impl CaSection {
    /// Checks the subscriber profile settings once at start-up.
    pub fn check_profile(&self) -> Result<(), ConfigError> {
        if shuin_core::signature::parse_oid(&self.policy_oid).is_none() {
            return Err(ConfigError::PolicyOid(self.policy_oid.clone()));
        }
        if self.subscriber_validity_days == 0 || self.subscriber_validity_days > 1826 {
            return Err(ConfigError::InvalidSettings(
                "ca.subscriber_validity_days must be 1..=1826 (5 years at most)",
            ));
        }
        Ok(())
    }

    /// Checks the seal settings once at start-up: custodians seal a token PIN.
    pub fn check_seal(&self) -> Result<(), SealSettingsError> {
        if let Some(seal) = &self.seal {
            seal.check()?;
            if !matches!(self.key_backend, KeyBackendConfig::Pkcs11 { .. }) {
                return Err(SealSettingsError::NotPkcs11);
            }
        }
        Ok(())
    }

    /// The profile of subscriber certificates for an instance at `public_url`: the
    /// policy, the validity and where the repository, the CRLs (partitioned as
    /// `revocation` says) and OCSP are.
    pub fn subscriber_profile(
        &self,
        public_url: &str,
        revocation: &RevocationSection,
    ) -> Result<SubscriberProfile, ConfigError> {
        let base = public_url.trim_end_matches('/');
        Ok(SubscriberProfile {
            policy_oid: shuin_core::signature::parse_oid(&self.policy_oid)
                .ok_or(ConfigError::InvalidSettings("ca.policy_oid is not an OID"))?,
            validity: Duration::from_secs(u64::from(self.subscriber_validity_days) * 86_400),
            crl_url: format!("{base}/repository/ca.crl"),
            crl_partitions: (revocation.crl_partitions > 0).then(|| {
                (
                    revocation.crl_partitions,
                    format!("{base}/repository/ca-p{{}}.crl"),
                )
            }),
            ocsp_url: format!("{base}/ocsp"),
            ca_issuers_url: format!("{base}/repository/ca.crt"),
        })
    }
}

/// Why `[ca.seal]` was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealSettingsError {
    /// The M-of-N settings break a rule.
    #[error(transparent)]
    Activation(#[from] shuin_keys::activation::ActivationError),
    /// The backend has no PIN to seal.
    #[error("ca.seal needs ca.key_backend kind = \"pkcs11\"")]
    NotPkcs11,
}

/// `[revocation]`: CRL and OCSP timing.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSection {
    /// thisUpdate to nextUpdate of the issuing CA's CRL; a new one is made at half.
    #[serde(default = "default_crl_hours")]
    pub crl_lifetime_hours: u64,
    /// thisUpdate to nextUpdate of the root's CRL (signed offline by `shuin crl --root`).
    #[serde(default = "default_root_crl_days")]
    pub root_crl_lifetime_days: u64,
    /// thisUpdate to nextUpdate of OCSP responses; refreshed at half.
    #[serde(default = "default_ocsp_hours")]
    pub ocsp_lifetime_hours: u64,
    /// Validity of the delegated OCSP responder certificate.
    #[serde(default = "default_ocsp_responder_days")]
    pub ocsp_responder_validity_days: u64,
    /// The newest pre-signed OCSP answers held in memory (about 1 KB each); every answer
    /// is kept in the database and read from there when not held.
    #[serde(default = "default_ocsp_answers_in_memory")]
    pub ocsp_answers_in_memory: usize,
    /// Partitioned CRLs: certificates point at one of this many partition CRLs (each
    /// with an issuingDistributionPoint); 0 for none. The full CRL is published too.
    #[serde(default)]
    pub crl_partitions: u32,
    /// Delta CRLs (deltaCRLIndicator), announced by freshestCRL in the full CRL; after a
    /// revocation a delta CRL is issued and the full CRL follows its schedule.
    #[serde(default)]
    pub delta_crl: bool,
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

fn default_ocsp_answers_in_memory() -> usize {
    crate::ocsp::HELD_ANSWERS
}

impl Default for RevocationSection {
    fn default() -> Self {
        Self {
            crl_lifetime_hours: default_crl_hours(),
            root_crl_lifetime_days: default_root_crl_days(),
            ocsp_lifetime_hours: default_ocsp_hours(),
            ocsp_responder_validity_days: default_ocsp_responder_days(),
            ocsp_answers_in_memory: default_ocsp_answers_in_memory(),
            crl_partitions: 0,
            delta_crl: false,
        }
    }
}

impl RevocationSection {
    /// The CRL layout (partitions, delta CRLs) under `public_url`.
    pub fn crl_layout(&self, public_url: &str) -> crate::CrlLayout {
        crate::CrlLayout::under(public_url, self.crl_partitions, self.delta_crl)
    }

    /// The issuing CA's CRL lifetime.
    pub fn crl_lifetime(&self) -> Duration {
        Duration::from_secs(self.crl_lifetime_hours * 3600)
    }

    /// The root's (and the operator CA's) CRL lifetime.
    pub fn root_crl_lifetime(&self) -> Duration {
        Duration::from_secs(self.root_crl_lifetime_days * 86_400)
    }

    /// The OCSP response lifetime.
    pub fn ocsp_lifetime(&self) -> Duration {
        Duration::from_secs(self.ocsp_lifetime_hours * 3600)
    }

    /// The OCSP responder certificate's validity.
    pub fn ocsp_responder_validity(&self) -> Duration {
        Duration::from_secs(self.ocsp_responder_validity_days * 86_400)
    }

    /// Checks the section once at start-up.
    pub fn check(&self) -> Result<(), ConfigError> {
        if !(1..=24 * 31).contains(&self.crl_lifetime_hours)
            || !(1..=3650).contains(&self.root_crl_lifetime_days)
            || !(1..=24 * 14).contains(&self.ocsp_lifetime_hours)
            || !(2..=3650).contains(&self.ocsp_responder_validity_days)
            || self.crl_partitions > 256
        {
            return Err(ConfigError::InvalidSettings("revocation: lifetimes out of range (CRL 1..744 h, root CRL 1..3650 d, OCSP 1..336 h, responder 2..3650 d)"));
        }
        Ok(())
    }
}

/// `[ledger]`: signed checkpoints of the ledger (docs/ledger.md, "Checkpoints").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerSection {
    /// The origin for a new audit key; by default `<public_url host and path>/ledger`.
    /// Fixed in the database when the audit key is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Sign a checkpoint once this many entries follow the last one.
    #[serde(default = "default_every_entries")]
    pub checkpoint_every_entries: u64,
    /// Sign a checkpoint when new entries are this old.
    #[serde(default = "default_every_seconds")]
    pub checkpoint_every_seconds: u64,
    /// The witnesses each new checkpoint is submitted to (`[[ledger.witnesses]]`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<WitnessSection>,
    /// How many of them must cosign a checkpoint for it to be final (default: all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness_quorum: Option<usize>,
    /// The type of the audit key, when one is made (`shuin init --audit-key-type`):
    /// `p256` (the default), `p384`, or `rsa2048` to `rsa4096`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_key_type: Option<String>,
    /// The audit key's pin: lowercase hex SHA-256 of its SubjectPublicKeyInfo, written by
    /// `shuin init`. Any other key is refused; without it only a development instance
    /// starts (docs/ledger.md, "Pinned audit key and forward heads").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_key_sha256: Option<String>,
}

/// `[[ledger.witnesses]]`: one witness (docs/ledger.md, "Witnesses").
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSection {
    /// The witness's submission prefix (`POST <url>/add-checkpoint`).
    pub url: String,
    /// Its verifier key, as `shuin witness init` printed it.
    pub key: String,
}

fn default_every_entries() -> u64 {
    1000
}

fn default_every_seconds() -> u64 {
    60
}

impl Default for LedgerSection {
    fn default() -> Self {
        Self {
            origin: None,
            checkpoint_every_entries: default_every_entries(),
            checkpoint_every_seconds: default_every_seconds(),
            witnesses: Vec::new(),
            witness_quorum: None,
            audit_key_type: None,
            audit_key_sha256: None,
        }
    }
}

impl LedgerSection {
    /// Checks the section once at start-up.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self
            .audit_key_type
            .as_deref()
            .is_some_and(|t| shuin_keys::KeySpec::parse(t).is_none())
        {
            return Err(ConfigError::InvalidSettings(
                "ledger: audit_key_type must be p256, p384, rsa2048, rsa3072 or rsa4096",
            ));
        }
        if self.checkpoint_every_entries == 0 || self.checkpoint_every_seconds == 0 {
            return Err(ConfigError::InvalidSettings(
                "ledger: checkpoint_every_entries and checkpoint_every_seconds must be at least 1",
            ));
        }
        if let Some(origin) = &self.origin {
            if origin.is_empty() || origin.chars().any(|c| c.is_whitespace() || c == '+') {
                return Err(ConfigError::InvalidSettings(
                    "ledger.origin must be non-empty without spaces or '+' (for example ca.example.jp/ledger)",
                ));
            }
        }
        if let Some(pin) = &self.audit_key_sha256 {
            AuditKeyPin::parse(pin).map_err(|_| {
                ConfigError::InvalidSettings(
                    "ledger.audit_key_sha256 must be the audit key's SHA-256 (64 hex digits)",
                )
            })?;
        }
        self.check_witnesses()
    }

    /// The pinned audit key (checked by [`LedgerSection::check`]).
    pub fn pin(&self) -> Option<AuditKeyPin> {
        self.audit_key_sha256
            .as_deref()
            .and_then(|pin| AuditKeyPin::parse(pin).ok())
    }

    /// How recent the newest checkpoint must be, from the checkpoint interval.
    pub fn freshness(&self) -> Freshness {
        Freshness {
            every_entries: self.checkpoint_every_entries,
            every: Duration::from_secs(self.checkpoint_every_seconds),
        }
    }

    fn check_witnesses(&self) -> Result<(), ConfigError> {
        for witness in &self.witnesses {
            let scheme_ok =
                witness.url.starts_with("https://") || witness.url.starts_with("http://");
            if !scheme_ok || WitnessKey::from_verifier_key(&witness.key).is_err() {
                return Err(ConfigError::InvalidSettings(
                    "ledger.witnesses: each needs an http(s) url and the key `shuin witness init` printed",
                ));
            }
        }
        if let Some(quorum) = self.witness_quorum {
            if quorum == 0 || quorum > self.witnesses.len() {
                return Err(ConfigError::InvalidSettings(
                    "ledger.witness_quorum must be between 1 and the number of witnesses",
                ));
            }
        }
        Ok(())
    }

    /// The configured witnesses' keys (those that read; [`LedgerSection::check`] refuses
    /// the others at start).
    pub fn witness_keys(&self) -> Vec<WitnessKey> {
        self.witnesses
            .iter()
            .filter_map(|w| WitnessKey::from_verifier_key(&w.key).ok())
            .collect()
    }

    /// The witnesses (keys checked by [`LedgerSection::check`]), if any are configured.
    pub fn witnessing(&self) -> Option<Witnessing> {
        let targets: Vec<WitnessTarget> = self
            .witnesses
            .iter()
            .filter_map(|w| {
                Some(WitnessTarget {
                    url: w.url.clone(),
                    key: WitnessKey::from_verifier_key(&w.key).ok()?,
                })
            })
            .collect();
        if targets.is_empty() {
            return None;
        }
        let quorum = self.witness_quorum.unwrap_or(targets.len());
        Some(Witnessing::new(targets, quorum))
    }

    /// The checkpoint maker's settings for an instance at `public_url`, whose audit key,
    /// should one be made now, gets the backend label `new_key_label`; a pin is required
    /// unless `missing_head` is for development or the first checkpoint.
    pub fn checkpoint_settings(
        &self,
        public_url: &str,
        new_key_label: String,
        missing_head: MissingHead,
    ) -> CheckpointSettings {
        CheckpointSettings {
            origin: self.origin.clone(),
            public_url: public_url.to_owned(),
            new_key_label,
            new_key_spec: self
                .audit_key_type
                .as_deref()
                .and_then(shuin_keys::KeySpec::parse)
                .unwrap_or(shuin_keys::KeySpec::EcP256),
            every_entries: self.checkpoint_every_entries,
            every: Duration::from_secs(self.checkpoint_every_seconds),
            witnessing: self.witnessing().map(std::sync::Arc::new),
            pin: self.pin(),
            require_pin: missing_head == MissingHead::AdoptStored,
            missing_head,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_audit_key_type_is_checked_and_names_the_new_key() {
        let mut section = LedgerSection::default();
        let spec = |s: &LedgerSection| {
            s.checkpoint_settings("https://x", "audit".into(), MissingHead::First)
                .new_key_spec
        };
        assert_eq!(spec(&section), shuin_keys::KeySpec::EcP256);
        section.audit_key_type = Some("p384".into());
        assert!(section.check().is_ok());
        assert_eq!(spec(&section), shuin_keys::KeySpec::EcP384);
        section.audit_key_type = Some("p521".into());
        assert!(section.check().is_err());
    }

    #[test]
    fn zero_intervals_and_bad_origins_are_refused() {
        let mut section = LedgerSection::default();
        assert!(section.check().is_ok());
        section.checkpoint_every_entries = 0;
        assert!(section.check().is_err());
        let section = LedgerSection {
            origin: Some("a b".into()),
            ..LedgerSection::default()
        };
        assert!(section.check().is_err());
        let pinned: LedgerSection =
            toml::from_str(&format!("audit_key_sha256 = \"{}\"", "0a".repeat(32))).unwrap();
        assert!(pinned.check().is_ok());
        assert_eq!(pinned.pin().unwrap().hex(), "0a".repeat(32));
        let bad = LedgerSection {
            audit_key_sha256: Some("0a".into()),
            ..LedgerSection::default()
        };
        assert!(bad.check().is_err());
    }

    #[test]
    fn witnesses_need_a_url_a_key_and_a_reachable_quorum() {
        let key = "witness.example/w1+d7f1c0a5+BKV0YDwBXb0nsN+2RRvuMU2fKZWGEm59IS2NsLlQ5rs3";
        let text = format!("[[witnesses]]\nurl = \"http://127.0.0.1:1\"\nkey = \"{key}\"\n");
        let section: LedgerSection = toml::from_str(&text).unwrap();
        // The key above is made up: its ID does not match, so it is refused.
        assert!(section.check().is_err());
        let section = LedgerSection {
            witness_quorum: Some(1),
            ..LedgerSection::default()
        };
        assert!(section.check().is_err());
        assert!(LedgerSection::default().witnessing().is_none());
    }

    #[test]
    fn revocation_lifetimes_are_bounded() {
        assert!(RevocationSection::default().check().is_ok());
        let long = RevocationSection {
            crl_lifetime_hours: 24 * 31 + 1,
            ..RevocationSection::default()
        };
        assert!(long.check().is_err());
        let parsed: RevocationSection = toml::from_str("delta_crl = true").unwrap();
        assert_eq!(parsed.crl_lifetime(), Duration::from_secs(24 * 3600));
    }

    #[test]
    fn the_subscriber_profile_points_under_the_public_url() {
        let text = "root_key = \"soft:root\"\nissuing_key = \"soft:issuing\"\nroot_certificate = \"ca/root.pem\"\nissuing_certificate = \"ca/issuing.pem\"\npolicy_oid = \"1.2.392.1\"\n[key_backend]\nkind = \"software\"\ndir = \"keys\"\n";
        let mut ca: CaSection = toml::from_str(text).unwrap();
        ca.check_profile().unwrap();
        ca.check_seal().unwrap();
        let revocation = RevocationSection {
            crl_partitions: 4,
            ..RevocationSection::default()
        };
        let profile = ca
            .subscriber_profile("https://ca.example.jp/base/", &revocation)
            .unwrap();
        assert_eq!(
            profile.crl_url,
            "https://ca.example.jp/base/repository/ca.crl"
        );
        assert_eq!(
            profile.crl_partitions,
            Some((4, "https://ca.example.jp/base/repository/ca-p{}.crl".into()))
        );
        assert_eq!(profile.validity, Duration::from_secs(1825 * 86_400));
        ca.policy_oid = "not an oid".into();
        assert!(ca.check_profile().is_err());
    }
}
