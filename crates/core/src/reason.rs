//! Stable reason codes (DESIGN.md section 3.4).
//!
//! A code never changes meaning, and a retired code is never reused. HTTP statuses are
//! chosen only in `shuin-server`.

use std::fmt;

macro_rules! codes {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        $vis enum $name { $($variant,)* }

        impl $name {
            /// Every code, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)*];

            /// The stable `snake_case` form.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text,)* }
            }

            /// Parses the stable form.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown code {text}")))
            }
        }
    };
}

codes! {
    /// Why a request was refused.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum ReasonCode {
        MalformedRequest => "malformed_request",
        UnsupportedMediaType => "unsupported_media_type",
        UnsupportedFormat => "unsupported_format",
        PayloadTooLarge => "payload_too_large",
        CmsSignatureInvalid => "cms_signature_invalid",
        CmsSignerCertificateMissing => "cms_signer_certificate_missing",
        JpkiUntrustedIssuer => "jpki_untrusted_issuer",
        JpkiNotSigningCertificate => "jpki_not_signing_certificate",
        JpkiTestCertificate => "jpki_test_certificate",
        JpkiCertificateExpired => "jpki_certificate_expired",
        JpkiCertificateNotYetValid => "jpki_certificate_not_yet_valid",
        JpkiCertificateRevoked => "jpki_certificate_revoked",
        JpkiRevocationUnavailable => "jpki_revocation_unavailable",
        JpkiBasicInfoInvalid => "jpki_basic_info_invalid",
        NonceUnknown => "nonce_unknown",
        NonceExpired => "nonce_expired",
        NonceReused => "nonce_reused",
        TermsMismatch => "terms_mismatch",
        ApplicantNameMismatch => "applicant_name_mismatch",
        ApplicantBirthDateMismatch => "applicant_birth_date_mismatch",
        ApplicantAddressMismatch => "applicant_address_mismatch",
        ApplicantGenderMismatch => "applicant_gender_mismatch",
        CsrMalformed => "csr_malformed",
        CsrSignatureInvalid => "csr_signature_invalid",
        KeyTooWeak => "key_too_weak",
        KeyAlgorithmNotAllowed => "key_algorithm_not_allowed",
        KeyReused => "key_reused",
        ReissueTargetUnknown => "reissue_target_unknown",
        ReissueNotSameSubject => "reissue_not_same_subject",
        IdentificationCodeInvalid => "identification_code_invalid",
        IdentificationCodeExpired => "identification_code_expired",
        IdentificationCodeUsed => "identification_code_used",
        IdentificationCodeLocked => "identification_code_locked",
        RateLimited => "rate_limited",
        CaSealed => "ca_sealed",
        NotFound => "not_found",
        CertificateUnknown => "certificate_unknown",
        CertificateAlreadyRevoked => "certificate_already_revoked",
        RevocationNotAuthorized => "revocation_not_authorized",
        DisclosureNotAuthorized => "disclosure_not_authorized",
        NoRecordsHeld => "no_records_held",
        BusinessTerminated => "business_terminated",
        Unauthorized => "unauthorized",
        ServiceUnavailable => "service_unavailable",
        InternalError => "internal_error",
    }
}

codes! {
    /// Why an application went to manual review (202 `pending_review`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
    #[non_exhaustive]
    pub enum ReviewReason {
        NameSubstituteCharacters => "name_substitute_characters",
        AddressSubstituteCharacters => "address_substitute_characters",
        BirthDateEraUnknown => "birth_date_era_unknown",
        AutomationSuspended => "automation_suspended",
    }
}

impl ReasonCode {
    /// Whether the same request may succeed later without change (the edge answers 503).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ReasonCode::JpkiRevocationUnavailable
                | ReasonCode::CaSealed
                | ReasonCode::RateLimited
                | ReasonCode::ServiceUnavailable
                | ReasonCode::InternalError
        )
    }
}

/// A refusal with its code and a human-readable detail (never internal detail).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {detail}")]
pub struct Rejection {
    /// The stable code.
    pub code: ReasonCode,
    /// What was wrong, for the requester.
    pub detail: String,
}

impl Rejection {
    /// A rejection with a detail message.
    pub fn new(code: ReasonCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ReasonCode::ALL {
            assert!(seen.insert(code.as_str()));
            assert_eq!(ReasonCode::parse(code.as_str()), Some(*code));
            assert!(code
                .as_str()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '_'));
        }
        for reason in ReviewReason::ALL {
            assert_eq!(ReviewReason::parse(reason.as_str()), Some(*reason));
        }
    }
}
