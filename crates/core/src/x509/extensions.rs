//! Certificate and CRL extensions (RFC 5280 section 4.2), as `Extension` values.

use const_oid::{AssociatedOid, ObjectIdentifier};
use der::asn1::{Ia5String, OctetString, Utf8StringRef};
use der::{Any, Encode};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoOwned;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, BasicConstraints,
    CertificatePolicies, CrlDistributionPoints, KeyUsage, KeyUsages, SubjectAltName,
    SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;

/// `id-ad-ocsp` (RFC 5280 section 4.2.2.1).
pub const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
/// `id-ad-caIssuers`.
pub const ID_AD_CA_ISSUERS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.2");

/// Wraps any typed extension value.
pub fn extension<T: Encode + AssociatedOid>(
    value: &T,
    critical: bool,
) -> Result<Extension, der::Error> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// keyUsage, always critical here (RFC 5280 section 4.2.1.3 says SHOULD).
pub fn key_usage(usages: &[KeyUsages]) -> Result<Extension, der::Error> {
    let mut flags = flagset::FlagSet::<KeyUsages>::default();
    for usage in usages {
        flags |= *usage;
    }
    extension(&KeyUsage(flags), true)
}

/// basicConstraints, critical.
pub fn basic_constraints(ca: bool, path_len: Option<u8>) -> Result<Extension, der::Error> {
    extension(
        &BasicConstraints {
            ca,
            path_len_constraint: path_len,
        },
        true,
    )
}

/// The key identifier shuin uses: the leftmost 160 bits of SHA-256 over the
/// subjectPublicKey BIT STRING value (RFC 7093 section 2, method 1).
pub fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    digest[..20].to_vec()
}

/// subjectKeyIdentifier, non-critical.
pub fn subject_key_identifier(key_id: &[u8]) -> Result<Extension, der::Error> {
    extension(&SubjectKeyIdentifier(OctetString::new(key_id)?), false)
}

/// authorityKeyIdentifier with the keyIdentifier field only.
pub fn authority_key_identifier(key_id: &[u8]) -> Result<Extension, der::Error> {
    extension(
        &AuthorityKeyIdentifier {
            key_identifier: Some(OctetString::new(key_id)?),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
        false,
    )
}

/// certificatePolicies with bare policy OIDs.
pub fn certificate_policies(
    oids: &[ObjectIdentifier],
    critical: bool,
) -> Result<Extension, der::Error> {
    let policies = oids
        .iter()
        .map(|oid| PolicyInformation {
            policy_identifier: *oid,
            policy_qualifiers: None,
        })
        .collect();
    extension(&CertificatePolicies(policies), critical)
}

/// cRLDistributionPoints with one URI.
pub fn crl_distribution_point(url: &str) -> Result<Extension, der::Error> {
    let point = DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
        ])),
        reasons: None,
        crl_issuer: None,
    };
    extension(&CrlDistributionPoints(vec![point]), false)
}

/// authorityInfoAccess with an OCSP URI and a caIssuers URI, either optional.
pub fn authority_info_access(
    ocsp_url: Option<&str>,
    ca_issuers_url: Option<&str>,
) -> Result<Extension, der::Error> {
    let mut descriptions = Vec::new();
    if let Some(url) = ocsp_url {
        descriptions.push(AccessDescription {
            access_method: ID_AD_OCSP,
            access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
        });
    }
    if let Some(url) = ca_issuers_url {
        descriptions.push(AccessDescription {
            access_method: ID_AD_CA_ISSUERS,
            access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
        });
    }
    extension(&AuthorityInfoAccessSyntax(descriptions), false)
}

/// subjectAltName made of otherName entries whose values are `[0] EXPLICIT UTF8String`
/// (the JPKI basic-items shape).
pub fn other_name_san(
    entries: &[(ObjectIdentifier, &str)],
    critical: bool,
) -> Result<Extension, der::Error> {
    let mut names = Vec::with_capacity(entries.len());
    for (oid, text) in entries {
        names.push(GeneralName::OtherName(OtherName {
            type_id: *oid,
            value: Any::from(Utf8StringRef::new(text)?),
        }));
    }
    extension(&SubjectAltName(names), critical)
}
