//! Simulated My Number card signing certificates (DESIGN.md section 3.7).
//!
//! ```text
//! issuer   = the simulated J-LIS CA subject
//! serial   = 16 random octets, positive
//! subject  = C=JP, L=<prefecture>, L=<city>, CN=<16 hex, opaque issuance id>
//! keyUsage            critical  digitalSignature, nonRepudiation
//! certificatePolicies critical  1.2.392.200149.8.5.1.1.20 (test policy ...1.0.20)
//! subjectAltName                otherName 1.2.392.200149.8.5.5.1 .. .6, [0] EXPLICIT UTF8String:
//!                               name, name map, gender, birth EYYYYMMDD, address, address map
//! subjectKeyIdentifier, authorityKeyIdentifier
//! ```
//! A user-authentication card has keyUsage digitalSignature only, the policy
//! 1.2.392.200149.8.5.1.1.10 and no subjectAltName.

use crate::error::{io, TestkitError};
use crate::jlis_ca::{SimulatedJlisCa, DAY};
use const_oid::ObjectIdentifier;
use der::{Decode, Encode};
use shuin_core::random::RandomSource;
use shuin_core::serial::Serial;
use shuin_core::x509::extensions::{
    authority_key_identifier, certificate_policies, key_identifier, key_usage, other_name_san,
    subject_key_identifier,
};
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::{assemble_certificate, CertificateTemplate};
use shuin_core::{OsRandom, SignatureAlgorithm};
use shuin_keys::{pkcs8_pem, write_private_file, KeySpec, Signer, SoftwareSigner};
use spki::SubjectPublicKeyInfoOwned;
use std::path::Path;
use std::time::{Duration, SystemTime};
use x509_cert::ext::pkix::KeyUsages;
use zeroize::Zeroizing;

/// The JPKI signing policy (the same OID as `shuin_jpki::POLICY_SIGNING`).
pub const POLICY_SIGNING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.1.20");
/// The JPKI test-card signing policy.
pub const POLICY_SIGNING_TEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.0.20");
/// A user-authentication policy, for negative tests.
pub const POLICY_USER_AUTHENTICATION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.1.1.10");

/// The basic-item OIDs `1.2.392.200149.8.5.5.{1..6}`, in item order.
pub const BASIC_ITEM_OIDS: [ObjectIdentifier; 6] = [
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.1"),
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.2"),
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.3"),
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.4"),
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.5"),
    ObjectIdentifier::new_unwrap("1.2.392.200149.8.5.5.6"),
];

/// Which certificate of the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    /// The signing certificate (署名用電子証明書).
    Signing,
    /// A signing certificate under the test-card policy.
    SigningTestPolicy,
    /// The user-authentication certificate (利用者証明用電子証明書): no basic items.
    UserAuthentication,
}

/// What to put on a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSpec {
    /// Name (surname, U+3000, given name).
    pub name: String,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Era digit 0–5; derived from the date when `None`.
    pub era: Option<u8>,
    /// Address from the prefecture.
    pub address: String,
    /// `1`, `2` or `3`.
    pub gender: String,
    /// Name substitute map; all `0` when `None`.
    pub name_substitutes: Option<String>,
    /// Address substitute map; all `0` when `None`.
    pub address_substitutes: Option<String>,
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// Which certificate.
    pub kind: CardKind,
    /// The birth-date item verbatim, overriding `birth_date`/`era` (hostile tests).
    pub raw_birth: Option<String>,
    /// The gender item verbatim, overriding `gender` (hostile tests).
    pub raw_gender: Option<String>,
}

impl CardSpec {
    /// A signing card: gender `1`, valid from a day before `now` for five years, no
    /// substitute characters.
    pub fn signing(name: &str, birth_date: &str, address: &str, now: SystemTime) -> Self {
        Self {
            name: name.to_owned(),
            birth_date: birth_date.to_owned(),
            era: None,
            address: address.to_owned(),
            gender: "1".to_owned(),
            name_substitutes: None,
            address_substitutes: None,
            not_before: now - DAY,
            not_after: now + Duration::from_secs(5 * 365 * 86_400),
            kind: CardKind::Signing,
            raw_birth: None,
            raw_gender: None,
        }
    }

