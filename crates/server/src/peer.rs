//! The peer API of an RA node (`client_auth = "peer"` listeners, DESIGN.md section 10):
//! the CA's link takes batches of orders and hands back their outcomes. Only a client
//! with a node certificate of the CA role reaches these routes (checked at the
//! connection, `crate::serving`); they exist on no other listener.
//!
//! - `POST /peer/v1/orders/take` `{"sealed": bool, "max": N, "wait_ms": N,
//!   "operator_crl": BASE64?}` → `{"orders": [...], "operator_crl_number": N?}`, waiting up
//!   to `wait_ms` (at most 5 s) for an order. The link hands over the operator CA's newest
//!   CRL when the node holds an older one; the node keeps it only if the operator CA
//!   signed it, and its peer listener checks the link's certificate against it;
//!   With each take the link also hands the CA's roster's digest, and the roster when the
//!   node holds another (`roster`); the node's operator listeners decide with it
//!   (`shuin_books::organisation::HandedRoster`), and it answers the digest it holds
//!   (`roster_digest`);
//! - `POST /peer/v1/orders/answers` `{"answers": [...]}` → `{"not_kept": [...]}`;
//! - `POST /peer/v1/repository` (a `shuin_core::repository_feed::Push`: CRLs and
//!   pre-signed OCSP answers) → what the node holds now (`Held`). An empty push only
//!   asks. The node checks each CRL and answer against the CA's certificates before it
//!   serves them;
//! - `POST /peer/v1/ledger/page` (a `shuin_core::node_book::BookAsk`) → a `BookPage` of
//!   the RA node's own book, and `POST /peer/v1/ledger/checkpoint` (a `BookNote`, signed
//!   by the CA's audit key) → `BookKept`: the CA signs the node's book over its link
//!   (`shuin_core::node_book`). An RA node only.

use crate::problem::problem;
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use shuin_books::organisation::{HandedRoster, RosterSnapshot};
use shuin_core::node_book::{BookAsk, BookKeeper, BookNote, NodeBookError};
use shuin_core::orders::{Answered, MAX_BATCH};
use shuin_core::repository_feed::Push;
use shuin_core::x509::node::NodeIdentity;
use shuin_core::{Clock, ReasonCode};
use shuin_ra::orders::PeerOrders;
use shuin_repo::pushed::{PushedRepository, ReceiveError};
use std::sync::Arc;
use std::time::Duration;

/// The longest a take waits for an order.
pub const MAX_TAKE_WAIT: Duration = Duration::from_secs(5);
/// The largest answers body: a batch of certificates with their chains.
const MAX_ANSWERS_BYTES: usize = 4 * 1024 * 1024;

/// The node at the other end of a peer connection, as its certificate names it.
#[derive(Debug, Clone)]
pub struct PeerNode(pub NodeIdentity);

/// A take request.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Take {
    sealed: bool,
    #[serde(default = "default_max")]
    max: usize,
    #[serde(default)]
    wait_ms: u64,
    #[serde(default)]
    operator_crl: Option<String>,
    /// The CA's termination record (JSON), once the business is terminated.
    #[serde(default)]
    terminated: Option<String>,
    /// The CA's roster: its digest, and the snapshot when the node holds another.
    #[serde(default)]
    roster: Option<RosterHandOver>,
}

/// The CA's roster as a take carries it (`shuin_books::organisation::HandedRoster`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterHandOver {
    /// The digest of the CA's roster now.
    pub digest: String,
    /// The roster, when the node said it holds another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<RosterSnapshot>,
}

fn default_max() -> usize {
    MAX_BATCH
}

/// An answers request.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Answers {
    answers: Vec<Answered>,
}

/// The largest push: a batch of OCSP answers in base64.
const MAX_PUSH_BYTES: usize = 4 * 1024 * 1024;

