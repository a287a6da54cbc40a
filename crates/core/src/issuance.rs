//! The issuance port between the RA and the CA (DESIGN.md section 4), and the default
//! subscriber and CA certificate profiles (section 3.6).

use crate::serial::Serial;
use crate::x509::extensions as ext;
use crate::x509::name::NameBuilder;
use crate::x509::CertificateTemplate;
use const_oid::ObjectIdentifier;
use der::Decode;
use serde::{Deserialize, Serialize};
use spki::SubjectPublicKeyInfoOwned;
use std::time::{Duration, SystemTime};
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::name::Name;

/// Who approved an application.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approver {
    /// The person's name as it goes into the ledger.
    pub name: String,
    /// `responsible_person` for automatic approval, `lra` for manual.
    pub role: String,
    /// Whether the decision was automatic under the CP/CPS rule.
    pub automatic: bool,
}

/// What the RA asks the CA to certify. The subject facts come from the JPKI certificate,
/// never from what the applicant typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceOrder {
    /// The application this order carries out.
    pub application_id: String,
    /// The subject's name, from the JPKI certificate.
    pub subject_name: String,
    /// DER SubjectPublicKeyInfo of the new key.
    pub spki_der: Vec<u8>,
    /// Validity may not pass this instant (the JPKI certificate's notAfter).
    pub not_after_cap: SystemTime,
    /// Who approved.
    pub approver: Approver,
}

/// A certificate the CA has issued and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The serial.
    pub serial: Serial,
    /// DER of the certificate.
    pub certificate_der: Vec<u8>,
    /// DER of the chain above it, issuing CA first.
    pub chain_der: Vec<Vec<u8>>,
}

/// Why the CA did not issue.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuanceError {
    /// The CA is sealed (retryable).
    #[error("the CA is sealed")]
    Sealed,
    /// The key was already certified.
    #[error("the public key was already certified")]
    KeyReused,
    /// The profile cannot produce a valid certificate for this order.
    #[error("profile: {0}")]
    Profile(String),
    /// The certificate failed lint before signing.
    #[error("lint: {0}")]
    Lint(String),
    /// Ledger, storage or key backend trouble (retryable); nothing was made visible.
    #[error("unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The certification business is terminated (docs/termination.md): nothing is issued
    /// any more.
    #[error("the certification business is terminated")]
    Terminated,
}

/// The port: the RA hands orders to the CA through this and nothing else.
#[async_trait::async_trait]
pub trait Issuer: Send + Sync {
    /// Records, lints, signs and stores a certificate for `order`.
    async fn issue(&self, order: IssuanceOrder) -> Result<IssuedCertificate, IssuanceError>;

    /// Whether the CA can sign at all now: `Err(Sealed)` while the custodians have not
    /// unsealed it. The RA asks before it records a decision that needs the CA, so an
    /// applicant told "sealed, try later" has nothing half-done on record.
    fn ready(&self) -> Result<(), IssuanceError> {
        Ok(())
    }
}

/// Five years, the cap of the enforcement rules (施行規則).
pub const MAX_SUBSCRIBER_VALIDITY: Duration = Duration::from_secs(5 * 365 * 86_400 + 86_400);

/// The subscriber certificate profile (DESIGN.md section 3.6), data not code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberProfile {
    /// The accredited-policy OID (誤認防止: never shared with non-accredited products).
    pub policy_oid: ObjectIdentifier,
    /// Requested validity; capped at [`MAX_SUBSCRIBER_VALIDITY`].
    pub validity: Duration,
    /// CRL distribution point URL (of the full CRL).
    pub crl_url: String,
    /// When CRLs are partitioned: the count, and the URL pattern with `{}` for the
    /// partition (`https://.../repository/ca-p{}.crl`).
    pub crl_partitions: Option<(u32, String)>,
    /// OCSP responder URL.
    pub ocsp_url: String,
    /// caIssuers URL (the issuing CA certificate).
    pub ca_issuers_url: String,
}

/// The issuing CA as a subscriber certificate names it.
#[derive(Debug, Clone)]
pub struct IssuerIdentity {
    /// The issuing CA's subject.
    pub name: Name,
    /// The issuing CA's subject key identifier.
    pub key_id: Vec<u8>,
}

impl SubscriberProfile {
    /// The template for `order`, valid from `now`.
    pub fn template(
        &self,
        issuer: &IssuerIdentity,
        order: &IssuanceOrder,
        serial: Serial,
        now: SystemTime,
    ) -> Result<CertificateTemplate, crate::issuance::IssuanceError> {
        let profile_error = |e: der::Error| IssuanceError::Profile(e.to_string());
        let validity = self.validity.min(MAX_SUBSCRIBER_VALIDITY);
        let not_after = (now + validity).min(order.not_after_cap);
        if not_after <= now {
            return Err(IssuanceError::Profile(
                "the JPKI certificate expires before the new one could start".into(),
            ));
        }
        if order.subject_name.chars().count() > 64 {
            return Err(IssuanceError::Profile(
                "the subject name exceeds ub-common-name (64)".into(),
            ));
        }
        let spki = SubjectPublicKeyInfoOwned::from_der(&order.spki_der).map_err(profile_error)?;
        let subject = NameBuilder::new()
            .country("JP")
            .and_then(|b| b.common_name(&order.subject_name))
            .map_err(profile_error)?
            .build();
        let key_id = ext::key_identifier(&spki);
        let extensions = vec![
            ext::key_usage(&[KeyUsages::DigitalSignature, KeyUsages::NonRepudiation]),
            ext::certificate_policies(&[self.policy_oid], false),
            ext::subject_key_identifier(&key_id),
            ext::authority_key_identifier(&issuer.key_id),
            ext::crl_distribution_point(&match &self.crl_partitions {
                Some((count, pattern)) if *count > 0 => pattern.replace(
                    "{}",
                    &crate::revocation::crl_partition(&serial, *count).to_string(),
                ),
                _ => self.crl_url.clone(),
            }),
            ext::authority_info_access(Some(&self.ocsp_url), Some(&self.ca_issuers_url)),
        ]
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(profile_error)?;
        Ok(CertificateTemplate {
            serial,
            issuer: issuer.name.clone(),
            subject,
            not_before: now,
            not_after,
            subject_public_key_info: spki,
            extensions,
        })
    }
}

