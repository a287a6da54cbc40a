//! PKCS#10 for the new key (RFC 2986), signed by that key as proof of possession.
//!
//! ```text
//! CertificationRequest ::= SEQUENCE {
//!      certificationRequestInfo CertificationRequestInfo,
//!      signatureAlgorithm AlgorithmIdentifier{{ SignatureAlgorithms }},
//!      signature          BIT STRING }
//! ```

use crate::ClientError;
use der::asn1::{BitString, SetOfVec};
use der::{Decode, Encode};
use shuin_keys::Signer;
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::request::{CertReq, CertReqInfo, Version};

/// A DER CSR for `key` with subject `C=JP` (the CA takes the name from the JPKI
/// certificate, never from the CSR).
pub fn build_csr(key: &dyn Signer) -> Result<Vec<u8>, ClientError> {
    let encoding = |e: der::Error| ClientError::Encoding(e.to_string());
    let subject = shuin_core::x509::name::NameBuilder::new()
        .country("JP")
        .map_err(encoding)?
        .build();
    csr_with_subject(key, subject)
}

/// A DER CSR for an operator's personal key with subject `CN=name` (DESIGN.md section
/// 8): the operator CA certifies the name a `ca_admin` accepts.
pub fn build_named_csr(key: &dyn Signer, name: &str) -> Result<Vec<u8>, ClientError> {
    let encoding = |e: der::Error| ClientError::Encoding(e.to_string());
    let subject = shuin_core::x509::name::NameBuilder::new()
        .common_name(name)
        .map_err(encoding)?
        .build();
    csr_with_subject(key, subject)
}

fn csr_with_subject(
    key: &dyn Signer,
    subject: x509_cert::name::Name,
) -> Result<Vec<u8>, ClientError> {
    let encoding = |e: der::Error| ClientError::Encoding(e.to_string());
    let info = CertReqInfo {
        version: Version::V1,
        subject,
        public_key: SubjectPublicKeyInfoOwned::from_der(key.public_key_der()).map_err(encoding)?,
        attributes: SetOfVec::new(),
    };
    let info_der = info.to_der().map_err(encoding)?;
    let signature = key
        .sign(&info_der)
        .map_err(|e| ClientError::Key(e.to_string()))?;
    let request = CertReq {
        info,
        algorithm: key.algorithm().algorithm_identifier(),
        signature: BitString::from_bytes(&signature).map_err(encoding)?,
    };
    request.to_der().map_err(encoding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_verifies_and_passes_key_policy() {
        for spec in [shuin_keys::KeySpec::EcP256, shuin_keys::KeySpec::Rsa2048] {
            let (key, _) = shuin_keys::SoftwareSigner::generate(spec).unwrap();
            let csr = build_csr(&key).unwrap();
            let verified = shuin_core::csr::verify_csr(&csr).unwrap();
            assert_eq!(verified.spki_der, key.public_key_der());
            shuin_core::key_policy::check_subscriber_key(&verified.spki_der).unwrap();
        }
    }
}
