//! The operator console of an RA node (DESIGN.md sections 8 and 10, docs/deployment.md
//! "Operators at RA nodes"): the operator API of the node's operator listeners.
//!
//! - Its gate decides with the CA's roster as the CA's link handed it over
//!   (`shuin_books::organisation::HandedRoster`): operators are enrolled, given roles and
//!   revoked at the CA only. Their requests, nonces and refusals go into the node's own
//!   books (which the CA signs over its link).
//! - It serves the RA's actions: the review queue, revocation (an order to the CA
//!   through the node's queue), registrations (利用者識別符号), the automatic rule's
//!   switch and its periodic review (over the node's books: its acceptances, evidence
//!   and the CA's answers), and status. Every other action the zone allows is the CA's console's: it
//!   is refused here before the gate (`action_not_at_node`), and the session counts the
//!   refusal. What the zone refuses (issuer-key actions) the gate refuses and ledgers,
//!   as everywhere.

use crate::admin_socket::Console;
use serde_json::json;
use shuin_books::console::{Acted, Outcome};
use shuin_books::{Admitted, Gate, OperatorRequest, SignedRequest};
use shuin_core::{Action, Clock, OsRandom, Zone};
use shuin_ra::config::{JpkiSection, RaSection};
use shuin_ra::orders::OrderQueueStore;
use shuin_ra::orders::QueuedCa;
use shuin_ra::review::ReviewStore;
use shuin_ra::{LifecycleStore, RaService};
use shuin_store::{LedgerStore, NonceStore, SettingsStore};
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The code of an action that only the CA's console does.
pub const ACTION_NOT_AT_NODE: &str = "action_not_at_node";

