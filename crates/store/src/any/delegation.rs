//! Every store trait for [`AnyStore`], each method handed to the backend.

use super::AnyStore;
use crate::retention::{EvidenceRetention, EvidenceRetentionSummary, ExpiredEvidence};
use crate::tiles::{StoredTile, TileStore};
use crate::{
    ApplicationRecord, ApplicationStatus, ApplicationStore, CertificateFlag, CertificateFlags,
    CertificateReader, CertificateRecord, CertificateState, CertificateWriter, CheckpointWriter,
    CrlRecord, CrlStore, InstanceLock, KeyedDraft, LedgerReader, LedgerStore, NonceOutcome,
    NonceStore, NoticeOutbox, NoticeRecord, RegistrationRecord, RegistrationState,
    RegistrationStore, RevocationRecord, RevocationStore, SettingsStore, StoreError,
    StoredCheckpoint,
};
use async_trait::async_trait;
use shuin_core::Serial;
use shuin_ledger::{Entry, EntryDraft, StoredEntry, TreeHead};
use std::time::SystemTime;

/// `$call` on the backend of `$any`, bound to `$store`.
macro_rules! on_backend {
    ($any:ident, $store:ident => $call:expr) => {
        match $any {
            AnyStore::Sqlite($store) => $call,
            AnyStore::Postgres($store) => $call,
        }
    };
}

#[async_trait]
impl NonceStore for AnyStore {
    async fn insert_nonce(&self, nonce: &str, expires_at: SystemTime) -> Result<(), StoreError> {
        on_backend!(self, s => s.insert_nonce(nonce, expires_at).await)
    }
    async fn consume_nonce(
        &self,
        nonce: &str,
        now: SystemTime,
    ) -> Result<NonceOutcome, StoreError> {
        on_backend!(self, s => s.consume_nonce(nonce, now).await)
    }
    async fn purge_expired_nonces(
        &self,
        expired_before: SystemTime,
        limit: u32,
    ) -> Result<u64, StoreError> {
        on_backend!(self, s => s.purge_expired_nonces(expired_before, limit).await)
    }
}

#[async_trait]
impl ApplicationStore for AnyStore {
    async fn put_evidence(&self, sha256_hex: &str, bytes: &[u8]) -> Result<(), StoreError> {
        on_backend!(self, s => s.put_evidence(sha256_hex, bytes).await)
    }
    async fn evidence(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>, StoreError> {
        on_backend!(self, s => s.evidence(sha256_hex).await)
    }
    async fn link_evidence(
        &self,
        sha256_hex: &str,
        application_id: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.link_evidence(sha256_hex, application_id).await)
    }
    async fn insert_application(&self, record: &ApplicationRecord) -> Result<(), StoreError> {
        on_backend!(self, s => s.insert_application(record).await)
    }
    async fn update_application(&self, record: &ApplicationRecord) -> Result<(), StoreError> {
        on_backend!(self, s => s.update_application(record).await)
    }
    async fn application(&self, id: &str) -> Result<Option<ApplicationRecord>, StoreError> {
        on_backend!(self, s => s.application(id).await)
    }
    async fn applications_with_status(
        &self,
        status: ApplicationStatus,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        on_backend!(self, s => s.applications_with_status(status).await)
    }
    async fn index_holder(&self, holder: &str, application_id: &str) -> Result<(), StoreError> {
        on_backend!(self, s => s.index_holder(holder, application_id).await)
    }
    async fn applications_of_holder(
        &self,
        holder: &str,
    ) -> Result<Vec<ApplicationRecord>, StoreError> {
        on_backend!(self, s => s.applications_of_holder(holder).await)
    }
    async fn unfiled_applications(&self, limit: u32) -> Result<Vec<ApplicationRecord>, StoreError> {
        on_backend!(self, s => s.unfiled_applications(limit).await)
    }
    async fn forget_holder(&self, application_id: &str) -> Result<(), StoreError> {
        on_backend!(self, s => s.forget_holder(application_id).await)
    }
}