/// The peer routes: the order queue of an RA node (`orders`; a repository node has
/// none) and the node's repository (`pushed`).
pub fn routes(orders: Option<RaPeer>, pushed: Arc<PushedRepository>) -> Router {
    let repository = Router::new()
        .route("/peer/v1/repository", post(push))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BYTES))
        .with_state(pushed);
    let Some(RaPeer {
        orders,
        book,
        operators,
    }) = orders
    else {
        return repository;
    };
    let book = Router::new()
        .route("/peer/v1/ledger/page", post(book_page))
        .route("/peer/v1/ledger/checkpoint", post(book_checkpoint))
        .layer(DefaultBodyLimit::max(MAX_NOTE_BYTES))
        .with_state(book);
    let take_state = (orders.clone(), operators);
    Router::new()
        .route("/peer/v1/orders/answers", post(answers))
        .with_state(orders)
        .merge(
            Router::new()
                .route("/peer/v1/orders/take", post(take))
                .with_state(take_state),
        )
        .layer(DefaultBodyLimit::max(MAX_ANSWERS_BYTES))
        .merge(repository)
        .merge(book)
}

/// An RA node's side of the peer API: its order queue and its own book.
#[derive(Clone)]
pub struct RaPeer {
    /// The order queue.
    pub orders: Arc<dyn PeerOrders>,
    /// The node's book, which the CA's link signs.
    pub book: Arc<dyn BookKeeper>,
    /// The CA's roster as its link hands it over, for the node's operator listeners
    /// (`None`: the node keeps none).
    pub operators: Option<NodeOperators>,
}

/// Where an RA node keeps the CA's roster its link hands over, and records it.
#[derive(Clone)]
pub struct NodeOperators {
    /// The roster held.
    pub roster: Arc<HandedRoster>,
    /// The node's books, where each roster taken in is recorded first.
    pub books: Arc<dyn shuin_store::LedgerStore>,
    /// The operator CA certificate (DER) every handed certificate must chain to.
    pub operator_ca_der: Vec<u8>,
    /// When a take confirmed it.
    pub clock: Arc<dyn Clock>,
}

impl NodeOperators {
    /// Takes in what a take said of the CA's roster (a refusal is logged: the node keeps
    /// the roster it held, which goes stale unless a later take confirms it).
    async fn receive(&self, given: &RosterHandOver, node: &str) {
        let now = self.clock.now();
        let received = self.roster.receive(
            self.books.as_ref(),
            &self.operator_ca_der,
            (&given.digest, given.snapshot.as_ref()),
            now,
        );
        if let Err(e) = received.await {
            tracing::warn!(error = %e, node, "the roster the CA's link handed over was not taken in");
        }
    }
}

/// The largest checkpoint or page request.
const MAX_NOTE_BYTES: usize = 64 * 1024;

fn book_problem(e: &NodeBookError, node: &str) -> Response {
    match e {
        NodeBookError::Unavailable(_) => {
            tracing::error!(error = %e, node, "the node's book cannot be read or kept");
            problem(
                ReasonCode::ServiceUnavailable,
                "the node's book is unavailable",
            )
        }
        _ => {
            tracing::warn!(error = %e, node, "the CA's link asked for something the node's book refuses");
            problem(ReasonCode::MalformedRequest, &e.to_string())
        }
    }
}

async fn book_page(
    State(book): State<Arc<dyn BookKeeper>>,
    Extension(PeerNode(node)): Extension<PeerNode>,
    body: Result<Json<BookAsk>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(ask)) = body else {
        return problem(
            ReasonCode::MalformedRequest,
            "a page is asked as {\"after\": N, \"through\": N?, \"max\": N}",
        );
    };
    match book.page(&ask).await {
        Ok(page) => (StatusCode::OK, Json(page)).into_response(),
        Err(e) => book_problem(&e, &node.name),
    }
}

async fn book_checkpoint(
    State(book): State<Arc<dyn BookKeeper>>,
    Extension(PeerNode(node)): Extension<PeerNode>,
    body: Result<Json<BookNote>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(note)) = body else {
        return problem(
            ReasonCode::MalformedRequest,
            "a checkpoint is {\"note\": TEXT}",
        );
    };
    match book.keep(&note).await {
        Ok(kept) => {
            tracing::debug!(node = %node.name, size = kept.size, "kept a checkpoint of the node's book");
            (StatusCode::OK, Json(kept)).into_response()
        }
        Err(e) => book_problem(&e, &node.name),
    }
}

