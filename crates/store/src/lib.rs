//! Storage behind narrow traits, one per consumer (STYLE.md "Storage"), with SQLite and
//! PostgreSQL implementations and a conformance suite that every implementation must pass.
//!
//! Uniqueness (serials, nonces, certified keys) is enforced by UNIQUE constraints and
//! surfaces as [`StoreError::Conflict`], never as a check-then-insert race.

pub mod any;
pub mod book_reading;
pub mod config;
pub mod conformance;
mod error;
mod group_commit;
mod ledger_conformance;
mod ledger_state;
pub mod lifecycle;
pub mod lifecycle_conformance;
mod ocsp_conformance;
pub mod orders;
mod orders_conformance;
pub mod postgres;
mod records;
pub mod retention;
pub mod retention_conformance;
mod rows;
mod schema;
mod sql;
pub mod sqlite;
pub mod tiles;
mod tiles_conformance;

pub use any::AnyStore;
pub use config::StoreSection;
pub use error::{ConflictKind, StoreError};
pub use lifecycle::{
    CertificateFlag, CertificateFlags, NoticeOutbox, NoticeRecord, RegistrationRecord,
    RegistrationState, RegistrationStore,
};
pub use orders::{AnswerToKeep, OrderState, OrderStore, QueueDepth, StoredOrder};
pub use records::{
    ApplicationRecord, ApplicationStatus, CertificateRecord, CertificateState, CrlRecord,
    NonceOutcome, OcspLookup, OcspToSign, PresignedAnswer, RevocationRecord,
};
pub use retention::{EvidenceRetention, EvidenceRetentionSummary, ExpiredEvidence};
pub use tiles::{StoredTile, TileStore};

use async_trait::async_trait;
use shuin_core::Serial;
use shuin_ledger::{Entry, EntryDraft};
use std::time::SystemTime;

/// Challenge nonces (DESIGN.md section 3.2).
#[async_trait]
pub trait NonceStore: Send + Sync {
    /// Records a fresh nonce.
    async fn insert_nonce(&self, nonce: &str, expires_at: SystemTime) -> Result<(), StoreError>;
    /// Consumes a nonce atomically: of two concurrent calls, at most one gets `Fresh`.
    /// An expired nonce is consumed too.
    async fn consume_nonce(&self, nonce: &str, now: SystemTime)
        -> Result<NonceOutcome, StoreError>;
    /// Deletes at most `limit` nonces that expired before `expired_before`, used or not
    /// (once expired, a nonce is refused whether or not its row is still there), and
    /// returns how many went.
    async fn purge_expired_nonces(
        &self,
        expired_before: SystemTime,
        limit: u32,
    ) -> Result<u64, StoreError>;
}

