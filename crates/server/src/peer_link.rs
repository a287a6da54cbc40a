//! The CA's link to an RA node (DESIGN.md section 10). The CA listens on no network
//! port: it dials out over mutual TLS (its node certificate of the CA role), takes
//! batches of orders from the RA's peer API, has them carried out by its desk
//! (`shuin_core::orders::OrderDesk`), and hands the outcomes back, over and over.
//!
//! A failure (the RA unreachable, TLS refused, an answer not understood) drops the
//! connection and dials again after a pause that doubles up to [`MAX_PAUSE`]. Orders taken
//! but not answered stay claimed on the RA until their claim runs out and are taken
//! again; the desk carries each out at most once, so nothing is issued twice.
//!
//! After each round the link hands the node the CA's newest CRLs and the OCSP answers its
//! responder pre-signed since the node's point (`shuin_core::repository_feed`), so that
//! the node's repository serves them; a revocation reaches it within a round or two.
//!
//! The link also hands the operator CA's newest CRL to an RA node that holds an older one,
//! and dials afresh every [`PeerLink::redial_after`]: each new handshake is checked
//! against the node's newest CRL, so unpairing the CA's link (revoking its certificate)
//! shuts it out within that time.

use crate::operator_api::client::{ClientError, Connection};
use shuin_books::organisation::{RosterFeed, RosterSnapshot};
use shuin_core::node_book::{
    BookAsk, BookKept, BookPage, BookPages, NodeBookError, NodeBookSigner,
};
use shuin_core::orders::{Answered, OrderDesk, MAX_BATCH};
use shuin_core::repository_feed::{Held, Push, RepositoryFeed, MAX_OCSP_ANSWERS};
use shuin_store::CrlStore;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The longest pause between two dials after failures.
pub const MAX_PAUSE: Duration = Duration::from_secs(30);
/// The most repository pushes in one round.
pub const MAX_PUSHES_PER_ROUND: usize = 20;

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
    /// The operator CA's CRLs (the store and scope they are kept under), handed over to
    /// RA nodes that hold an older one.
    pub operator_crls: Option<(Arc<dyn CrlStore>, String)>,
    /// How long one connection is used before the link dials afresh.
    pub redial_after: Duration,
    /// The CRLs and OCSP answers handed to the node's repository (`None`: none).
    pub feed: Option<Arc<dyn RepositoryFeed>>,
    /// Whether the node queues orders (an RA node); a repository node only gets the
    /// repository's content, every [`PeerLink::wait`].
    pub takes_orders: bool,
    /// Signs the RA node's own book (`shuin_core::node_book`; `None`: not signed).
    pub books: Option<Arc<dyn NodeBookSigner>>,
    /// Where the CA keeps its termination record, handed to RA nodes with each take once
    /// the business is terminated (`None`: never handed).
    pub termination: Option<Arc<dyn shuin_store::SettingsStore>>,
    /// The CA's roster, handed to RA nodes for their operator listeners (`None`: not
    /// handed).
    pub roster: Option<Arc<RosterFeed>>,
}

/// How often the link takes a fresh snapshot of the CA's roster.
pub const ROSTER_EVERY: Duration = Duration::from_secs(1);

/// The answers an RA node refused (`{"id", "code"}`), but those it kept before.
fn refused_answers(not_kept: &[serde_json::Value]) -> Vec<(String, String)> {
    not_kept
        .iter()
        .filter_map(|n| Some((n["id"].as_str()?.to_owned(), n["code"].as_str()?.to_owned())))
        .filter(|(_, code)| code != "already_answered")
        .collect()
}

/// How often the link asks an RA node whether its book wants a checkpoint.
pub const BOOK_EVERY: Duration = Duration::from_secs(2);

