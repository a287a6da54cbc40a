//! The audit key as the facility book records it, followed page by page: what the web
//! console's auditor's view checks signed checkpoints with. Each call reads only the
//! entries appended since the last one, never the whole ledger again.

use crate::checkpoints::audit_key_of;
use shuin_ledger::NoteKey;
use shuin_store::{LedgerStore, StoreError};
use std::sync::Mutex;

/// Entries read at a time.
const PAGE: u64 = 1_000;

/// Where the watch stands: the next position to read and the key found so far.
#[derive(Debug, Default)]
pub struct AuditKeyWatch {
    state: Mutex<(u64, Option<NoteKey>)>,
}

impl AuditKeyWatch {
    /// A watch that has read nothing yet.
    pub fn new() -> AuditKeyWatch {
        AuditKeyWatch::default()
    }

    /// The audit key now (the last one the facility book records), if any.
    pub async fn current<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
    ) -> Result<Option<NoteKey>, StoreError> {
        loop {
            let next = self.lock().0;
            let rows = store.ledger_rows_page(next, PAGE).await?;
            let Some(last) = rows.last() else {
                break;
            };
            let found = rows.iter().rev().find_map(audit_key_of);
            let mut state = self.lock();
            // Another caller may have read these rows meanwhile: only move forward.
            if state.0 == next {
                state.0 = last.seq + 1;
                if found.is_some() {
                    state.1 = found;
                }
            }
            if u64::try_from(rows.len()).unwrap_or(0) < PAGE {
                break;
            }
        }
        Ok(self.lock().1.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (u64, Option<NoteKey>)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