/// Applications and their raw evidence.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    /// Stores raw evidence (the application CMS) under its SHA-256; idempotent.
    async fn put_evidence(&self, sha256_hex: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// Reads raw evidence.
    async fn evidence(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Links stored evidence to an application besides its own signed request (table
    /// `evidence_links`), so that its retention follows that application's
    /// ([`retention`]); idempotent.
    async fn link_evidence(&self, sha256_hex: &str, application_id: &str)
        -> Result<(), StoreError>;
    /// Inserts a new application.
    async fn insert_application(&self, record: &ApplicationRecord) -> Result<(), StoreError>;
    /// Replaces the status fields of an application.
    async fn update_application(&self, record: &ApplicationRecord) -> Result<(), StoreError>;
    /// Reads one application.
    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError>;
    /// Applications with the given status, oldest first.
    async fn applications_with_status(
        &self,
        status: ApplicationStatus,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Files an application under its holder (the RA's holder key; [`NO_HOLDER`] for
    /// one with no identity), for disclosure, unless it is filed already (under any
    /// holder, or forgotten); idempotent.
    async fn index_holder(&self, holder: &str, application_id: &str) -> Result<(), StoreError>;
    /// The applications filed under `holder`, oldest first.
    async fn applications_of_holder(
        &self,
        holder: &str,
    ) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// At most `limit` applications filed under no holder yet, oldest first (made before
    /// the index existed; the RA files them at start).
    async fn unfiled_applications(&self, limit: u32) -> Result<Vec<ApplicationRecord>, StoreError>;
    /// Forgets which holder an application belongs to (with its personal data, at the
    /// end of retention): it is filed under [`NO_HOLDER`] instead.
    async fn forget_holder(&self, application_id: &str) -> Result<(), StoreError>;
}

/// The holder under which an application with no identity (or one whose personal data
/// was forgotten) is filed.
pub const NO_HOLDER: &str = "-";

/// Read side of certificates, for the RA's key-reuse check and the repository.
#[async_trait]
pub trait CertificateReader: Send + Sync {
    /// Whether a key (SHA-256 of its SPKI) is reserved or certified.
    async fn key_in_use(&self, key_fingerprint: &str) -> Result<bool, StoreError>;
    /// How many certificates are issued: a number that changes whenever one is (cheap to
    /// poll, so a running server sees certificates issued by other processes).
    async fn issued_count(&self) -> Result<u64, StoreError>;
    /// The serials of the certificates in state `issued`, without the certificates
    /// themselves (what the OCSP responder needs to reload its statuses cheaply).
    async fn issued_serials(&self) -> Result<Vec<Serial>, StoreError>;
    /// One certificate by serial.
    async fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>, StoreError>;
    /// Certificates in a state, oldest first.
    async fn certificates_in_state(
        &self,
        state: CertificateState,
    ) -> Result<Vec<CertificateRecord>, StoreError>;
    /// Every certificate and reservation made for an application, oldest first (so an
    /// interrupted issuance can be found before it is asked for again).
    async fn certificates_of_application(
        &self,
        application_id: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError>;
}

/// Write side of certificates: the CA only.
#[async_trait]
pub trait CertificateWriter: CertificateReader {
    /// Reserves a serial for a key; conflicts on a reused serial or key.
    async fn reserve(&self, record: &CertificateRecord) -> Result<(), StoreError>;
    /// Stores the signed certificate and marks it issued.
    async fn complete(
        &self,
        serial: &Serial,
        der: &[u8],
        issued_at: SystemTime,
    ) -> Result<(), StoreError>;
    /// Marks a reservation that was never signed or delivered.
    async fn mark_undelivered(&self, serial: &Serial) -> Result<(), StoreError>;
}

/// The append-only ledger (DESIGN.md section 5).
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Appends durably (synchronous commit) and returns the entry as written.
    async fn append(&self, draft: EntryDraft, time: SystemTime) -> Result<Entry, StoreError>;
    /// Appends `drafts` in order, atomically (all or none) and durably, in one commit.
    /// A draft with a `key` that was appended before (by an earlier call, or earlier in
    /// this batch) is skipped, so an import can be repeated safely. Returns the entries
    /// written, in order.
    async fn append_batch(
        &self,
        drafts: Vec<KeyedDraft>,
        time: SystemTime,
    ) -> Result<Vec<Entry>, StoreError>;
    /// Every stored row in order, as stored.
    async fn ledger_rows(&self) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError> {
        self.ledger_rows_from(0).await
    }
    /// The stored rows from position `from` on, in order, as stored (for replaying a
    /// book incrementally).
    async fn ledger_rows_from(
        &self,
        from: u64,
    ) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError>;
    /// At most `limit` stored rows from position `from` on, in order, as stored: for
    /// reading the books in bounded pages (by the primary key), never all at once.
    async fn ledger_rows_page(
        &self,
        from: u64,
        limit: u64,
    ) -> Result<Vec<shuin_ledger::StoredEntry>, StoreError>;
    /// The tree head recorded with the last append.
    async fn ledger_head(&self) -> Result<Option<shuin_ledger::TreeHead>, StoreError>;
}

/// A ledger entry draft with an optional idempotency key (table `ledger_keys`): for
/// records that come from outside and may be sent twice, such as entry/exit events.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyedDraft {
    /// The idempotency key, unique over the whole ledger; `None` always appends.
    pub key: Option<String>,
    /// The entry to append.
    pub draft: EntryDraft,
}

/// A signed checkpoint as stored: the C2SP note text for the tree of `size` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// The tree size it signs.
    pub size: u64,
    /// The signed note (`shuin_ledger::checkpoint`).
    pub note: String,
}

/// Read side of the ledger for auditors: leaf hashes for proofs, and the signed
/// checkpoints (table `ledger_checkpoints`).
#[async_trait]
pub trait LedgerReader: Send + Sync {
    /// The number of entries.
    async fn ledger_size(&self) -> Result<u64, StoreError>;
    /// The stored leaf hashes of the first `size` entries in order (all of them if the
    /// log is shorter).
    async fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, StoreError>;
    /// Every checkpoint, smallest size first.
    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError>;
    /// The checkpoint with the largest size.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError>;
}

/// Write side of checkpoints: the checkpoint maker only.
#[async_trait]
pub trait CheckpointWriter: LedgerReader {
    /// Stores a checkpoint. Storing the same note again is a no-op; a different note for
    /// a size already stored is `Conflict(Other)` (checkpoints are never replaced).
    async fn add_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError>;
    /// Adds witnesses' cosignature lines to the stored checkpoint of `size`: replaces
    /// the note `stored` by `cosigned`, which must be `stored` followed by more signature
    /// lines (the checkpoint and the log's signature stay as they were). If the stored
    /// note is no longer `stored` (another writer added lines first), nothing changes
    /// and the answer is `Conflict(Other)`; `NotFound` if no checkpoint of that size.
    async fn add_cosignatures(
        &self,
        size: u64,
        stored: &str,
        cosigned: &str,
    ) -> Result<(), StoreError>;
}

/// Small key-value settings (instance metadata, counters).
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// Reads a setting.
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Writes a setting.
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError>;
}

/// Instance locks shared by every process on the same books (table `leases`): a lease
/// is held by one holder until it expires, so work such as reconciliation runs in one
/// process at a time, whichever host it runs on.
#[async_trait]
pub trait InstanceLock: Send + Sync {
    /// Takes the lease `name` for `holder` until `until`, or renews it when `holder`
    /// already holds it. True when held; false while another holder's lease runs
    /// (a lease whose `until` is not after `now` is free).
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<bool, StoreError>;
    /// Gives the lease up if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError>;
}

/// Revocations (the CA writes, everyone reads).
#[async_trait]
pub trait RevocationStore: Send + Sync {
    /// Records a revocation of an issued certificate. `NotFound` if no issued certificate
    /// has that serial; `Conflict(Revoked)` if it is already revoked.
    async fn revoke(&self, record: &RevocationRecord) -> Result<(), StoreError>;
    /// One revocation.
    async fn revocation(&self, serial: &Serial) -> Result<Option<RevocationRecord>, StoreError>;
    /// Every revocation, oldest first.
    async fn revocations(&self) -> Result<Vec<RevocationRecord>, StoreError>;
    /// At most `limit` revocations whose serial (as lowercase hex text) sorts after
    /// `after`, in that order: for walking a large revocation list in bounded memory.
    async fn revocations_page(
        &self,
        after: Option<&Serial>,
        limit: u32,
    ) -> Result<Vec<RevocationRecord>, StoreError>;
    /// A number that changes whenever a revocation is added (cheap to poll).
    async fn revocation_generation(&self) -> Result<u64, StoreError>;
    /// At most `limit` serials of issued certificates that are not revoked, in serial
    /// order (as lowercase hex text) after `after` (business termination revokes them in
    /// batches).
    async fn issued_unrevoked(
        &self,
        after: Option<&Serial>,
        limit: u32,
    ) -> Result<Vec<Serial>, StoreError>;
}

/// The pre-signed OCSP answer of every issued certificate, with when it was produced
/// and the status it was signed for: the responder's statuses and schedule live here,
/// not in its memory (`shuin_ca::OcspService`), so the memory does not grow with the CA.
#[async_trait]
pub trait OcspAnswerStore: Send + Sync {
    /// Keeps each answer as its serial's, replacing an earlier one, in one transaction;
    /// each is given the next feed number (one above the largest kept), in the order
    /// given, and writers are serialised so that numbers become visible in order. An
    /// answer signed `good` never replaces one signed `revoked` (a revocation is never
    /// undone, so it was signed from an older read): it is not kept. Returns the numbers
    /// given to those kept.
    async fn put_ocsp_answers(&self, answers: &[PresignedAnswer]) -> Result<Vec<u64>, StoreError>;
    /// What OCSP may answer for `serial`.
    async fn ocsp_lookup(&self, serial: &Serial) -> Result<OcspLookup, StoreError>;
    /// At most `limit` issued certificates whose kept answer is missing, or signed
    /// `good` while the certificate is revoked, in serial order after `after`.
    async fn ocsp_unanswered(
        &self,
        after: Option<&Serial>,
        limit: u32,
    ) -> Result<Vec<OcspToSign>, StoreError>;
    /// At most `limit` certificates whose kept answer was produced at or before
    /// `produced_by`, oldest first (by an index: nothing else is read).
    async fn ocsp_due(
        &self,
        produced_by: SystemTime,
        limit: u32,
    ) -> Result<Vec<OcspToSign>, StoreError>;
    /// At most `limit` kept answers numbered above `number`, in number order, with
    /// their numbers.
    async fn ocsp_answers_after(
        &self,
        number: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// How many answers are kept, and when the oldest was produced.
    async fn ocsp_answer_count(&self) -> Result<(u64, Option<SystemTime>), StoreError>;
}

/// Signed CRLs, by scope (`ca` for the issuing CA, `root` for the root).
#[async_trait]
pub trait CrlStore: Send + Sync {
    /// The next CRL number for `scope`: one above the largest stored (1 for the first).
    async fn next_crl_number(&self, scope: &str) -> Result<u64, StoreError>;
    /// Stores a signed CRL; `Conflict(Other)` if the number was taken.
    async fn put_crl(&self, record: &CrlRecord) -> Result<(), StoreError>;
    /// The CRL with the largest number for `scope`.
    async fn latest_crl(&self, scope: &str) -> Result<Option<CrlRecord>, StoreError>;
}
