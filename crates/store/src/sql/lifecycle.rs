//! Registrations, the notice outbox and certificate flags ([`crate::lifecycle`]): one SQL
//! text per query for both backends.

/// Implements the lifecycle traits for `$store` (rows of type `$row`), whose module has
/// `unavailable` and `sqlx::Row` in scope, and whose fields `pool` (writes) and `reads`
/// (plain reads) are its pools.
macro_rules! lifecycle_queries {
    ($store:ty, $row:ty) => {
        fn registration_from_row(row: &$row) -> Result<$crate::lifecycle::RegistrationRecord, $crate::StoreError> {
            let id: String = row.try_get("id").map_err(unavailable)?;
            let corrupt = |what: &str| $crate::StoreError::Corrupt(format!("registration {id}: {what}"));
            let identity: String = row.try_get("identity").map_err(unavailable)?;
            let state: String = row.try_get("state").map_err(unavailable)?;
            let failed: i64 = row.try_get("failed_attempts").map_err(unavailable)?;
            Ok($crate::lifecycle::RegistrationRecord {
                code_mac: row.try_get("code_mac").map_err(unavailable)?,
                identity: serde_json::from_str(&identity).map_err(|_| corrupt("identity"))?,
                created_by: row.try_get("created_by").map_err(unavailable)?,
                created_at: $crate::rows::time_of(row.try_get("created_at").map_err(unavailable)?),
                expires_at: $crate::rows::time_of(row.try_get("expires_at").map_err(unavailable)?),
                failed_attempts: u32::try_from(failed).map_err(|_| corrupt("failed_attempts"))?,
                state: $crate::lifecycle::RegistrationState::parse(&state).ok_or_else(|| corrupt("state"))?,
                application_id: row.try_get("application_id").map_err(unavailable)?,
                id,
            })
        }

        fn notice_from_row(row: &$row) -> Result<$crate::lifecycle::NoticeRecord, $crate::StoreError> {
            let id: String = row.try_get("id").map_err(unavailable)?;
            let corrupt = |what: &str| $crate::StoreError::Corrupt(format!("notice {id}: {what}"));
            let serial: String = row.try_get("serial").map_err(unavailable)?;
            let payload: String = row.try_get("payload").map_err(unavailable)?;
            let sent: Option<i64> = row.try_get("sent_at").map_err(unavailable)?;
            Ok($crate::lifecycle::NoticeRecord {
                kind: row.try_get("kind").map_err(unavailable)?,
                serial: shuin_core::Serial::from_hex(&serial).ok_or_else(|| corrupt("serial"))?,
                payload: serde_json::from_str(&payload).map_err(|_| corrupt("payload"))?,
                created_at: $crate::rows::time_of(row.try_get("created_at").map_err(unavailable)?),
                sent_at: sent.map($crate::rows::time_of),
                id,
            })
        }

        #[async_trait::async_trait]
        impl $crate::lifecycle::RegistrationStore for $store {
            async fn insert_registration(&self, record: &$crate::lifecycle::RegistrationRecord) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO registrations (id, code_mac, identity, created_by, created_at, expires_at, failed_attempts, state, application_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&record.id)
                .bind(&record.code_mac)
                .bind(record.identity.to_string())
                .bind(&record.created_by)
                .bind($crate::rows::secs(record.created_at))
                .bind($crate::rows::secs(record.expires_at))
                .bind(i64::from(record.failed_attempts))
                .bind(record.state.as_str())
                .bind(&record.application_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn registrations_page(
                &self,
                query: &$crate::lifecycle::RegistrationQuery,
            ) -> Result<Vec<$crate::lifecycle::RegistrationRecord>, $crate::StoreError> {
                let (before_at, before_id) = match &query.before {
                    Some((at, id)) => ($crate::rows::secs(*at), id.as_str()),
                    None => (i64::MAX, ""),
                };
                let rows = sqlx::query(
                    "SELECT id, code_mac, identity, created_by, created_at, expires_at, failed_attempts, state, application_id FROM registrations \
                     WHERE ($1 = '' OR state = $1) AND ($2 = '' OR id = $2 OR application_id = $2 OR created_by = $2) \
                     AND (created_at < $3 OR (created_at = $3 AND $4 <> '' AND id < $4)) \
                     ORDER BY created_at DESC, id DESC LIMIT $5",
                )
                .bind(query.state.map_or("", |s| s.as_str()))
                .bind(query.matching.as_deref().unwrap_or(""))
                .bind(before_at)
                .bind(before_id)
                .bind(i64::from(query.limit))
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter().map(registration_from_row).collect()
            }

            async fn registration(&self, id: &str) -> Result<Option<$crate::lifecycle::RegistrationRecord>, $crate::StoreError> {
                let row = sqlx::query(
                    "SELECT id, code_mac, identity, created_by, created_at, expires_at, failed_attempts, state, application_id FROM registrations WHERE id = $1",
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
            ) -> Result<$crate::lifecycle::RegistrationState, $crate::StoreError> {
                let row = sqlx::query(
                    "UPDATE registrations SET failed_attempts = failed_attempts + 1, \
                     state = CASE WHEN state = 'open' AND failed_attempts + 1 >= $2 THEN 'locked' ELSE state END \
                     WHERE id = $1 RETURNING state",
                )
                .bind(id)
                .bind(i64::from(limit))
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?
                .ok_or($crate::StoreError::NotFound)?;
                let state: String = row.try_get("state").map_err(unavailable)?;
                $crate::lifecycle::RegistrationState::parse(&state)
                    .ok_or_else(|| $crate::StoreError::Corrupt(format!("registration {id}: state")))
            }

            async fn consume_registration(
                &self,
                id: &str,
                application_id: &str,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query(
                    "UPDATE registrations SET state = 'used', application_id = $2 WHERE id = $1 AND state = 'open'",
                )
                .bind(id)
                .bind(application_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn forget_registration_identity(
                &self,
                application_id: &str,
            ) -> Result<u64, $crate::StoreError> {
                let done = sqlx::query(
                    "UPDATE registrations SET identity = '{}' WHERE application_id = $1 AND identity <> '{}'",
                )
                .bind(application_id)
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(done.rows_affected())
            }
        }

        #[async_trait::async_trait]
        impl $crate::lifecycle::NoticeOutbox for $store {
            async fn enqueue_notice(&self, notice: &$crate::lifecycle::NoticeRecord) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO notices (id, kind, serial, payload, created_at, sent_at) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&notice.id)
                .bind(&notice.kind)
                .bind(notice.serial.to_hex())
                .bind(notice.payload.to_string())
                .bind($crate::rows::secs(notice.created_at))
                .bind(notice.sent_at.map($crate::rows::secs))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn pending_notices(&self, limit: u32) -> Result<Vec<$crate::lifecycle::NoticeRecord>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT id, kind, serial, payload, created_at, sent_at FROM notices WHERE sent_at IS NULL ORDER BY created_at, id LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter().map(notice_from_row).collect()
            }

            async fn notices_for(&self, serial: &shuin_core::Serial) -> Result<Vec<$crate::lifecycle::NoticeRecord>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT id, kind, serial, payload, created_at, sent_at FROM notices WHERE serial = $1 ORDER BY created_at, id",
                )
                .bind(serial.to_hex())
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter().map(notice_from_row).collect()
            }

            async fn mark_notice_sent(&self, id: &str, at: std::time::SystemTime) -> Result<(), $crate::StoreError> {
                let done = sqlx::query("UPDATE notices SET sent_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind($crate::rows::secs(at))
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::lifecycle::CertificateFlags for $store {
            async fn flag_certificate(&self, flag: &$crate::lifecycle::CertificateFlag) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query(
                    "INSERT INTO certificate_flags (serial, reason, jpki_serial, flagged_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (serial, reason) DO NOTHING",
                )
                .bind(flag.serial.to_hex())
                .bind(&flag.reason)
                .bind(&flag.jpki_serial)
                .bind($crate::rows::secs(flag.flagged_at))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn certificate_flags(&self) -> Result<Vec<$crate::lifecycle::CertificateFlag>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT serial, reason, jpki_serial, flagged_at FROM certificate_flags ORDER BY flagged_at, serial",
                )
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        let serial: String = row.try_get("serial").map_err(unavailable)?;
                        Ok($crate::lifecycle::CertificateFlag {
                            serial: shuin_core::Serial::from_hex(&serial)
                                .ok_or_else(|| $crate::StoreError::Corrupt(format!("flag {serial}: serial")))?,
                            reason: row.try_get("reason").map_err(unavailable)?,
                            jpki_serial: row.try_get("jpki_serial").map_err(unavailable)?,
                            flagged_at: $crate::rows::time_of(row.try_get("flagged_at").map_err(unavailable)?),
                        })
                    })
                    .collect()
            }
        }
    };
}
pub(crate) use lifecycle_queries;
