//! The console's actions on the RA (`shuin_books::console`): the LRA's review queue,
//! the automatic-approval switch and its review, and registrations made in person. The
//! request is already in the books; each action ledgers its own effects with the
//! operator as actor. Personal data (a registration's verified identity) arrives as the
//! request's attachment, never in its signed parameters, so it never enters the
//! permanent books through `operator.request`.

use crate::automation::{self, Thresholds};
use crate::config::RaSection;
use crate::operators::{OperatorError, OperatorStore};
use crate::recheck::{self, EvidenceVerifier};
use crate::review::{self, ReviewStore};
use crate::{
    Delivery, LifecycleStore, RaError, Registrar, RegistrationRequest, VerifiedIdentity,
    DEFAULT_CODE_LIFETIME,
};
use serde_json::{json, Value};
use shuin_books::console::{flag, required_attachment, text, Acted, Outcome};
use shuin_books::Admitted;
use shuin_core::issuance::{IssuanceError, Issuer};
use shuin_core::revocation::Revoker;
use shuin_core::{Clock, RandomSource};
use shuin_store::{ApplicationRecord, ApplicationStore};
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// The refusal (or failure) an operator error answers with.
pub fn operator_error(e: OperatorError) -> Outcome {
    match e {
        OperatorError::InvalidInput(m) => Outcome::invalid(m),
        OperatorError::InvalidState(m) => Outcome::refused("invalid_state", m),
        OperatorError::NotFound(m) => Outcome::refused("not_found", m),
        other => Outcome::failed(other),
    }
}

/// One line of the review queue.
pub fn summary(record: &ApplicationRecord) -> Value {
    json!({
        "id": record.id,
        "received_at": shuin_core::timefmt::rfc3339(record.received_at),
        "review_reasons": record.review_reasons,
        "subject_name": record.details["subject_name"],
    })
}

/// `review_list`: the applications waiting for an LRA.
pub async fn review_list<S: ReviewStore + ?Sized>(store: &S) -> Acted {
    let pending = review::pending(store).await.map_err(operator_error)?;
    Ok(Value::Array(pending.iter().map(summary).collect()))
}

/// `review_show`: one application's evidence.
pub async fn review_show<S: ReviewStore + ?Sized>(store: &S, admitted: &Admitted) -> Acted {
    let record = review::application(store, text(admitted, "id")?)
        .await
        .map_err(operator_error)?;
    Ok(review::evidence(&record))
}

/// `review_approve`: the LRA approves, the CA issues through `issuer`; an approved
/// reissue then supersedes the certificate it replaces through the revoker `ca` gives.
pub async fn review_approve<S, R, F>(
    store: &S,
    issuer: &dyn Issuer,
    ca: F,
    admitted: &Admitted,
    now: SystemTime,
) -> Acted
where
    S: ReviewStore + LifecycleStore,
    R: Revoker,
    F: FnOnce() -> Result<std::sync::Arc<R>, Outcome>,
{
    let id = text(admitted, "id")?;
    let note = admitted.request.param("note");
    let record = review::approve(store, issuer, id, &admitted.actor(), note, now)
        .await
        .map_err(|e| match e {
            OperatorError::Issuance(IssuanceError::Sealed) => {
                Outcome::refused("ca_sealed", "the CA is sealed")
            }
            other => operator_error(other),
        })?;
    let revoker = ca()?;
    crate::reissue::supersede_replaced(store, revoker.as_ref(), &record, now)
        .await
        .map_err(Outcome::failed)?;
    let serial = record.serial.as_ref().map(|s| s.to_hex());
    Ok(
        json!({"id": record.id, "status": record.status.as_str(), "serial": serial,
        "approver": admitted.operator, "approver_role": "lra"}),
    )
}

/// The code of an order the CA has not answered yet (it stays queued).
pub const CA_UNAVAILABLE: &str = "ca_unavailable";