    /// The birth-date item, `EYYYYMMDD`.
    pub fn birth_item(&self) -> Result<String, TestkitError> {
        if let Some(raw) = &self.raw_birth {
            return Ok(raw.clone());
        }
        let (year, month, day) =
            shuin_core::timefmt::parse_date(&self.birth_date).ok_or_else(|| {
                TestkitError::InvalidSpec(format!(
                    "birth date {:?} is not YYYY-MM-DD",
                    self.birth_date
                ))
            })?;
        let era = match self.era {
            Some(era) if era <= 5 => era,
            Some(era) => return Err(TestkitError::InvalidSpec(format!("era {era} is not 0-5"))),
            None => era_of(year, month, day),
        };
        Ok(format!("{era}{year:04}{month:02}{day:02}"))
    }
}

/// The era digit for a Gregorian date: 明治 before 1912-07-30, 大正 before 1926-12-25,
/// 昭和 before 1989-01-08, 平成 before 2019-05-01, then 令和.
pub fn era_of(year: i32, month: u8, day: u8) -> u8 {
    let date = (year, month, day);
    if date < (1912, 7, 30) {
        1
    } else if date < (1926, 12, 25) {
        2
    } else if date < (1989, 1, 8) {
        3
    } else if date < (2019, 5, 1) {
        4
    } else {
        5
    }
}

/// Splits an address into (prefecture, city) for the subject's two `L`: the prefecture
/// is the shortest prefix ending in 都/道/府/県 (京都府 is recognised as a whole; fallback
/// 東京都), the city the next part up to the first 市/区/町/村 after at least one
/// character (fallback 不明).
pub fn locality_of(address: &str) -> (String, String) {
    let chars: Vec<char> = address.chars().collect();
    let prefecture_end = if address.starts_with("京都府") {
        Some(3)
    } else {
        chars
            .iter()
            .position(|c| matches!(c, '都' | '道' | '府' | '県'))
            .map(|i| i + 1)
    };
    let Some(end) = prefecture_end else {
        return ("東京都".to_owned(), "不明".to_owned());
    };
    let prefecture: String = chars[..end].iter().collect();
    let rest = &chars[end..];
    let city = rest
        .iter()
        .skip(1)
        .position(|c| matches!(c, '市' | '区' | '町' | '村'))
        .map(|i| rest[..i + 2].iter().collect())
        .unwrap_or_else(|| "不明".to_owned());
    (prefecture, city)
}

/// A simulated card: its certificate and private key.
#[derive(Debug)]
pub struct TestCard {
    /// DER of the card's certificate.
    pub cert_der: Vec<u8>,
    signer: SoftwareSigner,
    key_pem: Zeroizing<String>,
}

impl TestCard {
    /// The card's key.
    pub fn signer(&self) -> &SoftwareSigner {
        &self.signer
    }

    /// The card's key as PKCS#8 PEM.
    pub fn key_pkcs8_pem(&self) -> Zeroizing<String> {
        self.key_pem.clone()
    }

    /// PEM of the certificate.
    pub fn cert_pem(&self) -> Result<String, TestkitError> {
        Ok(
            der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.cert_der)
                .map_err(der::Error::from)?,
        )
    }

    /// Serial number magnitude of the certificate.
    pub fn serial(&self) -> Result<Vec<u8>, TestkitError> {
        let cert = x509_cert::Certificate::from_der(&self.cert_der)?;
        let serial = Serial::from_der_integer(cert.tbs_certificate.serial_number.as_bytes())
            .ok_or_else(|| TestkitError::InvalidSpec("the card serial is not positive".into()))?;
        Ok(serial.magnitude().to_vec())
    }

    /// A DER `ContentInfo(SignedData)` over `content`, as `shuin apply` sends it.
    pub fn sign_application(&self, content: &[u8]) -> Result<Vec<u8>, TestkitError> {
        let sign = |message: &[u8]| self.signer.sign(message);
        Ok(shuin_client::cms_sign::sign_attached(
            content,
            &self.cert_der,
            &sign,
        )?)
    }

    /// Writes `cert.pem` and `key.pem` (mode 0600, never overwritten).
    pub fn write_dir(&self, dir: &Path) -> Result<(), TestkitError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let cert_path = dir.join("cert.pem");
        std::fs::write(&cert_path, self.cert_pem()?).map_err(io(&cert_path))?;
        write_private_file(&dir.join("key.pem"), self.key_pem.as_bytes())?;
        Ok(())
    }

    /// Loads a directory written by [`Self::write_dir`].
    pub fn load_dir(dir: &Path) -> Result<Self, TestkitError> {
        let cert_der = crate::read_pem(&dir.join("cert.pem"), "CERTIFICATE")?;
        let key_path = dir.join("key.pem");
        let key_pem = Zeroizing::new(std::fs::read_to_string(&key_path).map_err(io(&key_path))?);
        let signer = SoftwareSigner::from_pkcs8_pem(&key_pem)?;
        Ok(Self {
            cert_der,
            signer,
            key_pem,
        })
    }
}

