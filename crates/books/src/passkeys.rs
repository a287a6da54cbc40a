//! Registering an operator's passkey from the web console (DESIGN.md sections 8 and 12):
//! the registration is checked as the organisation book will replay it (an open
//! invitation of that operator, the passkey's own assertion over the registration
//! text), ledgered as `operator.passkey_registered`, and only then usable.

use crate::console::Outcome;
use crate::Gate;
use shuin_core::Zone;
use shuin_ledger::passkey_registration::{check_registered, PasskeyKey, Registered, REGISTERED};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::LedgerStore;
use std::time::SystemTime;

/// Checks `registered` against the books and ledgers it; returns the passkey.
pub async fn register<S: LedgerStore + ?Sized>(
    gate: &Gate,
    store: &S,
    registered: &Registered,
    zone: Zone,
    now: SystemTime,
) -> Result<PasskeyKey, Outcome> {
    let payload = serde_json::to_value(registered).map_err(Outcome::failed)?;
    let key = check_registered(&payload)
        .map_err(|why| Outcome::refused("passkey_registration_invalid", why))?;
    let roster = gate.roster(store).await.map_err(Outcome::failed)?;
    let invitation = roster.invitation(&key.token_sha256).ok_or_else(|| {
        Outcome::refused(
            "passkey_invitation_unknown",
            "no invitation has this token: ask for one with `shuin operator passkey-invite`",
        )
    })?;
    if !invitation.open_at(now) || invitation.invited.name != key.name {
        return Err(Outcome::refused(
            "passkey_invitation_closed",
            "the invitation was used already or has expired: ask for a new one",
        ));
    }
    if roster.passkey(&key.key_sha256).is_some()
        || roster.passkey_by_credential(&key.credential_id).is_some()
    {
        return Err(Outcome::refused(
            "passkey_already_registered",
            "this passkey is registered already",
        ));
    }
    let draft = EntryDraft {
        book: Book::Organization,
        kind: REGISTERED.into(),
        actor: Actor {
            name: key.name.clone(),
            role: "passkey".into(),
            zone: zone.as_str().into(),
        },
        subjects: vec![format!("operator:{}", key.name)],
        payload,
        evidence: vec![],
    };
    // Keyed by the invitation: of two registrations racing with one token, the store
    // writes one and skips the other (which is then refused here, not left in the books).
    let keyed = shuin_store::KeyedDraft {
        key: Some(format!("passkey_registration:{}", key.token_sha256)),
        draft,
    };
    let written = store
        .append_batch(vec![keyed], now)
        .await
        .map_err(Outcome::failed)?;
    if written.is_empty() {
        return Err(Outcome::refused(
            "passkey_invitation_closed",
            "the invitation was used already or has expired: ask for a new one",
        ));
    }
    let roster = gate.roster(store).await.map_err(Outcome::failed)?;
    if roster.passkey(&key.key_sha256).is_none() {
        return Err(Outcome::failed(
            "the registration is in the books but the organisation book did not take it",
        ));
    }
    tracing::info!(operator = %key.name, credential = %key.credential_id, "passkey registered");
    Ok(key)
}
