//! Start-up reconciliation (DESIGN.md section 4, step 5): a `certificate.signing` entry
//! without a matching `certificate.issued` is resolved, never silently dropped.

use crate::issuance::{ca_actor, CaService};
use sha2::{Digest, Sha256};
use shuin_ledger::{Book, Entry, EntryDraft};
use shuin_store::{CertificateState, StoreError};
use std::collections::HashSet;

/// What reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Reservations that were never signed and stored: marked undelivered.
    pub undelivered: Vec<String>,
    /// Stored certificates whose `certificate.issued` entry was missing: now written.
    pub completed: Vec<String>,
}

impl CaService {
    /// Resolves interrupted issuances. Run once at start-up, before serving.
    pub async fn reconcile(&self) -> Result<Reconciled, StoreError> {
        let mut done = Reconciled::default();
        for record in self
            .store()
            .certificates_in_state(CertificateState::Reserved)
            .await?
        {
            self.store().mark_undelivered(&record.serial).await?;
            let draft = EntryDraft {
                book: Book::Application,
                kind: "certificate.undelivered".into(),
                actor: ca_actor(),
                subjects: vec![
                    format!("application:{}", record.application_id),
                    format!("serial:{}", record.serial),
                ],
                payload: serde_json::json!({"why": "reconciled at start-up: reserved but never stored"}),
                evidence: vec![],
            };
            self.store().append(draft, self.clock().now()).await?;
            done.undelivered.push(record.serial.to_hex());
        }
        let mut ledgered = HashSet::new();
        for row in self.store().ledger_rows().await? {
            if let Ok(entry) = Entry::from_canonical(&row.canonical) {
                if entry.kind == "certificate.issued" {
                    if let Some(serial) = entry.payload.get("serial").and_then(|s| s.as_str()) {
                        ledgered.insert(serial.to_owned());
                    }
                }
            }
        }
        for record in self
            .store()
            .certificates_in_state(CertificateState::Issued)
            .await?
        {
            let serial = record.serial.to_hex();
            if ledgered.contains(&serial) {
                continue;
            }
            let der = record.der.unwrap_or_default();
            let draft = EntryDraft {
                book: Book::Application,
                kind: "certificate.issued".into(),
                actor: ca_actor(),
                subjects: vec![
                    format!("application:{}", record.application_id),
                    format!("serial:{serial}"),
                ],
                payload: serde_json::json!({"serial": serial, "reconciled": true}),
                evidence: vec![format!("sha256:{}", hex::encode(Sha256::digest(&der)))],
            };
            self.store().append(draft, self.clock().now()).await?;
            done.completed.push(serial);
        }
        Ok(done)
    }
}
