//! Row shapes of the PostgreSQL tables; they never leave this module tree. The columns and
//! encodings are those of the SQLite rows (`../sqlite/rows.rs`).

use super::unavailable;
use crate::sqlite::{secs, time_of};
use crate::{
    ApplicationRecord, ApplicationStatus, CertificateRecord, CertificateState, StoreError,
};
use shuin_core::{ReviewReason, Serial};
use sqlx::postgres::PgRow;
use sqlx::Row;

pub(super) const CERTIFICATE_SELECT_BY_SERIAL: &str =
    "SELECT serial, application_id, key_fingerprint, tbs_sha256, state, not_before, not_after, der FROM certificates WHERE serial = $1";
pub(super) const CERTIFICATE_SELECT_BY_STATE: &str =
    "SELECT serial, application_id, key_fingerprint, tbs_sha256, state, not_before, not_after, der FROM certificates WHERE state = $1 ORDER BY not_before, serial";

pub(super) struct ApplicationRow {
    pub(super) id: String,
    pub(super) status: String,
    pub(super) received_at: i64,
    pub(super) review_reasons: String,
    pub(super) serial: Option<String>,
    pub(super) rejection_reason: Option<String>,
    pub(super) evidence_sha256: String,
    pub(super) details: String,
}

impl ApplicationRow {
    pub(super) fn from_record(record: &ApplicationRecord) -> Result<Self, StoreError> {
        Ok(Self {
            id: record.id.clone(),
            status: record.status.as_str().to_owned(),
            received_at: secs(record.received_at),
            review_reasons: serde_json::to_string(&record.review_reasons)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            serial: record.serial.as_ref().map(Serial::to_hex),
            rejection_reason: record.rejection_reason.clone(),
            evidence_sha256: record.evidence_sha256.clone(),
            details: record.details.to_string(),
        })
    }

    pub(super) fn from_postgres(row: &PgRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: row.try_get("id").map_err(unavailable)?,
            status: row.try_get("status").map_err(unavailable)?,
            received_at: row.try_get("received_at").map_err(unavailable)?,
            review_reasons: row.try_get("review_reasons").map_err(unavailable)?,
            serial: row.try_get("serial").map_err(unavailable)?,
            rejection_reason: row.try_get("rejection_reason").map_err(unavailable)?,
            evidence_sha256: row.try_get("evidence_sha256").map_err(unavailable)?,
            details: row.try_get("details").map_err(unavailable)?,
        })
    }

    pub(super) fn into_record(self) -> Result<ApplicationRecord, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("application {}: {what}", self.id));
        let review_reasons: Vec<ReviewReason> =
            serde_json::from_str(&self.review_reasons).map_err(|_| corrupt("review_reasons"))?;
        Ok(ApplicationRecord {
            status: ApplicationStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            received_at: time_of(self.received_at),
            review_reasons,
            serial: match &self.serial {
                Some(hex) => Some(Serial::from_hex(hex).ok_or_else(|| corrupt("serial"))?),
                None => None,
            },
            rejection_reason: self.rejection_reason.clone(),
            evidence_sha256: self.evidence_sha256.clone(),
            details: serde_json::from_str(&self.details).map_err(|_| corrupt("details"))?,
            id: self.id,
        })
    }
}

pub(super) fn certificate_from_postgres(row: &PgRow) -> Result<CertificateRecord, StoreError> {
    let serial_hex: String = row.try_get("serial").map_err(unavailable)?;
    let state: String = row.try_get("state").map_err(unavailable)?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("certificate {serial_hex}: {what}"));
    Ok(CertificateRecord {
        serial: Serial::from_hex(&serial_hex).ok_or_else(|| corrupt("serial"))?,
        application_id: row.try_get("application_id").map_err(unavailable)?,
        key_fingerprint: row.try_get("key_fingerprint").map_err(unavailable)?,
        tbs_sha256: row.try_get("tbs_sha256").map_err(unavailable)?,
        state: CertificateState::parse(&state).ok_or_else(|| corrupt("state"))?,
        not_before: time_of(row.try_get("not_before").map_err(unavailable)?),
        not_after: time_of(row.try_get("not_after").map_err(unavailable)?),
        der: row.try_get("der").map_err(unavailable)?,
    })
}
