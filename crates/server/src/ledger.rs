//! Read-only ledger endpoints for auditors (docs/ledger.md, "Proofs" and "Tiles"):
//!
//! - `GET /ledger/v1/checkpoint`: the latest signed checkpoint (C2SP note, `text/plain`);
//! - `GET /ledger/v1/tile/<L>/<N>[.p/<W>]`: the Merkle tree as C2SP `tlog-tiles` hash
//!   tiles with the prefix `/ledger/v1/` (full tiles cached for a year as `immutable`,
//!   partial ones for a minute; 404 beyond the latest checkpoint and for
//!   `tile/entries/...`, which is not served because entries carry personal data);
//! - `GET /ledger/v1/proof/inclusion?index=I&size=S`: the RFC 9162 section 2.1.3 path of
//!   leaf `I` in the tree of the first `S` entries;
//! - `GET /ledger/v1/proof/consistency?from=A&to=B`: the RFC 9162 section 2.1.4 proof
//!   between the trees of `A` and `B` entries.
//!
//! Hashes are lowercase hex. A proof is checked against the root of a signed checkpoint
//! of the same size, never against the `root` returned here, which is a convenience.
//! Tiles and proofs come from the stored tiles (`shuin_repo::tiles`): a request reads
//! the handful of tiles it needs, never every leaf, and sizes beyond the latest
//! checkpoint are refused.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use shuin_core::ReasonCode;
use shuin_ledger::tiles::TileId;
use shuin_repo::tiles::{self, TilesError};

use crate::problem::problem;
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/ledger/v1/checkpoint", get(checkpoint))
        .route("/ledger/v1/tile/{*path}", get(tile))
        .route("/ledger/v1/proof/inclusion", get(inclusion))
        .route("/ledger/v1/proof/consistency", get(consistency))
}

/// Why a proof request is refused.
enum Refusal {
    /// Bad or out-of-range parameters: 400 with the detail.
    Bad(String),
    /// A store or tile failure: logged with a request id, answered generically.
    Internal(TilesError),
}

impl From<TilesError> for Refusal {
    fn from(error: TilesError) -> Refusal {
        match error {
            TilesError::BeyondCheckpoint { .. }
            | TilesError::Tiles(
                shuin_ledger::tiles::TileError::IndexOutOfRange { .. }
                | shuin_ledger::tiles::TileError::ShrinkingTree { .. },
            ) => Refusal::Bad(error.to_string()),
            error => Refusal::Internal(error),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Bad(detail) => problem(ReasonCode::MalformedRequest, &detail),
            Refusal::Internal(error) => internal(&error),
        }
    }
}

fn internal(error: &dyn std::fmt::Display) -> Response {
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
                (header::CONTENT_TYPE, tiles::CHECKPOINT_CONTENT_TYPE),
                (header::CACHE_CONTROL, tiles::CHECKPOINT_CACHE),
            ],
            stored.note,
        )
            .into_response(),
        Ok(None) => problem(ReasonCode::NotFound, "no checkpoint has been signed yet"),
        Err(e) => internal(&e),
    }
}

async fn tile(State(state): State<AppState>, Path(path): Path<String>) -> Response {
    // A malformed path names no file, and entry bundles are not served: both 404.
    let id = match TileId::parse(&format!("tile/{path}")) {
        Ok(id) => id,
        Err(error) => return problem(ReasonCode::NotFound, &error.to_string()),
    };
    match state.tiles.tile(id).await {
        Ok(Some(bytes)) => (
            [
                (header::CONTENT_TYPE, tiles::TILE_CONTENT_TYPE),
                (header::CACHE_CONTROL, tiles::tile_cache(id)),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => problem(
            ReasonCode::NotFound,
            &format!("{} is not in the latest checkpoint's tree", id.path()),
        ),
        Err(e) => internal(&e),
    }
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
    let answer = state.tiles.inclusion(index, size).await?;
    Ok(Json(serde_json::json!({
        "index": index,
        "size": size,
        "leaf_hash": hex::encode(answer.leaf_hash),
        "root": hex::encode(answer.root),
        "inclusion_path": hexes(&answer.path),
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
    let answer = state.tiles.consistency(from, to).await?;
    Ok(Json(serde_json::json!({
        "from": from,
        "to": to,
        "from_root": hex::encode(answer.from_root),
        "to_root": hex::encode(answer.to_root),
        "consistency_path": hexes(&answer.path),
    }))
    .into_response())
}
