//! HTTP edges (axum): the applicant API (front-end zone) and the repository. Handlers
//! only parse, call one service method and map the result. HTTP statuses and problem
//! documents are chosen here and nowhere else.

mod access_events;
pub mod admin_socket;
mod applicant;
pub mod config;
pub mod console_web;
mod ledger;
pub mod listeners;
pub mod metrics;
pub mod node;
pub mod node_console;
pub mod ocsp;
pub mod operator_api;
mod pages;
pub mod peer;
pub mod peer_link;
mod problem;
pub mod rate_limit;
mod repository;
pub mod serve_lock;
pub mod serving;
#[cfg(test)]
mod test_pki;
pub mod tls;
pub mod zones;

use axum::Router;
use shuin_ra::RaService;
use shuin_repo::Repository;
use std::sync::Arc;

pub use access_events::{http_actor, AccessEvents, AccessRecorded, TOKEN_SETTING};
pub use problem::status_for;

/// Shared state of the routers.
#[derive(Clone)]
pub struct AppState {
    /// The RA.
    pub ra: Arc<RaService>,
    /// The repository content.
    pub repository: Arc<Repository>,
    /// The OCSP responder.
    pub ocsp: Arc<dyn shuin_core::ocsp::OcspResponder>,
    /// The clock, for cache headers.
    pub clock: Arc<dyn shuin_core::Clock>,
    /// Read access to the ledger, for the auditors' checkpoint and proof endpoints.
    pub ledger: Arc<dyn shuin_store::LedgerReader>,
    /// The ledger as a tiled log: the tiles and the proofs read from them.
    pub tiles: Arc<shuin_repo::tiles::LedgerTiles>,
    /// Entry/exit records from the access-control system (`POST /ledger/v1/access-events`).
    pub access_events: Arc<AccessEvents>,
    /// The answers of every listener, for `/metrics`.
    pub http: Arc<metrics::HttpCounters>,
    /// The issuer key backend's signing pools, for `/metrics`.
    pub signing_pools: Arc<dyn shuin_core::signing_pool::SigningPools>,
    /// An RA node's order queue, for `/metrics` (`None` elsewhere).
    pub orders: Option<Arc<dyn shuin_core::orders::OrderQueueReport>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("ra", &self.ra)
            .field("repository", &self.repository)
            .finish_non_exhaustive()
    }
}

/// What the repository and OCSP routes need: all that a repository node has.
#[derive(Clone)]
pub struct RepositoryState {
    /// The repository content.
    pub repository: Arc<Repository>,
    /// The OCSP responder.
    pub ocsp: Arc<dyn shuin_core::ocsp::OcspResponder>,
    /// The clock, for cache headers.
    pub clock: Arc<dyn shuin_core::Clock>,
    /// The answers of every listener, for `/metrics`.
    pub http: Arc<metrics::HttpCounters>,
}

impl axum::extract::FromRef<AppState> for RepositoryState {
    fn from_ref(state: &AppState) -> Self {
        RepositoryState {
            repository: state.repository.clone(),
            ocsp: state.ocsp.clone(),
            clock: state.clock.clone(),
            http: state.http.clone(),
        }
    }
}

/// All routes of the all-in-one server, with the default per-client limits.
pub fn router(state: AppState) -> Router {
    router_with(state, rate_limit::RateLimits::default())
}

/// All routes of the all-in-one server; the applicant routes that write are admitted
/// per client address under `limits`.
pub fn router_with(state: AppState, limits: rate_limit::RateLimits) -> Router {
    zones::ListenerZone::AllInOne.router(state, limits)
}
