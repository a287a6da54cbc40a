//! Pairing the nodes of a split deployment (DESIGN.md section 10): the operator CA
//! certifies a node's key with a node certificate (`shuin_core::x509::node`), recorded
//! in the organisation book as an enrolment with no role. Unpairing is the revocation of
//! that certificate (`operator_revoke` with the node's name): it goes on the operator CA's
//! CRL, which every operator and peer listener follows.

use super::{read_csr, unused_key, Certifying, OperatorCa, OperatorCaError};
use shuin_books::organisation::Roster;
use shuin_core::x509::node::{node_template, NodeIdentity, NodeRole};
use shuin_core::{RandomSource, Serial};
use shuin_ledger::Actor;
use shuin_store::LedgerStore;
use std::time::{Duration, SystemTime};

/// Default validity of a node certificate.
pub const NODE_VALIDITY: Duration = Duration::from_secs(365 * 86_400);

/// What a pairing asks for.
#[derive(Debug, Clone)]
pub struct Pairing<'a> {
    /// The node's CSR (its CN is the node's name).
    pub csr_der: &'a [u8],
    /// What the node is.
    pub role: NodeRole,
    /// The hosts it serves on (none for the CA's link).
    pub hosts: &'a [String],
}

impl OperatorCa {
    /// Certifies the node of `pairing` and ledgers its enrolment. The name must be new to
    /// the organisation book (no operator and no other node has it) and the key unused.
    #[allow(clippy::too_many_arguments)]
    pub async fn pair_node<S: LedgerStore + ?Sized>(
        &self,
        store: &S,
        roster: &Roster,
        pairing: &Pairing<'_>,
        validity: Duration,
        by: &Actor,
        rng: &dyn RandomSource,
        now: SystemTime,
    ) -> Result<Vec<u8>, OperatorCaError> {
        let (name, spki) = read_csr(pairing.csr_der)?;
        check_hosts(pairing)?;
        let key_sha256 = unused_key(roster, &spki)?;
        if roster.operator(&name).is_some() {
            return Err(OperatorCaError::Csr {
                code: "node_name_taken",
                detail: format!(
                    "{name:?} already names an operator or a node in the organisation book"
                ),
            });
        }
        let serial = Serial::random(rng).map_err(|e| OperatorCaError::Signing(e.to_string()))?;
        let node = NodeIdentity {
            role: pairing.role,
            name: name.clone(),
        };
        let template = node_template(
            &self.identity,
            &node,
            pairing.hosts,
            spki,
            serial,
            now,
            validity,
        )
        .map_err(|e| OperatorCaError::Signing(e.to_string()))?;
        let certifying = Certifying {
            kind: "node_certificate",
            subject: format!("node:{name}"),
            name: &name,
            key_sha256: &key_sha256,
        };
        let der = self
            .certify_and_enrol(store, template, &certifying, by, now)
            .await?;
        Ok(der)
    }
}

/// A node that serves names at least one host; the CA's link names none.
fn check_hosts(pairing: &Pairing<'_>) -> Result<(), OperatorCaError> {
    let refuse = |detail: &str| OperatorCaError::Csr {
        code: "node_hosts_invalid",
        detail: detail.into(),
    };
    match (pairing.role, pairing.hosts.is_empty()) {
        (NodeRole::Ca, false) => Err(refuse("the CA's link only dials out: it names no host")),
        (NodeRole::Ra | NodeRole::Repo, true) => Err(refuse(
            "a node that serves names its host (--host, a DNS name or an IP address)",
        )),
        _ if pairing
            .hosts
            .iter()
            .any(|h| h.is_empty() || h.len() > 253 || !h.is_ascii()) =>
        {
            Err(refuse("a host is a DNS name or an IP address"))
        }
        _ => Ok(()),
    }
}
