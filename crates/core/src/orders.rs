//! The order stream of a split deployment (DESIGN.md section 10): the RA queues approved
//! issuance and revocation orders; the CA, which listens on no network port, dials out,
//! takes them in batches and hands back their outcomes.
//!
//! An order's id is derived from what it carries out, so that a retry after any failure
//! names the same order and never issues twice: `issue:<application id>` and
//! `revoke:<serial in hex>`. Everything here is plain data with a stable JSON form; the
//! transport and the storage belong to other crates.

use crate::issuance::{Approver, IssuanceError, IssuanceOrder, IssuedCertificate};
use crate::revocation::{RevocationDone, RevocationPortError, RevocationReason, RevocationRequest};
use crate::Serial;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The most orders one batch carries.
pub const MAX_BATCH: usize = 64;

/// An order, as it travels and as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Order {
    /// Certify a new key for an approved application.
    Issue(IssueOrder),
    /// Revoke a certificate.
    Revoke(RevokeOrder),
}

/// [`IssuanceOrder`] in its wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssueOrder {
    /// The application.
    pub application_id: String,
    /// The subject's name (from the JPKI certificate).
    pub subject_name: String,
    /// Hex DER of the new key's SubjectPublicKeyInfo.
    pub spki_der: String,
    /// The validity cap, in Unix seconds.
    pub not_after_cap: u64,
    /// Who approved.
    pub approver: Approver,
}

/// [`RevocationRequest`] in its wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeOrder {
    /// Hex serial.
    pub serial: String,
    /// Why.
    pub reason: RevocationReason,
    /// When the key was compromised, in Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalidity_date: Option<u64>,
    /// Who decided.
    pub decided_by: String,
    /// Their role.
    pub role: String,
    /// How the request was authorised.
    pub authorisation: String,
}

/// Why an order read from the wire or a store cannot be carried out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed order: {0}")]
pub struct MalformedOrder(pub String);

impl Order {
    /// The id every retry of this order shares.
    pub fn id(&self) -> String {
        match self {
            Order::Issue(order) => issue_id(&order.application_id),
            Order::Revoke(order) => format!("revoke:{}", order.serial.to_ascii_lowercase()),
        }
    }

    /// The wire form of an issuance order.
    pub fn issue(order: &IssuanceOrder) -> Order {
        Order::Issue(IssueOrder {
            application_id: order.application_id.clone(),
            subject_name: order.subject_name.clone(),
            spki_der: hex::encode(&order.spki_der),
            not_after_cap: unix(order.not_after_cap),
            approver: order.approver.clone(),
        })
    }

    /// The wire form of a revocation request.
    pub fn revoke(request: &RevocationRequest) -> Order {
        Order::Revoke(RevokeOrder {
            serial: request.serial.to_hex(),
            reason: request.reason,
            invalidity_date: request.invalidity_date.map(unix),
            decided_by: request.decided_by.clone(),
            role: request.role.clone(),
            authorisation: request.authorisation.clone(),
        })
    }
}

/// The id of the issuance order of `application_id`.
pub fn issue_id(application_id: &str) -> String {
    format!("issue:{application_id}")
}

/// The application an issuance order's id names (`None` for another order).
pub fn application_of(order_id: &str) -> Option<&str> {
    order_id.strip_prefix("issue:")
}

/// The id of the revocation order of `serial`.
pub fn revoke_id(serial: &Serial) -> String {
    format!("revoke:{}", serial.to_hex())
}

impl IssueOrder {
    /// Back to the port's form.
    pub fn to_port(&self) -> Result<IssuanceOrder, MalformedOrder> {
        let spki_der = hex::decode(&self.spki_der)
            .map_err(|_| MalformedOrder("spki_der is not hex".into()))?;
        Ok(IssuanceOrder {
            application_id: self.application_id.clone(),
            subject_name: self.subject_name.clone(),
            spki_der,
            not_after_cap: from_unix(self.not_after_cap)?,
            approver: self.approver.clone(),
        })
    }
}

impl RevokeOrder {
    /// Back to the port's form.
    pub fn to_port(&self) -> Result<RevocationRequest, MalformedOrder> {
        let serial = Serial::from_hex(&self.serial)
            .ok_or_else(|| MalformedOrder(format!("serial {:?}", self.serial)))?;
        Ok(RevocationRequest {
            serial,
            reason: self.reason,
            invalidity_date: self.invalidity_date.map(from_unix).transpose()?,
            decided_by: self.decided_by.clone(),
            role: self.role.clone(),
            authorisation: self.authorisation.clone(),
        })
    }
}

/// What became of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum OrderOutcome {
    /// The certificate (also when it had been issued by an earlier try).
    Issued {
        /// Hex serial.
        serial: String,
        /// Hex DER of the certificate.
        certificate_der: String,
        /// Hex DER of the chain above it, issuing CA first.
        chain_der: Vec<String>,
    },
    /// The revocation took effect (now, or by an earlier try).
    Revoked {
        /// Unix seconds.
        revoked_at: u64,
        /// The CRL that lists it (0 when it was revoked earlier).
        crl_number: u64,
    },
    /// The CA did not carry it out.
    Refused {
        /// A stable reason code (`ca_sealed`, `key_reused`, `unknown_serial`, ...).
        code: String,
        /// What went wrong, for people.
        detail: String,
        /// Whether the same order may succeed later (sealed CA, storage trouble).
        retryable: bool,
    },
}

