//! What each admitted operator action does. The request is already in the books; each
//! action ledgers its own effects with the operator as actor.

use super::{Console, Outcome};
use base64::Engine;
use serde_json::{json, Value};
use shuin_books::organisation;
use shuin_books::{Admitted, Gate};
use shuin_ca::RevocationOrder;
use shuin_core::revocation::RevocationReason;
use shuin_core::{Action, OsRandom, Role, Serial};
use shuin_ra::automation::{self, Thresholds};
use shuin_ra::operators::OperatorError;
use shuin_ra::review;
use shuin_store::LedgerStore;
use std::sync::Arc;
use zeroize::Zeroizing;

type Acted = Result<Value, Outcome>;

fn invalid(message: impl Into<String>) -> Outcome {
    Outcome::refused("invalid_params", message)
}

fn text<'a>(admitted: &'a Admitted, name: &str) -> Result<&'a str, Outcome> {
    admitted.request.param(name).ok_or_else(|| {
        invalid(format!(
            "{} needs the parameter {name:?}",
            admitted.request.action
        ))
    })
}

fn role(admitted: &Admitted) -> Result<Role, Outcome> {
    let name = text(admitted, "role")?;
    Role::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        invalid(format!("role must be one of {}", names.join(", ")))
    })
}

fn failed(e: impl std::fmt::Display) -> Outcome {
    Outcome::Failed {
        message: e.to_string(),
    }
}

fn operator_error(e: OperatorError) -> Outcome {
    match e {
        OperatorError::InvalidInput(m) => invalid(m),
        OperatorError::InvalidState(m) => Outcome::refused("invalid_state", m),
        OperatorError::NotFound(m) => Outcome::refused("not_found", m),
        other => failed(other),
    }
}

