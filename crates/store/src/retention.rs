//! Retention of raw evidence (docs/ledger.md, "Retention"). The ledger itself is never
//! deleted by any interface; what may be purged once its retention has ended is the raw
//! evidence stored apart by SHA-256 (the signed application CMS).
//!
//! The *anchor* of a piece of evidence is the time its retention period starts:
//! - for an application that led to a certificate (issued or undelivered), that
//!   certificate's notAfter (the latest, if several applications share the evidence);
//! - for an application that was rejected, the time it arrived.
//!
//! Evidence linked to an application (`ApplicationStore::link_evidence`, such as a
//! personal data record) counts as that application's, as its signed request does.
//!
//! Evidence with no anchor is held without limit: evidence of an application still
//! pending review or approved but not yet issued, and evidence that no application row
//! refers to (revocation requests, applications that only registered an identity).
//! Evidence is *expired* when it has an anchor and the anchor is at or before the
//! cutoff (now minus the retention period). The store re-checks this in the same
//! statement that deletes, so no caller can delete evidence within retention.

use crate::StoreError;
use async_trait::async_trait;
use std::time::SystemTime;

/// One piece of evidence whose retention has ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredEvidence {
    /// Lowercase hex SHA-256 of the stored bytes.
    pub sha256: String,
    /// When its retention period started.
    pub anchor: SystemTime,
    /// An application that refers to it.
    pub application_id: String,
}

/// How the stored evidence stands against a cutoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EvidenceRetentionSummary {
    /// Pieces of evidence stored.
    pub stored: u64,
    /// Of those, expired at the cutoff.
    pub expired: u64,
    /// Held because an application referring to them is not decided or not issued yet.
    pub undecided: u64,
    /// Held because no application refers to them.
    pub unlinked: u64,
    /// The earliest anchor after the cutoff: the next evidence to expire is due at this
    /// anchor plus the retention period.
    pub next_anchor: Option<SystemTime>,
}

/// Finding and deleting evidence whose retention has ended. The purge command only.
#[async_trait]
pub trait EvidenceRetention: Send + Sync {
    /// Counts the stored evidence by how it stands at `cutoff`.
    async fn evidence_retention_summary(
        &self,
        cutoff: SystemTime,
    ) -> Result<EvidenceRetentionSummary, StoreError>;
    /// At most `limit` pieces of evidence expired at `cutoff`, oldest anchor first.
    async fn expired_evidence(
        &self,
        cutoff: SystemTime,
        limit: u32,
    ) -> Result<Vec<ExpiredEvidence>, StoreError>;
    /// Deletes those of `sha256_hex` that are expired at `cutoff` (checked again here, in
    /// one transaction) and returns how many were deleted. Anything else is left alone.
    async fn delete_expired_evidence(
        &self,
        sha256_hex: &[String],
        cutoff: SystemTime,
    ) -> Result<u64, StoreError>;
}

/// Each stored piece of evidence with the number of applications referring to it (by
/// their `evidence_sha256`, or through `evidence_links`), the
/// number of those still open (no certificate, not rejected), its anchor and one
/// application id. Plain SQL that SQLite and PostgreSQL both run.
macro_rules! classified_evidence {
    () => {
        "SELECT e.sha256 AS sha256, \
           (SELECT COUNT(*) FROM applications a WHERE (a.evidence_sha256 = e.sha256 OR a.id IN (SELECT l.application_id FROM evidence_links l WHERE l.sha256 = e.sha256))) AS linked, \
           (SELECT COUNT(*) FROM applications a WHERE (a.evidence_sha256 = e.sha256 OR a.id IN (SELECT l.application_id FROM evidence_links l WHERE l.sha256 = e.sha256)) \
              AND a.status <> 'rejected' \
              AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.application_id = a.id)) AS open, \
           (SELECT MAX(COALESCE( \
                (SELECT MAX(c.not_after) FROM certificates c WHERE c.application_id = a.id), \
                CASE WHEN a.status = 'rejected' THEN a.received_at END)) \
              FROM applications a WHERE (a.evidence_sha256 = e.sha256 OR a.id IN (SELECT l.application_id FROM evidence_links l WHERE l.sha256 = e.sha256))) AS anchor, \
           (SELECT MIN(a.id) FROM applications a WHERE (a.evidence_sha256 = e.sha256 OR a.id IN (SELECT l.application_id FROM evidence_links l WHERE l.sha256 = e.sha256))) AS application_id \
         FROM evidence e"
    };
}
pub(crate) use classified_evidence;