impl OrderOutcome {
    /// The outcome of an issuance.
    pub fn of_issuance(result: &Result<IssuedCertificate, IssuanceError>) -> OrderOutcome {
        match result {
            Ok(issued) => OrderOutcome::Issued {
                serial: issued.serial.to_hex(),
                certificate_der: hex::encode(&issued.certificate_der),
                chain_der: issued.chain_der.iter().map(hex::encode).collect(),
            },
            Err(e) => {
                let (code, retryable) = match e {
                    IssuanceError::Sealed => ("ca_sealed", true),
                    IssuanceError::KeyReused => ("key_reused", false),
                    IssuanceError::Profile(_) => ("profile", false),
                    IssuanceError::Lint(_) => ("lint", false),
                    IssuanceError::Unavailable(_) => ("ca_unavailable", true),
                    IssuanceError::Terminated => ("business_terminated", false),
                };
                OrderOutcome::refused(code, e, retryable)
            }
        }
    }

    /// The outcome of a revocation.
    pub fn of_revocation(result: &Result<RevocationDone, RevocationPortError>) -> OrderOutcome {
        match result {
            Ok(done) => OrderOutcome::Revoked {
                revoked_at: unix(done.revoked_at),
                crl_number: done.crl_number,
            },
            Err(RevocationPortError::AlreadyRevoked { revoked_at }) => OrderOutcome::Revoked {
                revoked_at: unix(*revoked_at),
                crl_number: 0,
            },
            Err(e) => {
                let (code, retryable) = match e {
                    RevocationPortError::UnknownSerial => ("unknown_serial", false),
                    RevocationPortError::Sealed => ("ca_sealed", true),
                    _ => ("ca_unavailable", true),
                };
                OrderOutcome::refused(code, e, retryable)
            }
        }
    }

    fn refused(code: &str, error: &dyn std::fmt::Display, retryable: bool) -> OrderOutcome {
        OrderOutcome::Refused {
            code: code.into(),
            detail: error.to_string(),
            retryable,
        }
    }

    /// Whether the same order may be tried again.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            OrderOutcome::Refused {
                retryable: true,
                ..
            }
        )
    }

    /// Back to the issuance port's answer.
    pub fn to_issuance(&self) -> Result<IssuedCertificate, IssuanceError> {
        let unexpected = || unavailable("the CA answered an issuance order with a revocation");
        match self {
            OrderOutcome::Issued {
                serial,
                certificate_der,
                chain_der,
            } => {
                let bad = |what: &str| unavailable(&format!("the CA's answer: {what} unreadable"));
                Ok(IssuedCertificate {
                    serial: Serial::from_hex(serial).ok_or_else(|| bad("serial"))?,
                    certificate_der: hex::decode(certificate_der)
                        .map_err(|_| bad("certificate"))?,
                    chain_der: chain_der
                        .iter()
                        .map(hex::decode)
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad("chain"))?,
                })
            }
            OrderOutcome::Revoked { .. } => Err(unexpected()),
            OrderOutcome::Refused { code, detail, .. } => Err(match code.as_str() {
                "ca_sealed" => IssuanceError::Sealed,
                "key_reused" => IssuanceError::KeyReused,
                "profile" => IssuanceError::Profile(detail.clone()),
                "lint" => IssuanceError::Lint(detail.clone()),
                "business_terminated" => IssuanceError::Terminated,
                _ => unavailable(detail),
            }),
        }
    }

    /// Back to the revocation port's answer.
    pub fn to_revocation(&self) -> Result<RevocationDone, RevocationPortError> {
        match self {
            OrderOutcome::Revoked {
                revoked_at,
                crl_number,
            } => Ok(RevocationDone {
                revoked_at: from_unix(*revoked_at)
                    .map_err(|e| RevocationPortError::Unavailable(e.0.into()))?,
                crl_number: *crl_number,
            }),
            OrderOutcome::Issued { .. } => Err(RevocationPortError::Unavailable(
                "the CA answered a revocation order with a certificate".into(),
            )),
            OrderOutcome::Refused { code, detail, .. } => Err(match code.as_str() {
                "unknown_serial" => RevocationPortError::UnknownSerial,
                "ca_sealed" => RevocationPortError::Sealed,
                _ => RevocationPortError::Unavailable(detail.clone().into()),
            }),
        }
    }
}

fn unavailable(detail: &str) -> IssuanceError {
    IssuanceError::Unavailable(detail.to_owned().into())
}

/// A batch the CA took, with the state it reports while taking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The orders, oldest first.
    pub orders: Vec<Order>,
}

/// The outcome of one order of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answered {
    /// The order's id.
    pub id: String,
    /// What became of it.
    #[serde(flatten)]
    pub outcome: OrderOutcome,
}

/// The side that carries orders out (the CA, behind whatever transport brings them).
#[async_trait::async_trait]
pub trait OrderDesk: Send + Sync {
    /// Carries `orders` out, each at most once whatever the retries, and answers each.
    async fn carry_out(&self, orders: Vec<Order>) -> Vec<Answered>;

    /// Takes note of answers the RA node refused to keep (`(order id, code)`; an answer
    /// kept before, `already_answered`, is not among them): the CA records them, so that
    /// its periodic review shows what no node's review will.
    async fn not_kept(&self, refused: &[(String, String)]) {
        let _ = refused;
    }
}

fn unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A time on the wire (seconds since the Unix epoch), if the platform represents it.
pub fn from_unix(secs: u64) -> Result<SystemTime, MalformedOrder> {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .ok_or_else(|| MalformedOrder(format!("time {secs} out of range")))
}

#[cfg(test)]
#[path = "orders_tests.rs"]
mod tests;

/// How many orders wait in an RA node's queue, for `/metrics`.
#[async_trait::async_trait]
pub trait OrderQueueReport: Send + Sync {
    /// Orders not taken yet, and orders a CA link holds now.
    async fn depth(&self) -> Result<(u64, u64), String>;
}
