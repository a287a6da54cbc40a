//! The repository feed of a split deployment (DESIGN.md section 10, docs/deployment.md):
//! the CA, which listens on no network port, hands its newest CRLs and its pre-signed
//! OCSP answers to the nodes it dials, which serve them to verifiers. The node says what
//! it holds (each CRL scope's number, and how far into the CA's OCSP answers it is), and
//! the CA's link sends only what is newer.
//!
//! OCSP answers are numbered as the CA's responder signs them: every answer it keeps gets
//! the next number of its *epoch* (one run of the responder). A node holding answers up
//! to number N of epoch E gets those after N; a node holding another epoch (the CA was
//! restarted or unsealed again) or none gets them all again.
//!
//! Everything here is plain data with a stable JSON form (DER as standard base64); the
//! transport, the checks and the storage belong to other crates.

use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The most OCSP answers one push carries (about 0.5 MB).
pub const MAX_OCSP_ANSWERS: usize = 1_000;
/// The most CRLs one push carries.
pub const MAX_CRLS: usize = 64;

/// A CRL the CA holds, by scope (`ca`, `ca-delta`, `ca-pN`, `root`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedCrl {
    /// The scope.
    pub scope: String,
    /// Its CRL number.
    pub number: u64,
    /// DER.
    pub der: Vec<u8>,
}

/// OCSP answers after a point of the CA's responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspDelta {
    /// The responder's epoch.
    pub epoch: u64,
    /// The number of the last answer included (or the point asked for, when none is).
    pub through: u64,
    /// The answers (DER OCSPResponse), oldest first.
    pub answers: Vec<Arc<Vec<u8>>>,
}

/// Where the CA's link reads what it hands to nodes.
#[async_trait::async_trait]
pub trait RepositoryFeed: Send + Sync {
    /// The newest CRL of each scope.
    async fn crls(&self) -> Vec<FeedCrl>;
    /// At most `max` OCSP answers after `through` of `epoch` (all from the start when the
    /// epoch is another one); `None` while the CA has no responder (sealed).
    async fn ocsp_after(&self, epoch: u64, through: u64, max: usize) -> Option<OcspDelta>;
}

/// What a node holds: each CRL scope's number and its point in the OCSP answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Held {
    /// CRL numbers by scope.
    #[serde(default)]
    pub crls: BTreeMap<String, u64>,
    /// The epoch of the OCSP answers held (0 for none).
    #[serde(default)]
    pub ocsp_epoch: u64,
    /// The number of the last OCSP answer held in that epoch.
    #[serde(default)]
    pub ocsp_through: u64,
}

/// One CRL on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushedCrl {
    /// The scope.
    pub scope: String,
    /// DER, standard base64.
    pub der: String,
}

/// A push: CRLs newer than the node holds, and OCSP answers after its point. An empty
/// push asks only what the node holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Push {
    /// CRLs.
    #[serde(default)]
    pub crls: Vec<PushedCrl>,
    /// The OCSP answers' epoch.
    #[serde(default)]
    pub ocsp_epoch: u64,
    /// The point `ocsp` follows: 0 for the epoch's beginning. A node takes the answers
    /// only from the beginning or from the point it holds, so that none is skipped.
    #[serde(default)]
    pub ocsp_after: u64,
    /// The number of the last answer in `ocsp` (the node's new point).
    #[serde(default)]
    pub ocsp_through: u64,
    /// OCSP answers (DER OCSPResponse, standard base64), oldest first.
    #[serde(default)]
    pub ocsp: Vec<String>,
}

/// A push that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed push: {0}")]
pub struct MalformedPush(pub String);

fn decode(what: &str, text: &str) -> Result<Vec<u8>, MalformedPush> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| MalformedPush(format!("{what} is not standard base64")))
}

impl Push {
    /// What the link sends to a node that holds `held`: the CRLs of `crls` newer than
    /// the node's, and the answers of `delta`.
    pub fn for_node(held: &Held, crls: &[FeedCrl], delta: Option<&OcspDelta>) -> Push {
        let b64 = base64::engine::general_purpose::STANDARD;
        let newer = crls
            .iter()
            .filter(|crl| held.crls.get(&crl.scope).is_none_or(|n| *n < crl.number))
            .take(MAX_CRLS)
            .map(|crl| PushedCrl {
                scope: crl.scope.clone(),
                der: b64.encode(&crl.der),
            })
            .collect();
        let mut push = Push {
            crls: newer,
            ..Push::default()
        };
        if let Some(delta) = delta {
            push.ocsp_epoch = delta.epoch;
            push.ocsp_after = if delta.epoch == held.ocsp_epoch {
                held.ocsp_through
            } else {
                0
            };
            push.ocsp_through = delta.through;
            push.ocsp = delta
                .answers
                .iter()
                .map(|der| b64.encode(der.as_slice()))
                .collect();
        }
        push
    }