#[async_trait]
impl CertificateReader for AnyStore {
    async fn key_in_use(&self, key_fingerprint: &str) -> Result<bool, StoreError> {
        on_backend!(self, s => s.key_in_use(key_fingerprint).await)
    }
    async fn issued_count(&self) -> Result<u64, StoreError> {
        on_backend!(self, s => s.issued_count().await)
    }
    async fn issued_serials(&self) -> Result<Vec<Serial>, StoreError> {
        on_backend!(self, s => s.issued_serials().await)
    }
    async fn certificate(&self, serial: &Serial) -> Result<Option<CertificateRecord>, StoreError> {
        on_backend!(self, s => s.certificate(serial).await)
    }
    async fn certificates_in_state(
        &self,
        state: CertificateState,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        on_backend!(self, s => s.certificates_in_state(state).await)
    }
    async fn certificates_of_application(
        &self,
        application_id: &str,
    ) -> Result<Vec<CertificateRecord>, StoreError> {
        on_backend!(self, s => s.certificates_of_application(application_id).await)
    }
}

#[async_trait]
impl InstanceLock for AnyStore {
    async fn take_lease(
        &self,
        name: &str,
        holder: &str,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, s => s.take_lease(name, holder, now, until).await)
    }
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        on_backend!(self, s => s.release_lease(name, holder).await)
    }
}

#[async_trait]
impl CertificateWriter for AnyStore {
    async fn reserve(&self, record: &CertificateRecord) -> Result<(), StoreError> {
        on_backend!(self, s => s.reserve(record).await)
    }
    async fn complete(
        &self,
        serial: &Serial,
        der: &[u8],
        issued_at: SystemTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.complete(serial, der, issued_at).await)
    }
    async fn mark_undelivered(&self, serial: &Serial) -> Result<(), StoreError> {
        on_backend!(self, s => s.mark_undelivered(serial).await)
    }
}

#[async_trait]
impl LedgerStore for AnyStore {
    async fn append(&self, draft: EntryDraft, time: SystemTime) -> Result<Entry, StoreError> {
        on_backend!(self, s => s.append(draft, time).await)
    }
    async fn append_batch(
        &self,
        drafts: Vec<KeyedDraft>,
        time: SystemTime,
    ) -> Result<Vec<Entry>, StoreError> {
        on_backend!(self, s => s.append_batch(drafts, time).await)
    }
    async fn ledger_rows(&self) -> Result<Vec<StoredEntry>, StoreError> {
        on_backend!(self, s => s.ledger_rows().await)
    }
    async fn ledger_rows_from(&self, from: u64) -> Result<Vec<StoredEntry>, StoreError> {
        on_backend!(self, s => s.ledger_rows_from(from).await)
    }
    async fn ledger_rows_page(
        &self,
        from: u64,
        limit: u64,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        on_backend!(self, s => s.ledger_rows_page(from, limit).await)
    }
    async fn ledger_head(&self) -> Result<Option<TreeHead>, StoreError> {
        on_backend!(self, s => s.ledger_head().await)
    }
}

#[async_trait]
impl LedgerReader for AnyStore {
    async fn ledger_size(&self) -> Result<u64, StoreError> {
        on_backend!(self, s => s.ledger_size().await)
    }
    async fn leaf_hashes(&self, size: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        on_backend!(self, s => s.leaf_hashes(size).await)
    }
    async fn checkpoints(&self) -> Result<Vec<StoredCheckpoint>, StoreError> {
        on_backend!(self, s => s.checkpoints().await)
    }
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        on_backend!(self, s => s.latest_checkpoint().await)
    }
}

#[async_trait]
impl CheckpointWriter for AnyStore {
    async fn add_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<(), StoreError> {
        on_backend!(self, s => s.add_checkpoint(checkpoint).await)
    }
    async fn add_cosignatures(
        &self,
        size: u64,
        stored: &str,
        cosigned: &str,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.add_cosignatures(size, stored, cosigned).await)
    }
}

#[async_trait]
impl SettingsStore for AnyStore {
    async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        on_backend!(self, s => s.setting(key).await)
    }
    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        on_backend!(self, s => s.set_setting(key, value).await)
    }
}

