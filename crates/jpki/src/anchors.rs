//! Trust anchors: the J-LIS signing CAs whose certificates and CRLs shuin accepts
//! (DESIGN.md section 3.7). JPKI is one tier, so an anchor signs cards directly.

use crate::error::JpkiError;
use crate::raw;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;

/// SHA-256 of the DER of the J-LIS signing CA, 2019 generation (signca02, 2019–2029).
pub const SIGNCA02_SHA256: &str =
    "79679c33e4cc9319440f1ad120a597ff1844e2ef217063adb176966fd5e6fbeb";
/// SHA-256 of the DER of the J-LIS signing CA, 2023 generation (signca03, 2023–2033).
pub const SIGNCA03_SHA256: &str =
    "d227f6cde11d35c5252178f106f843d24651944975413b539fa2fb68dbfa365f";

/// The signca03 certificate shipped with shuin (PEM), trusted when no anchor is configured.
pub fn shipped_signca03_pem() -> &'static str {
    include_str!("../anchors/jlis-signca03-2023.pem")
}

/// Whether `der` is one of the pinned production J-LIS signing CAs.
pub fn check_pinned_production_anchor(der: &[u8]) -> bool {
    let digest = hex::encode(Sha256::digest(der));
    digest == SIGNCA02_SHA256 || digest == SIGNCA03_SHA256
}

/// One anchor, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    /// DER of its subject Name, compared byte for byte with issuer names.
    pub(crate) subject_der: Vec<u8>,
    /// DER of its SubjectPublicKeyInfo.
    pub(crate) spki_der: Vec<u8>,
    /// Hex SHA-256 of the certificate DER.
    pub(crate) fingerprint: String,
}

/// The configured J-LIS signing CAs.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    anchors: Vec<Anchor>,
}

impl TrustAnchors {
    /// Parses DER certificates. Every one must be a CA certificate (basicConstraints
    /// cA=TRUE) that decodes; pinning is the caller's choice ([`check_pinned_production_anchor`]).
    pub fn from_der_certs(certs: Vec<Vec<u8>>) -> Result<Self, JpkiError> {
        let mut anchors = Vec::with_capacity(certs.len());
        for (index, der) in certs.iter().enumerate() {
            let invalid =
                |detail: &str, source: Option<der::Error>| JpkiError::TrustAnchorInvalid {
                    index,
                    detail: detail.to_owned(),
                    source,
                };
            let cert = Certificate::from_der(der)
                .map_err(|e| invalid("not a DER certificate", Some(e)))?;
            let tbs = &cert.tbs_certificate;
            let is_ca = tbs
                .get::<x509_cert::ext::pkix::BasicConstraints>()
                .ok()
                .flatten()
                .is_some_and(|(_, bc)| bc.ca);
            if !is_ca {
                return Err(invalid(
                    "not a CA certificate (basicConstraints cA is not TRUE)",
                    None,
                ));
            }
            let subject_der = tbs
                .subject
                .to_der()
                .map_err(|e| invalid("subject", Some(e)))?;
            let spki_der = tbs
                .subject_public_key_info
                .to_der()
                .map_err(|e| invalid("public key", Some(e)))?;
            anchors.push(Anchor {
                subject_der,
                spki_der,
                fingerprint: hex::encode(Sha256::digest(der)),
            });
        }
        Ok(Self { anchors })
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.anchors.len()
    }

    /// Whether there are none (every application then fails `jpki_untrusted_issuer`).
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Hex SHA-256 of each anchor's DER, in configured order.
    pub fn fingerprints(&self) -> Vec<String> {
        self.anchors.iter().map(|a| a.fingerprint.clone()).collect()
    }

    /// The anchor whose subject equals `issuer_der` and whose key verifies the signature
    /// over the first element (the TBS part) of `signed_der`. Two generations may share a
    /// name, so every same-named anchor is tried.
    pub(crate) fn verifying_anchor(
        &self,
        issuer_der: &[u8],
        signed_der: &[u8],
        algorithm: &AlgorithmIdentifierOwned,
        signature: &[u8],
    ) -> Option<&Anchor> {
        let tbs = raw::first_element(signed_der).ok()?;
        self.anchors.iter().find(|anchor| {
            anchor.subject_der == issuer_der
                && shuin_core::signature::verify(&anchor.spki_der, algorithm.oid, tbs, signature)
                    .is_ok()
        })
    }

    /// Whether any anchor carries this subject name.
    pub(crate) fn knows_subject(&self, name_der: &[u8]) -> bool {
        self.anchors.iter().any(|a| a.subject_der == name_der)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped_der() -> Vec<u8> {
        let (label, der) = der::pem::decode_vec(shipped_signca03_pem().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(label, "CERTIFICATE");
        der
    }

    #[test]
    fn the_shipped_signca03_matches_its_pin() {
        let der = shipped_der();
        assert_eq!(hex::encode(Sha256::digest(&der)), SIGNCA03_SHA256);
        assert!(check_pinned_production_anchor(&der));
        assert!(!check_pinned_production_anchor(b"something else"));
        let anchors = TrustAnchors::from_der_certs(vec![der]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(anchors.len(), 1);
        assert_eq!(anchors.fingerprints(), vec![SIGNCA03_SHA256.to_owned()]);
    }

    #[test]
    fn the_real_signca03_is_self_signed_under_its_own_key() {
        let der = shipped_der();
        let anchors =
            TrustAnchors::from_der_certs(vec![der.clone()]).unwrap_or_else(|e| panic!("{e}"));
        let cert = Certificate::from_der(&der).unwrap_or_else(|e| panic!("{e}"));
        let issuer = cert
            .tbs_certificate
            .issuer
            .to_der()
            .unwrap_or_else(|e| panic!("{e}"));
        let signature = cert.signature.raw_bytes();
        assert!(anchors
            .verifying_anchor(&issuer, &der, &cert.signature_algorithm, signature)
            .is_some());
        let mut tampered = signature.to_vec();
        tampered[10] ^= 1;
        assert!(anchors
            .verifying_anchor(&issuer, &der, &cert.signature_algorithm, &tampered)
            .is_none());
    }

    #[test]
    fn garbage_and_leaf_certificates_are_not_anchors() {
        assert!(TrustAnchors::from_der_certs(vec![b"junk".to_vec()]).is_err());
        let empty = TrustAnchors::from_der_certs(Vec::new()).unwrap_or_else(|e| panic!("{e}"));
        assert!(empty.is_empty());
    }
}
