//! Row shapes shared by the SQLite and PostgreSQL implementations (same columns, same
//! encodings); each backend keeps only its SQL. Rows never leave this crate.

use crate::{
    ApplicationRecord, ApplicationStatus, CertificateRecord, CertificateState, StoreError,
};
use shuin_core::{ReviewReason, Serial};
use sqlx::{ColumnIndex, Decode, Row, Type};
use std::time::{Duration, SystemTime};

/// A time as stored: Unix seconds.
pub(crate) fn secs(t: SystemTime) -> i64 {
    i64::try_from(shuin_core::clock::unix_seconds(t)).unwrap_or(i64::MAX)
}

/// A stored time (Unix seconds; a negative value reads as the epoch).
pub(crate) fn time_of(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// A stored revocation reason (its CRLReason code); `None` for a code shuin does not use.
pub(crate) fn reason_of(code: i64) -> Option<shuin_core::revocation::RevocationReason> {
    u8::try_from(code)
        .ok()
        .and_then(shuin_core::revocation::RevocationReason::from_code)
}

/// One column, decoded; a decoding failure is reported as storage trouble.
fn get<'r, R, T>(row: &'r R, column: &str) -> Result<T, StoreError>
where
    R: Row,
    for<'c> &'c str: ColumnIndex<R>,
    T: Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(column)
        .map_err(|e| StoreError::Unavailable(Box::new(e)))
}

pub(crate) struct ApplicationRow {
    pub(crate) id: String,
    pub(crate) status: String,
    pub(crate) received_at: i64,
    pub(crate) review_reasons: String,
    pub(crate) serial: Option<String>,
    pub(crate) rejection_reason: Option<String>,
    pub(crate) evidence_sha256: String,
    pub(crate) details: String,
}

impl ApplicationRow {
    pub(crate) fn from_record(record: &ApplicationRecord) -> Result<Self, StoreError> {
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

    pub(crate) fn from_row<R: Row>(row: &R) -> Result<Self, StoreError>
    where
        for<'c> &'c str: ColumnIndex<R>,
        String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
        i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    {
        Ok(Self {
            id: get(row, "id")?,
            status: get(row, "status")?,
            received_at: get(row, "received_at")?,
            review_reasons: get(row, "review_reasons")?,
            serial: get(row, "serial")?,
            rejection_reason: get(row, "rejection_reason")?,
            evidence_sha256: get(row, "evidence_sha256")?,
            details: get(row, "details")?,
        })
    }

    pub(crate) fn into_record(self) -> Result<ApplicationRecord, StoreError> {
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

pub(crate) fn certificate_from_row<R: Row>(row: &R) -> Result<CertificateRecord, StoreError>
where
    for<'c> &'c str: ColumnIndex<R>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    let serial_hex: String = get(row, "serial")?;
    let state: String = get(row, "state")?;
    let corrupt = |what: &str| StoreError::Corrupt(format!("certificate {serial_hex}: {what}"));
    Ok(CertificateRecord {
        serial: Serial::from_hex(&serial_hex).ok_or_else(|| corrupt("serial"))?,
        application_id: get(row, "application_id")?,
        key_fingerprint: get(row, "key_fingerprint")?,
        tbs_sha256: get(row, "tbs_sha256")?,
        state: CertificateState::parse(&state).ok_or_else(|| corrupt("state"))?,
        not_before: time_of(get(row, "not_before")?),
        not_after: time_of(get(row, "not_after")?),
        der: get(row, "der")?,
    })
}
