//! Personal data (D-i) kept out of the permanent books (D-ii) (DESIGN.md section 11;
//! docs/ledger.md, "Personal data").
//!
//! An entry never carries a name, an address, a birth date or a gender. It carries a
//! salted commitment to them instead:
//!
//! ```text
//! commitment = SHA-256( salt ‖ RFC 8785 canonical JSON of the data )      (32-byte salt)
//! ```
//!
//! and the data itself, with its salt, is a *personal data record* stored as evidence,
//! which retention may purge. The record is the canonical JSON object
//!
//! ```json
//! {"data": {...}, "format": "shuin-personal-data/1", "salt": "<64 hex>"}
//! ```
//!
//! stored under the SHA-256 of those bytes. The entry's payload refers to it as
//! `"personal_data": {"commitment": "<hex>", "record_sha256": "<hex>"}` ([`Reference`]).
//! A kept record is checked against its commitment with [`check_record`]; once purged,
//! the commitment alone reveals nothing (the salt is random and gone with the record).

use crate::canonical::to_canonical_bytes;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The `format` member of a personal data record.
pub const RECORD_FORMAT: &str = "shuin-personal-data/1";

/// The payload member of an entry that refers to a personal data record.
pub const PAYLOAD_MEMBER: &str = "personal_data";

/// The length of a record's salt, in bytes.
pub const SALT_LEN: usize = 32;

/// Why a personal data record cannot be made, read or matched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersonalDataError {
    /// The data cannot be put in canonical JSON.
    #[error("the personal data cannot be encoded: {0}")]
    Encode(#[source] crate::LedgerError),
    /// The bytes are not a personal data record.
    #[error("not a personal data record ({RECORD_FORMAT}): {0}")]
    Malformed(&'static str),
    /// The record's bytes are not what the entry names by hash.
    #[error("the record's SHA-256 is {found}, the entry names {expected}")]
    RecordHashMismatch {
        /// The SHA-256 named in the entry.
        expected: String,
        /// The SHA-256 of the bytes at hand.
        found: String,
    },
    /// The record's data and salt do not give the entry's commitment.
    #[error("the record does not match the entry's commitment {expected} (it gives {found})")]
    CommitmentMismatch {
        /// The commitment in the entry.
        expected: String,
        /// The commitment recomputed from the record.
        found: String,
    },
}

impl PersonalDataError {
    /// A stable `snake_case` reason code.
    pub fn code(&self) -> &'static str {
        match self {
            PersonalDataError::Encode(_) => "personal_data_unencodable",
            PersonalDataError::Malformed(_) => "personal_data_record_malformed",
            PersonalDataError::RecordHashMismatch { .. } => "personal_data_record_altered",
            PersonalDataError::CommitmentMismatch { .. } => "personal_data_commitment_mismatch",
        }
    }
}

/// What an entry carries in place of personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Lowercase hex SHA-256(salt ‖ canonical data).
    pub commitment: String,
    /// Lowercase hex SHA-256 of the record's bytes (its evidence key).
    pub record_sha256: String,
}

impl Reference {
    /// The payload value: `{"commitment", "record_sha256"}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"commitment": self.commitment, "record_sha256": self.record_sha256})
    }

    /// Reads the reference from a JSON value of that shape.
    pub fn from_json(value: &Value) -> Option<Reference> {
        let hex64 = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase)
        };
        Some(Reference {
            commitment: hex64("commitment")?,
            record_sha256: hex64("record_sha256")?,
        })
    }

    /// The reference an entry's payload carries, if any (`payload.personal_data`).
    pub fn in_payload(payload: &Value) -> Option<Reference> {
        payload.get(PAYLOAD_MEMBER).and_then(Reference::from_json)
    }
}

/// A personal data record sealed for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRecord {
    /// The record's canonical bytes, to store as evidence.
    pub bytes: Vec<u8>,
    /// What the entry carries.
    pub reference: Reference,
}

/// SHA-256(salt ‖ canonical JSON of `data`), in lowercase hex.
///
/// # Errors
///
/// `data` holds what canonical ledger JSON does not (floats, deep nesting).
pub fn commitment(salt: &[u8; SALT_LEN], data: &Value) -> Result<String, PersonalDataError> {
    let canonical = to_canonical_bytes(data).map_err(PersonalDataError::Encode)?;
    let mut hasher = Sha256::new();
    hasher.update(salt);
    hasher.update(&canonical);
    Ok(hex::encode(hasher.finalize()))
}

/// Seals `data` with `salt` (fresh random bytes from the caller's injected source).
///
/// # Errors
///
/// As [`commitment`].
pub fn seal(salt: &[u8; SALT_LEN], data: &Value) -> Result<SealedRecord, PersonalDataError> {
    let commitment = commitment(salt, data)?;
    let record = serde_json::json!({
        "format": RECORD_FORMAT,
        "salt": hex::encode(salt),
        "data": data,
    });
    let bytes = to_canonical_bytes(&record).map_err(PersonalDataError::Encode)?;
    let record_sha256 = hex::encode(Sha256::digest(&bytes));
    Ok(SealedRecord {
        bytes,
        reference: Reference {
            commitment,
            record_sha256,
        },
    })
}

