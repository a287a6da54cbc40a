//! The order queue ([`crate::orders::OrderStore`]): one SQL text per query for both
//! backends. A claim is one conditional update of the oldest claimable orders, so two RA
//! nodes (or two CA links) on one database never both claim an order.

/// Queues an order, or queues again a done order whose outcome was retryable.
pub(crate) const QUEUE: &str = "INSERT INTO orders (id, body, state, queued_at, retryable) \
     VALUES ($1, $2, 'queued', $3, 0) \
     ON CONFLICT (id) DO UPDATE SET body = excluded.body, state = 'queued', \
     queued_at = excluded.queued_at, outcome = NULL, retryable = 0, claimed_by = NULL, \
     claimed_until = NULL, done_at = NULL \
     WHERE orders.state = 'done' AND orders.retryable = 1";
/// Whether any order is claimable at `$1` (read first, so that an idle take does not
/// open a write transaction).
pub(crate) const ANY_CLAIMABLE: &str = "SELECT 1 AS one FROM orders \
     WHERE state = 'queued' OR (state = 'claimed' AND claimed_until <= $1) LIMIT 1";
/// Claims at most `$4` orders claimable at `$1`, oldest first, in one statement (one
/// transaction). The condition is checked again on each row, so that of two claims at
/// once (two CA links, or RA nodes on one PostgreSQL database) only one gets an order.
pub(crate) const CLAIM: &str =
    "UPDATE orders SET state = 'claimed', claimed_by = $2, claimed_until = $3 \
     WHERE id IN (SELECT id FROM orders \
         WHERE state = 'queued' OR (state = 'claimed' AND claimed_until <= $1) \
         ORDER BY queued_at, id LIMIT $4) \
     AND (state = 'queued' OR (state = 'claimed' AND claimed_until <= $1)) \
     RETURNING id, body, queued_at";
/// Keeps a copy of a certificate the CA issued for an order; a copy kept before stays. A
/// copy whose key another certificate of this store holds is an error, and so nothing of
/// its batch is kept (the CA never certifies a key twice: it would be a defect).
pub(crate) const COPY_CERTIFICATE: &str = "INSERT INTO certificates \
     (serial, application_id, key_in_use, key_fingerprint, tbs_sha256, state, not_before, not_after, der, issued_at) \
     VALUES ($1, $2, $3, $3, $4, 'issued', $5, $6, $7, $8) ON CONFLICT (serial) DO NOTHING";
/// Completes a copy that an earlier version left reserved.
pub(crate) const COMPLETE_COPY: &str =
    "UPDATE certificates SET der = $2, issued_at = $3, state = 'issued' \
     WHERE serial = $1 AND state = 'reserved'";
/// Records a revocation the CA carried out for an order, when this store holds the
/// certificate issued (a copy) and no revocation of it yet.
pub(crate) const RECORD_REVOCATION: &str = "INSERT INTO revocations \
     (serial, revoked_at, reason, invalidity_date, decided_by) \
     SELECT $1, $2, $3, $4, $5 WHERE EXISTS \
         (SELECT 1 FROM certificates WHERE serial = $1 AND state = 'issued') \
     ON CONFLICT (serial) DO NOTHING";
/// Keeps the first outcome of an order.
pub(crate) const ANSWER: &str =
    "UPDATE orders SET state = 'done', outcome = $2, retryable = $3, done_at = $4 \
     WHERE id = $1 AND state <> 'done'";
/// One order's body, state and outcome.
pub(crate) const SELECT: &str = "SELECT body, state, outcome FROM orders WHERE id = $1";
/// The depth of the queue at `$1`.
pub(crate) const DEPTH: &str = "SELECT \
     COALESCE(SUM(CASE WHEN state = 'queued' OR (state = 'claimed' AND claimed_until <= $1) THEN 1 ELSE 0 END), 0) AS queued, \
     COALESCE(SUM(CASE WHEN state = 'claimed' AND claimed_until > $1 THEN 1 ELSE 0 END), 0) AS claimed \
     FROM orders WHERE state <> 'done'";