/// What an RA node's operators act on.
pub struct NodeConsole<S> {
    /// The node's name (status).
    pub name: String,
    /// The node's store and books.
    pub store: Arc<S>,
    /// The gate over the handed roster.
    pub gate: Arc<Gate>,
    /// The order queue to the CA: approvals issue and revocations revoke through it.
    pub queue: Arc<QueuedCa<S>>,
    /// The RA, for the CA link's state.
    pub ra: Arc<RaService>,
    /// The identification-code key (`registration_create`).
    pub code_key: PathBuf,
    /// The instance directory, `[ra]` and `[jpki]` (the periodic review re-verifies the
    /// evidence with the J-LIS anchors and CRLs).
    pub review: (PathBuf, RaSection, JpkiSection),
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

/// What an RA node's console is made of, but its gate: [`NodeConsoleParts::open`] adds
/// the gate over the roster the CA's link hands over.
pub struct NodeConsoleParts<S> {
    /// The node's name (status).
    pub name: String,
    /// The node's store and books.
    pub store: Arc<S>,
    /// The order queue to the CA.
    pub queue: Arc<QueuedCa<S>>,
    /// The RA.
    pub ra: Arc<RaService>,
    /// The identification-code key (`registration_create`).
    pub code_key: PathBuf,
    /// The instance directory, `[ra]` and `[jpki]` (the periodic review).
    pub review: (PathBuf, RaSection, JpkiSection),
    /// The clock.
    pub clock: Arc<dyn Clock>,
}

impl<S> NodeConsoleParts<S>
where
    S: LedgerStore + NonceStore + SettingsStore + ReviewStore + LifecycleStore,
    S: OrderQueueStore + Send + Sync + 'static,
{
    /// The node's console, deciding with the roster its CA's link hands over, and where
    /// its peer API keeps that roster (recorded in the node's books, checked against the
    /// operator CA `operator_ca_der`).
    pub fn open(
        self,
        operator_ca_der: Vec<u8>,
    ) -> (
        Arc<dyn crate::operator_api::OperatorConsole>,
        crate::peer::NodeOperators,
    ) {
        use shuin_books::organisation::{HandedRoster, RefusalBudget, ROSTER_FRESH_FOR};
        let roster = Arc::new(HandedRoster::new(ROSTER_FRESH_FOR));
        let gate = Gate::handed(
            operator_ca_der.clone(),
            RefusalBudget::default(),
            roster.clone(),
        );
        let operators = crate::peer::NodeOperators {
            roster,
            books: self.store.clone(),
            operator_ca_der,
            clock: self.clock.clone(),
        };
        let console = NodeConsole {
            name: self.name,
            store: self.store,
            gate: Arc::new(gate),
            queue: self.queue,
            ra: self.ra,
            code_key: self.code_key,
            review: self.review,
            clock: self.clock,
        };
        (Arc::new(console), operators)
    }
}

/// Whether an RA node serves `action`.
pub fn served_at_node(action: Action) -> bool {
    matches!(
        action,
        Action::Status
            | Action::ReviewList
            | Action::ReviewShow
            | Action::ReviewApprove
            | Action::ReviewReject
            | Action::Revoke
            | Action::RegistrationCreate
            | Action::AutomationSuspend
            | Action::AutomationResume
            | Action::AutomationReview
            | Action::LedgerRead
    )
}

/// The refusal of a request from `zone` whose action only the CA's console does. What
/// the zone table refuses anyway (issuer-key actions from a network zone), and a
/// request that does not parse, are left to the gate, which refuses and ledgers them.
fn not_at_node(signed: &SignedRequest, zone: Zone) -> Option<Outcome> {
    let request = OperatorRequest::parse(&signed.request).ok()?;
    let zone_allows = request.action.rule().zones.contains(&zone);
    (zone_allows && !served_at_node(request.action)).then(|| {
        Outcome::refused(
            ACTION_NOT_AT_NODE,
            format!(
                "{ACTION_NOT_AT_NODE}: {} is done at the CA's console, not at an RA node",
                request.action
            ),
        )
    })
}

impl<S> NodeConsole<S>
where
    S: LedgerStore + NonceStore + SettingsStore + ReviewStore + LifecycleStore,
    S: OrderQueueStore + Send + Sync + 'static,
{
    async fn dispatch(&self, admitted: &Admitted, attachment: Option<Zeroizing<String>>) -> Acted {
        let store = self.store.as_ref();
        let now = self.clock.now();
        match admitted.request.action {
            Action::Status => {
                let seal = Console::status(self).await;
                shuin_books::console::actions::status(&self.gate, store, admitted, seal).await
            }
            Action::ReviewList => shuin_ra::console::review_list(store).await,
            Action::ReviewShow => shuin_ra::console::review_show(store, admitted).await,
            Action::ReviewApprove => {
                let queue = || Ok(self.queue.clone());
                let issuer = self.queue.as_ref();
                shuin_ra::console::review_approve(store, issuer, queue, admitted, now).await
            }
            Action::ReviewReject => shuin_ra::console::review_reject(store, admitted, now).await,
            Action::Revoke => {
                shuin_ra::console::revoke_through(self.queue.as_ref(), admitted).await
            }
            Action::RegistrationCreate => {
                let key = || {
                    shuin_ra::CodeKey::open_or_create(&self.code_key, &OsRandom)
                        .map_err(Outcome::failed)
                };
                let clock = self.clock.as_ref();
                shuin_ra::console::registration_create(
                    store, key, admitted, attachment, clock, &OsRandom,
                )
                .await
            }
            Action::AutomationSuspend | Action::AutomationResume => {
                let suspend = admitted.request.action == Action::AutomationSuspend;
                shuin_ra::console::automation_switch(store, suspend, admitted, now).await
            }
            Action::AutomationReview => {
                let (dir, ra, jpki) = &self.review;
                let evidence = shuin_ra::JpkiEvidence::open(jpki, dir).await;
                let evidence = evidence.map_err(Outcome::failed)?;
                shuin_ra::console::automation_review(store, admitted, ra, &evidence, now).await
            }
            Action::LedgerRead => {
                Ok(json!({"operator": admitted.operator, "entry": admitted.entry_seq}))
            }
            _ => Err(Outcome::refused(
                ACTION_NOT_AT_NODE,
                "this action is done at the CA's console",
            )),
        }
    }
}

#[async_trait::async_trait]
impl<S> Console for NodeConsole<S>
where
    S: LedgerStore + NonceStore + SettingsStore + ReviewStore + LifecycleStore,
    S: OrderQueueStore + Send + Sync + 'static,
{
    type Status = serde_json::Value;

    /// The node and the CA's seal state as its link last said (`null` while the link is
    /// down).
    async fn status(&self) -> serde_json::Value {
        let sealed = match self.ra.ca_readiness() {
            Ok(()) => Some(false),
            Err(shuin_ra::RaError::Rejected(r)) => {
                (r.code == shuin_core::ReasonCode::CaSealed).then_some(true)
            }
            Err(_) => None,
        };
        json!({"node": self.name, "sealed": sealed})
    }

    async fn nonce(&self) -> Result<String, Outcome> {
        let now = self.clock.now();
        shuin_books::console::nonce(&self.gate, self.store.as_ref(), &OsRandom, now).await
    }

    async fn act(
        &self,
        signed: &SignedRequest,
        attachment: Option<Zeroizing<String>>,
        zone: Zone,
        _peer_uid: Option<u32>,
    ) -> Outcome {
        if let Some(refused) = not_at_node(signed, zone) {
            return refused;
        }
        let now = self.clock.now();
        let store = self.store.as_ref();
        let admitted =
            shuin_books::console::admit(&self.gate, store, signed, attachment, zone, now).await;
        let (admitted, attachment) = match admitted {
            Ok(admitted) => admitted,
            Err(outcome) => return outcome,
        };
        match self.dispatch(&admitted, attachment).await {
            Ok(result) => Outcome::Done { result },
            Err(outcome) => outcome,
        }
    }

    async fn roster(&self) -> Result<shuin_books::Roster, Outcome> {
        shuin_books::console::roster(&self.gate, self.store.as_ref()).await
    }
}