#[async_trait]
impl RevocationStore for AnyStore {
    async fn revoke(&self, record: &RevocationRecord) -> Result<(), StoreError> {
        on_backend!(self, s => s.revoke(record).await)
    }
    async fn revocation(&self, serial: &Serial) -> Result<Option<RevocationRecord>, StoreError> {
        on_backend!(self, s => s.revocation(serial).await)
    }
    async fn revocations(&self) -> Result<Vec<RevocationRecord>, StoreError> {
        on_backend!(self, s => s.revocations().await)
    }
    async fn revocations_page(
        &self,
        after: Option<&Serial>,
        limit: u32,
    ) -> Result<Vec<RevocationRecord>, StoreError> {
        on_backend!(self, s => s.revocations_page(after, limit).await)
    }
    async fn issued_unrevoked(
        &self,
        after: Option<&Serial>,
        limit: u32,
    ) -> Result<Vec<Serial>, StoreError> {
        on_backend!(self, s => s.issued_unrevoked(after, limit).await)
    }
    async fn revocation_generation(&self) -> Result<u64, StoreError> {
        on_backend!(self, s => s.revocation_generation().await)
    }
}

#[async_trait]
impl crate::OcspAnswerStore for AnyStore {
    async fn put_ocsp_answers(
        &self,
        answers: &[crate::PresignedAnswer],
    ) -> Result<Vec<u64>, StoreError> {
        on_backend!(self, s => s.put_ocsp_answers(answers).await)
    }
    async fn ocsp_lookup(&self, serial: &Serial) -> Result<crate::OcspLookup, StoreError> {
        on_backend!(self, s => s.ocsp_lookup(serial).await)
    }
    async fn ocsp_unanswered(
        &self,
        after: Option<&Serial>,
        limit: u32,
    ) -> Result<Vec<crate::OcspToSign>, StoreError> {
        on_backend!(self, s => s.ocsp_unanswered(after, limit).await)
    }
    async fn ocsp_due(
        &self,
        produced_by: SystemTime,
        limit: u32,
    ) -> Result<Vec<crate::OcspToSign>, StoreError> {
        on_backend!(self, s => s.ocsp_due(produced_by, limit).await)
    }
    async fn ocsp_answers_after(
        &self,
        number: u64,
        limit: u32,
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        on_backend!(self, s => s.ocsp_answers_after(number, limit).await)
    }
    async fn ocsp_answer_count(&self) -> Result<(u64, Option<SystemTime>), StoreError> {
        on_backend!(self, s => s.ocsp_answer_count().await)
    }
}

#[async_trait]
impl CrlStore for AnyStore {
    async fn next_crl_number(&self, scope: &str) -> Result<u64, StoreError> {
        on_backend!(self, s => s.next_crl_number(scope).await)
    }
    async fn put_crl(&self, record: &CrlRecord) -> Result<(), StoreError> {
        on_backend!(self, s => s.put_crl(record).await)
    }
    async fn latest_crl(&self, scope: &str) -> Result<Option<CrlRecord>, StoreError> {
        on_backend!(self, s => s.latest_crl(scope).await)
    }
}

#[async_trait]
impl RegistrationStore for AnyStore {
    async fn insert_registration(&self, record: &RegistrationRecord) -> Result<(), StoreError> {
        on_backend!(self, s => s.insert_registration(record).await)
    }
    async fn registrations_page(
        &self,
        query: &crate::lifecycle::RegistrationQuery,
    ) -> Result<Vec<RegistrationRecord>, StoreError> {
        on_backend!(self, s => s.registrations_page(query).await)
    }
    async fn registration(&self, id: &str) -> Result<Option<RegistrationRecord>, StoreError> {
        on_backend!(self, s => s.registration(id).await)
    }
    async fn record_wrong_code(
        &self,
        id: &str,
        limit: u32,
    ) -> Result<RegistrationState, StoreError> {
        on_backend!(self, s => s.record_wrong_code(id, limit).await)
    }
    async fn consume_registration(
        &self,
        id: &str,
        application_id: &str,
    ) -> Result<bool, StoreError> {
        on_backend!(self, s => s.consume_registration(id, application_id).await)
    }
    async fn forget_registration_identity(&self, application_id: &str) -> Result<u64, StoreError> {
        on_backend!(self, s => s.forget_registration_identity(application_id).await)
    }
}