/// The condition for "expired at the cutoff" over [`classified_evidence`] rows.
macro_rules! expired_condition {
    () => {
        "linked > 0 AND open = 0 AND anchor IS NOT NULL AND anchor <= "
    };
}
pub(crate) use expired_condition;

/// The one implementation of [`EvidenceRetention`], for a store type whose module has
/// `unavailable`, `secs` and `time_of` in scope. The SQL is the same on both backends
/// (sqlx binds `$N` on SQLite too).
macro_rules! evidence_retention_impl {
    ($store:ty) => {
        const SUMMARY: &str = concat!(
            "SELECT COUNT(*) AS stored, SUM(CASE WHEN ",
            $crate::retention::expired_condition!(),
            "$1 THEN 1 ELSE 0 END) AS expired, \
               SUM(CASE WHEN open > 0 THEN 1 ELSE 0 END) AS undecided, \
               SUM(CASE WHEN linked = 0 THEN 1 ELSE 0 END) AS unlinked, \
               MIN(CASE WHEN linked > 0 AND open = 0 AND anchor > $1 THEN anchor END) AS next_anchor FROM (",
            $crate::retention::classified_evidence!(),
            ") x"
        );

        const EXPIRED: &str = concat!(
            "SELECT sha256, anchor, application_id FROM (",
            $crate::retention::classified_evidence!(),
            ") x WHERE ",
            $crate::retention::expired_condition!(),
            "$1 ORDER BY anchor, sha256 LIMIT $2"
        );

        /// The links of evidence that is gone.
        const UNLINK: &str =
            "DELETE FROM evidence_links WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM evidence e WHERE e.sha256 = $1)";

        const DELETE: &str = concat!(
            "DELETE FROM evidence WHERE sha256 = $1 AND sha256 IN (SELECT sha256 FROM (",
            $crate::retention::classified_evidence!(),
            ") x WHERE ",
            $crate::retention::expired_condition!(),
            "$2)"
        );

        fn count(value: Option<i64>) -> u64 {
            value.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
        }

        #[async_trait::async_trait]
        impl $crate::retention::EvidenceRetention for $store {
            async fn evidence_retention_summary(
                &self,
                cutoff: std::time::SystemTime,
            ) -> Result<$crate::retention::EvidenceRetentionSummary, $crate::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(SUMMARY)
                    .bind(secs(cutoff))
                    .fetch_one(&self.pool)
                    .await
                    .map_err(unavailable)?;
                let next: Option<i64> = row.try_get("next_anchor").map_err(unavailable)?;
                Ok($crate::retention::EvidenceRetentionSummary {
                    stored: count(row.try_get("stored").map_err(unavailable)?),
                    expired: count(row.try_get("expired").map_err(unavailable)?),
                    undecided: count(row.try_get("undecided").map_err(unavailable)?),
                    unlinked: count(row.try_get("unlinked").map_err(unavailable)?),
                    next_anchor: next.map(time_of),
                })
            }

            async fn expired_evidence(
                &self,
                cutoff: std::time::SystemTime,
                limit: u32,
            ) -> Result<Vec<$crate::retention::ExpiredEvidence>, $crate::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(EXPIRED)
                    .bind(secs(cutoff))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        Ok($crate::retention::ExpiredEvidence {
                            sha256: row.try_get("sha256").map_err(unavailable)?,
                            anchor: time_of(row.try_get("anchor").map_err(unavailable)?),
                            application_id: row.try_get("application_id").map_err(unavailable)?,
                        })
                    })
                    .collect()
            }

            async fn delete_expired_evidence(
                &self,
                sha256_hex: &[String],
                cutoff: std::time::SystemTime,
            ) -> Result<u64, $crate::StoreError> {
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                let mut deleted = 0;
                for sha256 in sha256_hex {
                    let done = sqlx::query(DELETE)
                        .bind(sha256)
                        .bind(secs(cutoff))
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    deleted += done.rows_affected();
                    sqlx::query(UNLINK)
                        .bind(sha256)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                }
                tx.commit().await.map_err(unavailable)?;
                Ok(deleted)
            }
        }
    };
}
pub(crate) use evidence_retention_impl;
