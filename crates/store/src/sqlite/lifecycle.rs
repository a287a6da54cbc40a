//! Registrations, the notice outbox and certificate flags on SQLite.

use super::{secs, time_of, unavailable, SqliteStore};
use crate::lifecycle::{
    CertificateFlag, CertificateFlags, NoticeOutbox, NoticeRecord, RegistrationRecord,
    RegistrationState, RegistrationStore,
};
use crate::StoreError;
use async_trait::async_trait;
use shuin_core::Serial;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;
use std::time::SystemTime;

fn registration_from_row(row: &SqliteRow) -> Result<RegistrationRecord, StoreError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("registration {id}: {what}"));
    let identity: String = row.try_get("identity").map_err(unavailable)?;
    let state: String = row.try_get("state").map_err(unavailable)?;
    let failed: i64 = row.try_get("failed_attempts").map_err(unavailable)?;
    Ok(RegistrationRecord {
        code_mac: row.try_get("code_mac").map_err(unavailable)?,
        identity: serde_json::from_str(&identity).map_err(|_| corrupt("identity"))?,
        created_by: row.try_get("created_by").map_err(unavailable)?,
        created_at: time_of(row.try_get("created_at").map_err(unavailable)?),
        expires_at: time_of(row.try_get("expires_at").map_err(unavailable)?),
        failed_attempts: u32::try_from(failed).map_err(|_| corrupt("failed_attempts"))?,
        state: RegistrationState::parse(&state).ok_or_else(|| corrupt("state"))?,
        application_id: row.try_get("application_id").map_err(unavailable)?,
        id,
    })
}

fn notice_from_row(row: &SqliteRow) -> Result<NoticeRecord, StoreError> {
    let id: String = row.try_get("id").map_err(unavailable)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("notice {id}: {what}"));
    let serial: String = row.try_get("serial").map_err(unavailable)?;
    let payload: String = row.try_get("payload").map_err(unavailable)?;
    let sent: Option<i64> = row.try_get("sent_at").map_err(unavailable)?;
    Ok(NoticeRecord {
        kind: row.try_get("kind").map_err(unavailable)?,
        serial: Serial::from_hex(&serial).ok_or_else(|| corrupt("serial"))?,
        payload: serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?,
        created_at: time_of(row.try_get("created_at").map_err(unavailable)?),
        sent_at: sent.map(time_of),
        id,
    })
}

#[async_trait]
impl RegistrationStore for SqliteStore {
    async fn insert_registration(&self, record: &RegistrationRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO registrations (id, code_mac, identity, created_by, created_at, expires_at, failed_attempts, state, application_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(&record.id)
        .bind(&record.code_mac)
        .bind(record.identity.to_string())
        .bind(&record.created_by)
        .bind(secs(record.created_at))
        .bind(secs(record.expires_at))
        .bind(i64::from(record.failed_attempts))
        .bind(record.state.as_str())
        .bind(&record.application_id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn registration(&self, id: &str) -> Result<Option<RegistrationRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, code_mac, identity, created_by, created_at, expires_at, failed_attempts, state, application_id FROM registrations WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.reads)
        .await
        .map_err(unavailable)?;
        row.as_ref().map(registration_from_row).transpose()
    }

    async fn record_wrong_code(
        &self,
        id: &str,
        limit: u32,
    ) -> Result<RegistrationState, StoreError> {
        let row = sqlx::query(
            "UPDATE registrations SET failed_attempts = failed_attempts + 1, \
             state = CASE WHEN state = 'open' AND failed_attempts + 1 >= ?2 THEN 'locked' ELSE state END \
             WHERE id = ?1 RETURNING state",
        )
        .bind(id)
        .bind(i64::from(limit))
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .ok_or(StoreError::NotFound)?;
        let state: String = row.try_get("state").map_err(unavailable)?;
        RegistrationState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("registration {id}: state")))
    }

    async fn consume_registration(
        &self,
        id: &str,
        application_id: &str,
    ) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "UPDATE registrations SET state = 'used', application_id = ?2 WHERE id = ?1 AND state = 'open'",
        )
        .bind(id)
        .bind(application_id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }
}

#[async_trait]
impl NoticeOutbox for SqliteStore {
    async fn enqueue_notice(&self, notice: &NoticeRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO notices (id, kind, serial, payload, created_at, sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(&notice.id)
        .bind(&notice.kind)
        .bind(notice.serial.to_hex())
        .bind(notice.payload.to_string())
        .bind(secs(notice.created_at))
        .bind(notice.sent_at.map(secs))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn pending_notices(&self, limit: u32) -> Result<Vec<NoticeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, serial, payload, created_at, sent_at FROM notices WHERE sent_at IS NULL ORDER BY created_at, id LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.reads)
        .await
        .map_err(unavailable)?;
        rows.iter().map(notice_from_row).collect()
    }

    async fn notices_for(&self, serial: &Serial) -> Result<Vec<NoticeRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, serial, payload, created_at, sent_at FROM notices WHERE serial = ?1 ORDER BY created_at, id",
        )
        .bind(serial.to_hex())
        .fetch_all(&self.reads)
        .await
        .map_err(unavailable)?;
        rows.iter().map(notice_from_row).collect()
    }

    async fn mark_notice_sent(&self, id: &str, at: SystemTime) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE notices SET sent_at = ?2 WHERE id = ?1")
            .bind(id)
            .bind(secs(at))
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

#[async_trait]
impl CertificateFlags for SqliteStore {
    async fn flag_certificate(&self, flag: &CertificateFlag) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO certificate_flags (serial, reason, jpki_serial, flagged_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (serial, reason) DO NOTHING",
        )
        .bind(flag.serial.to_hex())
        .bind(&flag.reason)
        .bind(&flag.jpki_serial)
        .bind(secs(flag.flagged_at))
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected() == 1)
    }

    async fn certificate_flags(&self) -> Result<Vec<CertificateFlag>, StoreError> {
        let rows = sqlx::query(
            "SELECT serial, reason, jpki_serial, flagged_at FROM certificate_flags ORDER BY flagged_at, serial",
        )
        .fetch_all(&self.reads)
        .await
        .map_err(unavailable)?;
        rows.iter()
            .map(|row| {
                let serial: String = row.try_get("serial").map_err(unavailable)?;
                Ok(CertificateFlag {
                    serial: Serial::from_hex(&serial)
                        .ok_or_else(|| StoreError::Corrupt(format!("flag {serial}: serial")))?,
                    reason: row.try_get("reason").map_err(unavailable)?,
                    jpki_serial: row.try_get("jpki_serial").map_err(unavailable)?,
                    flagged_at: time_of(row.try_get("flagged_at").map_err(unavailable)?),
                })
            })
            .collect()
    }
}