#[async_trait]
impl NoticeOutbox for AnyStore {
    async fn enqueue_notice(&self, notice: &NoticeRecord) -> Result<(), StoreError> {
        on_backend!(self, s => s.enqueue_notice(notice).await)
    }
    async fn pending_notices(&self, limit: u32) -> Result<Vec<NoticeRecord>, StoreError> {
        on_backend!(self, s => s.pending_notices(limit).await)
    }
    async fn notices_for(&self, serial: &Serial) -> Result<Vec<NoticeRecord>, StoreError> {
        on_backend!(self, s => s.notices_for(serial).await)
    }
    async fn mark_notice_sent(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        on_backend!(self, s => s.mark_notice_sent(id, at).await)
    }
}

#[async_trait]
impl CertificateFlags for AnyStore {
    async fn flag_certificate(&self, flag: &CertificateFlag) -> Result<bool, StoreError> {
        on_backend!(self, s => s.flag_certificate(flag).await)
    }
    async fn certificate_flags(&self) -> Result<Vec<CertificateFlag>, StoreError> {
        on_backend!(self, s => s.certificate_flags().await)
    }
}

#[async_trait]
impl EvidenceRetention for AnyStore {
    async fn evidence_retention_summary(
        &self,
        cutoff: SystemTime,
    ) -> Result<EvidenceRetentionSummary, StoreError> {
        on_backend!(self, s => s.evidence_retention_summary(cutoff).await)
    }
    async fn expired_evidence(
        &self,
        cutoff: SystemTime,
        limit: u32,
    ) -> Result<Vec<ExpiredEvidence>, StoreError> {
        on_backend!(self, s => s.expired_evidence(cutoff, limit).await)
    }
    async fn delete_expired_evidence(
        &self,
        sha256_hex: &[String],
        cutoff: SystemTime,
    ) -> Result<u64, StoreError> {
        on_backend!(self, s => s.delete_expired_evidence(sha256_hex, cutoff).await)
    }
}

#[async_trait]
impl TileStore for AnyStore {
    async fn tiled_size(&self) -> Result<u64, StoreError> {
        on_backend!(self, s => s.tiled_size().await)
    }
    async fn tiled_checkpoint(&self) -> Result<Option<StoredCheckpoint>, StoreError> {
        on_backend!(self, s => s.tiled_checkpoint().await)
    }
    async fn tiles(&self, wanted: &[(u8, u64)]) -> Result<Vec<StoredTile>, StoreError> {
        on_backend!(self, s => s.tiles(wanted).await)
    }
    async fn leaf_hashes_between(&self, from: u64, to: u64) -> Result<Vec<[u8; 32]>, StoreError> {
        on_backend!(self, s => s.leaf_hashes_between(from, to).await)
    }
    async fn put_tiles(&self, from: u64, to: u64, tiles: &[StoredTile]) -> Result<(), StoreError> {
        on_backend!(self, s => s.put_tiles(from, to, tiles).await)
    }
}

#[async_trait]
impl crate::OrderStore for AnyStore {
    async fn queue_order(
        &self,
        order: &shuin_core::orders::Order,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        on_backend!(self, s => s.queue_order(order, now).await)
    }
    async fn claim_orders(
        &self,
        holder: &str,
        limit: u32,
        now: SystemTime,
        until: SystemTime,
    ) -> Result<Vec<shuin_core::orders::Order>, StoreError> {
        on_backend!(self, s => s.claim_orders(holder, limit, now, until).await)
    }
    async fn answer_order(
        &self,
        answered: &shuin_core::orders::Answered,
        now: SystemTime,
    ) -> Result<bool, StoreError> {
        on_backend!(self, s => s.answer_order(answered, now).await)
    }
    async fn keep_answers(
        &self,
        answers: &[crate::orders::AnswerToKeep<'_>],
        now: SystemTime,
    ) -> Result<Vec<bool>, StoreError> {
        on_backend!(self, s => s.keep_answers(answers, now).await)
    }
    async fn order(&self, id: &str) -> Result<Option<crate::orders::StoredOrder>, StoreError> {
        on_backend!(self, s => s.order(id).await)
    }
    async fn queue_depth(&self, now: SystemTime) -> Result<crate::QueueDepth, StoreError> {
        on_backend!(self, s => s.queue_depth(now).await)
    }
}
