//! A simulated J-LIS signing CA: same subject as the real one, but its own key. It is
//! trusted only in `--dev` instances and tests.
//!
//! ```text
//! subject = issuer = C=JP (PrintableString), O=JPKI, OU=JPKI for digital signature,
//!                    OU=Japan Agency for Local Authority Information Systems (UTF8String)
//! basicConstraints critical cA=TRUE, pathLen 0
//! keyUsage         critical keyCertSign, cRLSign
//! subjectKeyIdentifier
//! validity now-1 day .. now+10 years, RSA-2048, sha256WithRSAEncryption
//! ```

use crate::error::{io, TestkitError};
use der::{Decode, Encode};
use shuin_core::serial::Serial;
use shuin_core::x509::crl::{assemble_crl, CrlTemplate, RevokedEntry};
use shuin_core::x509::extensions::{
    basic_constraints, key_identifier, key_usage, subject_key_identifier,
};
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::{assemble_certificate, CertificateTemplate};
use shuin_core::{OsRandom, SignatureAlgorithm};
use shuin_keys::{pkcs8_pem, write_private_file, KeySpec, Signer, SoftwareSigner};
use spki::SubjectPublicKeyInfoOwned;
use std::path::Path;
use std::time::{Duration, SystemTime};
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::name::Name;
use x509_cert::Certificate;
use zeroize::Zeroizing;

pub(crate) const DAY: Duration = Duration::from_secs(86_400);
const YEAR: Duration = Duration::from_secs(365 * 86_400);

/// The J-LIS signing CA subject, attribute by attribute as the real one is encoded.
pub fn jlis_signing_ca_name() -> Result<Name, der::Error> {
    Ok(NameBuilder::new()
        .country("JP")?
        .organization("JPKI")?
        .organizational_unit("JPKI for digital signature")?
        .organizational_unit("Japan Agency for Local Authority Information Systems")?
        .build())
}

/// The simulated CA: its certificate and its key.
#[derive(Debug)]
pub struct SimulatedJlisCa {
    cert_der: Vec<u8>,
    cert: Certificate,
    signer: SoftwareSigner,
    key_pem: Zeroizing<String>,
}

impl SimulatedJlisCa {
    /// A new CA with a fresh RSA-2048 key, valid from a day before `now` for ten years.
    pub fn generate(now: SystemTime) -> Result<Self, TestkitError> {
        let (signer, pkcs8) = SoftwareSigner::generate(KeySpec::Rsa2048)?;
        let key_pem = pkcs8_pem(&pkcs8)?;
        let spki = SubjectPublicKeyInfoOwned::from_der(signer.public_key_der())?;
        let name = jlis_signing_ca_name()?;
        let template = CertificateTemplate {
            serial: Serial::random(&OsRandom)?,
            issuer: name.clone(),
            subject: name,
            not_before: now - DAY,
            not_after: now + 10 * YEAR,
            extensions: vec![
                basic_constraints(true, Some(0))?,
                key_usage(&[KeyUsages::KeyCertSign, KeyUsages::CRLSign])?,
                subject_key_identifier(&key_identifier(&spki))?,
            ],
            subject_public_key_info: spki,
        };
        let tbs = template.to_tbs(SignatureAlgorithm::RsaPkcs1Sha256)?;
        let signature = signer.sign(&tbs.to_der()?)?;
        let cert = assemble_certificate(tbs, &signature)?;
        Ok(Self {
            cert_der: cert.to_der()?,
            cert,
            signer,
            key_pem,
        })
    }

