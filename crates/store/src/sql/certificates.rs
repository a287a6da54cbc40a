//! Certificates ([`crate::CertificateReader`], [`crate::CertificateWriter`]) and settings
//! ([`crate::SettingsStore`]): one SQL text per query for both backends.

/// One certificate by serial (the columns of `crate::rows::certificate_from_row`).
pub(crate) const CERTIFICATE_SELECT_BY_SERIAL: &str =
    "SELECT serial, application_id, key_fingerprint, tbs_sha256, state, not_before, not_after, der FROM certificates WHERE serial = $1";
/// Certificates in a state, oldest first.
pub(crate) const CERTIFICATE_SELECT_BY_STATE: &str =
    "SELECT serial, application_id, key_fingerprint, tbs_sha256, state, not_before, not_after, der FROM certificates WHERE state = $1 ORDER BY not_before, serial";

/// The certificates of one application, oldest first.
pub(crate) const CERTIFICATE_SELECT_BY_APPLICATION: &str =
    "SELECT serial, application_id, key_fingerprint, tbs_sha256, state, not_before, not_after, der FROM certificates WHERE application_id = $1 ORDER BY not_before, serial";
/// Takes a lease that is free, expired, or already the holder's.
pub(crate) const LEASE_TAKE: &str =
    "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $4) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
     WHERE leases.holder = excluded.holder OR leases.expires_at <= $3";
/// Gives a lease up.
pub(crate) const LEASE_RELEASE: &str = "DELETE FROM leases WHERE name = $1 AND holder = $2";

/// Implements the traits above for `$store`, whose module has `unavailable` (its
/// backend's error mapping) and `sqlx::Row` in scope, and whose fields `pool` (writes)
/// and `reads` (plain reads) are its pools.
macro_rules! certificate_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::CertificateReader for $store {
            async fn issued_count(&self) -> Result<u64, $crate::StoreError> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM certificates WHERE state = 'issued'")
                    .fetch_one(&self.reads)
                    .await
                    .map_err(unavailable)?;
                let n: i64 = row.try_get("n").map_err(unavailable)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn issued_serials(&self) -> Result<Vec<shuin_core::Serial>, $crate::StoreError> {
                let rows = sqlx::query("SELECT serial FROM certificates WHERE state = 'issued'")
                    .fetch_all(&self.reads)
                    .await
                    .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        let text: String = row.try_get("serial").map_err(unavailable)?;
                        shuin_core::Serial::from_hex(&text)
                            .ok_or_else(|| $crate::StoreError::Corrupt(format!("certificate serial {text:?}")))
                    })
                    .collect()
            }

            async fn key_in_use(&self, key_fingerprint: &str) -> Result<bool, $crate::StoreError> {
                let row = sqlx::query("SELECT 1 AS one FROM certificates WHERE key_in_use = $1")
                    .bind(key_fingerprint)
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                Ok(row.is_some())
            }

            async fn certificate(&self, serial: &shuin_core::Serial) -> Result<Option<$crate::CertificateRecord>, $crate::StoreError> {
                let row = sqlx::query($crate::sql::certificates::CERTIFICATE_SELECT_BY_SERIAL)
                    .bind(serial.to_hex())
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                row.map(|r| $crate::rows::certificate_from_row(&r))
                    .transpose()
            }

            async fn certificates_in_state(
                &self,
                state: $crate::CertificateState,
            ) -> Result<Vec<$crate::CertificateRecord>, $crate::StoreError> {
                let found = sqlx::query($crate::sql::certificates::CERTIFICATE_SELECT_BY_STATE)
                    .bind(state.as_str())
                    .fetch_all(&self.reads)
                    .await
                    .map_err(unavailable)?;
                found
                    .iter()
                    .map($crate::rows::certificate_from_row)
                    .collect()
            }

            async fn certificates_of_application(
                &self,
                application_id: &str,
            ) -> Result<Vec<$crate::CertificateRecord>, $crate::StoreError> {
                let found = sqlx::query($crate::sql::certificates::CERTIFICATE_SELECT_BY_APPLICATION)
                    .bind(application_id)
                    .fetch_all(&self.reads)
                    .await
                    .map_err(unavailable)?;
                found
                    .iter()
                    .map($crate::rows::certificate_from_row)
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::InstanceLock for $store {
            async fn take_lease(
                &self,
                name: &str,
                holder: &str,
                now: std::time::SystemTime,
                until: std::time::SystemTime,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::certificates::LEASE_TAKE)
                    .bind(name)
                    .bind(holder)
                    .bind($crate::rows::secs(now))
                    .bind($crate::rows::secs(until))
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn release_lease(&self, name: &str, holder: &str) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::certificates::LEASE_RELEASE)
                    .bind(name)
                    .bind(holder)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::CertificateWriter for $store {
            async fn reserve(&self, record: &$crate::CertificateRecord) -> Result<(), $crate::StoreError> {
                sqlx::query(
                    "INSERT INTO certificates (serial, application_id, key_in_use, key_fingerprint, tbs_sha256, state, not_before, not_after) \
                     VALUES ($1, $2, $3, $3, $4, 'reserved', $5, $6)",
                )
                .bind(record.serial.to_hex())
                .bind(&record.application_id)
                .bind(&record.key_fingerprint)
                .bind(&record.tbs_sha256)
                .bind($crate::rows::secs(record.not_before))
                .bind($crate::rows::secs(record.not_after))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                Ok(())
            }

            async fn complete(
                &self,
                serial: &shuin_core::Serial,
                der: &[u8],
                issued_at: std::time::SystemTime,
            ) -> Result<(), $crate::StoreError> {
                let done = sqlx::query(
                    "UPDATE certificates SET der = $2, issued_at = $3, state = 'issued' WHERE serial = $1 AND state = 'reserved'",
                )
                .bind(serial.to_hex())
                .bind(der)
                .bind($crate::rows::secs(issued_at))
                .execute(&self.pool)
                .await
                .map_err(unavailable)?;
                if done.rows_affected() == 0 {
                    return Err($crate::StoreError::NotFound);
                }
                Ok(())
            }

            async fn mark_undelivered(&self, serial: &shuin_core::Serial) -> Result<(), $crate::StoreError> {
                let done = sqlx::query(
                    "UPDATE certificates SET state = 'undelivered', key_in_use = NULL WHERE serial = $1 AND state = 'reserved'",
                )
                .bind(serial.to_hex())
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
        impl $crate::SettingsStore for $store {
            async fn setting(&self, key: &str) -> Result<Option<String>, $crate::StoreError> {
                let row = sqlx::query("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                row.map(|r| r.try_get::<String, _>("value").map_err(unavailable))
                    .transpose()
            }

            async fn set_setting(&self, key: &str, value: &str) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(key)
                    .bind(value)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }
        }
    };
}
pub(crate) use certificate_queries;