/// `revoke` at an RA node: the revocation goes to the CA as an order through `revoker`
/// (the node's queue), and the answer comes once the CA carried it out.
pub async fn revoke_through(revoker: &dyn Revoker, admitted: &Admitted) -> Acted {
    use shuin_core::revocation::{RevocationPortError, RevocationRequest};
    let params = shuin_books::console::RevokeParams::of(admitted)?;
    let request = RevocationRequest {
        serial: params.serial.clone(),
        reason: params.reason,
        invalidity_date: params.invalidity_date,
        decided_by: admitted.operator.clone(),
        role: admitted.role.as_str().into(),
        authorisation: "operator".into(),
    };
    let serial = params.serial.to_hex();
    let done = revoker.revoke(request).await.map_err(|e| match e {
        RevocationPortError::UnknownSerial => Outcome::refused(
            "certificate_unknown",
            format!("no issued certificate has serial {serial}"),
        ),
        RevocationPortError::AlreadyRevoked { revoked_at } => Outcome::refused(
            "certificate_already_revoked",
            format!(
                "{serial} was revoked at {}",
                shuin_core::timefmt::rfc3339(revoked_at)
            ),
        ),
        RevocationPortError::Sealed => Outcome::refused("ca_sealed", "the CA is sealed"),
        // The order is durable: the CA's link carries it out when it takes it.
        RevocationPortError::Unavailable(e) => Outcome::refused(
            CA_UNAVAILABLE,
            format!("{CA_UNAVAILABLE}: {e}; a revocation order that was queued stays queued and is carried out when the CA's link takes it: run the same command again to see its outcome"),
        ),
        other => Outcome::failed(other),
    })?;
    Ok(
        json!({"status": "revoked", "serial": serial, "reason": params.reason.name(),
        "revoked_at": shuin_core::timefmt::rfc3339(done.revoked_at),
        "crl_number": done.crl_number}),
    )
}

/// `review_reject`: the LRA rejects, with a reason.
pub async fn review_reject<S: ReviewStore + ?Sized>(
    store: &S,
    admitted: &Admitted,
    now: SystemTime,
) -> Acted {
    let id = text(admitted, "id")?;
    let reason = text(admitted, "reason")?;
    let record = review::reject(store, id, &admitted.actor(), reason, now)
        .await
        .map_err(operator_error)?;
    Ok(json!({"id": record.id, "status": record.status.as_str(),
        "reason": record.rejection_reason, "decided_by": admitted.operator}))
}

/// `automation_suspend` and `automation_resume`.
pub async fn automation_switch<S: OperatorStore + ?Sized>(
    store: &S,
    suspend: bool,
    admitted: &Admitted,
    now: SystemTime,
) -> Acted {
    let by = admitted.actor();
    let state = automation::set_suspended(store, suspend, &by, text(admitted, "reason")?, now)
        .await
        .map_err(operator_error)?;
    serde_json::to_value(state).map_err(Outcome::failed)
}

/// `automation_review`: the automatic decisions since `since`, against the thresholds
/// the request names, with the re-check of every issuance since then (evidence verified
/// by `evidence` at each decision's time) and when the next review is due under
/// `section`; signed off in the books when it asks.
pub async fn automation_review<S: OperatorStore + ApplicationStore + ?Sized>(
    store: &S,
    admitted: &Admitted,
    section: &RaSection,
    evidence: &dyn EvidenceVerifier,
    now: SystemTime,
) -> Acted {
    let since_text = text(admitted, "since")?;
    let since = automation::parse_since(since_text)
        .ok_or_else(|| Outcome::invalid(automation::SINCE_FORMAT))?;
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
    let rows = store.ledger_rows().await.map_err(Outcome::failed)?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in &rows {
        entries.push(shuin_ledger::Entry::from_canonical(&row.canonical).map_err(Outcome::failed)?);
    }
    let mut review = automation::review(&entries, since, thresholds);
    let collected =
        recheck::collect(&entries, since, &section.responsible_person).map_err(Outcome::failed)?;
    review.recheck = recheck::recheck(store, &collected, evidence)
        .await
        .map_err(Outcome::failed)?;
    let interval = section.review_interval_days;
    review.schedule = automation::schedule(&entries, interval, now);
    let signed_off = if flag(admitted, "sign_off") {
        let entry = automation::sign_off(store, &review, &admitted.actor(), now)
            .await
            .map_err(operator_error)?;
        review.schedule = automation::schedule(std::slice::from_ref(&entry), interval, now);
        json!({"seq": entry.seq, "time": entry.time, "by": entry.actor.name})
    } else {
        Value::Null
    };
    let mut value = serde_json::to_value(&review).map_err(Outcome::failed)?;
    value["signed_off"] = signed_off;
    Ok(value)
}

