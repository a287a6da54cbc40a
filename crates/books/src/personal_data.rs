//! Checking the personal data records the store still keeps against the commitments in
//! the books (`shuin_ledger::personal_data`; docs/ledger.md, "Personal data"). `shuin
//! ledger verify --data` runs [`check_records`] after the entries and checkpoints have
//! verified: every entry that carries a commitment is matched with its record if the
//! record is still stored; a record purged under retention is counted as absent.

use shuin_ledger::personal_data::{check_record, PersonalDataError, Reference};
use shuin_ledger::{Entry, StoredEntry};
use shuin_store::ApplicationStore;
use std::collections::BTreeSet;

/// What [`check_records`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PersonalDataFacts {
    /// Records kept and matching their commitment.
    pub checked: u64,
    /// Records no longer stored (purged under retention).
    pub absent: u64,
}

/// Why a kept record does not vouch for its entry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersonalDataCheckError {
    /// A kept record does not match the entry's commitment.
    #[error("entry {seq}: personal data record {record_sha256} ({code}): {source}", code = .source.code())]
    Mismatch {
        /// The entry's position.
        seq: u64,
        /// The record's evidence key.
        record_sha256: String,
        /// Why.
        #[source]
        source: PersonalDataError,
    },
    /// The store could not be read.
    #[error("reading the personal data records: {0}")]
    Read(#[source] shuin_store::StoreError),
}

impl PersonalDataCheckError {
    /// A stable `snake_case` reason code.
    pub fn code(&self) -> &'static str {
        match self {
            PersonalDataCheckError::Mismatch { source, .. } => source.code(),
            PersonalDataCheckError::Read(_) => "store_unavailable",
        }
    }
}

/// Matches each kept personal data record that an entry of `rows` refers to with the
/// entry's commitment (each record once, however many entries refer to it).
///
/// # Errors
///
/// The first record that does not match, or the store cannot be read.
pub async fn check_records<S: ApplicationStore + ?Sized>(
    store: &S,
    rows: &[StoredEntry],
) -> Result<PersonalDataFacts, PersonalDataCheckError> {
    let mut facts = PersonalDataFacts::default();
    let mut seen = BTreeSet::new();
    for (seq, reference) in references(rows) {
        if !seen.insert((
            reference.record_sha256.clone(),
            reference.commitment.clone(),
        )) {
            continue;
        }
        let kept = store
            .evidence(&reference.record_sha256)
            .await
            .map_err(PersonalDataCheckError::Read)?;
        let Some(bytes) = kept else {
            facts.absent += 1;
            continue;
        };
        check_record(&bytes, &reference).map_err(|source| PersonalDataCheckError::Mismatch {
            seq,
            record_sha256: reference.record_sha256.clone(),
            source,
        })?;
        facts.checked += 1;
    }
    Ok(facts)
}

/// The references the entries carry, with their positions.
fn references(rows: &[StoredEntry]) -> impl Iterator<Item = (u64, Reference)> + '_ {
    rows.iter().filter_map(|row| {
        let entry = Entry::from_canonical(&row.canonical).ok()?;
        Some((entry.seq, Reference::in_payload(&entry.payload)?))
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use shuin_ledger::personal_data::{seal, PAYLOAD_MEMBER, SALT_LEN};
    use shuin_ledger::{Actor, Book, EntryDraft};
    use shuin_store::sqlite::SqliteStore;
    use shuin_store::LedgerStore;
    use std::time::{Duration, SystemTime};

    async fn entry_with(store: &SqliteStore, reference: &Reference) {
        let draft = EntryDraft {
            book: Book::Application,
            kind: "application.accepted".into(),
            actor: Actor {
                name: "rp".into(),
                role: "responsible_person".into(),
                zone: "secure".into(),
            },
            subjects: vec![],
            payload: serde_json::json!({PAYLOAD_MEMBER: reference.to_json()}),
            evidence: vec![],
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        store.append(draft, now).await.unwrap();
    }

    #[tokio::test]
    async fn kept_records_match_and_a_swapped_record_is_caught() {
        let store = SqliteStore::in_memory().await.unwrap();
        let data = serde_json::json!({"name": "山田　太郎", "birth_date": "1990-01-02"});
        let kept = seal(&[1u8; SALT_LEN], &data).unwrap();
        let purged = seal(&[2u8; SALT_LEN], &data).unwrap();
        store
            .put_evidence(&kept.reference.record_sha256, &kept.bytes)
            .await
            .unwrap();
        entry_with(&store, &kept.reference).await;
        entry_with(&store, &kept.reference).await;
        entry_with(&store, &purged.reference).await;
        // An entry written before commitments (the identity in clear) is read as it is.
        let old = EntryDraft {
            book: Book::Application,
            kind: "registration.created".into(),
            actor: Actor {
                name: "lra".into(),
                role: "lra".into(),
                zone: "secure".into(),
            },
            subjects: vec![],
            payload: serde_json::json!({"identity": data}),
            evidence: vec![],
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        store.append(old, now).await.unwrap();
        let rows = store.ledger_rows().await.unwrap();
        let facts = check_records(&store, &rows).await.unwrap();
        assert_eq!(
            facts,
            PersonalDataFacts {
                checked: 1,
                absent: 1
            }
        );

        // Another person's data stored under the name the entry gives: caught.
        let other = seal(&[3u8; SALT_LEN], &serde_json::json!({"name": "田中　花子"})).unwrap();
        let forged = Reference {
            commitment: purged.reference.commitment.clone(),
            record_sha256: other.reference.record_sha256.clone(),
        };
        store
            .put_evidence(&other.reference.record_sha256, &other.bytes)
            .await
            .unwrap();
        entry_with(&store, &forged).await;
        let rows = store.ledger_rows().await.unwrap();
        let error = check_records(&store, &rows).await.unwrap_err();
        assert_eq!(error.code(), "personal_data_commitment_mismatch");
        assert!(
            error.to_string().contains("entry 4: personal data record"),
            "{error}"
        );
        assert!(
            error
                .to_string()
                .contains("(personal_data_commitment_mismatch)"),
            "{error}"
        );
    }
}
