//! The dispatch of each admitted operator action to the crate that owns it: the books'
//! actions in `shuin_books::console::actions`, the RA's in `shuin_ra::console`, the CA's
//! in `shuin_ca::console`, the facility import in `shuin_server::AccessEvents`. What
//! stays here is the wiring to the running instance (its seal, its repository, its
//! files) and the ceremonies (`ceremony_cmd.rs`).

use super::Console;
use crate::seal::CaParts;
use serde_json::json;
use shuin_books::console::{actions as books, Acted, Outcome};
use shuin_books::{Admitted, Gate};
use shuin_ca::ceremony::console as ceremony;
use shuin_core::{Action, OsRandom, SystemClock};
use std::sync::Arc;
use zeroize::Zeroizing;

fn parts(console: &Console) -> Result<Arc<CaParts>, Outcome> {
    console.seal.parts().ok_or_else(|| {
        Outcome::refused(
            "ca_sealed",
            "the CA is sealed: custodians must unseal it first (shuin unseal)",
        )
    })
}

/// The operator CA, with its key at hand (unsealed).
fn operator_ca(console: &Console) -> Result<Arc<shuin_ca::OperatorCa>, Outcome> {
    parts(console)?
        .operator_ca
        .clone()
        .ok_or_else(|| Outcome::refused("operator_ca_missing", "this instance has no operator CA"))
}