    /// DER of the CA certificate.
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// PEM of the CA certificate.
    pub fn cert_pem(&self) -> Result<String, TestkitError> {
        Ok(
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.cert_der)
                .map_err(der::Error::from)?,
        )
    }

    pub(crate) fn certificate(&self) -> &Certificate {
        &self.cert
    }

    pub(crate) fn signer(&self) -> &SoftwareSigner {
        &self.signer
    }

    /// The CA's subject key identifier (the cards' authority key identifier).
    pub(crate) fn key_id(&self) -> Vec<u8> {
        key_identifier(&self.cert.tbs_certificate.subject_public_key_info)
    }

    /// A v2 CRL listing `revoked` (serial magnitudes), signed by the CA. The CRL number
    /// is thisUpdate in Unix seconds, so later CRLs have larger numbers.
    pub fn crl_der(
        &self,
        revoked: &[Vec<u8>],
        this_update: SystemTime,
        next_update: SystemTime,
    ) -> Result<Vec<u8>, TestkitError> {
        let number = shuin_core::clock::unix_seconds(this_update);
        self.crl_der_with(revoked, this_update, next_update, number, Vec::new())
    }

    /// As [`Self::crl_der`], with the CRL number given and `extra` CRL extensions (a
    /// delta CRL indicator, an issuingDistributionPoint) for tests of what is refused.
    pub fn crl_der_with(
        &self,
        revoked: &[Vec<u8>],
        this_update: SystemTime,
        next_update: SystemTime,
        number: u64,
        extra: Vec<x509_cert::ext::Extension>,
    ) -> Result<Vec<u8>, TestkitError> {
        let mut entries = Vec::with_capacity(revoked.len());
        for magnitude in revoked {
            let serial = Serial::from_magnitude(magnitude).ok_or_else(|| {
                TestkitError::InvalidSpec(
                    "a revoked serial is zero or longer than 20 octets".into(),
                )
            })?;
            entries.push(RevokedEntry {
                serial,
                revoked_at: this_update,
                reason: None,
                invalidity_date: None,
            });
        }
        let template = CrlTemplate {
            issuer: self.cert.tbs_certificate.subject.clone(),
            issuer_key_id: self.key_id(),
            this_update,
            next_update,
            number,
            entries,
        };
        let mut tbs = template.to_tbs(SignatureAlgorithm::RsaPkcs1Sha256)?;
        if !extra.is_empty() {
            tbs.crl_extensions
                .get_or_insert_with(Vec::new)
                .extend(extra);
        }
        let signature = self.signer.sign(&tbs.to_der()?)?;
        Ok(assemble_crl(tbs, &signature)?.to_der()?)
    }

    /// Writes `ca.pem`, `ca.key` (PKCS#8 PEM, mode 0600, never overwritten) and an empty
    /// `revoked.txt` if there is none. The CRL is written by [`crate::refresh_crl`].
    pub fn write_dir(&self, dir: &Path) -> Result<(), TestkitError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let cert_path = dir.join("ca.pem");
        std::fs::write(&cert_path, self.cert_pem()?).map_err(io(&cert_path))?;
        write_private_file(&dir.join("ca.key"), self.key_pem.as_bytes())?;
        let revoked = dir.join("revoked.txt");
        if !revoked.exists() {
            std::fs::write(&revoked, b"").map_err(io(&revoked))?;
        }
        Ok(())
    }

    /// Loads `ca.pem` and `ca.key` from a directory written by [`Self::write_dir`].
    pub fn load_dir(dir: &Path) -> Result<Self, TestkitError> {
        let cert_der = crate::read_pem(&dir.join("ca.pem"), "CERTIFICATE")?;
        let key_path = dir.join("ca.key");
        let key_pem = Zeroizing::new(std::fs::read_to_string(&key_path).map_err(io(&key_path))?);
        let signer = SoftwareSigner::from_pkcs8_pem(&key_pem)?;
        let cert = Certificate::from_der(&cert_der)?;
        if cert.tbs_certificate.subject_public_key_info.to_der()? != signer.public_key_der() {
            return Err(TestkitError::BadFile {
                path: key_path,
                detail: "the key does not belong to ca.pem".into(),
            });
        }
        Ok(Self {
            cert_der,
            cert,
            signer,
            key_pem,
        })
    }
}
