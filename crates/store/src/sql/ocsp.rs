//! The pre-signed OCSP answers ([`crate::OcspAnswerStore`]): one SQL text per query for
//! both backends. Per backend only how writers are serialised differs. `revoked` is a
//! BOOLEAN in PostgreSQL and 0/1 in SQLite: the texts only compare it with other truth
//! values, which both read alike.

/// Keeps one answer as its serial's, numbered one above the largest number kept (read
/// by the unique index on `number`); an answer signed `good` never replaces one signed
/// `revoked` (a revocation is never undone: that answer was signed from an older read),
/// and then no row is returned.
pub(crate) const OCSP_PUT: &str =
    "INSERT INTO ocsp_presigned (serial, der, revoked, produced_at, number) \
     VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(number), 0) + 1 FROM ocsp_presigned)) \
     ON CONFLICT (serial) DO UPDATE SET der = excluded.der, revoked = excluded.revoked, \
     produced_at = excluded.produced_at, number = excluded.number \
     WHERE NOT (ocsp_presigned.revoked AND NOT excluded.revoked) \
     RETURNING number";
/// One issued certificate, with its kept answer when that was signed for its current
/// status (`der` is NULL otherwise); no row when it is not issued.
pub(crate) const OCSP_LOOKUP: &str =
    "SELECT CASE WHEN p.revoked = (r.serial IS NOT NULL) THEN p.der END AS der \
     FROM certificates c \
     LEFT JOIN ocsp_presigned p ON p.serial = c.serial \
     LEFT JOIN revocations r ON r.serial = c.serial \
     WHERE c.serial = $1 AND c.state = 'issued'";
/// Issued certificates with no kept answer, or one signed `good` while revoked.
pub(crate) const OCSP_UNANSWERED: &str = "SELECT c.serial, r.revoked_at, r.reason \
     FROM certificates c \
     LEFT JOIN ocsp_presigned p ON p.serial = c.serial \
     LEFT JOIN revocations r ON r.serial = c.serial \
     WHERE c.state = 'issued' AND c.serial > $1 \
     AND (p.serial IS NULL OR (NOT p.revoked AND r.serial IS NOT NULL)) \
     ORDER BY c.serial LIMIT $2";
/// Kept answers produced at or before `$1`, oldest first (index `(produced_at, serial)`).
pub(crate) const OCSP_DUE: &str = "SELECT p.serial, r.revoked_at, r.reason \
     FROM ocsp_presigned p \
     LEFT JOIN revocations r ON r.serial = p.serial \
     WHERE p.produced_at <= $1 \
     ORDER BY p.produced_at, p.serial LIMIT $2";
/// Kept answers numbered above `$1`, in number order (the unique index on `number`).
pub(crate) const OCSP_AFTER: &str =
    "SELECT number, der FROM ocsp_presigned WHERE number > $1 ORDER BY number LIMIT $2";
/// How many answers are kept, and the oldest producedAt (read by its index).
pub(crate) const OCSP_COUNT: &str = "SELECT (SELECT COUNT(*) FROM ocsp_presigned) AS n, \
     (SELECT MIN(produced_at) FROM ocsp_presigned) AS oldest";