/// Templates for the CA's own certificates.
#[derive(Debug, Clone)]
pub struct CaProfile;

impl CaProfile {
    /// A self-signed root: basicConstraints CA (critical), keyCertSign and cRLSign.
    pub fn root(
        subject: Name,
        spki: SubjectPublicKeyInfoOwned,
        serial: Serial,
        now: SystemTime,
        validity: Duration,
    ) -> Result<CertificateTemplate, der::Error> {
        let key_id = ext::key_identifier(&spki);
        Ok(CertificateTemplate {
            serial,
            issuer: subject.clone(),
            subject,
            not_before: now,
            not_after: now + validity,
            subject_public_key_info: spki,
            extensions: vec![
                ext::basic_constraints(true, None)?,
                ext::key_usage(&[KeyUsages::KeyCertSign, KeyUsages::CRLSign])?,
                ext::subject_key_identifier(&key_id)?,
            ],
        })
    }

    /// An operator's personal certificate under the operator CA (DESIGN.md section 8):
    /// `CN=<operator name>`, digitalSignature (critical), id-kp-clientAuth (for mutual
    /// TLS), not a CA.
    pub fn operator(
        issuer: &IssuerIdentity,
        name: &str,
        spki: SubjectPublicKeyInfoOwned,
        serial: Serial,
        now: SystemTime,
        validity: Duration,
    ) -> Result<CertificateTemplate, der::Error> {
        use const_oid::db::rfc5280;
        let key_id = ext::key_identifier(&spki);
        Ok(CertificateTemplate {
            serial,
            issuer: issuer.name.clone(),
            subject: NameBuilder::new().common_name(name)?.build(),
            not_before: now,
            not_after: now + validity,
            subject_public_key_info: spki,
            extensions: vec![
                ext::basic_constraints(false, None)?,
                ext::key_usage(&[KeyUsages::DigitalSignature])?,
                ext::extension(
                    &x509_cert::ext::pkix::ExtendedKeyUsage(vec![rfc5280::ID_KP_CLIENT_AUTH]),
                    false,
                )?,
                ext::subject_key_identifier(&key_id)?,
                ext::authority_key_identifier(&issuer.key_id)?,
            ],
        })
    }

    /// A delegated OCSP responder under the issuing CA (RFC 6960 section 4.2.2.2):
    /// id-kp-OCSPSigning, id-pkix-ocsp-nocheck, digitalSignature.
    pub fn ocsp_responder(
        issuer: &IssuerIdentity,
        subject: Name,
        spki: SubjectPublicKeyInfoOwned,
        serial: Serial,
        now: SystemTime,
        validity: Duration,
    ) -> Result<CertificateTemplate, der::Error> {
        use const_oid::db::{rfc5280, rfc6960};
        let key_id = ext::key_identifier(&spki);
        let no_check = x509_cert::ext::Extension {
            extn_id: rfc6960::ID_PKIX_OCSP_NOCHECK,
            critical: false,
            extn_value: der::asn1::OctetString::new(der::Encode::to_der(&der::asn1::Null)?)?,
        };
        Ok(CertificateTemplate {
            serial,
            issuer: issuer.name.clone(),
            subject,
            not_before: now,
            not_after: now + validity,
            subject_public_key_info: spki,
            extensions: vec![
                ext::key_usage(&[KeyUsages::DigitalSignature])?,
                ext::extension(
                    &x509_cert::ext::pkix::ExtendedKeyUsage(vec![rfc5280::ID_KP_OCSP_SIGNING]),
                    false,
                )?,
                no_check,
                ext::subject_key_identifier(&key_id)?,
                ext::authority_key_identifier(&issuer.key_id)?,
            ],
        })
    }

    /// An issuing CA under `root`, path length 0, with the accredited policy.
    #[allow(clippy::too_many_arguments)]
    pub fn issuing(
        root: &IssuerIdentity,
        subject: Name,
        spki: SubjectPublicKeyInfoOwned,
        serial: Serial,
        now: SystemTime,
        validity: Duration,
        policy_oid: ObjectIdentifier,
        root_crl_url: &str,
        root_cert_url: &str,
    ) -> Result<CertificateTemplate, der::Error> {
        let key_id = ext::key_identifier(&spki);
        Ok(CertificateTemplate {
            serial,
            issuer: root.name.clone(),
            subject,
            not_before: now,
            not_after: now + validity,
            subject_public_key_info: spki,
            extensions: vec![
                ext::basic_constraints(true, Some(0))?,
                ext::key_usage(&[KeyUsages::KeyCertSign, KeyUsages::CRLSign])?,
                ext::certificate_policies(&[policy_oid], false)?,
                ext::subject_key_identifier(&key_id)?,
                ext::authority_key_identifier(&root.key_id)?,
                ext::crl_distribution_point(root_crl_url)?,
                ext::authority_info_access(None, Some(root_cert_url))?,
            ],
        })
    }
}
