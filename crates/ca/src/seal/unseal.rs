//! Unsealing: custodians' shares, one attempt at a time, each recorded in the facility
//! book (the share's index, the custodian and the outcome, never the share itself).

use super::Seal;
use serde::{Deserialize, Serialize};
use shuin_core::Clock;
use shuin_keys::activation::{self, SealConfig, Share};
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, StoreError};
use std::sync::Arc;
use zeroize::Zeroizing;

/// Why an activation failed: whatever the composition root's opening of the token and
/// the CA reports, kept as its source.
pub type ActivatorError = Box<dyn std::error::Error + Send + Sync>;

/// Turns the opened PIN into the opened CA parts: logs into the token, checks (and
/// records) the issuing key's attributes, opens the CA, the OCSP responder and the
/// checkpoints. Implemented by the composition root, which knows the configuration.
#[async_trait::async_trait]
pub trait Activator<P>: Send + Sync {
    /// Opens the parts with `pin`. Called once per complete set of shares.
    async fn activate(&self, pin: Zeroizing<String>) -> Result<P, ActivatorError>;
}

/// Records in the facility book the issuing key's attributes as read at unseal, and
/// whether they passed the issuer key policy (the activator calls this before it opens
/// the CA, and refuses a key that failed).
pub async fn record_key_attributes<S: LedgerStore + ?Sized>(
    store: &S,
    evidence: &shuin_keys::KeyAttributeEvidence,
    policy_passed: bool,
    now: std::time::SystemTime,
) -> Result<(), StoreError> {
    let draft = EntryDraft {
        book: Book::Facility,
        kind: "key.attributes".into(),
        actor: Actor {
            name: "shuin-unseal".into(),
            role: "system".into(),
            zone: "high_security".into(),
        },
        subjects: vec!["key:issuing".into()],
        payload: serde_json::json!({"attributes": evidence, "policy_passed": policy_passed, "at": "unseal"}),
        evidence: vec![],
    };
    store.append(draft, now).await.map(|_| ())
}

