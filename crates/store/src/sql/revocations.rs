//! Revocations and CRLs ([`crate::RevocationStore`], [`crate::CrlStore`]): one SQL text
//! per query for both backends. Per backend only the locking of `revoke` differs. The
//! pre-signed OCSP answers are in [`crate::sql::ocsp`].

/// Implements the revocation traits for `$store` (rows of type `$row`), whose module has
/// `unavailable` and `sqlx::Row` in scope, and whose fields `pool` (writes) and `reads`
/// (plain reads) are its pools. `revoke` starts its transaction with `$begin` and appends
/// `$lock_issued` to the check that the certificate is issued.
macro_rules! revocation_queries {
    ($store:ty, $row:ty, begin: $begin:literal, lock_issued: $lock_issued:literal) => {
        fn revocation_from_row(row: &$row) -> Result<$crate::RevocationRecord, $crate::StoreError> {
            let serial: String = row.try_get("serial").map_err(unavailable)?;
            let reason: i64 = row.try_get("reason").map_err(unavailable)?;
            let invalidity: Option<i64> = row.try_get("invalidity_date").map_err(unavailable)?;
            let corrupt = |what: &str| $crate::StoreError::Corrupt(format!("revocation {serial}: {what}"));
            Ok($crate::RevocationRecord {
                serial: shuin_core::Serial::from_hex(&serial).ok_or_else(|| corrupt("serial"))?,
                revoked_at: $crate::rows::time_of(row.try_get("revoked_at").map_err(unavailable)?),
                reason: $crate::rows::reason_of(reason).ok_or_else(|| corrupt("reason"))?,
                invalidity_date: invalidity.map($crate::rows::time_of),
                decided_by: row.try_get("decided_by").map_err(unavailable)?,
            })
        }

        #[async_trait::async_trait]
        impl $crate::RevocationStore for $store {
            async fn revoke(&self, record: &$crate::RevocationRecord) -> Result<(), $crate::StoreError> {
                let mut tx = self.pool.begin_with($begin).await.map_err(unavailable)?;
                // The certificate stays issued until this transaction ends: SQLite's write
                // transaction excludes other writers; PostgreSQL's `FOR SHARE` locks the row.
                let issued = sqlx::query(concat!(
                    "SELECT 1 AS one FROM certificates WHERE serial = $1 AND state = 'issued'",
                    $lock_issued
                ))
                .bind(record.serial.to_hex())
                .fetch_optional(&mut *tx)
                .await
                .map_err(unavailable)?;
                if issued.is_none() {
                    return Err($crate::StoreError::NotFound);
                }
                // A concurrent revoke of the same serial waits for the first to commit, then
                // inserts nothing.
                let inserted = sqlx::query(
                    "INSERT INTO revocations (serial, revoked_at, reason, invalidity_date, decided_by) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (serial) DO NOTHING",
                )
                .bind(record.serial.to_hex())
                .bind($crate::rows::secs(record.revoked_at))
                .bind(i64::from(record.reason.code()))
                .bind(record.invalidity_date.map($crate::rows::secs))
                .bind(&record.decided_by)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
                if inserted.rows_affected() == 0 {
                    return Err($crate::StoreError::Conflict($crate::ConflictKind::Revoked));
                }
                tx.commit().await.map_err(unavailable)?;
                Ok(())
            }

            async fn revocation(&self, serial: &shuin_core::Serial) -> Result<Option<$crate::RevocationRecord>, $crate::StoreError> {
                let row = sqlx::query(
                    "SELECT serial, revoked_at, reason, invalidity_date, decided_by FROM revocations WHERE serial = $1",
                )
                .bind(serial.to_hex())
                .fetch_optional(&self.reads)
                .await
                .map_err(unavailable)?;
                row.as_ref().map(revocation_from_row).transpose()
            }

            async fn revocations(&self) -> Result<Vec<$crate::RevocationRecord>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT serial, revoked_at, reason, invalidity_date, decided_by FROM revocations ORDER BY revoked_at, serial",
                )
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter().map(revocation_from_row).collect()
            }

            async fn revocations_page(
                &self,
                after: Option<&shuin_core::Serial>,
                limit: u32,
            ) -> Result<Vec<$crate::RevocationRecord>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT serial, revoked_at, reason, invalidity_date, decided_by FROM revocations WHERE serial > $1 ORDER BY serial LIMIT $2",
                )
                .bind(after.map(shuin_core::Serial::to_hex).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter().map(revocation_from_row).collect()
            }

            async fn revocation_generation(&self) -> Result<u64, $crate::StoreError> {
                let row = sqlx::query("SELECT COUNT(*) AS n FROM revocations")
                    .fetch_one(&self.reads)
                    .await
                    .map_err(unavailable)?;
                let n: i64 = row.try_get("n").map_err(unavailable)?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn issued_unrevoked(
                &self,
                after: Option<&shuin_core::Serial>,
                limit: u32,
            ) -> Result<Vec<shuin_core::Serial>, $crate::StoreError> {
                let rows = sqlx::query(
                    "SELECT c.serial FROM certificates c WHERE c.state = 'issued' AND c.serial > $1 \
                     AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.serial = c.serial) \
                     ORDER BY c.serial LIMIT $2",
                )
                .bind(after.map(shuin_core::Serial::to_hex).unwrap_or_default())
                .bind(i64::from(limit))
                .fetch_all(&self.reads)
                .await
                .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        let text: String = row.try_get("serial").map_err(unavailable)?;
                        shuin_core::Serial::from_hex(&text).ok_or_else(|| {
                            $crate::StoreError::Corrupt(format!("certificate serial {text:?}"))
                        })
                    })
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::CrlStore for $store {
            async fn next_crl_number(&self, scope: &str) -> Result<u64, $crate::StoreError> {
                let row = sqlx::query("SELECT COALESCE(MAX(number), 0) AS n FROM crls WHERE scope = $1")
                    .bind(scope)
                    .fetch_one(&self.reads)
                    .await
                    .map_err(unavailable)?;
                let n: i64 = row.try_get("n").map_err(unavailable)?;
                Ok(u64::try_from(n).unwrap_or(0) + 1)
            }

            async fn put_crl(&self, record: &$crate::CrlRecord) -> Result<(), $crate::StoreError> {
                sqlx::query("INSERT INTO crls (scope, number, this_update, next_update, der) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&record.scope)
                    .bind(i64::try_from(record.number).map_err(|_| $crate::StoreError::Corrupt("CRL number too large".into()))?)
                    .bind($crate::rows::secs(record.this_update))
                    .bind($crate::rows::secs(record.next_update))
                    .bind(&record.der)
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            async fn latest_crl(&self, scope: &str) -> Result<Option<$crate::CrlRecord>, $crate::StoreError> {
                let row = sqlx::query(
                    "SELECT scope, number, this_update, next_update, der FROM crls WHERE scope = $1 ORDER BY number DESC LIMIT 1",
                )
                .bind(scope)
                .fetch_optional(&self.reads)
                .await
                .map_err(unavailable)?;
                row.map(|row| {
                    let number: i64 = row.try_get("number").map_err(unavailable)?;
                    Ok($crate::CrlRecord {
                        scope: row.try_get("scope").map_err(unavailable)?,
                        number: u64::try_from(number)
                            .map_err(|_| $crate::StoreError::Corrupt("negative CRL number".into()))?,
                        this_update: $crate::rows::time_of(row.try_get("this_update").map_err(unavailable)?),
                        next_update: $crate::rows::time_of(row.try_get("next_update").map_err(unavailable)?),
                        der: row.try_get("der").map_err(unavailable)?,
                    })
                })
                .transpose()
            }
        }
    };
}
pub(crate) use revocation_queries;