/// A link's connection and what it knows of the RA node.
#[derive(Default)]
pub struct LinkState {
    connection: Option<(Connection, std::time::Instant)>,
    /// The operator CRL number the RA node said it holds.
    ra_crl_number: Option<u64>,
    /// What the node's repository said it holds, after the last push.
    held: Option<Held>,
    /// When the node's book was last asked for, and the last refusal logged.
    book_asked: Option<std::time::Instant>,
    book_failure: Option<String>,
    /// The roster digest the RA node said it holds.
    ra_roster_digest: Option<String>,
    /// The CA's roster as last snapshotted: when, its digest, and the snapshot.
    roster: Option<(std::time::Instant, String, RosterSnapshot)>,
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

#[derive(serde::Deserialize)]
struct Taken {
    orders: Vec<shuin_core::orders::Order>,
    #[serde(default)]
    operator_crl_number: Option<u64>,
    #[serde(default)]
    roster_digest: Option<String>,
}

impl PeerLink {
    /// Runs the link until `stop` completes.
    pub async fn run(self, stop: impl Future<Output = ()> + Send) {
        let mut stop = std::pin::pin!(stop);
        let mut state = LinkState::default();
        let mut pause = Duration::from_millis(250);
        let mut last_failure: Option<String> = None;
        loop {
            let round = self.round(&mut state);
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
                    state.connection = None;
                    // The node may have restarted: ask what it holds again.
                    state.held = None;
                    let text = e.to_string();
                    if last_failure.as_deref() != Some(text.as_str()) {
                        tracing::warn!(url = %self.url, error = %text, "the link to the node failed; dialling again");
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

    /// The operator CA's newest CRL, if the RA node holds an older one (or none).
    async fn crl_to_hand_over(&self, held: Option<u64>) -> Option<Vec<u8>> {
        let (store, scope) = self.operator_crls.as_ref()?;
        match store.latest_crl(scope).await {
            Ok(Some(crl)) if held.is_none_or(|number| number < crl.number) => Some(crl.der),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(error = %e, "the operator CRL cannot be read for the RA node");
                None
            }
        }
    }

    /// One take, its orders carried out and answered, on the state's connection (dialled
    /// first if there is none or it is due for a fresh handshake).
    pub async fn round(&self, state: &mut LinkState) -> Result<Round, ClientError> {
        let due =
            |(_, since): &(Connection, std::time::Instant)| since.elapsed() >= self.redial_after;
        if state.connection.as_ref().is_none_or(due) {
            let connection = Connection::open(&self.url, self.tls.clone()).await?;
            state.connection = Some((connection, std::time::Instant::now()));
        }
        let (crl, roster) = if self.takes_orders {
            let crl = self.crl_to_hand_over(state.ra_crl_number).await;
            (crl, self.roster_handover(state).await)
        } else {
            (None, None)
        };
        let Some((open, _)) = state.connection.as_mut() else {
            return Err(ClientError::Http("no connection".into()));
        };
        if !self.takes_orders {
            // A repository node: its operator CRL comes with the repository's content.
            self.hand_over(open, &mut state.held).await?;
            tokio::time::sleep(self.wait).await;
            return Ok(Round {
                taken: 0,
                not_kept: 0,
            });
        }
        let mut take = serde_json::json!({
            "sealed": (self.sealed)(),
            "max": MAX_BATCH,
            "wait_ms": u64::try_from(self.wait.as_millis()).unwrap_or(u64::MAX),
        });
        if let Some(der) = crl {
            use base64::Engine;
            take["operator_crl"] = base64::engine::general_purpose::STANDARD.encode(der).into();
        }
        if let Some(record) = self.termination_record().await {
            take["terminated"] = record.into();
        }
        if let Some(handover) = roster {
            take["roster"] = handover;
        }
        let batch: Taken = open.post_json("/peer/v1/orders/take", &take).await?;
        state.ra_crl_number = batch.operator_crl_number;
        state.ra_roster_digest = batch.roster_digest;
        let taken = batch.orders.len();
        let mut not_kept = 0;
        if taken > 0 {
            let answers: Vec<Answered> = self.desk.carry_out(batch.orders).await;
            let body = serde_json::json!({"answers": answers});
            let kept: AnswersKept = open.post_json("/peer/v1/orders/answers", &body).await?;
            if !kept.not_kept.is_empty() {
                tracing::warn!(url = %self.url, not_kept = ?kept.not_kept, "the RA node did not keep some answers");
                self.desk.not_kept(&refused_answers(&kept.not_kept)).await;
            }
            not_kept = kept.not_kept.len();
        }
        self.hand_over(open, &mut state.held).await?;
        if let Some(books) = &self.books {
            if state.book_asked.is_none_or(|at| at.elapsed() >= BOOK_EVERY) {
                state.book_asked = Some(std::time::Instant::now());
                let failure = self.sign_book(books.as_ref(), open).await.err();
                self.report_book(failure, &mut state.book_failure);
            }
        }
        Ok(Round { taken, not_kept })
    }

    /// The CA's roster for this take: its digest, and the roster itself when the node
    /// holds another. Snapshotted at most every [`ROSTER_EVERY`]; books that cannot be
    /// read hand nothing this round (logged), and the node's roster goes stale.
    async fn roster_handover(&self, state: &mut LinkState) -> Option<serde_json::Value> {
        let feed = self.roster.as_ref()?;
        let due = state
            .roster
            .as_ref()
            .is_none_or(|(at, _, _)| at.elapsed() >= ROSTER_EVERY);
        if due {
            match feed.snapshot().await {
                Ok(snapshot) => {
                    let digest = snapshot.digest();
                    state.roster = Some((std::time::Instant::now(), digest, snapshot));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the roster cannot be read; not handed over this round");
                    state.roster = None;
                    return None;
                }
            }
        }
        let (_, digest, snapshot) = state.roster.as_ref()?;
        let held = state.ra_roster_digest.as_ref() == Some(digest);
        let handover = crate::peer::RosterHandOver {
            digest: digest.clone(),
            snapshot: (!held).then(|| snapshot.clone()),
        };
        serde_json::to_value(handover).ok()
    }

    /// The CA's termination record, if the business is terminated; a store that cannot
    /// be read hands nothing this round (logged).
    async fn termination_record(&self) -> Option<String> {
        let store = self.termination.as_ref()?;
        match store
            .setting(shuin_core::termination::TERMINATION_SETTING)
            .await
        {
            Ok(record) => record,
            Err(e) => {
                tracing::warn!(error = %e, "the termination record cannot be read; not handed over this round");
                None
            }
        }
    }

    /// Has the CA sign the node's book, if a checkpoint is due, and hands the note over.
    async fn sign_book(
        &self,
        books: &dyn NodeBookSigner,
        open: &mut Connection,
    ) -> Result<(), NodeBookError> {
        let mut pages = LinkPages(open);
        let Some(note) = books.sign(&self.url, &mut pages).await? else {
            return Ok(());
        };
        let kept: BookKept = open
            .post_json("/peer/v1/ledger/checkpoint", &note)
            .await
            .map_err(|e| NodeBookError::Unavailable(format!("handing over the checkpoint: {e}")))?;
        tracing::debug!(url = %self.url, size = kept.size, "the RA node kept its book's checkpoint");
        Ok(())
    }

    /// Logs a failure to sign the node's book once, until it changes; a sealed CA signs
    /// nothing and says so at debug level only.
    fn report_book(&self, failure: Option<NodeBookError>, last: &mut Option<String>) {
        let text = failure.as_ref().map(ToString::to_string);
        if text == *last {
            return;
        }
        match &failure {
            None => tracing::info!(url = %self.url, "the RA node's book is signed again"),
            Some(NodeBookError::Sealed) => {
                tracing::debug!(url = %self.url, "sealed: the RA node's book waits for the audit key")
            }
            Some(e) => {
                tracing::warn!(url = %self.url, code = e.code(), error = %e, "the RA node's book was not signed")
            }
        }
        *last = text;
    }

    /// Hands the node's repository the CRLs newer than it holds and the OCSP answers
    /// after its point, in pushes of at most [`MAX_OCSP_ANSWERS`] (at most
    /// [`MAX_PUSHES_PER_ROUND`] a round, so that orders keep moving).
    async fn hand_over(
        &self,
        open: &mut Connection,
        held: &mut Option<Held>,
    ) -> Result<(), ClientError> {
        let Some(feed) = &self.feed else {
            return Ok(());
        };
        let mut now_held = match held.take() {
            Some(known) => known,
            None => {
                open.post_json("/peer/v1/repository", &Push::default())
                    .await?
            }
        };
        let crls = feed.crls().await;
        for _ in 0..MAX_PUSHES_PER_ROUND {
            let delta = feed
                .ocsp_after(now_held.ocsp_epoch, now_held.ocsp_through, MAX_OCSP_ANSWERS)
                .await;
            let push = Push::for_node(&now_held, &crls, delta.as_ref());
            if push.is_empty() {
                break;
            }
            now_held = open.post_json("/peer/v1/repository", &push).await?;
            if push.ocsp.len() < MAX_OCSP_ANSWERS {
                break;
            }
        }
        *held = Some(now_held);
        Ok(())
    }
}

/// The node's book, read over the link's connection.
struct LinkPages<'a>(&'a mut Connection);

#[async_trait::async_trait]
impl BookPages for LinkPages<'_> {
    async fn page(&mut self, ask: &BookAsk) -> Result<BookPage, NodeBookError> {
        self.0
            .post_json("/peer/v1/ledger/page", ask)
            .await
            .map_err(|e| NodeBookError::Unavailable(format!("reading the node's book: {e}")))
    }
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;

#[cfg(test)]
mod refusal_tests {
    #[test]
    fn answers_kept_before_are_not_refusals() {
        let not_kept = [
            serde_json::json!({"id": "issue:a", "code": "already_answered"}),
            serde_json::json!({"id": "issue:b", "code": "certificate_not_for_order"}),
            serde_json::json!({"id": 7}),
        ];
        assert_eq!(
            super::refused_answers(&not_kept),
            [("issue:b".to_owned(), "certificate_not_for_order".to_owned())]
        );
    }
}
