//! Read-only ledger endpoints for auditors (docs/ledger.md, "Proofs"):
//!
//! - `GET /ledger/v1/checkpoint`: the latest signed checkpoint (C2SP note, `text/plain`);
//! - `GET /ledger/v1/proof/inclusion?index=I&size=S`: the RFC 9162 section 2.1.3 path of
//!   leaf `I` in the tree of the first `S` entries;
//! - `GET /ledger/v1/proof/consistency?from=A&to=B`: the RFC 9162 section 2.1.4 proof
//!   between the trees of `A` and `B` entries.
//!
//! Hashes are lowercase hex. A proof is checked against the root of a signed checkpoint
//! of the same size, never against the `root` returned here, which is a convenience.
//! Each proof request loads the leaf hashes of the first `S` (or `B`) entries from the
//! store; that is O(n) per request and fine at today's sizes (a tile cache is the next
//! step if the ledger grows large).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use shuin_core::ReasonCode;
use shuin_ledger::merkle;

use crate::problem::problem;
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ledger/v1/checkpoint", get(checkpoint))
        .route("/ledger/v1/proof/inclusion", get(inclusion))
        .route("/ledger/v1/proof/consistency", get(consistency))
}

/// Why a proof request is refused.
enum Refusal {
    /// Bad or out-of-range parameters: 400 with the detail.
    Bad(String),
    /// A store failure: logged with a request id, answered generically.
    Internal(shuin_store::StoreError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Bad(detail) => problem(ReasonCode::MalformedRequest, &detail),
            Refusal::Internal(error) => internal(&error),
        }
    }
}

fn internal(error: &shuin_store::StoreError) -> Response {
    use shuin_core::RandomSource;
    let mut id = [0u8; 8];
    let _ = shuin_core::OsRandom.fill(&mut id);
    let request_id = hex::encode(id);
    tracing::error!(request_id = %request_id, error = %error, "ledger read failed");
    problem(
        ReasonCode::InternalError,
        &format!("internal error (request id {request_id})"),
    )
}

/// The decimal query parameter `name`.
fn number(query: &HashMap<String, String>, name: &str) -> Result<u64, Refusal> {
    let text = query
        .get(name)
        .ok_or_else(|| Refusal::Bad(format!("the query parameter {name} is required")))?;
    text.parse::<u64>()
        .ok()
        .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| Refusal::Bad(format!("{name} must be a non-negative decimal integer")))
}

async fn checkpoint(State(state): State<AppState>) -> Response {
    match state.ledger.latest_checkpoint().await {
        Ok(Some(stored)) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            stored.note,
        )
            .into_response(),
        Ok(None) => problem(ReasonCode::NotFound, "no checkpoint has been signed yet"),
        Err(e) => internal(&e),
    }
}

/// The first `size` leaf hashes, or a refusal if the ledger is shorter.
async fn leaves(state: &AppState, size: u64, name: &str) -> Result<Vec<[u8; 32]>, Refusal> {
    let leaves = state
        .ledger
        .leaf_hashes(size)
        .await
        .map_err(Refusal::Internal)?;
    if u64::try_from(leaves.len()).ok() != Some(size) {
        return Err(Refusal::Bad(format!(
            "{name}={size} exceeds the ledger's {} entries",
            leaves.len()
        )));
    }
    Ok(leaves)
}

fn hexes(hashes: &[[u8; 32]]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

async fn inclusion(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    inclusion_answer(&state, &query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn inclusion_answer(
    state: &AppState,
    query: &HashMap<String, String>,
) -> Result<Response, Refusal> {
    let index = number(query, "index")?;
    let size = number(query, "size")?;
    if index >= size {
        return Err(Refusal::Bad(format!(
            "index={index} must be smaller than size={size}"
        )));
    }
    let leaves = leaves(state, size, "size").await?;
    let path =
        merkle::inclusion_proof(&leaves, index, size).map_err(|e| Refusal::Bad(e.to_string()))?;
    Ok(Json(serde_json::json!({
        "index": index,
        "size": size,
        "leaf_hash": usize::try_from(index).ok().and_then(|i| leaves.get(i)).map(hex::encode),
        "root": hex::encode(merkle::root(&leaves)),
        "inclusion_path": hexes(&path),
    }))
    .into_response())
}

async fn consistency(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    consistency_answer(&state, &query)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn consistency_answer(
    state: &AppState,
    query: &HashMap<String, String>,
) -> Result<Response, Refusal> {
    let from = number(query, "from")?;
    let to = number(query, "to")?;
    if from > to {
        return Err(Refusal::Bad(format!(
            "from={from} must not be larger than to={to}"
        )));
    }
    let leaves = leaves(state, to, "to").await?;
    let path =
        merkle::consistency_proof(&leaves, from, to).map_err(|e| Refusal::Bad(e.to_string()))?;
    let from_root = usize::try_from(from)
        .ok()
        .and_then(|from| leaves.get(..from))
        .map(merkle::root)
        .ok_or_else(|| Refusal::Bad("from is out of range".into()))?;
    Ok(Json(serde_json::json!({
        "from": from,
        "to": to,
        "from_root": hex::encode(from_root),
        "to_root": hex::encode(merkle::root(&leaves)),
        "consistency_path": hexes(&path),
    }))
    .into_response())
}