impl SimulatedJlisCa {
    /// Issues a card certificate with a fresh RSA-2048 key.
    pub fn issue_card(&self, spec: &CardSpec) -> Result<TestCard, TestkitError> {
        let (signer, pkcs8) = SoftwareSigner::generate(KeySpec::Rsa2048)?;
        let key_pem = pkcs8_pem(&pkcs8)?;
        let spki = SubjectPublicKeyInfoOwned::from_der(signer.public_key_der())?;
        let (prefecture, city) = locality_of(&spec.address);
        let mut opaque = [0u8; 8];
        OsRandom.fill(&mut opaque)?;
        let subject = NameBuilder::new()
            .country("JP")?
            .locality(&prefecture)?
            .locality(&city)?
            .common_name(&hex::encode_upper(opaque))?
            .build();
        let mut extensions = Vec::new();
        match spec.kind {
            CardKind::Signing | CardKind::SigningTestPolicy => {
                let policy = if spec.kind == CardKind::Signing {
                    POLICY_SIGNING
                } else {
                    POLICY_SIGNING_TEST
                };
                extensions.push(key_usage(&[
                    KeyUsages::DigitalSignature,
                    KeyUsages::NonRepudiation,
                ])?);
                extensions.push(certificate_policies(&[policy], true)?);
                let zeros = |text: &str| "0".repeat(text.chars().count());
                let name_map = spec
                    .name_substitutes
                    .clone()
                    .unwrap_or_else(|| zeros(&spec.name));
                let address_map = spec
                    .address_substitutes
                    .clone()
                    .unwrap_or_else(|| zeros(&spec.address));
                let gender = spec
                    .raw_gender
                    .clone()
                    .unwrap_or_else(|| spec.gender.clone());
                let birth = spec.birth_item()?;
                let values = [
                    &spec.name,
                    &name_map,
                    &gender,
                    &birth,
                    &spec.address,
                    &address_map,
                ];
                let entries: Vec<(ObjectIdentifier, &str)> = BASIC_ITEM_OIDS
                    .iter()
                    .zip(values)
                    .map(|(oid, value)| (*oid, value.as_str()))
                    .collect();
                extensions.push(other_name_san(&entries, false)?);
            }
            CardKind::UserAuthentication => {
                extensions.push(key_usage(&[KeyUsages::DigitalSignature])?);
                extensions.push(certificate_policies(&[POLICY_USER_AUTHENTICATION], true)?);
            }
        }
        extensions.push(subject_key_identifier(&key_identifier(&spki))?);
        extensions.push(authority_key_identifier(&self.key_id())?);
        let template = CertificateTemplate {
            serial: Serial::random(&OsRandom)?,
            issuer: self.certificate().tbs_certificate.subject.clone(),
            subject,
            not_before: spec.not_before,
            not_after: spec.not_after,
            subject_public_key_info: spki,
            extensions,
        };
        let tbs = template.to_tbs(SignatureAlgorithm::RsaPkcs1Sha256)?;
        let signature = self.signer().sign(&tbs.to_der()?)?;
        let cert = assemble_certificate(tbs, &signature)?;
        Ok(TestCard {
            cert_der: cert.to_der()?,
            signer,
            key_pem,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eras_switch_on_the_documented_days() {
        assert_eq!(era_of(1912, 7, 29), 1);
        assert_eq!(era_of(1912, 7, 30), 2);
        assert_eq!(era_of(1926, 12, 25), 3);
        assert_eq!(era_of(1989, 1, 7), 3);
        assert_eq!(era_of(1989, 1, 8), 4);
        assert_eq!(era_of(2019, 4, 30), 4);
        assert_eq!(era_of(2019, 5, 1), 5);
    }

    #[test]
    fn localities_from_addresses() {
        let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
        assert_eq!(
            locality_of("東京都千代田区霞が関一丁目1番1号"),
            pair("東京都", "千代田区")
        );
        assert_eq!(locality_of("京都府京都市左京区"), pair("京都府", "京都市"));
        assert_eq!(locality_of("北海道札幌市中央区"), pair("北海道", "札幌市"));
        assert_eq!(
            locality_of("神奈川県横浜市中区"),
            pair("神奈川県", "横浜市")
        );
        assert_eq!(locality_of("千葉県市川市八幡"), pair("千葉県", "市川市"));
        assert_eq!(locality_of("どこか"), pair("東京都", "不明"));
        assert_eq!(locality_of("大阪府"), pair("大阪府", "不明"));
    }
}
