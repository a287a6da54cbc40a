//! The application verifier: steps 2 to 4 of the order of checks (DESIGN.md section
//! 3.4), in that order, the first failure being the answer.

use crate::anchors::TrustAnchors;
use crate::crl_set::JpkiCrlSet;
use crate::error::JpkiError;
use crate::signed_data::verify_signed_data;
use crate::signing_certificate::{CertificateCheck, SigningCertificate};
use std::time::SystemTime;

/// Verifier settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifierConfig {
    /// Accept the JPKI test-card policy (never in production).
    pub allow_test_cards: bool,
}

/// Verifies JPKI-signed applications against configured anchors.
#[derive(Debug, Clone)]
pub struct Verifier {
    anchors: TrustAnchors,
    config: VerifierConfig,
}

/// A verified application: content whose signature held, and who signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedApplication {
    /// The signed content (the application document, not yet parsed).
    pub content: Vec<u8>,
    /// The applicant's JPKI signing certificate.
    pub signer: SigningCertificate,
}

impl Verifier {
    /// A verifier trusting `anchors`.
    pub fn new(anchors: TrustAnchors, config: VerifierConfig) -> Self {
        Self { anchors, config }
    }

    /// The anchors in use.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// Verifies a DER `ContentInfo(SignedData)`: CMS structure, signer certificate, CMS
    /// signature and digest, then the JPKI certificate (anchor, profile, validity,
    /// revocation against the CRL of the certificate's own issuer in `crls`, basic
    /// items). The body size is capped by the caller.
    pub fn verify_application(
        &self,
        cms_der: &[u8],
        crls: &JpkiCrlSet,
        now: SystemTime,
    ) -> Result<VerifiedApplication, JpkiError> {
        let signed = verify_signed_data(cms_der)?;
        let check = CertificateCheck {
            anchors: &self.anchors,
            allow_test_cards: self.config.allow_test_cards,
            crls,
            now,
        };
        let signer = check.run(&signed.signer_der, &signed.signer)?;
        Ok(VerifiedApplication {
            content: signed.content,
            signer,
        })
    }
}