/// Implements [`crate::orders::OrderStore`] for `$store`, whose module has `unavailable`
/// and `sqlx::Row` in scope, and whose fields `pool` (writes) and `reads` are its pools.
macro_rules! order_queries {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::orders::OrderStore for $store {
            async fn queue_order(
                &self,
                order: &shuin_core::orders::Order,
                now: std::time::SystemTime,
            ) -> Result<(), $crate::StoreError> {
                sqlx::query($crate::sql::orders::QUEUE)
                    .bind(order.id())
                    .bind($crate::orders::json_of(order)?)
                    .bind($crate::rows::secs(now))
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(())
            }

            async fn claim_orders(
                &self,
                holder: &str,
                limit: u32,
                now: std::time::SystemTime,
                until: std::time::SystemTime,
            ) -> Result<Vec<shuin_core::orders::Order>, $crate::StoreError> {
                let any = sqlx::query($crate::sql::orders::ANY_CLAIMABLE)
                    .bind($crate::rows::secs(now))
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?;
                if any.is_none() {
                    return Ok(Vec::new());
                }
                let rows = sqlx::query($crate::sql::orders::CLAIM)
                    .bind($crate::rows::secs(now))
                    .bind(holder)
                    .bind($crate::rows::secs(until))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?;
                let mut claimed = Vec::with_capacity(rows.len());
                for row in rows {
                    let queued_at: i64 = row.try_get("queued_at").map_err(unavailable)?;
                    let id: String = row.try_get("id").map_err(unavailable)?;
                    let body: String = row.try_get("body").map_err(unavailable)?;
                    claimed.push((queued_at, id, $crate::orders::order_of(&body)?));
                }
                // RETURNING lists rows in no set order: oldest first, as claimed.
                claimed.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
                Ok(claimed.into_iter().map(|(_, _, order)| order).collect())
            }

            async fn keep_answers(
                &self,
                answers: &[$crate::orders::AnswerToKeep<'_>],
                now: std::time::SystemTime,
            ) -> Result<Vec<bool>, $crate::StoreError> {
                let now = $crate::rows::secs(now);
                let mut tx = self.pool.begin().await.map_err(unavailable)?;
                let mut kept = Vec::with_capacity(answers.len());
                for answer in answers {
                    if let Some((record, der)) = answer.certificate {
                        let copied = sqlx::query($crate::sql::orders::COPY_CERTIFICATE)
                            .bind(record.serial.to_hex())
                            .bind(&record.application_id)
                            .bind(&record.key_fingerprint)
                            .bind(&record.tbs_sha256)
                            .bind($crate::rows::secs(record.not_before))
                            .bind($crate::rows::secs(record.not_after))
                            .bind(der)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                        if copied.rows_affected() == 0 {
                            // A copy was there: complete it if an earlier version left
                            // it reserved.
                            sqlx::query($crate::sql::orders::COMPLETE_COPY)
                                .bind(record.serial.to_hex())
                                .bind(der)
                                .bind(now)
                                .execute(&mut *tx)
                                .await
                                .map_err(unavailable)?;
                        }
                    }
                    if let Some(record) = answer.revocation {
                        sqlx::query($crate::sql::orders::RECORD_REVOCATION)
                            .bind(record.serial.to_hex())
                            .bind($crate::rows::secs(record.revoked_at))
                            .bind(i64::from(record.reason.code()))
                            .bind(record.invalidity_date.map($crate::rows::secs))
                            .bind(&record.decided_by)
                            .execute(&mut *tx)
                            .await
                            .map_err(unavailable)?;
                    }
                    let answered = answer.answered;
                    let done = sqlx::query($crate::sql::orders::ANSWER)
                        .bind(&answered.id)
                        .bind($crate::orders::json_of(&answered.outcome)?)
                        .bind(i64::from(answered.outcome.retryable()))
                        .bind(now)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    kept.push(done.rows_affected() == 1);
                }
                tx.commit().await.map_err(unavailable)?;
                Ok(kept)
            }

            async fn answer_order(
                &self,
                answered: &shuin_core::orders::Answered,
                now: std::time::SystemTime,
            ) -> Result<bool, $crate::StoreError> {
                let done = sqlx::query($crate::sql::orders::ANSWER)
                    .bind(&answered.id)
                    .bind($crate::orders::json_of(&answered.outcome)?)
                    .bind(i64::from(answered.outcome.retryable()))
                    .bind($crate::rows::secs(now))
                    .execute(&self.pool)
                    .await
                    .map_err(unavailable)?;
                Ok(done.rows_affected() == 1)
            }

            async fn order(
                &self,
                id: &str,
            ) -> Result<Option<$crate::orders::StoredOrder>, $crate::StoreError> {
                let Some(row) = sqlx::query($crate::sql::orders::SELECT)
                    .bind(id)
                    .fetch_optional(&self.reads)
                    .await
                    .map_err(unavailable)?
                else {
                    return Ok(None);
                };
                let body: String = row.try_get("body").map_err(unavailable)?;
                let state: String = row.try_get("state").map_err(unavailable)?;
                let outcome: Option<String> = row.try_get("outcome").map_err(unavailable)?;
                let state = match (state.as_str(), outcome) {
                    ("done", Some(outcome)) => {
                        $crate::orders::OrderState::Done($crate::orders::outcome_of(&outcome)?)
                    }
                    ("done", None) => {
                        return Err($crate::StoreError::Corrupt(format!(
                            "order {id}: done without an outcome"
                        )))
                    }
                    _ => $crate::orders::OrderState::Pending,
                };
                Ok(Some($crate::orders::StoredOrder {
                    order: $crate::orders::order_of(&body)?,
                    state,
                }))
            }

            async fn queue_depth(
                &self,
                now: std::time::SystemTime,
            ) -> Result<$crate::orders::QueueDepth, $crate::StoreError> {
                let row = sqlx::query($crate::sql::orders::DEPTH)
                    .bind($crate::rows::secs(now))
                    .fetch_one(&self.reads)
                    .await
                    .map_err(unavailable)?;
                let count = |column: &str| -> Result<u64, $crate::StoreError> {
                    let n: i64 = row.try_get(column).map_err(unavailable)?;
                    Ok(u64::try_from(n).unwrap_or(0))
                };
                Ok($crate::orders::QueueDepth {
                    queued: count("queued")?,
                    claimed: count("claimed")?,
                })
            }
        }
    };
}
pub(crate) use order_queries;
