//! What `shuin init` records before it makes any key: who acts (the init actor), the
//! designation of the responsible person (organisation book), the J-LIS trust anchors
//! (facility book), and later the split of the token PIN into custodians' shares.

use crate::organisation::{actor, kinds, INIT_ACTOR};
use serde_json::{json, Value};
use shuin_core::{Role, Zone};
use shuin_ledger::{Actor, Book, Entry, EntryDraft};
use shuin_store::{LedgerStore, StoreError};
use std::time::SystemTime;

/// `shuin init` acting: a ca_admin on the high-security terminal.
pub fn init_actor() -> Actor {
    actor(INIT_ACTOR, Role::CaAdmin, Zone::HighSecurity)
}

/// The responsible person (責任者) designated at init, with automatic approval on.
pub fn responsible_person_designated(name: &str, by: &Actor) -> EntryDraft {
    EntryDraft {
        book: Book::Organization,
        kind: kinds::RESPONSIBLE_PERSON_DESIGNATED.into(),
        actor: by.clone(),
        subjects: vec![],
        payload: json!({"responsible_person": name, "automatic_approval": true}),
        evidence: vec![],
    }
}

/// The J-LIS trust anchors installed (`anchors`: file, sha256, pinned_production each)
/// and the CRL file the RA reads.
pub fn trust_anchors_configured(anchors: Value, crl_file: &str, by: &Actor) -> EntryDraft {
    EntryDraft {
        book: Book::Facility,
        kind: "facility.jpki_trust_anchors_configured".into(),
        actor: by.clone(),
        subjects: vec![],
        payload: json!({"anchors": anchors, "crl_file": crl_file}),
        evidence: vec![],
    }
}

/// The token PIN sealed and its wrapping key split into `custodians` shares, any
/// `threshold` of which unseal the instance `instance_id`.
pub fn seal_shares_made(
    custodians: u8,
    threshold: u8,
    instance_id: &str,
    by: &Actor,
) -> EntryDraft {
    EntryDraft {
        book: Book::Facility,
        kind: "seal.shares_made".into(),
        actor: by.clone(),
        subjects: vec!["key:issuing".into()],
        payload: json!({
            "custodians": custodians,
            "threshold": threshold,
            "instance_id": instance_id,
            "secret": "token PIN, sealed with AES-256-GCM under a random 256-bit key split by Shamir's scheme",
        }),
        evidence: vec![],
    }
}

/// Records the designation and the anchors, in that order.
pub async fn record_init<S: LedgerStore + ?Sized>(
    store: &S,
    responsible_person: &str,
    anchors: Value,
    crl_file: &str,
    now: SystemTime,
) -> Result<Vec<Entry>, StoreError> {
    let by = init_actor();
    let designated = responsible_person_designated(responsible_person, &by);
    let configured = trust_anchors_configured(anchors, crl_file, &by);
    Ok(vec![
        store.append(designated, now).await?,
        store.append(configured, now).await?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_store::sqlite::SqliteStore;
    use std::time::Duration;

    #[tokio::test]
    async fn init_records_the_designation_then_the_anchors() {
        let store = SqliteStore::in_memory().await.expect("store");
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let anchors = json!([{"file": "a.pem", "sha256": "ab", "pinned_production": false}]);
        let entries = record_init(&store, "rp", anchors.clone(), "/crl", now)
            .await
            .expect("recorded");
        assert_eq!(entries[0].kind, kinds::RESPONSIBLE_PERSON_DESIGNATED);
        assert_eq!(entries[0].payload["responsible_person"], "rp");
        assert_eq!(entries[0].actor.zone, "high_security");
        assert_eq!(entries[1].book, Book::Facility);
        assert_eq!(
            entries[1].payload,
            json!({"anchors": anchors, "crl_file": "/crl"})
        );
        let roster = crate::organisation::replay(&store).await.expect("roster");
        assert!(roster.unwarranted().is_empty());
    }

    #[test]
    fn the_seal_split_names_counts_not_secrets() {
        let draft = seal_shares_made(5, 3, "i1", &init_actor());
        assert_eq!(draft.kind, "seal.shares_made");
        assert_eq!(draft.payload["threshold"], 3);
        assert_eq!(draft.subjects, vec!["key:issuing".to_owned()]);
    }
}