/// The salt and data of a record.
///
/// # Errors
///
/// The bytes are not JSON of the record's shape.
pub fn open_record(bytes: &[u8]) -> Result<([u8; SALT_LEN], Value), PersonalDataError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|_| PersonalDataError::Malformed("not JSON"))?;
    if value.get("format").and_then(Value::as_str) != Some(RECORD_FORMAT) {
        return Err(PersonalDataError::Malformed("no or another format"));
    }
    let salt = value
        .get("salt")
        .and_then(Value::as_str)
        .and_then(|s| hex::decode(s).ok())
        .and_then(|s| <[u8; SALT_LEN]>::try_from(s).ok())
        .ok_or(PersonalDataError::Malformed(
            "the salt is not 32 bytes in hex",
        ))?;
    let data = value
        .get("data")
        .cloned()
        .ok_or(PersonalDataError::Malformed("no data"))?;
    Ok((salt, data))
}

/// Checks a kept record against the entry's reference: its bytes have the named SHA-256
/// and its salt and data give the commitment. Returns the data.
///
/// # Errors
///
/// [`PersonalDataError::RecordHashMismatch`], [`PersonalDataError::CommitmentMismatch`],
/// or the record is malformed.
pub fn check_record(bytes: &[u8], reference: &Reference) -> Result<Value, PersonalDataError> {
    let found = hex::encode(Sha256::digest(bytes));
    if found != reference.record_sha256 {
        return Err(PersonalDataError::RecordHashMismatch {
            expected: reference.record_sha256.clone(),
            found,
        });
    }
    let (salt, data) = open_record(bytes)?;
    let found = commitment(&salt, &data)?;
    if found != reference.commitment {
        return Err(PersonalDataError::CommitmentMismatch {
            expected: reference.commitment.clone(),
            found,
        });
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn data() -> Value {
        serde_json::json!({"name": "山田　太郎", "birth_date": "1990-01-02", "address": "東京都千代田区", "gender": "1"})
    }

    #[test]
    fn a_sealed_record_checks_against_its_commitment() {
        let sealed = seal(&[7u8; SALT_LEN], &data()).unwrap();
        assert_eq!(
            check_record(&sealed.bytes, &sealed.reference).unwrap(),
            data()
        );
        let mut input = vec![7u8; SALT_LEN];
        input.extend(to_canonical_bytes(&data()).unwrap());
        assert_eq!(
            sealed.reference.commitment,
            hex::encode(Sha256::digest(&input))
        );
        let reference = Reference::from_json(&sealed.reference.to_json()).unwrap();
        assert_eq!(reference, sealed.reference);
    }

    #[test]
    fn the_reference_reveals_no_data_and_depends_on_the_salt() {
        let one = seal(&[1u8; SALT_LEN], &data()).unwrap();
        let two = seal(&[2u8; SALT_LEN], &data()).unwrap();
        assert_ne!(one.reference.commitment, two.reference.commitment);
        let text = one.reference.to_json().to_string();
        assert!(!text.contains("山田") && !text.contains("1990"), "{text}");
    }

    #[test]
    fn a_tampered_record_fails() {
        let sealed = seal(&[3u8; SALT_LEN], &data()).unwrap();
        let altered = String::from_utf8(sealed.bytes.clone())
            .unwrap()
            .replace("山田", "田中")
            .into_bytes();
        let error = check_record(&altered, &sealed.reference).unwrap_err();
        assert_eq!(error.code(), "personal_data_record_altered");
        // Altered and renamed by its new hash: the commitment still catches it.
        let renamed = Reference {
            record_sha256: hex::encode(Sha256::digest(&altered)),
            ..sealed.reference.clone()
        };
        let error = check_record(&altered, &renamed).unwrap_err();
        assert_eq!(error.code(), "personal_data_commitment_mismatch");
        let error = check_record(
            b"{}",
            &Reference {
                record_sha256: hex::encode(Sha256::digest(b"{}")),
                ..sealed.reference
            },
        )
        .unwrap_err();
        assert_eq!(error.code(), "personal_data_record_malformed");
    }

    #[test]
    fn only_well_formed_references_are_read_from_payloads() {
        let sealed = seal(&[4u8; SALT_LEN], &data()).unwrap();
        let payload = serde_json::json!({PAYLOAD_MEMBER: sealed.reference.to_json()});
        assert_eq!(Reference::in_payload(&payload), Some(sealed.reference));
        let bad = serde_json::json!({PAYLOAD_MEMBER: {"commitment": "00", "record_sha256": "zz"}});
        assert_eq!(Reference::in_payload(&bad), None);
        assert_eq!(Reference::in_payload(&serde_json::json!({})), None);
    }
}