async fn push(
    State(pushed): State<Arc<PushedRepository>>,
    Extension(PeerNode(node)): Extension<PeerNode>,
    body: Result<Json<Push>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(push)) = body else {
        return problem(
            ReasonCode::MalformedRequest,
            "a push is {\"crls\": [...], \"ocsp_epoch\": N, \"ocsp_after\": N, \"ocsp_through\": N, \"ocsp\": [...]}",
        );
    };
    match pushed.receive(&push).await {
        Ok(received) => {
            if received.crls + received.answers + received.refused > 0 {
                tracing::debug!(node = %node.name, crls = received.crls, answers = received.answers, refused = received.refused, "the CA's link handed over repository content");
            }
            (StatusCode::OK, Json(pushed.held())).into_response()
        }
        Err(ReceiveError::Malformed(e)) => problem(ReasonCode::MalformedRequest, &e.to_string()),
        Err(e) => {
            tracing::error!(error = %e, node = %node.name, "repository content from the CA's link cannot be kept");
            problem(
                ReasonCode::ServiceUnavailable,
                "the repository store is unavailable",
            )
        }
    }
}

async fn take(
    State((orders, operators)): State<(Arc<dyn PeerOrders>, Option<NodeOperators>)>,
    Extension(PeerNode(node)): Extension<PeerNode>,
    body: Result<Json<Take>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(take)) = body else {
        return problem(
            ReasonCode::MalformedRequest,
            "a take is {\"sealed\": bool, \"max\": N, \"wait_ms\": N}",
        );
    };
    let crl = match take.operator_crl.as_deref().map(|text| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(text)
    }) {
        Some(Err(_)) => {
            return problem(ReasonCode::MalformedRequest, "operator_crl is base64 DER");
        }
        Some(Ok(der)) => Some(der),
        None => None,
    };
    let wait = Duration::from_millis(take.wait_ms).min(MAX_TAKE_WAIT);
    if let (Some(operators), Some(given)) = (&operators, &take.roster) {
        operators.receive(given, &node.name).await;
    }
    let roster_digest = operators.as_ref().and_then(|o| o.roster.digest());
    let taken = async {
        let held = orders.operator_crl(crl.as_deref()).await?;
        orders.keep_termination(take.terminated.as_deref()).await?;
        let batch = orders.take(&node.name, take.sealed, take.max, wait).await?;
        Ok::<_, shuin_store::StoreError>((batch, held))
    };
    match taken.await {
        Ok((batch, held)) => {
            let answer = serde_json::json!({"orders": batch.orders, "operator_crl_number": held, "roster_digest": roster_digest});
            (StatusCode::OK, Json(answer)).into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, node = %node.name, "the order queue cannot be read");
            problem(
                ReasonCode::ServiceUnavailable,
                "the order queue is unavailable",
            )
        }
    }
}

async fn answers(
    State(orders): State<Arc<dyn PeerOrders>>,
    Extension(PeerNode(node)): Extension<PeerNode>,
    body: Result<Json<Answers>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(Answers { answers })) = body else {
        return problem(
            ReasonCode::MalformedRequest,
            "answers are {\"answers\": [...]}",
        );
    };
    if answers.len() > MAX_BATCH {
        return problem(
            ReasonCode::PayloadTooLarge,
            "more answers than a batch holds",
        );
    }
    match orders.answer(answers).await {
        Ok(not_kept) => {
            for refused in &not_kept {
                tracing::warn!(node = %node.name, order = %refused.id, code = refused.code, "an answer from the CA link was not kept");
            }
            (
                StatusCode::OK,
                Json(serde_json::json!({"not_kept": not_kept})),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, node = %node.name, "answers from the CA link cannot be kept");
            problem(
                ReasonCode::ServiceUnavailable,
                "the order queue is unavailable",
            )
        }
    }
}
