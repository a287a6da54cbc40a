//! A streaming CRL encoder (RFC 5280 section 5): the revoked-certificate list is
//! written straight into the output buffer in two passes over the entries (one to size
//! it, one to write it), so a CRL of a million entries needs one buffer of its own size
//! and no per-entry structures. The result is byte-identical to [`super::crl`].
//!
//! ```text
//! CertificateList ::= SEQUENCE { tbsCertList TBSCertList, signatureAlgorithm, signatureValue BIT STRING }
//! revokedCertificates SEQUENCE OF SEQUENCE {
//!      userCertificate         CertificateSerialNumber,
//!      revocationDate          Time,
//!      crlEntryExtensions      Extensions OPTIONAL }
//! ```

use crate::serial::Serial;
use crate::signature::SignatureAlgorithm;
use crate::x509::extensions::{authority_key_identifier, extension};
use crate::x509::time::rfc5280_time;
use der::asn1::Uint;
use der::Encode;
use std::time::SystemTime;
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::crl::CrlNumber;
use x509_cert::ext::Extension;
use x509_cert::name::Name;

/// One revoked certificate, compactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamEntry {
    /// The serial.
    pub serial: Serial,
    /// revocationDate.
    pub revoked_at: SystemTime,
    /// CRLReason code (RFC 5280 5.3.1); `None` or 0 writes no reasonCode.
    pub reason_code: Option<u8>,
    /// invalidityDate.
    pub invalidity_date: Option<SystemTime>,
}

/// Everything in a CRL except the entries.
#[derive(Debug, Clone)]
pub struct CrlHeader {
    /// The issuer's name.
    pub issuer: Name,
    /// The issuer's key identifier (AKI).
    pub issuer_key_id: Vec<u8>,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: SystemTime,
    /// cRLNumber.
    pub number: u64,
    /// Further CRL extensions after AKI and cRLNumber (IDP, delta indicator, freshest CRL).
    pub extra_extensions: Vec<Extension>,
}