fn parts(console: &Console) -> Result<Arc<crate::seal::CaParts>, Outcome> {
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
    let by = admitted.actor();
    match admitted.request.action {
        Action::Status => {
            let status = console.seal.status().await;
            let roster = gate.roster(store).await.map_err(failed)?;
            let roles: Vec<Role> = roster
                .operator(&admitted.operator)
                .map(|op| op.roles.iter().copied().collect())
                .unwrap_or_default();
            Ok(
                json!({"operator": admitted.operator, "roles": roles, "zone": admitted.zone,
                "certificate_sha256": admitted.certificate_sha256, "seal": status}),
            )
        }
        Action::OperatorAdd => {
            let csr = base64::engine::general_purpose::STANDARD
                .decode(text(admitted, "csr")?)
                .map_err(|e| invalid(format!("csr: {e}")))?;
            let role = role(admitted)?;
            let operator_ca = operator_ca(console)?;
            let roster = gate.roster(store).await.map_err(failed)?;
            let enrolled = operator_ca
                .enrol(
                    store,
                    &roster,
                    &csr,
                    role,
                    shuin_ca::operator_ca::OPERATOR_VALIDITY,
                    &by,
                    &OsRandom,
                    now,
                )
                .await
                .map_err(|e| match e {
                    shuin_ca::OperatorCaError::Csr { code, detail } => {
                        Outcome::refused(code, detail)
                    }
                    shuin_ca::OperatorCaError::KeyInUse(_) => {
                        Outcome::refused("operator_key_in_use", e.to_string())
                    }
                    other => failed(other),
                })?;
            let pem = der::pem::encode_string(
                "CERTIFICATE",
                der::pem::LineEnding::LF,
                &enrolled.certificate_der,
            )
            .map_err(failed)?;
            Ok(
                json!({"name": enrolled.name, "role": role, "role_granted": enrolled.role_granted,
                "certificate_pem": pem}),
            )
        }
        Action::OperatorGrant | Action::OperatorRemoveRole => {
            let name = text(admitted, "name")?;
            let role = role(admitted)?;
            let roster = gate.roster(store).await.map_err(failed)?;
            let holds = roster.operator(name).map(|op| op.holds(role));
            let grant = admitted.request.action == Action::OperatorGrant;
            match (holds, grant) {
                (None, _) => {
                    return Err(Outcome::refused(
                        "operator_unknown",
                        format!("no operator {name:?} is enrolled"),
                    ))
                }
                (Some(true), true) => {
                    return Err(Outcome::refused(
                        "invalid_state",
                        format!("{name:?} already holds the role {role}"),
                    ))
                }
                (Some(false), false) => {
                    return Err(Outcome::refused(
                        "invalid_state",
                        format!("{name:?} does not hold the role {role}"),
                    ))
                }
                (Some(_), true) => organisation::grant(store, name, role, &by, now).await,
                (Some(_), false) => organisation::remove_role(store, name, role, &by, now).await,
            }
            .map_err(failed)?;
            Ok(json!({"name": name, "role": role, "granted": grant}))
        }
        Action::OperatorRevoke => {
            let name = text(admitted, "name")?;
            let reason = admitted.request.param("reason").unwrap_or("unspecified");
            let operator_ca = operator_ca(console)?;
            let roster = gate.roster(store).await.map_err(failed)?;
            let lifetime = console.config.revocation.root_crl_lifetime();
            let (revoked, crl) = operator_ca
                .revoke(
                    store,
                    &roster,
                    name,
                    admitted.request.param("certificate_sha256"),
                    reason,
                    &by,
                    lifetime,
                    now,
                )
                .await
                .map_err(|e| match e {
                    shuin_ca::OperatorCaError::Unknown(m) => {
                        Outcome::refused("operator_unknown", m)
                    }
                    other => failed(other),
                })?;
            console.repository.publish_other_crl(
                shuin_ca::operator_ca::OPERATOR_CRL_SCOPE,
                shuin_repo::PublishedCrl {
                    number: crl.number,
                    next_update: crl.next_update,
                    der: Arc::new(crl.der),
                },
            );
            Ok(
                json!({"name": name, "certificates_revoked": revoked, "operator_crl_number": crl.number}),
            )
        }
        Action::Revoke => revoke(console, admitted).await,
        Action::CrlNow => {
            let issued = parts(console)?.ca.issue_crl().await.map_err(failed)?;
            Ok(json!([{"scope": "ca", "crl_number": issued.number,
                "next_update": shuin_core::timefmt::rfc3339(issued.next_update)}]))
        }
        Action::RootCrl => crate::revoke_cmd::root_crl(console, parts(console)?.as_ref())
            .await
            .map_err(failed),
        Action::ReviewList => {
            let pending = review::pending(store).await.map_err(operator_error)?;
            Ok(Value::Array(
                pending.iter().map(crate::review_cmd::summary).collect(),
            ))
        }
        Action::ReviewShow => {
            let record = review::application(store, text(admitted, "id")?)
                .await
                .map_err(operator_error)?;
            Ok(review::evidence(&record))
        }
        Action::ReviewApprove => {
            let id = text(admitted, "id")?;
            let issuer = shuin_ca::seal::SealedIssuer(console.seal.clone());
            let note = admitted.request.param("note");
            let record = review::approve(store, &issuer, id, &by, note, now)
                .await
                .map_err(|e| match e {
                    OperatorError::Issuance(shuin_core::issuance::IssuanceError::Sealed) => {
                        Outcome::refused("ca_sealed", "the CA is sealed")
                    }
                    other => operator_error(other),
                })?;
            let parts = parts(console)?;
            crate::review_cmd::supersede_replaced(&console.store, &parts.ca, &record, now)
                .await
                .map_err(failed)?;
            let serial = record.serial.as_ref().map(|s| s.to_hex());
            Ok(
                json!({"id": record.id, "status": record.status.as_str(), "serial": serial,
                "approver": admitted.operator, "approver_role": "lra"}),
            )
        }
        Action::ReviewReject => {
            let id = text(admitted, "id")?;
            let reason = text(admitted, "reason")?;
            let record = review::reject(store, id, &by, reason, now)
                .await
                .map_err(operator_error)?;
            Ok(json!({"id": record.id, "status": record.status.as_str(),
                "reason": record.rejection_reason, "decided_by": admitted.operator}))
        }
        Action::AutomationSuspend | Action::AutomationResume => {
            let suspend = admitted.request.action == Action::AutomationSuspend;
            let state =
                automation::set_suspended(store, suspend, &by, text(admitted, "reason")?, now)
                    .await
                    .map_err(operator_error)?;
            serde_json::to_value(state).map_err(failed)
        }
        Action::AutomationReview => automation_review(console, admitted).await,
        Action::Unseal => unseal(console, admitted, attachment, peer_uid).await,
        Action::RegistrationCreate => {
            super::records::registration_create(console, admitted, attachment).await
        }
        Action::FacilityImport => {
            super::records::facility_import(console, admitted, attachment).await
        }
        Action::FacilityToken => super::records::facility_token(console, admitted).await,
        Action::RetentionPurge => super::records::retention_purge(console, admitted).await,
        // The pack is read where the books are; the request records who asked for it.
        Action::AuditPack => {
            Ok(json!({"operator": admitted.operator, "entry": admitted.entry_seq}))
        }
        Action::CeremonyCustodian => crate::ceremony_cmd::enroll_on_console(console, admitted)
            .await
            .map_err(|e| Outcome::refused("ceremony_refused", e.to_string())),
        Action::Ceremony => {
            let attachment = attachment.ok_or_else(|| {
                Outcome::refused(
                    "attachment_missing",
                    "a ceremony request carries its file and approvals beside it",
                )
            })?;
            let parts = parts(console)?;
            let outcome =
                crate::ceremony_cmd::run_on_console(console, &parts.backend, admitted, &attachment)
                    .await
                    .map_err(|e| Outcome::refused("ceremony_refused", e.to_string()))?;
            serde_json::to_value(outcome).map_err(failed)
        }
    }
}

