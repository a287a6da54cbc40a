//! The console's actions on registrations and the facility, retention and audit records.
//! Personal data (a registration's identity, a CSV of entry/exit records) arrives as the
//! request's attachment, never in its signed parameters, so it never enters the
//! permanent books through `operator.request`.

use super::{Console, Outcome};
use serde_json::{json, Value};
use shuin_books::Admitted;
use shuin_core::{OsRandom, SystemClock};
use shuin_ra::{Delivery, Registrar, RegistrationRequest, VerifiedIdentity};
use std::time::Duration;
use zeroize::Zeroizing;

type Acted = Result<Value, Outcome>;

fn failed(e: impl std::fmt::Display) -> Outcome {
    Outcome::Failed {
        message: e.to_string(),
    }
}

fn attachment(
    attachment: Option<Zeroizing<String>>,
    what: &str,
) -> Result<Zeroizing<String>, Outcome> {
    attachment.ok_or_else(|| {
        Outcome::refused(
            "attachment_missing",
            format!("this request carries {what} as its attachment"),
        )
    })
}

/// `registration_create`: the identity the LRA verified is the attachment.
pub(super) async fn registration_create(
    console: &Console,
    admitted: &Admitted,
    identity: Option<Zeroizing<String>>,
) -> Acted {
    let identity = attachment(identity, "the verified identity")?;
    let identity: VerifiedIdentity = serde_json::from_str(&identity)
        .map_err(|e| Outcome::refused("invalid_params", format!("the identity attachment: {e}")))?;
    let params = &admitted.request.params;
    let lifetime = params
        .get("expires_in_seconds")
        .and_then(Value::as_u64)
        .map_or(shuin_ra::DEFAULT_CODE_LIFETIME, Duration::from_secs);
    let delivery = admitted.request.param("delivery").map(|method| Delivery {
        method: method.to_owned(),
        tracking: admitted.request.param("tracking").map(str::to_owned),
    });
    let key = crate::registration_cmd::code_key(&console.dir).map_err(failed)?;
    let registrar = Registrar {
        store: console.store.as_ref(),
        key: &key,
        clock: &SystemClock,
        rng: &OsRandom,
    };
    let created = registrar
        .create(RegistrationRequest {
            operator: admitted.actor(),
            jpki: None,
            evidence: Vec::new(),
            identity,
            delivery,
            lifetime,
        })
        .await
        .map_err(|e| match e {
            shuin_ra::RaError::Rejected(r) => Outcome::refused(r.code.as_str(), r.detail),
            other => failed(other),
        })?;
    Ok(json!({
        "registration_id": created.registration_id,
        "identification_code": created.identification_code,
        "expires_at": shuin_core::timefmt::rfc3339(created.expires_at),
    }))
}

/// `facility_import`: the CSV is the attachment; all rows or none.
pub(super) async fn facility_import(
    console: &Console,
    admitted: &Admitted,
    csv: Option<Zeroizing<String>>,
) -> Acted {
    let csv = attachment(csv, "the CSV of entry/exit records")?;
    let policy = console.config.facility.policy();
    let now = console.clock.now();
    let events = shuin_core::access_event::parse_csv(csv.as_bytes(), &policy, now)
        .map_err(|e| Outcome::refused("invalid_csv", format!("{e}; nothing was imported")))?;
    let source = format!(
        "csv:{}",
        admitted.request.param("file_name").unwrap_or("upload")
    );
    let access =
        shuin_server::AccessEvents::new(console.store.clone(), console.store.clone(), policy);
    let recorded = access
        .record(&events, &source, &admitted.actor(), now)
        .await
        .map_err(failed)?;
    Ok(json!({
        "ok": true,
        "source": source,
        "imported": recorded.imported,
        "duplicates": recorded.duplicates,
        "first_seq": recorded.seqs.map(|(first, _)| first),
        "last_seq": recorded.seqs.map(|(_, last)| last),
    }))
}

/// `facility_token`: a new token for the access-control system, or its revocation.
pub(super) async fn facility_token(console: &Console, admitted: &Admitted) -> Acted {
    let revoke = admitted
        .request
        .params
        .get("revoke")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let change = shuin_books::facility::change_access_token(
        console.store.as_ref(),
        shuin_server::TOKEN_SETTING,
        admitted.actor(),
        revoke,
        &OsRandom,
        console.clock.now(),
    )
    .await
    .map_err(|e| Outcome::refused("invalid_state", e.to_string()))?;
    Ok(match change.token {
        Some(token) => json!({"ok": true, "token": token, "token_sha256": change.sha256}),
        None => json!({"ok": true, "revoked_sha256": change.sha256}),
    })
}

/// `retention_purge`: evidence past retention, each batch ledgered first.
pub(super) async fn retention_purge(console: &Console, admitted: &Admitted) -> Acted {
    let report = shuin_books::retention::purge(
        console.store.as_ref(),
        Some(admitted.actor()),
        &console.config.retention.policy(),
        console.clock.now(),
    )
    .await
    .map_err(failed)?;
    serde_json::to_value(report).map_err(failed)
}
