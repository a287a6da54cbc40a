//! CRL extensions that make a CRL incomplete (RFC 5280 sections 5.2.4 and 5.2.5), for
//! tests of what a relying party must refuse: pass them as `extra` to
//! [`crate::SimulatedJlisCa::crl_der_with`].

use crate::error::TestkitError;
use der::asn1::{Ia5String, OctetString, Uint};
use der::Encode;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::ext::pkix::crl::dp::Reasons;
use x509_cert::ext::pkix::crl::BaseCrlNumber;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::Extension;

/// deltaCRLIndicator naming `base` as the base CRL's number: a delta CRL.
pub fn delta_crl_indicator(base: u64) -> Result<Extension, TestkitError> {
    let value = BaseCrlNumber(Uint::new(&base.to_be_bytes())?).to_der()?;
    Ok(Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_DELTA_CRL_INDICATOR,
        critical: true,
        extn_value: OctetString::new(value)?,
    })
}

/// How an issuingDistributionPoint narrows a CRL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrlScope {
    /// A partition: only the certificates naming this distribution point.
    Partition,
    /// Only some revocation reasons (keyCompromise).
    SomeReasons,
    /// An indirect CRL (entries of other issuers).
    Indirect,
}

/// issuingDistributionPoint narrowing the CRL as `scope` says.
pub fn issuing_distribution_point(scope: CrlScope) -> Result<Extension, TestkitError> {
    let mut idp = IssuingDistributionPoint {
        distribution_point: None,
        only_contains_user_certs: false,
        only_contains_ca_certs: false,
        only_some_reasons: None,
        indirect_crl: false,
        only_contains_attribute_certs: false,
    };
    match scope {
        CrlScope::Partition => {
            idp.distribution_point = Some(DistributionPointName::FullName(vec![
                GeneralName::UniformResourceIdentifier(Ia5String::new(
                    "http://crl.example.jp/part-3.crl",
                )?),
            ]));
        }
        CrlScope::SomeReasons => idp.only_some_reasons = Some(Reasons::KeyCompromise.into()),
        CrlScope::Indirect => idp.indirect_crl = true,
    }
    Ok(Extension {
        extn_id: const_oid::db::rfc5280::ID_CE_ISSUING_DISTRIBUTION_POINT,
        critical: true,
        extn_value: OctetString::new(idp.to_der()?)?,
    })
}
