//! Signature algorithms used by shuin, their AlgorithmIdentifiers (RFC 4055, RFC 5758),
//! and verification with aws-lc-rs.

use const_oid::ObjectIdentifier;
use der::asn1::Null;
use der::{Any, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoRef};

/// `sha256WithRSAEncryption` (RFC 4055).
pub const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// `ecdsa-with-SHA256` (RFC 5758).
pub const ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// `ecdsa-with-SHA384` (RFC 5758).
pub const ECDSA_WITH_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// `rsaEncryption`.
pub const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey`.
pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1`.
pub const SECP256R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
/// `secp384r1`.
pub const SECP384R1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");

/// A signature algorithm shuin produces or accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RsaPkcs1Sha256,
    /// ECDSA on P-256 with SHA-256, DER signature.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384, DER signature.
    EcdsaP384Sha384,
}

impl SignatureAlgorithm {
    /// The AlgorithmIdentifier to place in certificates, CRLs and CMS.
    /// RSA carries an explicit NULL parameter; ECDSA carries none (RFC 5758 section 3.2).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => AlgorithmIdentifierOwned {
                oid: SHA256_WITH_RSA,
                parameters: Some(Any::from(Null)),
            },
            SignatureAlgorithm::EcdsaP256Sha256 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA256,
                parameters: None,
            },
            SignatureAlgorithm::EcdsaP384Sha384 => AlgorithmIdentifierOwned {
                oid: ECDSA_WITH_SHA384,
                parameters: None,
            },
        }
    }

    /// A short stable name (`rsa-pkcs1-sha256`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SignatureAlgorithm::RsaPkcs1Sha256 => "rsa-pkcs1-sha256",
            SignatureAlgorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            SignatureAlgorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
        }
    }

    /// Recognises a signature AlgorithmIdentifier. For ECDSA the curve is taken from the
    /// key, so `key_curve` disambiguates P-256 from P-384 with SHA-256.
    pub fn from_identifier(oid: ObjectIdentifier) -> Option<Self> {
        match oid {
            SHA256_WITH_RSA => Some(SignatureAlgorithm::RsaPkcs1Sha256),
            ECDSA_WITH_SHA256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            ECDSA_WITH_SHA384 => Some(SignatureAlgorithm::EcdsaP384Sha384),
            _ => None,
        }
    }
}

/// A signature did not verify, or the key or algorithm is not usable. Deliberately opaque.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid signature")]
pub struct InvalidSignature;

/// Verifies `signature` over `message` with the public key in `spki_der` (a DER
/// SubjectPublicKeyInfo) under the signature algorithm named by `algorithm_oid`.
pub fn verify(
    spki_der: &[u8],
    algorithm_oid: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), InvalidSignature> {
    use der::Decode;
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| InvalidSignature)?;
    verify_with_spki(&spki, algorithm_oid, message, signature)
}

/// `id-Ed25519` (RFC 8410).
pub const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Verification for proof of possession only: also accepts RSA keys from 1024 bits and
/// Ed25519, so that a CSR for a key shuin will not certify still proves possession and
/// can then be refused by key policy with the precise reason.
pub fn verify_proof_of_possession(
    spki_der: &[u8],
    algorithm_oid: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), InvalidSignature> {
    use aws_lc_rs::signature as sig;
    use der::Decode;
    let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|_| InvalidSignature)?;
    let key_bytes = spki.subject_public_key.as_bytes().ok_or(InvalidSignature)?;
    match (algorithm_oid, spki.algorithm.oid) {
        (SHA256_WITH_RSA, RSA_ENCRYPTION) => sig::UnparsedPublicKey::new(
            &sig::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY,
            key_bytes,
        )
        .verify(message, signature)
        .map_err(|_| InvalidSignature),
        (ED25519, ED25519) => sig::UnparsedPublicKey::new(&sig::ED25519, key_bytes)
            .verify(message, signature)
            .map_err(|_| InvalidSignature),
        _ => verify_with_spki(&spki, algorithm_oid, message, signature),
    }
}

/// As [`verify`], with an already parsed key.
pub fn verify_with_spki(
    spki: &SubjectPublicKeyInfoRef<'_>,
    algorithm_oid: ObjectIdentifier,
    message: &[u8],
    signature: &[u8],
) -> Result<(), InvalidSignature> {
    use aws_lc_rs::signature as sig;
    let key_bytes = spki.subject_public_key.as_bytes().ok_or(InvalidSignature)?;
    let key_oid = spki.algorithm.oid;
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
    let params: &dyn sig::VerificationAlgorithm = match (algorithm_oid, key_oid, curve) {
        (SHA256_WITH_RSA, RSA_ENCRYPTION, _) => &sig::RSA_PKCS1_2048_8192_SHA256,
        (ECDSA_WITH_SHA256, EC_PUBLIC_KEY, Some(SECP256R1)) => &sig::ECDSA_P256_SHA256_ASN1,
        (ECDSA_WITH_SHA384, EC_PUBLIC_KEY, Some(SECP384R1)) => &sig::ECDSA_P384_SHA384_ASN1,
        (ECDSA_WITH_SHA256, EC_PUBLIC_KEY, Some(SECP384R1)) => &sig::ECDSA_P384_SHA256_ASN1,
        (ECDSA_WITH_SHA384, EC_PUBLIC_KEY, Some(SECP256R1)) => &sig::ECDSA_P256_SHA384_ASN1,
        _ => return Err(InvalidSignature),
    };
    sig::UnparsedPublicKey::new(params, key_bytes)
        .verify(message, signature)
        .map_err(|_| InvalidSignature)
}

/// DER of an AlgorithmIdentifier, for comparisons.
pub fn identifier_der(id: &AlgorithmIdentifierOwned) -> Vec<u8> {
    id.to_der().unwrap_or_default()
}

/// Parses a dotted-decimal OID from user input. `const-oid`'s parser overflows on arcs
/// above `u32::MAX`, so arcs are checked here first.
pub fn parse_oid(text: &str) -> Option<ObjectIdentifier> {
    let arcs: Vec<&str> = text.split('.').collect();
    if arcs.len() < 2 || arcs.len() > 32 {
        return None;
    }
    for arc in &arcs {
        if arc.is_empty() || arc.len() > 10 || !arc.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if arc.parse::<u32>().is_err() {
            return None;
        }
    }
    ObjectIdentifier::new(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_input_is_checked_before_parsing() {
        assert!(parse_oid("1.3.6.1.4.1.32473.1.1").is_some());
        assert!(parse_oid("2.25.329800735698586629295641978511506172918").is_none());
        assert!(parse_oid("1..2").is_none());
        assert!(parse_oid("1").is_none());
        assert!(parse_oid("a.b").is_none());
    }
}