/// Why the issuing key was not admitted at unseal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuingKeyError {
    /// `ca.issuing_key` is not a key URI.
    #[error("ca.issuing_key: {0}")]
    KeyRef(#[source] shuin_keys::KeyError),
    /// Its attributes could not be read, or they fail the issuer key policy.
    #[error("{0}")]
    Refused(String),
    /// The evidence could not be recorded.
    #[error("ledger: {0}")]
    Ledger(#[source] StoreError),
}

/// Admits the issuing key `issuing_key` of the backend opened at unseal: its attributes
/// (when the backend has them) are read, recorded with the policy's verdict
/// ([`record_key_attributes`]), and must pass the issuer key policy.
pub async fn admit_issuing_key<S: LedgerStore + ?Sized>(
    store: &S,
    opened: &shuin_keys::config::OpenedBackend,
    issuing_key: &str,
    now: std::time::SystemTime,
) -> Result<(), IssuingKeyError> {
    let key = shuin_keys::KeyRef::parse(issuing_key).map_err(IssuingKeyError::KeyRef)?;
    let checked = opened
        .check_issuer_key(&key, "issuing")
        .map_err(IssuingKeyError::Refused)?;
    if let Some((evidence, verdict)) = checked {
        record_key_attributes(store, &evidence, verdict.is_ok(), now)
            .await
            .map_err(IssuingKeyError::Ledger)?;
        verdict.map_err(IssuingKeyError::Refused)?;
    }
    Ok(())
}

/// Why an unseal attempt could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The attempt could not be recorded in the facility book; a share whose attempt
    /// is not recorded is not held.
    #[error("ledger: {0}")]
    Ledger(#[source] StoreError),
}

/// Why the threshold of shares did not open the CA.
#[derive(Debug, thiserror::Error)]
enum ActivationFailed {
    #[error("{0}")]
    Pin(#[source] activation::ActivationError),
    #[error("{0}")]
    Activator(#[source] ActivatorError),
}

/// The answer to one unseal attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnsealAnswer {
    /// Whether the share was taken.
    pub accepted: bool,
    /// Whether the CA is still sealed after this attempt.
    pub sealed: bool,
    /// Shares held after this attempt.
    pub shares_held: u8,
    /// M.
    pub threshold: u8,
    /// `accepted`, `unsealed`, or why not: `malformed`, `foreign`, `wrong`,
    /// `duplicate`, `same_custodian`, `already_unsealed`, `not_sealed`,
    /// `activation_failed`.
    pub outcome: String,
    /// A sentence for the custodian.
    pub message: String,
}

/// What an unseal attempt needs: the seal, the ledger, the clock and the activator.
pub struct UnsealDesk<P> {
    /// The seal the parts go into.
    pub seal: Arc<Seal<P>>,
    /// Where attempts are recorded (the facility book).
    pub ledger: Arc<dyn LedgerStore>,
    /// The time of the records.
    pub clock: Arc<dyn Clock>,
    /// Opens the parts once the PIN is open.
    pub activator: Arc<dyn Activator<P>>,
}

impl<P: Send + Sync> UnsealDesk<P> {
    async fn record(
        &self,
        kind: &str,
        actor: Actor,
        payload: serde_json::Value,
    ) -> Result<(), SealError> {
        self.ledger
            .append(
                EntryDraft {
                    book: Book::Facility,
                    kind: kind.into(),
                    actor,
                    subjects: vec!["key:issuing".into()],
                    payload,
                    evidence: vec![],
                },
                self.clock.now(),
            )
            .await
            .map(|_| ())
            .map_err(SealError::Ledger)
    }

    /// Takes one share's text from `custodian` (who signed the unseal request). Every
    /// attempt is recorded in the facility book with the share's index, the custodian and
    /// the outcome, never the share itself. One custodian gives at most one share.
    pub async fn offer(
        &self,
        text: &str,
        custodian: &Actor,
        peer_uid: Option<u32>,
    ) -> Result<UnsealAnswer, SealError> {
        let Some(config) = self.seal.custodians().cloned() else {
            return Ok(UnsealAnswer {
                accepted: false,
                sealed: false,
                shares_held: 0,
                threshold: 0,
                outcome: "not_sealed".into(),
                message: "this instance has no custodians".into(),
            });
        };
        let mut held = self.seal.held.lock().await;
        let parsed = activation::parse(text);
        let index = parsed.as_ref().ok().map(|s| s.index);
        let verdict: Result<Share, (&str, String)> = match parsed {
            Err(e) => Err(("malformed", e.to_string())),
            Ok(_) if self.seal.parts().is_some() => {
                Err(("already_unsealed", "the CA is already unsealed".into()))
            }
            Ok(share) => match activation::check(&config, &share) {
                Err(refusal) => Err(refusal),
                Ok(()) if held.iter().any(|(h, _)| h.index == share.index) => Err((
                    "duplicate",
                    format!("share {} was already given", share.index),
                )),
                Ok(()) if held.iter().any(|(_, by)| by == &custodian.name) => Err((
                    "same_custodian",
                    format!(
                        "{} has already given a share: M shares must come from M custodians",
                        custodian.name
                    ),
                )),
                Ok(()) => Ok(share),
            },
        };
        let actor = custodian.clone();
        let share = match verdict {
            Err((outcome, message)) => {
                let count = u8::try_from(held.len()).unwrap_or(u8::MAX);
                self.record(
                    "seal.unseal_attempt",
                    actor,
                    serde_json::json!({"share_index": index, "outcome": "refused", "reason": outcome,
                        "detail": message, "shares_held": count, "threshold": config.threshold,
                        "instance_id": config.instance_id, "peer_uid": peer_uid}),
                )
                .await?;
                tracing::warn!(share_index = ?index, reason = outcome, "refused an unseal share: {message}");
                return Ok(UnsealAnswer {
                    accepted: false,
                    sealed: self.seal.parts().is_none(),
                    shares_held: count,
                    threshold: config.threshold,
                    outcome: outcome.into(),
                    message,
                });
            }
            Ok(share) => share,
        };
        let index = share.index;
        // Recorded before it counts: a share whose attempt cannot be ledgered is not held.
        let count = u8::try_from(held.len() + 1).unwrap_or(u8::MAX);
        self.record(
            "seal.unseal_attempt",
            actor.clone(),
            serde_json::json!({"share_index": index, "outcome": "accepted", "shares_held": count,
                "threshold": config.threshold, "instance_id": config.instance_id, "peer_uid": peer_uid}),
        )
        .await?;
        held.push((share, custodian.name.clone()));
        tracing::info!(
            share_index = index,
            shares_held = count,
            threshold = config.threshold,
            "accepted an unseal share"
        );
        if count < config.threshold {
            return Ok(UnsealAnswer {
                accepted: true,
                sealed: true,
                shares_held: count,
                threshold: config.threshold,
                outcome: "accepted".into(),
                message: format!(
                    "share {index} accepted; {count} of {} held, still sealed",
                    config.threshold
                ),
            });
        }
        // Threshold reached: the shares are spent whatever happens next.
        let (shares, givers): (Vec<Share>, Vec<String>) =
            std::mem::take(&mut *held).into_iter().unzip();
        match self.activate(&config, &shares).await {
            Ok(()) => {
                self.record(
                    "seal.unsealed",
                    actor,
                    serde_json::json!({"shares_used": shares.iter().map(|s| s.index).collect::<Vec<_>>(),
                        "custodians": givers,
                        "threshold": config.threshold, "instance_id": config.instance_id}),
                )
                .await?;
                tracing::info!("the CA is unsealed");
                Ok(UnsealAnswer {
                    accepted: true,
                    sealed: false,
                    shares_held: count,
                    threshold: config.threshold,
                    outcome: "unsealed".into(),
                    message: format!("share {index} accepted; the CA is unsealed"),
                })
            }
            Err(e) => {
                let message = format!("the shares were valid but the CA could not be activated: {e}; give the shares again once this is fixed");
                self.record(
                    "seal.unseal_attempt",
                    actor,
                    serde_json::json!({"share_index": index, "outcome": "refused", "reason": "activation_failed",
                        "detail": message, "shares_held": 0, "threshold": config.threshold,
                        "instance_id": config.instance_id, "peer_uid": peer_uid}),
                )
                .await?;
                tracing::error!("{message}");
                Ok(UnsealAnswer {
                    accepted: false,
                    sealed: true,
                    shares_held: 0,
                    threshold: config.threshold,
                    outcome: "activation_failed".into(),
                    message,
                })
            }
        }
    }

    /// Opens the PIN and lets the activator open the parts; sets them on success.
    async fn activate(
        &self,
        config: &SealConfig,
        shares: &[Share],
    ) -> Result<(), ActivationFailed> {
        let pin = activation::open_pin(config, shares).map_err(ActivationFailed::Pin)?;
        let parts = self
            .activator
            .activate(pin)
            .await
            .map_err(ActivationFailed::Activator)?;
        self.seal.set(parts);
        Ok(())
    }
}
