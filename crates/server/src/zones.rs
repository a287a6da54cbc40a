//! Listeners bound to zones (DESIGN.md section 9): which routes exist on a listener of
//! each zone. A route that is not allowed on a listener's zone does not exist there: it
//! answers 404, not 403. The all-in-one listener (one process, one address, as in
//! development) has every route.

use crate::operator_api::{self, OperatorConsole};
use crate::rate_limit::{RateLimiter, RateLimits};
use crate::{
    access_events, applicant, ledger, metrics, ocsp, pages, problem, repository, AppState,
    RepositoryState,
};
use axum::Router;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The zone a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListenerZone {
    /// Every route (one process on one address).
    AllInOne,
    /// Applicants: challenges, applications, their status, revocations, enrolments.
    Front,
    /// Signature verifiers: certificates, CRLs, the terms and CP/CPS, OCSP.
    Repository,
    /// Inside the facility: the access-control system's entry/exit records, and the
    /// ledger's checkpoints and proofs.
    Secure,
    /// From outside the facility, monitoring only: health, and the ledger's checkpoints
    /// and proofs for auditors (read only).
    Remote,
}

impl ListenerZone {
    /// The name in `shuin.toml` (`all_in_one`, `front`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerZone::AllInOne => "all_in_one",
            ListenerZone::Front => "front",
            ListenerZone::Repository => "repository",
            ListenerZone::Secure => "secure",
            ListenerZone::Remote => "remote",
        }
    }

    /// The zone of the facility map an operator on this listener acts from (`None` for
    /// the all-in-one listener, which serves no operator).
    pub fn operator_zone(self) -> Option<shuin_core::Zone> {
        match self {
            ListenerZone::AllInOne => None,
            ListenerZone::Front => Some(shuin_core::Zone::Front),
            ListenerZone::Repository => Some(shuin_core::Zone::Repository),
            ListenerZone::Secure => Some(shuin_core::Zone::Secure),
            ListenerZone::Remote => Some(shuin_core::Zone::Remote),
        }
    }

    /// The routes of this zone, with the applicant writes admitted under `limits`.
    pub fn router(self, state: AppState, limits: RateLimits) -> Router {
        self.routes(state, limits, None)
    }

    /// The routes of this zone and the operator API (`/operator/v1/*`) served by
    /// `console` with this listener's zone (an operator listener).
    pub fn operator_router(
        self,
        state: AppState,
        limits: RateLimits,
        console: Arc<dyn OperatorConsole>,
    ) -> Router {
        self.routes(state, limits, Some(console))
    }

    /// The routes of an operator listener where operators do not act (an RA node of a
    /// split deployment): monitoring only (`/metrics`, `/monitoring`, health). The
    /// operator API does not exist there.
    pub fn monitoring_router(self, state: AppState) -> Router {
        let counted = (state.http.clone(), self);
        let counting = axum::middleware::from_fn_with_state(counted, metrics::count_answers);
        Router::new()
            .route("/healthz", axum::routing::get(|| async { "ok\n" }))
            .route("/readyz", axum::routing::get(readyz))
            .with_state(state.clone())
            .merge(metrics::routes(state, metrics::Sealing::Link))
            .fallback(problem::not_found)
            .layer(counting)
    }

    fn routes(
        self,
        state: AppState,
        limits: RateLimits,
        console: Option<Arc<dyn OperatorConsole>>,
    ) -> Router {
        let applicant = || {
            let limiter = Arc::new(RateLimiter::new(limits));
            applicant::routes(limiter, state.clock.clone())
        };
        let routes = match self {
            ListenerZone::AllInOne => Router::new()
                .merge(applicant())
                .merge(pages::applicant_routes())
                .merge(repository::routes())
                .merge(ocsp::routes())
                .merge(ledger::routes())
                .merge(access_events::routes()),
            ListenerZone::Front => applicant().merge(pages::applicant_routes()),
            ListenerZone::Repository => repository::routes()
                .merge(ocsp::routes())
                .merge(pages::verifier_routes()),
            ListenerZone::Secure => access_events::routes().merge(ledger::routes()),
            ListenerZone::Remote => ledger::routes(),
        };
        let counted = (state.http.clone(), self);
        let mut routes = routes
            .route("/healthz", axum::routing::get(|| async { "ok\n" }))
            .route("/readyz", axum::routing::get(readyz))
            .with_state(state.clone());
        if let (Some(console), Some(zone)) = (console, self.operator_zone()) {
            routes = routes
                .merge(operator_api::routes(console.clone(), zone))
                .merge(metrics::routes(state, metrics::Sealing::Console(console)));
        }
        let counting = axum::middleware::from_fn_with_state(counted, metrics::count_answers);
        routes.fallback(problem::not_found).layer(counting)
    }
}

/// `GET /readyz`: `ready` while applications can be issued; the problem document
/// (`503 ca_sealed`, or `503 service_unavailable` while an RA node's CA link is silent)
/// otherwise. For load balancers and uptime checks; `/healthz` only says the process
/// answers.
async fn readyz(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.ra.readiness().await {
        Ok(()) => "ready\n".into_response(),
        Err(shuin_ra::RaError::Rejected(rejection)) => {
            problem::problem(rejection.code, &rejection.detail)
        }
        // Polled by monitors: logged at debug level only, and no internal detail sent.
        Err(e) => {
            tracing::debug!(error = %e, "not ready");
            problem::problem(
                e.code(),
                "not ready (the CA link is down, or storage is unavailable); try again later",
            )
        }
    }
}

/// The routes of a repository node's repository listener: the repository and OCSP, and
/// health.
pub fn repository_node_router(state: RepositoryState) -> Router {
    let counted = (state.http.clone(), ListenerZone::Repository);
    let counting = axum::middleware::from_fn_with_state(counted, metrics::count_answers);
    repository::routes()
        .merge(ocsp::routes())
        .merge(crate::pages::verifier_routes())
        .route("/healthz", axum::routing::get(|| async { "ok\n" }))
        .with_state(state)
        .fallback(problem::not_found)
        .layer(counting)
}