    /// Whether there is nothing to hand over.
    pub fn is_empty(&self) -> bool {
        self.crls.is_empty() && self.ocsp.is_empty() && self.ocsp_through == self.ocsp_after
    }

    /// The CRLs, decoded, with their scopes; refused whole when one is not base64 or
    /// there are more than a push carries.
    pub fn crls(&self) -> Result<Vec<(String, Vec<u8>)>, MalformedPush> {
        if self.crls.len() > MAX_CRLS {
            return Err(MalformedPush(format!("more than {MAX_CRLS} CRLs")));
        }
        self.crls
            .iter()
            .map(|crl| Ok((crl.scope.clone(), decode("a CRL", &crl.der)?)))
            .collect()
    }

    /// The OCSP answers, decoded; refused whole as [`Push::crls`].
    pub fn ocsp_answers(&self) -> Result<Vec<Vec<u8>>, MalformedPush> {
        if self.ocsp.len() > MAX_OCSP_ANSWERS {
            return Err(MalformedPush(format!(
                "more than {MAX_OCSP_ANSWERS} OCSP answers"
            )));
        }
        self.ocsp
            .iter()
            .map(|text| decode("an OCSP answer", text))
            .collect()
    }
}

/// Where an RA node keeps the revocations its repository learns of from the CA's pushed
/// OCSP answers (one made at the CA's console, or by the termination), for the
/// certificates the node holds. What the node ordered itself is kept with the CA's
/// answer to the order, with the order's reason and author.
#[async_trait::async_trait]
pub trait RevokedAtTheCa: Send + Sync {
    /// Keeps that `serial` was revoked at `revoked_at` for `reason`, if the node holds
    /// the certificate, has no revocation of it, and awaits no answer to an order of its
    /// revocation. Failures are logged; a later answer of the same certificate tries
    /// again.
    async fn revoked(
        &self,
        serial: &crate::Serial,
        revoked_at: std::time::SystemTime,
        reason: crate::revocation::RevocationReason,
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn crl(scope: &str, number: u64) -> FeedCrl {
        FeedCrl {
            scope: scope.into(),
            number,
            der: vec![u8::try_from(number).unwrap()],
        }
    }

    #[test]
    fn only_newer_crls_and_the_delta_are_pushed() {
        let held = Held {
            crls: BTreeMap::from([("ca".to_owned(), 7), ("root".to_owned(), 2)]),
            ocsp_epoch: 5,
            ocsp_through: 10,
        };
        let delta = OcspDelta {
            epoch: 5,
            through: 12,
            answers: vec![Arc::new(vec![1]), Arc::new(vec![2])],
        };
        let push = Push::for_node(
            &held,
            &[crl("ca", 8), crl("root", 2), crl("ca-delta", 1)],
            Some(&delta),
        );
        let scopes: Vec<&str> = push.crls.iter().map(|c| c.scope.as_str()).collect();
        assert_eq!(scopes, ["ca", "ca-delta"]);
        assert_eq!((push.ocsp_after, push.ocsp_through), (10, 12));
        assert_eq!(push.ocsp_answers().unwrap(), [vec![1], vec![2]]);
        assert_eq!(push.crls().unwrap()[0], ("ca".to_owned(), vec![8]));
        // Another epoch: from the start, even with no answer yet.
        let restarted = OcspDelta {
            epoch: 6,
            through: 0,
            answers: vec![],
        };
        let push = Push::for_node(&held, &[], Some(&restarted));
        assert_eq!(push.ocsp_after, 0);
        assert_eq!(push.ocsp_epoch, 6);
        assert!(Push::for_node(&held, &[crl("ca", 7)], None).is_empty());
    }

    #[test]
    fn a_malformed_or_oversized_push_is_refused_whole() {
        let mut push = Push {
            ocsp: vec!["AA==".into(), "not base64!".into()],
            ..Push::default()
        };
        assert!(push.ocsp_answers().is_err());
        push.ocsp = vec!["AA==".into(); MAX_OCSP_ANSWERS + 1];
        assert!(push.ocsp_answers().is_err());
        let wire: Result<Push, _> = serde_json::from_str(r#"{"crls": [], "extra": 1}"#);
        assert!(wire.is_err());
    }
}
