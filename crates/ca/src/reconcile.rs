//! Reconciliation (DESIGN.md section 4, step 5): interrupted issuances and revocations
//! are resolved from the books, never silently dropped, and never while a live process
//! may still be carrying them out.
//!
//! - A reservation never stored is marked undelivered (`certificate.undelivered`);
//! - a stored certificate without `certificate.issued` gets that entry
//!   (`reconciled: true`);
//! - a `revocation.accepted` without its revocation row is applied: the row, with the
//!   time, reason and decider the books recorded, then new CRLs;
//! - a stored revocation that the newest CRLs do not list (the process stopped between
//!   the row and its CRL) gets new CRLs, once it is [`LISTING_GRACE`] old
//!   ([`crate::crl_listing`]).
//!
//! Only what is older than [`RECONCILE_AFTER`] is touched (a live server's issuance takes
//! well under a second), and only by the process holding the instance lock
//! [`RECONCILE_LEASE`], so a CLI command that opens the CA next to a running server, or
//! two nodes on one database, never abort each other's work. Every step is idempotent:
//! the store's guarded updates refuse a second application.
//!
//! The books are read through a cursor, [`BOOK_PAGE`] rows per query by the ledger's
//! primary key: the first reconciliation in a process streams the ledger once, later
//! ones read only the entries appended since. What is kept between rounds is the
//! serials with `certificate.issued` and the accepted revocations still without their row.

use crate::issuance::{ca_actor, CaService};
use sha2::{Digest, Sha256};
use shuin_core::revocation::RevocationReason;
use shuin_core::timefmt::parse_rfc3339;
use shuin_core::Serial;
use shuin_ledger::{Actor, Book, Entry, EntryDraft};
use shuin_store::{CertificateState, ConflictKind, LedgerStore, RevocationRecord, StoreError};
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

/// How old a reservation, a stored certificate or a `revocation.accepted` entry must be
/// before reconciliation completes it: younger ones may belong to a cycle still running
/// in a live process.
pub const RECONCILE_AFTER: Duration = Duration::from_secs(120);
/// How long a stored revocation may wait for the CRL that lists it before reconciliation
/// looks (its own process signs that CRL right after storing it; by then a CRL signed
/// [`crate::crl_listing::LISTING_RACE`] after it usually exists, and no CRL is read).
pub(crate) const LISTING_GRACE: Duration = Duration::from_secs(90);

/// The instance lock reconciliation holds while it works.
pub const RECONCILE_LEASE: &str = "ca.reconcile";

/// A reconciliation pass's hold on [`RECONCILE_LEASE`].
struct Lease {
    holder: String,
}

/// How long the lease is taken for, renewed between the steps of a pass; a process
/// that dies holding it blocks reconciliation elsewhere for at most this long (the
/// crash harness, crates/cli/tests/crash.rs, found five minutes too long a wait after a
/// crash).
const LEASE_FOR: Duration = Duration::from_secs(60);

/// What reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciled {
    /// Reservations that were never signed and stored: marked undelivered.
    pub undelivered: Vec<String>,
    /// Stored certificates whose `certificate.issued` entry was missing: now written.
    pub completed: Vec<String>,
    /// Revocations in the books without their revocation row: now applied.
    pub revocations_applied: Vec<String>,
    /// Revocations stored but listed by no CRL yet (the process stopped between the row
    /// and its CRL): a CRL is issued for them.
    pub unlisted: Vec<String>,
    /// Another process holds the instance lock: nothing was looked at.
    pub locked_elsewhere: bool,
}

impl Reconciled {
    /// Whether anything was changed.
    pub fn changed(&self) -> bool {
        !self.undelivered.is_empty()
            || !self.completed.is_empty()
            || !self.revocations_applied.is_empty()
            || !self.unlisted.is_empty()
    }
}

/// A `revocation.accepted` entry, as the books recorded it.
#[derive(Debug, Clone)]
struct AcceptedRevocation {
    serial: shuin_core::Serial,
    at: SystemTime,
    reason: RevocationReason,
    invalidity_date: Option<SystemTime>,
    actor: Actor,
}

/// How far reconciliation has read the books, and what it still watches: read once
/// from the start, then only the entries appended since.
#[derive(Debug, Default)]
pub(crate) struct BookCursor {
    /// The next ledger position to read.
    next: u64,
    /// Serials with a `certificate.issued` entry, until the stored certificates have
    /// been checked (then empty).
    issued: HashSet<Serial>,
    /// Accepted revocations not yet seen with their row, by serial.
    revocations: BTreeMap<String, AcceptedRevocation>,
    /// Whether stored certificates have been checked for their entry in this process.
    certificates_checked: bool,
    /// Whether a revocation applied here still waits for its CRL.
    crl_due: bool,
}

