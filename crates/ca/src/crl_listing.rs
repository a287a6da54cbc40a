//! Whether the CRLs list a stored revocation (reconciliation, `crate::reconcile`). A
//! process stopped between a revocation's row and its CRL leaves the revocation in OCSP
//! (which reads the rows) but on no CRL. The newest CRL of the revocation's scope lists
//! it when:
//!
//! - it was signed [`LISTING_RACE`] or more after the revocation: the row was stored by
//!   then, so the CRL was read with it in (a revocation stores its row within
//!   milliseconds of its time; one stalled longer than this and then killed is not
//!   seen);
//! - or, signed after it but sooner, its entries name the serial (the CRL is read, once
//!   per reconciliation pass and scope). A CRL signed in between may have read the
//!   rows before this one was stored: the crash harness found such a CRL.
//!
//! A delta or partition scope is checked, then the full CRL.

use crate::CaService;
use der::Decode;
use shuin_core::Serial;
use shuin_store::{RevocationRecord, StoreError};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

/// A CRL signed this long after a revocation is taken to list it without being read.
pub(crate) const LISTING_RACE: Duration = Duration::from_secs(60);

/// The newest CRL of a scope, read lazily.
struct ScopeCrl {
    this_update: SystemTime,
    der: Vec<u8>,
    serials: Option<HashSet<Vec<u8>>>,
}

/// The newest CRLs, for one reconciliation pass.
#[derive(Default)]
pub(crate) struct Listings {
    scopes: HashMap<String, Option<ScopeCrl>>,
}

impl Listings {
    /// Whether the newest CRLs list `stored`.
    pub(crate) async fn lists(
        &mut self,
        ca: &CaService,
        stored: &RevocationRecord,
    ) -> Result<bool, StoreError> {
        let scope = ca.scope_after_revocation(&stored.serial);
        if self.scope_lists(ca, &scope, stored).await? {
            return Ok(true);
        }
        Ok(scope != "ca" && self.scope_lists(ca, "ca", stored).await?)
    }

    async fn scope_lists(
        &mut self,
        ca: &CaService,
        scope: &str,
        stored: &RevocationRecord,
    ) -> Result<bool, StoreError> {
        if !self.scopes.contains_key(scope) {
            let latest = ca.store().latest_crl(scope).await?;
            let crl = latest.map(|crl| ScopeCrl {
                this_update: crl.this_update,
                der: crl.der,
                serials: None,
            });
            self.scopes.insert(scope.to_owned(), crl);
        }
        let Some(Some(crl)) = self.scopes.get_mut(scope) else {
            return Ok(false);
        };
        if crl.this_update < stored.revoked_at {
            return Ok(false);
        }
        if crl.this_update >= stored.revoked_at + LISTING_RACE {
            return Ok(true);
        }
        let serials = crl.serials.get_or_insert_with(|| serials_of(&crl.der));
        Ok(serials.contains(stored.serial.magnitude()))
    }
}

/// The serials a CRL lists (none if it cannot be read: the revocation then gets a new
/// CRL, which is the safe side).
fn serials_of(der: &[u8]) -> HashSet<Vec<u8>> {
    let Ok(crl) = x509_cert::crl::CertificateList::from_der(der) else {
        tracing::warn!("a stored CRL cannot be read back; reconciliation issues a new one");
        return HashSet::new();
    };
    crl.tbs_cert_list
        .revoked_certificates
        .unwrap_or_default()
        .iter()
        .filter_map(|entry| Serial::from_der_integer(entry.serial_number.as_bytes()))
        .map(|serial| serial.magnitude().to_vec())
        .collect()
}