/// Why a CRL could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CrlStreamError {
    /// Encoding failed.
    #[error("encoding: {0}")]
    Encoding(#[from] der::Error),
    /// The entries changed between the two passes; try again.
    #[error("the revoked certificates changed while the CRL was written")]
    EntriesChanged,
    /// The signer failed.
    #[error("signing: {0}")]
    Signing(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A length does not fit DER's 4-byte lengths.
    #[error("the CRL is too large")]
    TooLarge,
}

fn length_of_length(len: usize) -> usize {
    match len {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

fn tlv_len(content: usize) -> usize {
    1 + length_of_length(content) + content
}

fn write_header(out: &mut Vec<u8>, tag: u8, len: usize) -> Result<(), CrlStreamError> {
    out.push(tag);
    let bytes = u32::try_from(len)
        .map_err(|_| CrlStreamError::TooLarge)?
        .to_be_bytes();
    match length_of_length(len) {
        1 => out.push(bytes[3]),
        n => {
            let count = n - 1;
            out.push(0x80 | u8::try_from(count).map_err(|_| CrlStreamError::TooLarge)?);
            out.extend_from_slice(&bytes[4 - count..]);
        }
    }
    Ok(())
}

/// `Time` DER of `t` (UTCTime through 2049).
fn time_der(t: SystemTime) -> Result<Vec<u8>, der::Error> {
    rfc5280_time(t)?.to_der()
}

fn generalized_der(t: SystemTime) -> Result<Vec<u8>, der::Error> {
    let secs = crate::clock::unix_seconds(t);
    der::asn1::GeneralizedTime::from_system_time(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
    )?
    .to_der()
}

/// The DER of one revoked entry (appended to `out`); returns its length.
fn write_entry(out: &mut Vec<u8>, entry: &StreamEntry) -> Result<usize, CrlStreamError> {
    let serial = entry.serial.der_integer_content();
    let time = time_der(entry.revoked_at)?;
    // reasonCode: SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED } } = 12 bytes.
    let reason = entry.reason_code.filter(|r| *r != 0);
    let reason_len = if reason.is_some() { 12 } else { 0 };
    // invalidityDate: SEQUENCE { OID 2.5.29.24, OCTET STRING { GeneralizedTime(15) } } = 26 bytes.
    let invalidity = entry.invalidity_date.map(generalized_der).transpose()?;
    let invalidity_len = invalidity.as_ref().map_or(0, |g| 2 + 5 + 2 + g.len());
    let extensions_content = reason_len + invalidity_len;
    let content = tlv_len(serial.len())
        + time.len()
        + if extensions_content > 0 {
            tlv_len(extensions_content)
        } else {
            0
        };
    write_header(out, 0x30, content)?;
    write_header(out, 0x02, serial.len())?;
    out.extend_from_slice(&serial);
    out.extend_from_slice(&time);
    if extensions_content > 0 {
        write_header(out, 0x30, extensions_content)?;
        if let Some(code) = reason {
            out.extend_from_slice(&[
                0x30, 0x0a, 0x06, 0x03, 0x55, 0x1d, 0x15, 0x04, 0x03, 0x0a, 0x01, code,
            ]);
        }
        if let Some(generalized) = invalidity {
            let inner = 5 + 2 + generalized.len();
            write_header(out, 0x30, inner)?;
            out.extend_from_slice(&[0x06, 0x03, 0x55, 0x1d, 0x18]);
            write_header(out, 0x04, generalized.len())?;
            out.extend_from_slice(&generalized);
        }
    }
    Ok(tlv_len(content))
}

/// Builds, signs and returns a CRL. `entries` is called twice and must yield the same
/// entries both times (otherwise [`CrlStreamError::EntriesChanged`]).
pub fn encode_crl<I, F, E>(
    header: &CrlHeader,
    algorithm: SignatureAlgorithm,
    entries: F,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, E>,
) -> Result<Vec<u8>, CrlStreamError>
where
    F: Fn() -> Result<I, E>,
    I: Iterator<Item = StreamEntry>,
    E: std::error::Error + Send + Sync + 'static,
{
    let boxed = |e: E| CrlStreamError::Signing(Box::new(e));
    // Pass 1: the size of revokedCertificates.
    let mut scratch = Vec::with_capacity(128);
    let mut list_len = 0usize;
    let mut count = 0usize;
    for entry in entries().map_err(boxed)? {
        scratch.clear();
        list_len += write_entry(&mut scratch, &entry)?;
        count += 1;
    }
    // Fixed parts of the TBSCertList.
    let version = Version::V2.to_der()?;
    let signature = algorithm.algorithm_identifier().to_der()?;
    let issuer = header.issuer.to_der()?;
    let this_update = time_der(header.this_update)?;
    let next_update = time_der(header.next_update)?;
    let number_bytes = Serial::from_magnitude(&header.number.to_be_bytes())
        .map(|s| s.der_integer_content())
        .unwrap_or_else(|| vec![0]);
    let mut extensions = vec![
        authority_key_identifier(&header.issuer_key_id)?,
        extension(&CrlNumber(Uint::new(&number_bytes)?), false)?,
    ];
    extensions.extend(header.extra_extensions.iter().cloned());
    let extensions = extensions.to_der()?;
    let revoked_tlv = if count > 0 { tlv_len(list_len) } else { 0 };
    let extensions_tlv = tlv_len(extensions.len());
    let tbs_content = version.len()
        + signature.len()
        + issuer.len()
        + this_update.len()
        + next_update.len()
        + revoked_tlv
        + extensions_tlv;
    let tbs_len = tlv_len(tbs_content);
    // Leave room for the largest outer header; the unused prefix is drained at the end.
    const OUTER_ROOM: usize = 6;
    let mut out = Vec::with_capacity(OUTER_ROOM + tbs_len + signature.len() + 600);
    out.resize(OUTER_ROOM, 0);
    write_header(&mut out, 0x30, tbs_content)?;
    for part in [&version, &signature, &issuer, &this_update, &next_update] {
        out.extend_from_slice(part);
    }
    // Pass 2: the entries themselves.
    if count > 0 {
        write_header(&mut out, 0x30, list_len)?;
        let start = out.len();
        let mut written = 0usize;
        for entry in entries().map_err(boxed)? {
            written += write_entry(&mut out, &entry)?;
            if written > list_len {
                return Err(CrlStreamError::EntriesChanged);
            }
        }
        if written != list_len || out.len() - start != list_len {
            return Err(CrlStreamError::EntriesChanged);
        }
    }
    write_header(&mut out, 0xa0, extensions.len())?;
    out.extend_from_slice(&extensions);
    let tbs_range = OUTER_ROOM..out.len();
    if tbs_range.len() != tbs_len {
        return Err(CrlStreamError::TooLarge);
    }
    let signature_value = sign(&out[tbs_range]).map_err(boxed)?;
    let bit_string_len = signature_value.len() + 1;
    let outer_content = tbs_len + signature.len() + tlv_len(bit_string_len);
    out.extend_from_slice(&signature);
    write_header(&mut out, 0x03, bit_string_len)?;
    out.push(0);
    out.extend_from_slice(&signature_value);
    let mut outer = Vec::with_capacity(OUTER_ROOM);
    write_header(&mut outer, 0x30, outer_content)?;
    let offset = OUTER_ROOM - outer.len();
    out[offset..OUTER_ROOM].copy_from_slice(&outer);
    out.drain(..offset);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::x509::crl::{assemble_crl, CrlTemplate, RevokedEntry};
    use crate::x509::name::NameBuilder;
    use std::time::{Duration, UNIX_EPOCH};
    use x509_cert::ext::pkix::CrlReason;

    fn entries(n: u64) -> Vec<StreamEntry> {
        (1..=n)
            .map(|i| StreamEntry {
                serial: Serial::from_magnitude(&(i * 7919).to_be_bytes())
                    .unwrap_or_else(|| unreachable!()),
                revoked_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000 + i),
                reason_code: [None, Some(1), Some(4), Some(0)][usize::try_from(i % 4).unwrap_or(0)],
                invalidity_date: (i % 3 == 0)
                    .then(|| UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            })
            .collect()
    }

    #[test]
    fn streamed_crls_equal_the_structured_encoder() {
        let issuer = NameBuilder::new()
            .country("JP")
            .and_then(|b| b.common_name("CA"))
            .unwrap_or_else(|e| panic!("{e}"))
            .build();
        for n in [0u64, 1, 5, 300] {
            let list = entries(n);
            let header = CrlHeader {
                issuer: issuer.clone(),
                issuer_key_id: vec![7; 20],
                this_update: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                next_update: UNIX_EPOCH + Duration::from_secs(1_800_086_400),
                number: 42 + n,
                extra_extensions: vec![],
            };
            let streamed = encode_crl(
                &header,
                SignatureAlgorithm::EcdsaP256Sha256,
                || Ok::<_, std::io::Error>(list.clone().into_iter()),
                |_tbs| Ok::<_, std::io::Error>(vec![0xab; 71]),
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let template = CrlTemplate {
                issuer: issuer.clone(),
                issuer_key_id: vec![7; 20],
                this_update: header.this_update,
                next_update: header.next_update,
                number: header.number,
                entries: list
                    .iter()
                    .map(|e| RevokedEntry {
                        serial: e.serial.clone(),
                        revoked_at: e.revoked_at,
                        reason: e.reason_code.map(|c| match c {
                            1 => CrlReason::KeyCompromise,
                            4 => CrlReason::Superseded,
                            _ => CrlReason::Unspecified,
                        }),
                        invalidity_date: e.invalidity_date,
                    })
                    .collect(),
            };
            let tbs = template
                .to_tbs(SignatureAlgorithm::EcdsaP256Sha256)
                .unwrap_or_else(|e| panic!("{e}"));
            let structured = assemble_crl(tbs, &[0xab; 71])
                .and_then(|c| c.to_der())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(streamed, structured, "{n} entries");
        }
    }

    #[test]
    fn changing_entries_are_detected() {
        let calls = std::cell::Cell::new(0u64);
        let header = CrlHeader {
            issuer: NameBuilder::new()
                .country("JP")
                .unwrap_or_else(|e| panic!("{e}"))
                .build(),
            issuer_key_id: vec![1; 20],
            this_update: UNIX_EPOCH,
            next_update: UNIX_EPOCH + Duration::from_secs(60),
            number: 1,
            extra_extensions: vec![],
        };
        let result = encode_crl(
            &header,
            SignatureAlgorithm::RsaPkcs1Sha256,
            || {
                calls.set(calls.get() + 1);
                Ok::<_, std::io::Error>(entries(calls.get() * 2).into_iter())
            },
            |_| Ok::<_, std::io::Error>(vec![1; 256]),
        );
        assert!(matches!(result, Err(CrlStreamError::EntriesChanged)));
    }
}
