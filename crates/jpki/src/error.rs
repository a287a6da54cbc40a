//! Why a JPKI-signed application, a trust anchor or a J-LIS CRL was refused.

use shuin_core::ReasonCode;
use std::time::SystemTime;

/// One error type for the crate. Every variant maps to a stable [`ReasonCode`] through
/// [`JpkiError::code`]; the `Display` text is safe to show to the applicant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JpkiError {
    /// The body is not a DER `ContentInfo` holding a well-formed `SignedData` with
    /// attached `id-data` content and one signer, within the budgets.
    #[error("malformed CMS: {detail}")]
    MalformedCms {
        /// What was wrong.
        detail: String,
        /// The DER error, when there was one.
        #[source]
        source: Option<der::Error>,
    },
    /// No certificate in the SignedData matches the SignerInfo's identifier.
    #[error("no certificate in the SignedData matches the signer")]
    SignerCertificateMissing,
    /// The CMS signature or message digest does not verify.
    #[error("the CMS signature does not verify: {detail}")]
    CmsSignatureInvalid {
        /// Which part failed.
        detail: &'static str,
    },
    /// The signer certificate was not issued by a configured J-LIS signing CA (checked
    /// by signature, not by name alone).
    #[error(
        "the signer certificate was not issued by a trusted J-LIS signing CA (issuer {issuer})"
    )]
    UntrustedIssuer {
        /// The issuer named in the certificate.
        issuer: String,
    },
    /// Not a JPKI signing certificate (user-authentication certificate, wrong key usage or
    /// policy).
    #[error("not a JPKI signing certificate: {detail}")]
    NotSigningCertificate {
        /// Which property is wrong.
        detail: &'static str,
    },
    /// A JPKI test-card certificate while test cards are not allowed.
    #[error("the certificate carries the JPKI test-card policy")]
    TestCertificate,
    /// The certificate is not valid yet.
    #[error("the JPKI certificate is not valid before {not_before:?} (now {now:?})")]
    NotYetValid {
        /// The time of the check.
        now: SystemTime,
        /// The certificate's notBefore.
        not_before: SystemTime,
    },
    /// The certificate has expired.
    #[error("the JPKI certificate expired at {not_after:?} (now {now:?})")]
    Expired {
        /// The time of the check.
        now: SystemTime,
        /// The certificate's notAfter.
        not_after: SystemTime,
    },
    /// The certificate is on the J-LIS CRL.
    #[error("the JPKI certificate {serial_hex} is revoked")]
    Revoked {
        /// Its serial (hex).
        serial_hex: String,
    },
    /// No usable revocation data: no CRL, a CRL from another issuer, or a CRL past its
    /// nextUpdate. The check fails closed and may succeed later.
    #[error("J-LIS revocation data is unavailable: {detail}")]
    RevocationUnavailable {
        /// Why.
        detail: String,
    },
    /// The four basic items are missing or malformed in the subjectAltName.
    #[error("the JPKI basic items are invalid: {detail}")]
    BasicInfoInvalid {
        /// Which item and how.
        detail: String,
    },
    /// A configured trust anchor is unusable.
    #[error("trust anchor {index} is unusable: {detail}")]
    TrustAnchorInvalid {
        /// Position in the configured list.
        index: usize,
        /// Why.
        detail: String,
        /// The DER error, when there was one.
        #[source]
        source: Option<der::Error>,
    },
    /// A J-LIS CRL file is unusable (malformed, unknown issuer, bad signature, not
    /// complete).
    #[error("the J-LIS CRL is unusable ({refusal}): {detail}")]
    CrlInvalid {
        /// The stable reason code.
        refusal: crate::CrlRefusal,
        /// Why, in words.
        detail: String,
        /// The DER error, when there was one.
        #[source]
        source: Option<der::Error>,
    },
}

impl JpkiError {
    /// The stable reason code (DESIGN.md section 3.4).
    pub fn code(&self) -> ReasonCode {
        match self {
            JpkiError::MalformedCms { .. } => ReasonCode::MalformedRequest,
            JpkiError::SignerCertificateMissing => ReasonCode::CmsSignerCertificateMissing,
            JpkiError::CmsSignatureInvalid { .. } => ReasonCode::CmsSignatureInvalid,
            JpkiError::UntrustedIssuer { .. } => ReasonCode::JpkiUntrustedIssuer,
            JpkiError::NotSigningCertificate { .. } => ReasonCode::JpkiNotSigningCertificate,
            JpkiError::TestCertificate => ReasonCode::JpkiTestCertificate,
            JpkiError::NotYetValid { .. } => ReasonCode::JpkiCertificateNotYetValid,
            JpkiError::Expired { .. } => ReasonCode::JpkiCertificateExpired,
            JpkiError::Revoked { .. } => ReasonCode::JpkiCertificateRevoked,
            JpkiError::RevocationUnavailable { .. } | JpkiError::CrlInvalid { .. } => {
                ReasonCode::JpkiRevocationUnavailable
            }
            JpkiError::BasicInfoInvalid { .. } => ReasonCode::JpkiBasicInfoInvalid,
            JpkiError::TrustAnchorInvalid { .. } => ReasonCode::InternalError,
        }
    }

    pub(crate) fn malformed(detail: impl Into<String>) -> Self {
        JpkiError::MalformedCms {
            detail: detail.into(),
            source: None,
        }
    }

    pub(crate) fn malformed_der(detail: impl Into<String>, source: der::Error) -> Self {
        JpkiError::MalformedCms {
            detail: detail.into(),
            source: Some(source),
        }
    }

    pub(crate) fn basic(detail: impl Into<String>) -> Self {
        JpkiError::BasicInfoInvalid {
            detail: detail.into(),
        }
    }
}

impl From<JpkiError> for shuin_core::reason::Rejection {
    fn from(e: JpkiError) -> Self {
        shuin_core::reason::Rejection::new(e.code(), e.to_string())
    }
}
