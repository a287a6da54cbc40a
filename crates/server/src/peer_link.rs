//! The CA's link to an RA node (DESIGN.md section 10). The CA listens on no network
//! port: it dials out over mutual TLS (its node certificate of the CA role), takes
//! batches of orders from the RA's peer API, has them carried out by its desk
//! (`shuin_core::orders::OrderDesk`), and hands the outcomes back, over and over.
//!
//! A failure (the RA unreachable, TLS refused, an answer not understood) drops the
//! connection and dials again after a pause that doubles up to [`MAX_PAUSE`]. Orders taken
//! but not answered stay claimed on the RA until their claim runs out and are taken
//! again; the desk carries each out at most once, so nothing is issued twice.

use crate::operator_api::client::{ClientError, Connection};
use shuin_core::orders::{Answered, Batch, OrderDesk, MAX_BATCH};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The longest pause between two dials after failures.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);

/// One link: where it dials, with what, and who carries its orders out.
#[derive(Clone)]
pub struct PeerLink {
    /// `https://HOST:PORT` of the RA node's peer listener.
    pub url: String,
    /// The TLS client configuration: the operator CA as trust anchor, the CA's node
    /// certificate and key as client identity.
    pub tls: Arc<rustls::ClientConfig>,
    /// Carries the orders out.
    pub desk: Arc<dyn OrderDesk>,
    /// Whether the CA is sealed now (reported with every take).
    pub sealed: Arc<dyn Fn() -> bool + Send + Sync>,
    /// How long a take waits on the RA for an order.
    pub wait: Duration,
}

impl std::fmt::Debug for PeerLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerLink")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    /// Orders taken.
    pub taken: usize,
    /// Answers the RA did not keep.
    pub not_kept: usize,
}

#[derive(serde::Deserialize)]
struct AnswersKept {
    not_kept: Vec<serde_json::Value>,
}

impl PeerLink {
    /// Runs the link until `stop` completes.
    pub async fn run(self, stop: impl Future<Output = ()> + Send) {
        let mut stop = std::pin::pin!(stop);
        let mut connection: Option<Connection> = None;
        let mut pause = Duration::from_millis(250);
        let mut last_failure: Option<String> = None;
        loop {
            let round = self.round(&mut connection);
            let result = tokio::select! {
                result = round => result,
                () = &mut stop => return,
            };
            match result {
                Ok(_) => {
                    if last_failure.take().is_some() {
                        tracing::info!(url = %self.url, "the link to the RA node works again");
                    }
                    pause = Duration::from_millis(250);
                }
                Err(e) => {
                    connection = None;
                    let text = e.to_string();
                    if last_failure.as_deref() != Some(text.as_str()) {
                        tracing::warn!(url = %self.url, error = %text, "the link to the RA node failed; dialling again");
                        last_failure = Some(text);
                    }
                    tokio::select! {
                        () = tokio::time::sleep(pause) => {}
                        () = &mut stop => return,
                    }
                    pause = (pause * 2).min(MAX_PAUSE);
                }
            }
        }
    }

    /// One take, its orders carried out and answered, on `connection` (dialled first if
    /// there is none).
    pub async fn round(&self, connection: &mut Option<Connection>) -> Result<Round, ClientError> {
        if connection.is_none() {
            *connection = Some(Connection::open(&self.url, self.tls.clone()).await?);
        }
        let Some(open) = connection.as_mut() else {
            return Err(ClientError::Http("no connection".into()));
        };
        let take = serde_json::json!({
            "sealed": (self.sealed)(),
            "max": MAX_BATCH,
            "wait_ms": u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX),
        });
        let batch: Batch = open.post_json("/peer/v1/orders/take", &take).await?;
        let taken = batch.orders.len();
        if taken == 0 {
            return Ok(Round { taken, not_kept: 0 });
        }
        let answers: Vec<Answered> = self.desk.carry_out(batch.orders).await;
        let body = serde_json::json!({"answers": answers});
        let kept: AnswersKept = open.post_json("/peer/v1/orders/answers", &body).await?;
        if !kept.not_kept.is_empty() {
            tracing::warn!(url = %self.url, not_kept = ?kept.not_kept, "the RA node did not keep some answers");
        }
        Ok(Round {
            taken,
            not_kept: kept.not_kept.len(),
        })
    }
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
