//! The RA's side of keeping personal data (D-i) out of the books (D-ii)
//! (`shuin_ledger::personal_data`; docs/ledger.md, "Personal data"): the applicant's
//! basic items are sealed with a fresh salt into a personal data record, stored as
//! evidence (purgeable under retention once linked to an application), and entries carry
//! only the record's [`Reference`].

use crate::RaError;
use serde_json::Value;
use shuin_core::RandomSource;
use shuin_ledger::personal_data::{seal, Reference, PAYLOAD_MEMBER, SALT_LEN};
use shuin_store::ApplicationStore;

/// Seals `data` with a salt from `rng`, stores the record as evidence and returns what
/// the entries carry.
pub(crate) async fn store_personal_data<S: ApplicationStore + ?Sized>(
    store: &S,
    rng: &dyn RandomSource,
    data: &Value,
) -> Result<Reference, RaError> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt)
        .map_err(|e| RaError::Unavailable(Box::new(e)))?;
    let sealed = seal(&salt, data).map_err(|e| RaError::Unavailable(Box::new(e)))?;
    store
        .put_evidence(&sealed.reference.record_sha256, &sealed.bytes)
        .await?;
    Ok(sealed.reference)
}

/// The four basic items of an identity (name, birth date, address, gender), as sealed.
pub(crate) fn basic_items(name: &str, birth_date: &str, address: &str, gender: &Value) -> Value {
    serde_json::json!({"name": name, "birth_date": birth_date, "address": address, "gender": gender})
}

/// The reference kept in an application's (or a registration's) stored JSON under
/// `personal_data`, if any.
pub(crate) fn kept_reference(details: &Value) -> Option<Reference> {
    details.get(PAYLOAD_MEMBER).and_then(Reference::from_json)
}

/// The payload member an entry carries for `details`: the reference, or `null` for an
/// application recorded before personal data was sealed.
pub(crate) fn payload_reference(details: &Value) -> Value {
    kept_reference(details).map_or(Value::Null, |r| r.to_json())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn references_are_read_back_from_stored_details() {
        let sealed = seal(
            &[9u8; SALT_LEN],
            &basic_items("山田　太郎", "1990-01-02", "東京都", &Value::Null),
        )
        .unwrap();
        let details = serde_json::json!({PAYLOAD_MEMBER: sealed.reference.to_json()});
        assert_eq!(kept_reference(&details), Some(sealed.reference.clone()));
        assert_eq!(payload_reference(&details), sealed.reference.to_json());
        assert_eq!(payload_reference(&serde_json::json!({})), Value::Null);
    }
}