/// Ledger rows read per query: reconciliation never holds more of the books than this
/// (plus the serials it watches), however long the ledger grows.
pub(crate) const BOOK_PAGE: u64 = 1_000;

impl BookCursor {
    /// Reads the entries appended since the last call, a page at a time (by the ledger's
    /// primary key): the whole ledger at the first call in a process, then only what is new.
    pub(crate) async fn catch_up<S: LedgerStore + ?Sized>(
        &mut self,
        store: &S,
    ) -> Result<(), StoreError> {
        shuin_store::book_reading::catch_up(store, self, BOOK_PAGE).await
    }
}

impl shuin_store::book_reading::BookReader for BookCursor {
    fn next_seq(&self) -> u64 {
        self.next
    }

    fn read(&mut self, rows: &[shuin_ledger::StoredEntry]) {
        for row in rows {
            self.next = self.next.max(row.seq.saturating_add(1));
            let Ok(entry) = Entry::from_canonical(&row.canonical) else {
                continue;
            };
            match entry.kind.as_str() {
                // Needed only until the stored certificates have been checked once.
                "certificate.issued" if !self.certificates_checked => {
                    let serial = entry.payload["serial"].as_str().and_then(Serial::from_hex);
                    self.issued.extend(serial);
                }
                "revocation.accepted" => {
                    if let Some(accepted) = accepted_revocation(&entry) {
                        self.revocations
                            .entry(accepted.serial.to_hex())
                            .or_insert(accepted);
                    } else {
                        tracing::error!(
                            seq = entry.seq,
                            "a revocation.accepted entry cannot be read; it is left to an operator"
                        );
                    }
                }
                _ => {}
            }
        }
    }
}

fn accepted_revocation(entry: &Entry) -> Option<AcceptedRevocation> {
    let payload = &entry.payload;
    Some(AcceptedRevocation {
        serial: shuin_core::Serial::from_hex(payload["serial"].as_str()?)?,
        at: parse_rfc3339(&entry.time)?,
        reason: RevocationReason::parse(payload["reason"].as_str()?)?,
        invalidity_date: match &payload["invalidity_date"] {
            serde_json::Value::String(text) => Some(parse_rfc3339(text)?),
            _ => None,
        },
        actor: entry.actor.clone(),
    })
}

fn stale(at: SystemTime, now: SystemTime) -> bool {
    now.duration_since(at).unwrap_or_default() >= RECONCILE_AFTER
}

impl CaService {
    /// Resolves interrupted issuances and revocations (see the module documentation).
    /// Run at start-up and then periodically by the serve loop; cheap after the first
    /// run, which reads the books once.
    pub async fn reconcile(&self) -> Result<Reconciled, StoreError> {
        let mut done = Reconciled::default();
        let mut holder = [0u8; 16];
        if self.rng().fill(&mut holder).is_err() {
            return Err(StoreError::Unavailable(
                "no randomness for the lease".into(),
            ));
        }
        let lease = Lease {
            holder: hex::encode(holder),
        };
        // Reading the books needs no lease: only what changes something does.
        let mut books = self.books().lock().await;
        books.catch_up(self.store().as_ref()).await?;
        if !self.renew(&lease).await? {
            done.locked_elsewhere = true;
            return Ok(done);
        }
        let result = self.reconcile_locked(&mut books, &lease, &mut done).await;
        if let Err(e) = self
            .store()
            .release_lease(RECONCILE_LEASE, &lease.holder)
            .await
        {
            tracing::warn!(error = %e, "could not release the reconciliation lease; it expires by itself");
        }
        result.map(|()| done)
    }

    /// Renews the lease between steps; a lease lost meanwhile (the pass outlived it and
    /// another process took it) stops the pass.
    async fn keep(&self, lease: &Lease) -> Result<(), StoreError> {
        if self.renew(lease).await? {
            Ok(())
        } else {
            Err(StoreError::Unavailable(
                "the reconciliation lease was taken by another process mid-pass".into(),
            ))
        }
    }

    /// Takes or renews the lease for [`LEASE_FOR`]; false when another holder has it.
    async fn renew(&self, lease: &Lease) -> Result<bool, StoreError> {
        let now = self.clock().now();
        self.store()
            .take_lease(RECONCILE_LEASE, &lease.holder, now, now + LEASE_FOR)
            .await
    }

    /// [`CaService::reconcile`], logging what it did instead of returning it.
    pub async fn reconcile_logged(&self) {
        match self.reconcile().await {
            Ok(done) if done.changed() => {
                tracing::warn!(?done, "reconciled interrupted issuances and revocations");
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "reconciliation failed; retrying later"),
        }
    }

