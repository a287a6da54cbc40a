//! The console's actions on the books: an operator's roles, the facility's
//! access-control token, and the purge of evidence past retention. The request is
//! already in the books; each action ledgers its own effects with the operator as actor.

use super::{flag, role, text, Acted, Outcome};
use crate::retention::{PersonalRows, RetentionPolicy};
use crate::{organisation, Admitted, Gate};
use serde_json::json;
use shuin_core::{Action, RandomSource};
use shuin_store::{EvidenceRetention, LedgerStore, SettingsStore};
use std::time::SystemTime;

/// `status`: who the operator is as the books have them, in which zone, and the
/// server's `seal` state.
pub async fn status<S: LedgerStore + ?Sized>(
    gate: &Gate,
    store: &S,
    admitted: &Admitted,
    seal: impl serde::Serialize,
) -> Acted {
    let roster = super::roster(gate, store).await?;
    let roles: Vec<shuin_core::Role> = roster
        .operator(&admitted.operator)
        .map(|op| op.roles.iter().copied().collect())
        .unwrap_or_default();
    Ok(
        json!({"operator": admitted.operator, "roles": roles, "zone": admitted.zone,
        "certificate_sha256": admitted.certificate_sha256, "seal": seal}),
    )
}

/// `operator_grant` and `operator_remove_role`: a role given to, or taken from, an
/// enrolled operator.
pub async fn change_role<S: LedgerStore + ?Sized>(
    gate: &Gate,
    store: &S,
    admitted: &Admitted,
    now: SystemTime,
) -> Acted {
    let by = admitted.actor();
    let name = text(admitted, "name")?;
    let role = role(admitted)?;
    let roster = super::roster(gate, store).await?;
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
    .map_err(Outcome::failed)?;
    Ok(json!({"name": name, "role": role, "granted": grant}))
}

/// `facility_token`: a new token for the access-control system (its SHA-256 kept in the
/// setting `token_setting`), or its revocation.
pub async fn facility_token<S: SettingsStore + LedgerStore + ?Sized>(
    store: &S,
    token_setting: &str,
    admitted: &Admitted,
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Acted {
    let revoke = flag(admitted, "revoke");
    let change = crate::facility::change_access_token(
        store,
        token_setting,
        admitted.actor(),
        revoke,
        rng,
        now,
    )
    .await
    .map_err(|e| Outcome::refused("invalid_state", e.to_string()))?;
    Ok(match change.token {
        Some(token) => json!({"ok": true, "token": token, "token_sha256": change.sha256}),
        None => json!({"ok": true, "revoked_sha256": change.sha256}),
    })
}

/// `retention_purge`: evidence past retention, each batch ledgered first.
pub async fn retention_purge<S: EvidenceRetention + LedgerStore + PersonalRows + ?Sized>(
    store: &S,
    admitted: &Admitted,
    policy: &RetentionPolicy,
    now: SystemTime,
) -> Acted {
    let report = crate::retention::purge(store, Some(admitted.actor()), policy, now)
        .await
        .map_err(Outcome::failed)?;
    serde_json::to_value(report).map_err(Outcome::failed)
}

/// How long a passkey invitation may be spent.
pub const PASSKEY_INVITATION_TTL: std::time::Duration = std::time::Duration::from_secs(3600);

/// `passkey_invite`: a one-time token with which the operator who signed registers a
/// passkey in the web console (`operator.passkey_invited` keeps its SHA-256, never the
/// token; the token is shown once).
pub async fn passkey_invite<S: LedgerStore + ?Sized>(
    store: &S,
    admitted: &Admitted,
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Acted {
    use base64::Engine;
    use sha2::Digest;
    use shuin_ledger::passkey_registration::{Invited, INVITED};
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).map_err(Outcome::failed)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let expires_at = shuin_core::timefmt::rfc3339(now + PASSKEY_INVITATION_TTL);
    let invited = Invited {
        name: admitted.operator.clone(),
        token_sha256: hex::encode(sha2::Sha256::digest(token.as_bytes())),
        expires_at: expires_at.clone(),
        certificate_sha256: admitted.certificate_sha256.clone(),
    };
    let draft = shuin_ledger::EntryDraft {
        book: shuin_ledger::Book::Organization,
        kind: INVITED.into(),
        actor: admitted.actor(),
        subjects: vec![format!("operator:{}", admitted.operator)],
        payload: serde_json::to_value(&invited).map_err(Outcome::failed)?,
        evidence: vec![],
    };
    store.append(draft, now).await.map_err(Outcome::failed)?;
    Ok(
        json!({"operator": admitted.operator, "token": token, "expires_at": expires_at,
        "enrol_path": "/console/enrol"}),
    )
}

/// `passkey_remove`: a passkey that must sign nothing more (lost, replaced). Operators
/// remove their own; a ca_admin, with their operator key, anyone's (`name`). Ledgered as
/// `operator.passkey_removed`; the organisation book then no longer holds the passkey.
pub async fn passkey_remove<S: LedgerStore + ?Sized>(
    gate: &Gate,
    store: &S,
    admitted: &Admitted,
    now: SystemTime,
) -> Acted {
    use shuin_ledger::passkey_registration::{Removed, REMOVED};
    let credential_id = text(admitted, "credential_id")?;
    let name = admitted
        .request
        .param("name")
        .unwrap_or(&admitted.operator)
        .to_owned();
    let roster = super::roster(gate, store).await?;
    let passkey = roster
        .passkey_by_credential(credential_id)
        .filter(|p| p.key.name == name)
        .ok_or_else(|| {
            Outcome::refused(
                "passkey_unknown",
                format!("{name:?} has no passkey with this credential id"),
            )
        })?;
    let is_admin = roster
        .operator(&admitted.operator)
        .is_some_and(|op| op.holds(shuin_core::Role::CaAdmin));
    if name != admitted.operator && !is_admin {
        return Err(Outcome::refused(
            "passkey_not_yours",
            "only a ca_admin removes another operator's passkey",
        ));
    }
    let removed = Removed {
        name: name.clone(),
        credential_id: credential_id.to_owned(),
        key_sha256: passkey.key.key_sha256.clone(),
    };
    let draft = shuin_ledger::EntryDraft {
        book: shuin_ledger::Book::Organization,
        kind: REMOVED.into(),
        actor: admitted.actor(),
        subjects: vec![format!("operator:{name}")],
        payload: serde_json::to_value(&removed).map_err(Outcome::failed)?,
        evidence: vec![],
    };
    store.append(draft, now).await.map_err(Outcome::failed)?;
    let after = super::roster(gate, store).await?;
    if after.passkey_by_credential(credential_id).is_some() {
        return Err(Outcome::failed(
            "the removal is in the books but the organisation book did not take it (a ca_admin removes another's passkey with their operator key)",
        ));
    }
    Ok(json!({"operator": name, "credential_id": credential_id, "removed": true}))
}