/// Runs the action of `admitted`.
pub(super) async fn dispatch(
    console: &Console,
    gate: &Gate,
    admitted: &Admitted,
    attachment: Option<Zeroizing<String>>,
    peer_uid: Option<u32>,
) -> Acted {
    let now = console.clock.now();
    let store = console.store.as_ref();
    let config = &console.config;
    match admitted.request.action {
        Action::Status => {
            let seal = console.seal.status().await;
            books::status(gate, store, admitted, seal).await
        }
        Action::OperatorAdd => {
            let operator_ca = || operator_ca(console);
            shuin_ca::console::operator_add(gate, store, operator_ca, admitted, &OsRandom, now)
                .await
        }
        Action::NodePair => {
            let operator_ca = || operator_ca(console);
            shuin_ca::console::node_pair(gate, store, operator_ca, admitted, &OsRandom, now).await
        }
        Action::PasskeyInvite => books::passkey_invite(store, admitted, &OsRandom, now).await,
        Action::PasskeyRemove => books::passkey_remove(gate, store, admitted, now).await,
        Action::OperatorGrant | Action::OperatorRemoveRole => {
            books::change_role(gate, store, admitted, now).await
        }
        Action::OperatorRevoke => {
            let operator_ca = || operator_ca(console);
            let lifetime = config.revocation.root_crl_lifetime();
            let (value, crl) = shuin_ca::console::operator_revoke(
                gate,
                store,
                operator_ca,
                admitted,
                lifetime,
                now,
            )
            .await?;
            console
                .repository
                .publish_other_crl(shuin_ca::operator_ca::OPERATOR_CRL_SCOPE, crl.into());
            Ok(value)
        }
        Action::Revoke => {
            let ca = || parts(console).map(|p| (p.ca.clone(), p.ocsp.clone()));
            shuin_ca::console::revoke(ca, admitted).await
        }
        Action::CrlNow => shuin_ca::console::crl_now(&parts(console)?.ca).await,
        Action::RootCrl => root_crl(console).await,
        Action::ReviewList => shuin_ra::console::review_list(store).await,
        Action::ReviewShow => shuin_ra::console::review_show(store, admitted).await,
        Action::ReviewApprove => {
            let issuer = shuin_ca::seal::SealedIssuer(console.seal.clone());
            let ca = || Ok(parts(console)?.ca.clone());
            shuin_ra::console::review_approve(store, &issuer, ca, admitted, now).await
        }
        Action::ReviewReject => shuin_ra::console::review_reject(store, admitted, now).await,
        Action::AutomationSuspend | Action::AutomationResume => {
            let suspend = admitted.request.action == Action::AutomationSuspend;
            shuin_ra::console::automation_switch(store, suspend, admitted, now).await
        }
        Action::AutomationReview => {
            let evidence = shuin_ra::JpkiEvidence::open(&config.jpki, &console.dir).await;
            let evidence = evidence.map_err(Outcome::failed)?;
            shuin_ra::console::automation_review(store, admitted, &config.ra, &evidence, now).await
        }
        Action::Unseal => {
            shuin_ca::console::unseal(&console.unseal, admitted, attachment, peer_uid).await
        }
        // Applicants apply at the RA nodes, whose store the CA's is not.
        Action::RegistrationCreate if config.node.role == shuin_server::node::ServeRole::Ca => {
            Err(Outcome::refused(
                "registration_at_ra_node",
                "registration_at_ra_node: in a split deployment applicants apply at the RA nodes: make the registration at an RA node's operator listener (shuin registration create --server https://RA-NODE:PORT ...)",
            ))
        }
        Action::RegistrationCreate => {
            let key = || crate::registration_cmd::code_key(&console.dir).map_err(Outcome::failed);
            shuin_ra::console::registration_create(
                store,
                key,
                admitted,
                attachment,
                &SystemClock,
                &OsRandom,
            )
            .await
        }
        Action::FacilityImport => {
            let policy = config.facility.policy();
            let store = console.store.clone();
            let access = shuin_server::AccessEvents::new(store.clone(), store, policy);
            access.import_on_console(admitted, attachment, now).await
        }
        Action::FacilityToken => {
            let setting = shuin_server::TOKEN_SETTING;
            books::facility_token(store, setting, admitted, &OsRandom, now).await
        }
        Action::RetentionPurge => {
            books::retention_purge(store, admitted, &config.retention.policy(), now).await
        }
        // The pack and the books are read where the books are; the request records who
        // asked for them.
        Action::AuditPack | Action::LedgerRead => {
            Ok(json!({"operator": admitted.operator, "entry": admitted.entry_seq}))
        }
        Action::CeremonyCustodian => {
            let key = ceremony::enroll_on_console(store, admitted, now)
                .await
                .map_err(|e| Outcome::refused("ceremony_refused", e.to_string()))?;
            serde_json::to_value(key).map_err(Outcome::failed)
        }
        Action::Ceremony => {
            let attachment = attachment.ok_or_else(|| {
                Outcome::refused(
                    "attachment_missing",
                    "a ceremony request carries its file and approvals beside it",
                )
            })?;
            let parts = parts(console)?;
            let instance = ceremony::ConsoleInstance {
                dir: &console.dir,
                public_url: &config.instance.public_url,
                ca: &config.ca,
                backend: &parts.backend,
            };
            let outcome =
                ceremony::run_on_console(store, instance, admitted, &attachment, &SystemClock)
                    .await
                    .map_err(|e| Outcome::refused("ceremony_refused", e.to_string()))?;
            let mut value = serde_json::to_value(&outcome).map_err(Outcome::failed)?;
            // A termination ceremony started the termination (the business is stopped);
            // the upkeep carries it out.
            if shuin_ca::termination::approved_plan(&outcome.contents).is_some() {
                let state = shuin_ca::termination::state(store)
                    .await
                    .map_err(Outcome::failed)?;
                value["termination"] = serde_json::to_value(state).map_err(Outcome::failed)?;
            }
            Ok(value)
        }
    }
}

/// `root_crl`: the root's CRL from the root key, published in the repository.
async fn root_crl(console: &Console) -> Acted {
    let parts = parts(console)?;
    let path = console.dir.join(&console.config.ca.root_certificate);
    let root_der = shuin_ca::parts::read_pem_or_der(&path).map_err(Outcome::failed)?;
    let (value, record) = shuin_ca::console::root_crl(
        console.store.clone(),
        parts.ca.clock_handle().as_ref(),
        &parts.root,
        &root_der,
        console.config.revocation.root_crl_lifetime(),
    )
    .await?;
    console.repository.publish_root_crl(record.into());
    Ok(value)
}