    async fn reconcile_locked(
        &self,
        books: &mut BookCursor,
        lease: &Lease,
        done: &mut Reconciled,
    ) -> Result<(), StoreError> {
        let now = self.clock().now();
        for record in self
            .store()
            .certificates_in_state(CertificateState::Reserved)
            .await?
        {
            // The reservation time: the template starts its validity then.
            if !stale(record.not_before, now) {
                continue;
            }
            match self.store().mark_undelivered(&record.serial).await {
                Ok(()) => {}
                // Completed or abandoned meanwhile by the process that reserved it.
                Err(StoreError::NotFound) => continue,
                Err(e) => return Err(e),
            }
            let draft = EntryDraft {
                book: Book::Application,
                kind: "certificate.undelivered".into(),
                actor: ca_actor(),
                subjects: vec![
                    format!("application:{}", record.application_id),
                    format!("serial:{}", record.serial),
                ],
                payload: serde_json::json!({"why": "reconciled: reserved but never stored"}),
                evidence: vec![],
            };
            self.store().append(draft, now).await?;
            done.undelivered.push(record.serial.to_hex());
        }
        self.keep(lease).await?;
        if !books.certificates_checked {
            self.complete_issued_entries(books, now, done).await?;
            self.keep(lease).await?;
        }
        self.apply_accepted_revocations(books, now, done).await?;
        self.keep(lease).await?;
        if books.crl_due {
            let serial = done.revocations_applied.last().cloned();
            match self.issue_crl().await {
                Ok(_) => books.crl_due = false,
                Err(e) => {
                    tracing::error!(error = %e, ?serial, "the CRL after a reconciled revocation failed; retrying");
                }
            }
        }
        Ok(())
    }

    /// Stored certificates without `certificate.issued` get it (once per process: the
    /// scan reads every issued serial, and a certificate itself only when its entry is
    /// missing).
    async fn complete_issued_entries(
        &self,
        books: &mut BookCursor,
        now: SystemTime,
        done: &mut Reconciled,
    ) -> Result<(), StoreError> {
        let mut fresh = false;
        for serial in self.store().issued_serials().await? {
            if books.issued.contains(&serial) {
                continue;
            }
            let Some(record) = self.store().certificate(&serial).await? else {
                continue;
            };
            let serial = record.serial.to_hex();
            if !stale(record.not_before, now) {
                // Its issuance may still be writing the entry: look again next time.
                fresh = true;
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
            self.store().append(draft, now).await?;
            books.issued.insert(record.serial);
            done.completed.push(serial);
        }
        books.certificates_checked = !fresh;
        if books.certificates_checked {
            // Not read again in this process: the serials need not be held any longer.
            books.issued = HashSet::new();
        }
        Ok(())
    }

    /// `revocation.accepted` entries old enough and still without their row get it.
    async fn apply_accepted_revocations(
        &self,
        books: &mut BookCursor,
        now: SystemTime,
        done: &mut Reconciled,
    ) -> Result<(), StoreError> {
        let watched: Vec<(String, AcceptedRevocation)> = books
            .revocations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut listings = crate::crl_listing::Listings::default();
        for (key, accepted) in watched {
            if let Some(stored) = self.store().revocation(&accepted.serial).await? {
                if now.duration_since(stored.revoked_at).unwrap_or_default() < LISTING_GRACE {
                    // Its CRL may still be signing: look again next time.
                    continue;
                }
                if !listings.lists(self, &stored).await? {
                    tracing::warn!(serial = %key, "a stored revocation that no CRL lists yet (stopped before its CRL): issuing one");
                    done.unlisted.push(key.clone());
                    books.crl_due = true;
                }
                books.revocations.remove(&key);
                continue;
            }
            if !stale(accepted.at, now) {
                continue;
            }
            let record = RevocationRecord {
                serial: accepted.serial.clone(),
                revoked_at: accepted.at,
                reason: accepted.reason,
                invalidity_date: accepted.invalidity_date,
                decided_by: accepted.actor.name.clone(),
            };
            match self.store().revoke(&record).await {
                Ok(()) => {
                    tracing::warn!(serial = %key, "applied a revocation the books accepted but storage lacked");
                    done.revocations_applied.push(key.clone());
                    books.crl_due = true;
                }
                Err(StoreError::Conflict(ConflictKind::Revoked)) => {}
                Err(StoreError::NotFound) => {
                    tracing::error!(serial = %key, "the books accepted a revocation of a certificate that is not issued; left to an operator");
                }
                Err(e) => return Err(e),
            }
            books.revocations.remove(&key);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