/// Implements [`crate::OcspAnswerStore`] for `$store` (rows of type `$row`), whose
/// module has `unavailable` and `sqlx::Row` in scope, and whose fields `pool` (writes)
/// and `reads` (plain reads) are its pools. `put_ocsp_answers` starts its transaction
/// with `$begin`, then takes the transaction-scoped advisory lock `$lock` when given
/// (PostgreSQL), so that writers are serialised and numbers become visible in order.
macro_rules! ocsp_queries {
    ($store:ty, $row:ty, begin: $begin:literal $(, advisory_lock: $lock:expr)?) => {
        /// The certificate of a row and its revocation (`revoked_at`, `reason`), if any.
        fn ocsp_to_sign(row: &$row) -> Result<$crate::OcspToSign, $crate::StoreError> {
            let serial: String = row.try_get("serial").map_err(unavailable)?;
            let revoked_at: Option<i64> = row.try_get("revoked_at").map_err(unavailable)?;
            let reason: Option<i64> = row.try_get("reason").map_err(unavailable)?;
            let corrupt = |what: &str| $crate::StoreError::Corrupt(format!("revocation {serial}: {what}"));
            let revoked = match (revoked_at, reason) {
                (None, None) => None,
                (Some(at), Some(reason)) => Some((
                    $crate::rows::time_of(at),
                    $crate::rows::reason_of(reason).ok_or_else(|| corrupt("reason"))?,
                )),
                _ => return Err(corrupt("revoked_at and reason")),
            };
            Ok($crate::OcspToSign {
                serial: shuin_core::Serial::from_hex(&serial).ok_or_else(|| corrupt("serial"))?,
                revoked,
            })
        }

        #[async_trait::async_trait]
        impl $crate::OcspAnswerStore for $store {
            async fn put_ocsp_answers(
                &self,
                answers: &[$crate::PresignedAnswer],
            ) -> Result<Vec<u64>, $crate::StoreError> {
                if answers.is_empty() {
                    return Ok(Vec::new());
                }
                let mut tx = self.pool.begin_with($begin).await.map_err(unavailable)?;
                $(
                    // A writer that hangs holding the lock fails the others in time,
                    // rather than stalling revocations behind it.
                    sqlx::query("SET LOCAL lock_timeout = '10s'")
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    sqlx::query("SELECT pg_advisory_xact_lock($1)")
                        .bind($lock)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                )?
                let mut numbers = Vec::with_capacity(answers.len());
                for answer in answers {
                    let row = sqlx::query($crate::sql::ocsp::OCSP_PUT)
                        .bind(answer.serial.to_hex())
                        .bind(answer.der.as_slice())
                        .bind(answer.revoked)
                        .bind($crate::rows::secs(answer.produced_at))
                        .fetch_optional(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    let Some(row) = row else {
                        continue;
                    };
                    let number: i64 = row.try_get("number").map_err(unavailable)?;
                    numbers.push(
                        u64::try_from(number)
                            .map_err(|_| $crate::StoreError::Corrupt("negative OCSP answer number".into()))?,
                    );
                }
                tx.commit().await.map_err(unavailable)?;
                Ok(numbers)
            }

            async fn ocsp_lookup(
                &self,
                serial: &shuin_core::Serial,
            ) -> Result<$crate::OcspLookup, $crate::StoreError> {
                let row = sqlx::query($crate::sql::ocsp::OCSP_LOOKUP)
                    .bind(serial.to_hex())
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                let Some(row) = row else {
                    return Ok($crate::OcspLookup::NotIssued);
                };
                let der: Option<Vec<u8>> = row.try_get("der").map_err(unavailable)?;
                Ok(match der {
                    Some(der) => $crate::OcspLookup::Answered(der),
                    None => $crate::OcspLookup::Unanswered,
                })
            }

            async fn ocsp_unanswered(
                &self,
                after: Option<&shuin_core::Serial>,
                limit: u32,
            ) -> Result<Vec<$crate::OcspToSign>, $crate::StoreError> {
                let rows = sqlx::query($crate::sql::ocsp::OCSP_UNANSWERED)
                    .bind(after.map(shuin_core::Serial::to_hex).unwrap_or_default())
                    .bind(i64::from(limit))
                    .fetch_all(&self.reads)
                    .await
                    .map_err(unavailable)?;
                rows.iter().map(ocsp_to_sign).collect()
            }

            async fn ocsp_due(
                &self,
                produced_by: std::time::SystemTime,
                limit: u32,
            ) -> Result<Vec<$crate::OcspToSign>, $crate::StoreError> {
                let rows = sqlx::query($crate::sql::ocsp::OCSP_DUE)
                    .bind($crate::rows::secs(produced_by))
                    .bind(i64::from(limit))
                    .fetch_all(&self.reads)
                    .await
                    .map_err(unavailable)?;
                rows.iter().map(ocsp_to_sign).collect()
            }

            async fn ocsp_answers_after(
                &self,
                number: u64,
                limit: u32,
            ) -> Result<Vec<(u64, Vec<u8>)>, $crate::StoreError> {
                // No number kept is above i64::MAX.
                let rows = sqlx::query($crate::sql::ocsp::OCSP_AFTER)
                    .bind(i64::try_from(number).unwrap_or(i64::MAX))
                    .bind(i64::from(limit))
                    .fetch_all(&self.reads)
                    .await
                    .map_err(unavailable)?;
                rows.iter()
                    .map(|row| {
                        let number: i64 = row.try_get("number").map_err(unavailable)?;
                        let number = u64::try_from(number)
                            .map_err(|_| $crate::StoreError::Corrupt("negative OCSP answer number".into()))?;
                        Ok((number, row.try_get("der").map_err(unavailable)?))
                    })
                    .collect()
            }

            async fn ocsp_answer_count(
                &self,
            ) -> Result<(u64, Option<std::time::SystemTime>), $crate::StoreError> {
                let row = sqlx::query($crate::sql::ocsp::OCSP_COUNT)
                    .fetch_one(&self.reads)
                    .await
                    .map_err(unavailable)?;
                let n: i64 = row.try_get("n").map_err(unavailable)?;
                let oldest: Option<i64> = row.try_get("oldest").map_err(unavailable)?;
                Ok((
                    u64::try_from(n).map_err(|_| $crate::StoreError::Corrupt("negative OCSP answer count".into()))?,
                    oldest.map($crate::rows::time_of),
                ))
            }
        }
    };
}
pub(crate) use ocsp_queries;