/// What the LRA's side sends for `registration_create`: the parameters the request
/// signs (the code's lifetime, how it is delivered) and the identity as the attachment.
/// The identity is personal data: the signed request, which the books keep for good,
/// carries only its SHA-256, salted by a random `salt` member of the attachment from
/// `rng`, so that the hash cannot confirm a guessed identity.
pub fn registration_create_request(
    identity: &VerifiedIdentity,
    lifetime: Duration,
    delivery: Option<&Delivery>,
    rng: &dyn RandomSource,
) -> Result<(Value, Zeroizing<String>), RaError> {
    let unavailable = |e: Box<dyn std::error::Error + Send + Sync>| RaError::Unavailable(e);
    let mut salt = [0u8; ATTACHMENT_SALT_LEN];
    rng.fill(&mut salt).map_err(|e| unavailable(Box::new(e)))?;
    let mut salted = serde_json::to_value(identity).map_err(|e| unavailable(Box::new(e)))?;
    if let Some(object) = salted.as_object_mut() {
        object.insert(ATTACHMENT_SALT.into(), json!(hex::encode(salt)));
    }
    let attachment = Zeroizing::new(salted.to_string());
    let mut params = json!({"expires_in_seconds": lifetime.as_secs()});
    if let Some(delivery) = delivery {
        params["delivery"] = json!(delivery.method);
        if let Some(number) = &delivery.tracking {
            params["tracking"] = json!(number);
        }
    }
    Ok((params, attachment))
}

/// The attachment member that salts its SHA-256 in the signed request.
const ATTACHMENT_SALT: &str = "salt";
/// Its length in bytes.
const ATTACHMENT_SALT_LEN: usize = 32;

/// The identity in a `registration_create` attachment, without its salt (an attachment
/// from an earlier client may have none).
fn identity_of_attachment(text: &str) -> Result<VerifiedIdentity, serde_json::Error> {
    let mut value: Value = serde_json::from_str(text)?;
    if let Some(object) = value.as_object_mut() {
        object.remove(ATTACHMENT_SALT);
    }
    serde_json::from_value(value)
}

/// `registration_create`: the identity the LRA verified is the attachment. `key` gives
/// the instance's code key.
pub async fn registration_create<S, F>(
    store: &S,
    key: F,
    admitted: &Admitted,
    identity: Option<Zeroizing<String>>,
    clock: &dyn Clock,
    rng: &dyn RandomSource,
) -> Acted
where
    S: LifecycleStore,
    F: FnOnce() -> Result<crate::CodeKey, Outcome>,
{
    let identity = required_attachment(identity, "the verified identity")?;
    let identity = identity_of_attachment(&identity)
        .map_err(|e| Outcome::invalid(format!("the identity attachment: {e}")))?;
    let params = &admitted.request.params;
    let lifetime = params
        .get("expires_in_seconds")
        .and_then(Value::as_u64)
        .map_or(DEFAULT_CODE_LIFETIME, Duration::from_secs);
    let delivery = admitted.request.param("delivery").map(|method| Delivery {
        method: method.to_owned(),
        tracking: admitted.request.param("tracking").map(str::to_owned),
    });
    let key = key()?;
    let registrar = Registrar {
        store,
        key: &key,
        clock,
        rng,
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
            RaError::Rejected(r) => Outcome::refused(r.code.as_str(), r.detail),
            other => Outcome::failed(other),
        })?;
    Ok(json!({
        "registration_id": created.registration_id,
        "identification_code": created.identification_code,
        "expires_at": shuin_core::timefmt::rfc3339(created.expires_at),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_signs_the_delivery_and_carries_the_identity_beside_it() {
        let identity = VerifiedIdentity {
            name: "山田　太郎".into(),
            birth_date: "1990-01-02".into(),
            address: "東京都".into(),
            gender: None,
        };
        let delivery = Delivery {
            method: "本人限定受取郵便".into(),
            tracking: Some("123".into()),
        };
        let rng = shuin_core::OsRandom;
        let (params, attachment) =
            registration_create_request(&identity, Duration::from_secs(60), Some(&delivery), &rng)
                .expect("request");
        assert_eq!(
            params,
            json!({"expires_in_seconds": 60, "delivery": "本人限定受取郵便", "tracking": "123"})
        );
        assert!(!params.to_string().contains("山田"));
        let sent = identity_of_attachment(&attachment).expect("identity");
        assert_eq!(sent, identity);
        // Salted: the same identity sent twice gives two attachments (two hashes).
        let salt = |text: &str| serde_json::from_str::<Value>(text).expect("json")["salt"].clone();
        assert_eq!(salt(&attachment).as_str().map(str::len), Some(64));
        let (bare, again) =
            registration_create_request(&identity, Duration::from_secs(1), None, &rng)
                .expect("request");
        assert_eq!(bare, json!({"expires_in_seconds": 1}));
        assert_ne!(salt(&attachment), salt(&again));
        // An attachment without a salt (an earlier client) is still read.
        let plain = serde_json::to_string(&identity).expect("json");
        assert_eq!(identity_of_attachment(&plain).expect("identity"), identity);
        assert!(identity_of_attachment(r#"{"name": "x", "other": 1}"#).is_err());
    }
}
