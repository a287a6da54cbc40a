//! Revocation reasons (RFC 5280 section 5.3.1) by their RFC names.

use serde::{Deserialize, Serialize};
use x509_cert::ext::pkix::CrlReason;

/// The reasons shuin accepts. `certificateHold` and `removeFromCRL` are not offered:
/// revocation is final in an accredited CA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// unspecified (0); never written as an entry extension.
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    #[serde(rename = "cACompromise")]
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
}

impl RevocationReason {
    /// Every reason, in code order.
    pub const ALL: [RevocationReason; 7] = [
        RevocationReason::Unspecified,
        RevocationReason::KeyCompromise,
        RevocationReason::CaCompromise,
        RevocationReason::AffiliationChanged,
        RevocationReason::Superseded,
        RevocationReason::CessationOfOperation,
        RevocationReason::PrivilegeWithdrawn,
    ];

    /// The RFC 5280 name (`keyCompromise`, ...).
    pub fn name(self) -> &'static str {
        match self {
            RevocationReason::Unspecified => "unspecified",
            RevocationReason::KeyCompromise => "keyCompromise",
            RevocationReason::CaCompromise => "cACompromise",
            RevocationReason::AffiliationChanged => "affiliationChanged",
            RevocationReason::Superseded => "superseded",
            RevocationReason::CessationOfOperation => "cessationOfOperation",
            RevocationReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        }
    }

    /// Parses an RFC 5280 name; also accepts snake_case (`key_compromise`).
    pub fn parse(text: &str) -> Option<Self> {
        let folded: String = text
            .chars()
            .filter(|c| *c != '_' && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        Self::ALL
            .into_iter()
            .find(|r| r.name().to_ascii_lowercase() == folded)
    }

    /// The CRLReason code.
    pub fn code(self) -> u8 {
        match self {
            RevocationReason::Unspecified => 0,
            RevocationReason::KeyCompromise => 1,
            RevocationReason::CaCompromise => 2,
            RevocationReason::AffiliationChanged => 3,
            RevocationReason::Superseded => 4,
            RevocationReason::CessationOfOperation => 5,
            RevocationReason::PrivilegeWithdrawn => 9,
        }
    }

    /// From a CRLReason code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.code() == code)
    }

    /// From x509-cert's enum (`None` for the reasons shuin does not use).
    pub fn from_crl_reason(reason: CrlReason) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.crl_reason() == reason)
    }

    /// As x509-cert's enum.
    pub fn crl_reason(self) -> CrlReason {
        match self {
            RevocationReason::Unspecified => CrlReason::Unspecified,
            RevocationReason::KeyCompromise => CrlReason::KeyCompromise,
            RevocationReason::CaCompromise => CrlReason::CaCompromise,
            RevocationReason::AffiliationChanged => CrlReason::AffiliationChanged,
            RevocationReason::Superseded => CrlReason::Superseded,
            RevocationReason::CessationOfOperation => CrlReason::CessationOfOperation,
            RevocationReason::PrivilegeWithdrawn => CrlReason::PrivilegeWithdrawn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for reason in RevocationReason::ALL {
            assert_eq!(RevocationReason::parse(reason.name()), Some(reason));
            assert_eq!(RevocationReason::from_code(reason.code()), Some(reason));
        }
        assert_eq!(
            RevocationReason::parse("key_compromise"),
            Some(RevocationReason::KeyCompromise)
        );
        assert_eq!(RevocationReason::parse("certificateHold"), None);
    }
}

/// A revocation the RA (or an operator tool) asks the CA to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationRequest {
    /// The certificate.
    pub serial: crate::Serial,
    /// Why.
    pub reason: RevocationReason,
    /// When the key was compromised, if known.
    pub invalidity_date: Option<std::time::SystemTime>,
    /// Who decided (a name for the ledger).
    pub decided_by: String,
    /// Their role (`subscriber`, `lra`, ...).
    pub role: String,
    /// How the request was authorised (`subscriber_key`, `jpki_same_person`, `operator`).
    pub authorisation: String,
}

/// A revocation that took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevocationDone {
    /// When.
    pub revoked_at: std::time::SystemTime,
    /// The CRL that lists it.
    pub crl_number: u64,
}

/// Why the CA did not revoke.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationPortError {
    /// No issued certificate has that serial.
    #[error("no issued certificate has that serial")]
    UnknownSerial,
    /// Already revoked.
    #[error("already revoked")]
    AlreadyRevoked {
        /// When.
        revoked_at: std::time::SystemTime,
    },
    /// Ledger, storage or key trouble (retryable).
    #[error("unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The CA is sealed until M custodians unseal it (retryable).
    #[error("the CA is sealed")]
    Sealed,
}

/// The port through which the RA has the CA revoke (like `Issuer` for issuance).
#[async_trait::async_trait]
pub trait Revoker: Send + Sync {
    /// Records, stores and publishes the revocation (a new CRL).
    async fn revoke(
        &self,
        request: RevocationRequest,
    ) -> Result<RevocationDone, RevocationPortError>;
}

/// The CRL partition of a serial: the first four bytes of SHA-256 over its magnitude,
/// modulo `count` (stable, and spread evenly).
pub fn crl_partition(serial: &crate::Serial, count: u32) -> u32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(serial.magnitude());
    let value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    value % count.max(1)
}