async fn revoke(console: &Console, admitted: &Admitted) -> Acted {
    let serial_text = text(admitted, "serial")?;
    let serial = Serial::from_hex(serial_text)
        .ok_or_else(|| invalid(format!("serial {serial_text:?} is not hex")))?;
    let reason_text = text(admitted, "reason")?;
    let reason = RevocationReason::parse(reason_text).ok_or_else(|| {
        invalid(format!(
            "reason {reason_text:?} is not an RFC 5280 reason name"
        ))
    })?;
    let invalidity_date = match admitted.request.param("invalidity_date") {
        None => None,
        Some(t) => Some(
            shuin_core::timefmt::parse_rfc3339(t)
                .ok_or_else(|| invalid("invalidity_date must be RFC 3339"))?,
        ),
    };
    let order = RevocationOrder {
        serial: serial.clone(),
        reason,
        invalidity_date,
        actor: admitted.actor(),
        authorisation: "operator".into(),
    };
    let revoked = parts(console)?
        .ca
        .revoke(order)
        .await
        .map_err(|e| match e {
            shuin_ca::RevocationError::UnknownSerial(s) => Outcome::refused(
                "certificate_unknown",
                format!("no issued certificate has serial {s}"),
            ),
            shuin_ca::RevocationError::AlreadyRevoked { serial, revoked_at } => Outcome::refused(
                "certificate_already_revoked",
                format!("{serial} was revoked at {revoked_at}"),
            ),
            other => failed(other),
        })?;
    Ok(
        json!({"status": "revoked", "serial": serial.to_hex(), "reason": reason.name(),
        "revoked_at": shuin_core::timefmt::rfc3339(revoked.revoked_at),
        "crl_number": revoked.crl_number}),
    )
}

async fn automation_review(console: &Console, admitted: &Admitted) -> Acted {
    let since_text = text(admitted, "since")?;
    let since =
        crate::automation_cmd::parse_since(since_text).map_err(|e| invalid(e.to_string()))?;
    let defaults = Thresholds::default();
    let number = |name: &str, default: usize| {
        admitted
            .request
            .params
            .get(name)
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(default)
    };
    let thresholds = Thresholds {
        applications_per_jpki_certificate: number(
            "reuse_threshold",
            defaults.applications_per_jpki_certificate,
        ),
        decisions_per_hour: number("burst_threshold", defaults.decisions_per_hour),
        ..defaults
    };
    let rows = console.store.ledger_rows().await.map_err(failed)?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.push(shuin_ledger::Entry::from_canonical(&row.canonical).map_err(failed)?);
    }
    let review = automation::review(&entries, since, thresholds);
    let sign_off = admitted
        .request
        .params
        .get("sign_off")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut value = serde_json::to_value(&review).map_err(failed)?;
    value["signed_off"] = if sign_off {
        let entry = automation::sign_off(
            console.store.as_ref(),
            &review,
            &admitted.actor(),
            console.clock.now(),
        )
        .await
        .map_err(operator_error)?;
        json!({"seq": entry.seq, "time": entry.time, "by": entry.actor.name})
    } else {
        Value::Null
    };
    Ok(value)
}

async fn unseal(
    console: &Console,
    admitted: &Admitted,
    share: Option<Zeroizing<String>>,
    peer_uid: Option<u32>,
) -> Acted {
    let share = share.ok_or_else(|| invalid("an unseal request carries the share beside it"))?;
    let answer = console
        .unseal
        .offer(&share, &admitted.actor(), peer_uid)
        .await
        .map_err(failed)?;
    if answer.accepted {
        serde_json::to_value(answer).map_err(failed)
    } else {
        Err(Outcome::refused(
            "share_refused",
            format!("{}: {}", answer.outcome, answer.message),
        ))
    }
}
