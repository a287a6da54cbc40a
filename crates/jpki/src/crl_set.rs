//! The J-LIS CRLs in force: one complete CRL per signing CA (issuer name and anchor
//! key). J-LIS CA generations overlap (signca02 and signca03 certificates are both in
//! use), so several CRLs are held at once, and each answers only for certificates of
//! its own issuer (DESIGN.md section 3.7).

use crate::crl::{CrlRefusal, JpkiCrl};
use std::sync::Arc;

/// The CRLs in force, at most one per (issuer, anchor).
#[derive(Debug, Clone, Default)]
pub struct JpkiCrlSet {
    crls: Vec<Arc<JpkiCrl>>,
}

impl JpkiCrlSet {
    /// No CRL: every revocation check fails closed.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A set of one CRL.
    pub fn single(crl: JpkiCrl) -> Self {
        Self {
            crls: vec![Arc::new(crl)],
        }
    }

    /// Adds `crl`, replacing the CRL held for the same issuer and anchor unless `crl`
    /// is older than it ([`CrlRefusal::OlderThanLoaded`]: the held one stays).
    pub fn admit(&mut self, crl: Arc<JpkiCrl>) -> Result<(), CrlRefusal> {
        let same_issuer = |held: &Arc<JpkiCrl>| {
            held.issuer_der() == crl.issuer_der()
                && held.anchor_fingerprint() == crl.anchor_fingerprint()
        };
        match self.crls.iter_mut().find(|held| same_issuer(held)) {
            Some(held) if crl.is_older_than(held) => Err(CrlRefusal::OlderThanLoaded),
            Some(held) => {
                *held = crl;
                Ok(())
            }
            None => {
                self.crls.push(crl);
                Ok(())
            }
        }
    }

    /// The CRL of the CA named `issuer_der` whose key is the anchor `anchor_fingerprint`.
    pub fn for_issuer(&self, issuer_der: &[u8], anchor_fingerprint: &str) -> Option<&JpkiCrl> {
        self.crls
            .iter()
            .find(|crl| {
                crl.issuer_der() == issuer_der && crl.anchor_fingerprint() == anchor_fingerprint
            })
            .map(Arc::as_ref)
    }

    /// The CRL of the anchor `anchor_fingerprint`, whatever its issuer name.
    pub fn for_anchor(&self, anchor_fingerprint: &str) -> Option<&JpkiCrl> {
        self.crls
            .iter()
            .find(|crl| crl.anchor_fingerprint() == anchor_fingerprint)
            .map(Arc::as_ref)
    }

    /// The CRLs held.
    pub fn iter(&self) -> impl Iterator<Item = &JpkiCrl> {
        self.crls.iter().map(Arc::as_ref)
    }

    /// Whether no CRL is held.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty()
    }

    /// How many CRLs are held.
    pub fn len(&self) -> usize {
        self.crls.len()
    }
}

impl From<JpkiCrl> for JpkiCrlSet {
    fn from(crl: JpkiCrl) -> Self {
        Self::single(crl)
    }
}
