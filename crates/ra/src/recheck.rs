//! The periodic review's re-check of every issuance in its window (theme ❺; docs/
//! operations.md, "The periodic review"): each `certificate.issued` (at an RA node of a
//! split deployment, each issued answer of the CA in `orders.answered`) has an acceptance
//! (`application.accepted` or `application.approved`) naming stored evidence, that
//! evidence still verifies at the decision's time, and nothing was issued outside the
//! automatic rule. What fails is reported per issuance with a stable code
//! ([`IssuanceException`]).
//!
//! The books are read in three steps: [`collect`] walks the entries (pure), the
//! evidence is read from the store ([`recheck`]), and [`judge`] decides on what was read
//! (pure) with an [`EvidenceVerifier`] that takes the decision's time, never the wall
//! clock.

use crate::{AUTOMATIC_CHECKS, RULE_VERSION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shuin_books::{BookError, Roster};
use shuin_core::Role;
use shuin_ledger::{Book, Entry};
use shuin_store::{ApplicationStore, StoreError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::SystemTime;

/// What is wrong with one issuance. The codes never change meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IssuanceException {
    /// No `application.accepted` or `application.approved` of its application precedes
    /// the `certificate.issued` (or the entry names no application).
    NoAcceptance,
    /// The acceptance names no evidence, or the evidence it names is not stored and no
    /// `application.evidence_purged` lists it.
    EvidenceMissing,
    /// The evidence was purged under the retention rule: it cannot be re-verified. Never
    /// a pass.
    EvidencePurged,
    /// The stored bytes do not have the SHA-256 the acceptance names, or the application
    /// record names other evidence than its acceptance.
    EvidenceAltered,
    /// The evidence fails verification at the decision's time (CMS signature, J-LIS
    /// chain, profile, validity, or a CRL already in force then lists the card), or it
    /// was signed by another JPKI certificate than the acceptance names.
    EvidenceDoesNotVerify,
    /// All but revocation verified, and no CRL held now answers for the decision's time:
    /// none is loaded, or the card is listed only on a CRL newer than the decision (the
    /// RA keeps no earlier J-LIS CRL).
    RevocationUnknownAtDecision,
    /// An automatic acceptance not as the rule requires: another rule version or checks
    /// list, or an approver (or approver certificate) other than the responsible person
    /// designated at the time.
    OutsideAutomaticRule,
    /// A manual approval by someone who did not hold the `lra` role in the organisation
    /// book at the time.
    ApproverNotLra,
}

impl IssuanceException {
    /// The stable `snake_case` code.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoAcceptance => "no_acceptance",
            Self::EvidenceMissing => "evidence_missing",
            Self::EvidencePurged => "evidence_purged",
            Self::EvidenceAltered => "evidence_altered",
            Self::EvidenceDoesNotVerify => "evidence_does_not_verify",
            Self::RevocationUnknownAtDecision => "revocation_unknown_at_decision",
            Self::OutsideAutomaticRule => "outside_automatic_rule",
            Self::ApproverNotLra => "approver_not_lra",
        }
    }
}

/// One exception, with what was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The code.
    pub code: IssuanceException,
    /// What was found, for a person.
    pub detail: String,
}

impl Finding {
    fn new(code: IssuanceException, detail: impl Into<String>) -> Finding {
        Finding {
            code,
            detail: detail.into(),
        }
    }
}

/// How an issuance was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Acceptance {
    /// By the automatic rule (`application.accepted`).
    Automatic,
    /// By an LRA from the review queue (`application.approved`).
    Lra,
}

/// The acceptance of an application, as its entry records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Ledger sequence number of the acceptance.
    pub seq: u64,
    /// How.
    pub acceptance: Acceptance,
    /// When (the entry's time): the time the evidence is verified at.
    pub time: String,
    /// The evidence it names (hex SHA-256 of the signed application).
    pub evidence_sha256: Option<String>,
    /// The JPKI certificate fingerprint it names.
    pub jpki: Option<String>,
    /// What its entry breaks of the rule (found while walking the books).
    pub rule_findings: Vec<Finding>,
}

/// One `certificate.issued` in the window, with the acceptance before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuance {
    /// Ledger sequence number of `certificate.issued`.
    pub seq: u64,
    /// When.
    pub time: String,
    /// The serial (hex).
    pub serial: Option<String>,
    /// The application id.
    pub application: Option<String>,
    /// Its acceptance, if any came before it.
    pub decision: Option<Decision>,
}

/// What the walk of the books gives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// The issuances in the window, in ledger order.
    pub issuances: Vec<Issuance>,
    /// Every evidence hash an `application.evidence_purged` lists.
    pub purged: BTreeSet<String>,
    /// Issuances in the window that an RA node ordered (the CA of a split deployment):
    /// their acceptance and evidence are in that node's books, and its review
    /// re-checks them.
    pub ordered_by_ra_nodes: usize,
}

fn reference<'a>(entry: &'a Entry, prefix: &str) -> Option<&'a str> {
    entry.subjects.iter().find_map(|s| s.strip_prefix(prefix))
}

/// Walks every entry in order (the organisation book replayed alongside, so that each
/// acceptance is judged against the roster of its time) and keeps the issuances from
/// `since`. `configured_responsible_person` is the approver while no one is designated.
pub fn collect(
    entries: &[Entry],
    since: SystemTime,
    configured_responsible_person: &str,
) -> Result<Collected, BookError> {
    let since = shuin_core::timefmt::rfc3339(since);
    let mut roster = Roster::new();
    let mut decisions: HashMap<String, Decision> = HashMap::new();
    let mut answered: BTreeSet<String> = BTreeSet::new();
    // At the CA of a split deployment: the applications RA nodes ordered, the issuances
    // of them, and those whose answer a node refused to keep.
    let mut ordered: BTreeSet<String> = BTreeSet::new();
    let mut node_issuances: Vec<Issuance> = Vec::new();
    let mut not_kept: BTreeSet<String> = BTreeSet::new();
    let mut out = Collected::default();
    for entry in entries {
        roster.apply(entry)?;
        if entry.book != Book::Application {
            continue;
        }
        match entry.kind.as_str() {
            "application.accepted" | "application.approved" => {
                if let Some(id) = reference(entry, "application:") {
                    let decision = decision(entry, &roster, configured_responsible_person);
                    decisions.insert(id.to_owned(), decision);
                }
            }
            "application.evidence_purged" => out.purged.extend(purged_hashes(entry)),
            // At an RA node of a split deployment, the CA's answers to its issuance
            // orders stand for the CA's `certificate.issued`.
            crate::orders::ORDERS_ANSWERED if entry.time >= since => {
                for issuance in answered_issuances(entry, &decisions) {
                    // An order answered twice (a retried batch) is one issuance.
                    if issuance
                        .application
                        .as_ref()
                        .is_some_and(|a| answered.insert(a.clone()))
                    {
                        out.issuances.push(issuance);
                    }
                }
            }
            "orders.received" => ordered.extend(ordered_applications(entry, "orders")),
            // An answer the node refused to keep is in no node's books: the CA's review
            // shows the issuance (with no acceptance here).
            "orders.not_kept" => not_kept.extend(ordered_applications(entry, "answers")),
            // Entry times are `YYYY-MM-DDTHH:MM:SSZ`, so text order is time order.
            "certificate.issued" if entry.time >= since => {
                let application = reference(entry, "application:").map(str::to_owned);
                let issuance = Issuance {
                    seq: entry.seq,
                    time: entry.time.clone(),
                    serial: entry.payload["serial"].as_str().map(str::to_owned),
                    decision: application.as_ref().and_then(|a| decisions.get(a)).cloned(),
                    application,
                };
                // What an RA node ordered (and the CA did not decide itself) is the
                // node's review's, unless the node refused the answer (known later).
                let node_ordered = |a: &String| ordered.contains(a) && !decisions.contains_key(a);
                if issuance.application.as_ref().is_some_and(node_ordered) {
                    node_issuances.push(issuance);
                } else {
                    out.issuances.push(issuance);
                }
            }
            _ => {}
        }
    }
    for issuance in node_issuances {
        let refused = issuance
            .application
            .as_ref()
            .is_some_and(|a| not_kept.contains(a));
        if refused {
            out.issuances.push(issuance);
        } else {
            out.ordered_by_ra_nodes += 1;
        }
    }
    out.issuances.sort_by_key(|i| i.seq);
    Ok(out)
}

/// The applications of the issuance orders the CA's `orders.received` (under `orders`)
/// or `orders.not_kept` (under `answers`) lists.
fn ordered_applications<'a>(entry: &'a Entry, list: &str) -> impl Iterator<Item = String> + 'a {
    let orders = entry.payload[list].as_array().into_iter().flatten();
    orders
        .filter_map(|o| o["order"].as_str())
        .filter_map(shuin_core::orders::application_of)
        .map(str::to_owned)
}

/// The issuances an RA node's `orders.answered` records: each issued answer to an
/// issuance order, with the acceptance of its application.
fn answered_issuances<'a>(
    entry: &'a Entry,
    decisions: &'a HashMap<String, Decision>,
) -> impl Iterator<Item = Issuance> + 'a {
    let answers = entry.payload["answers"].as_array().into_iter().flatten();
    answers
        .filter(|answer| answer["outcome"] == "issued")
        .filter_map(move |answer| {
            let order = answer["order"].as_str()?;
            let application = shuin_core::orders::application_of(order)?;
            Some(Issuance {
                seq: entry.seq,
                time: entry.time.clone(),
                serial: answer["serial"].as_str().map(str::to_owned),
                decision: decisions.get(application).cloned(),
                application: Some(application.to_owned()),
            })
        })
}

fn purged_hashes(entry: &Entry) -> impl Iterator<Item = String> + '_ {
    entry.payload["evidence"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["sha256"].as_str().map(str::to_owned))
}

fn decision(entry: &Entry, roster: &Roster, configured: &str) -> Decision {
    let acceptance = if entry.kind == "application.accepted" {
        Acceptance::Automatic
    } else {
        Acceptance::Lra
    };
    let rule_findings = match acceptance {
        Acceptance::Automatic => automatic_rule_findings(entry, roster, configured),
        Acceptance::Lra => lra_findings(entry, roster),
    };
    Decision {
        seq: entry.seq,
        acceptance,
        time: entry.time.clone(),
        evidence_sha256: entry
            .evidence
            .iter()
            .find_map(|e| e.strip_prefix("sha256:"))
            .map(str::to_owned),
        jpki: reference(entry, "jpki:").map(str::to_owned),
        rule_findings,
    }
}

/// What an `application.accepted` breaks of the automatic rule: its version, its
/// checks, and its approver (the responsible person designated at the time, with their
/// certificate then; or the configured name while no one is designated).
fn automatic_rule_findings(entry: &Entry, roster: &Roster, configured: &str) -> Vec<Finding> {
    let outside = |detail: String| Finding::new(IssuanceException::OutsideAutomaticRule, detail);
    let payload = &entry.payload;
    let mut out = Vec::new();
    if payload["automatic"] != true {
        out.push(outside("the acceptance is not marked automatic".into()));
    }
    let version = payload["rule_version"].as_str().unwrap_or_default();
    if version != RULE_VERSION {
        out.push(outside(format!(
            "rule version {version:?}, not {RULE_VERSION:?}"
        )));
    }
    let checks: Vec<&str> = payload["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(serde_json::Value::as_str)
        .collect();
    if checks != AUTOMATIC_CHECKS {
        out.push(outside(format!(
            "checks {checks:?}, not the rule's {AUTOMATIC_CHECKS:?}"
        )));
    }
    let at = shuin_core::timefmt::parse_rfc3339(&entry.time);
    let (name, certificate) = match roster.responsible_person() {
        Some(op) => (
            op.name.as_str(),
            at.and_then(|t| op.current_certificate(t))
                .map(|c| c.sha256.as_str()),
        ),
        None => (configured, None),
    };
    let approver = payload["approver"].as_str().unwrap_or_default();
    if approver != name || entry.actor.name != name {
        out.push(outside(format!(
            "approver {approver:?} (actor {:?}), but the responsible person then was {name:?}",
            entry.actor.name
        )));
    }
    if let Some(expected) = certificate {
        let named = payload["approver_certificate_sha256"].as_str();
        if named != Some(expected) {
            out.push(outside(format!(
                "approver certificate {named:?}, but the responsible person's then was {expected}"
            )));
        }
    }
    out
}

/// What an `application.approved` breaks: its approver held no `lra` role then.
fn lra_findings(entry: &Entry, roster: &Roster) -> Vec<Finding> {
    let approver = entry.payload["approver"].as_str().unwrap_or_default();
    let is_lra = roster
        .operator(approver)
        .is_some_and(|op| op.holds(Role::Lra));
    if approver == entry.actor.name && is_lra {
        return Vec::new();
    }
    vec![Finding::new(
        IssuanceException::ApproverNotLra,
        format!(
            "approver {approver:?} (actor {:?}) held no lra role in the organisation book then",
            entry.actor.name
        ),
    )]
}

/// The answer of verifying stored evidence at a past time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// It verifies; signed with this JPKI certificate (SHA-256 fingerprint).
    Verified {
        /// The signer's fingerprint.
        jpki_fingerprint: String,
    },
    /// It does not verify, and why.
    DoesNotVerify(String),
    /// All but revocation verified; revocation at that time cannot be told, and why.
    RevocationUnknown(String),
}

/// Verifies a stored application (DER CMS) as at `at`.
pub trait EvidenceVerifier: Send + Sync {
    /// The verification of `cms_der` at `at`.
    fn verify(&self, cms_der: &[u8], at: SystemTime) -> Verification;
}

/// What the store holds for a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored<'a> {
    /// The evidence bytes under the acceptance's hash, if any.
    pub bytes: Option<&'a [u8]>,
    /// The evidence hash the application record names, if there is a record.
    pub record_evidence: Option<&'a str>,
}

/// Judges one issuance: its rule findings, then its evidence (named, stored, unaltered,
/// verifying at the decision's time with the card the acceptance names).
pub fn judge(
    issuance: &Issuance,
    stored: Stored<'_>,
    purged: &BTreeSet<String>,
    verifier: &dyn EvidenceVerifier,
) -> Vec<Finding> {
    use IssuanceException::*;
    let Some(decision) = &issuance.decision else {
        return vec![Finding::new(
            NoAcceptance,
            "no application.accepted or application.approved precedes it",
        )];
    };
    let mut out = decision.rule_findings.clone();
    out.extend(evidence_finding(decision, stored, purged, verifier));
    out
}

fn evidence_finding(
    decision: &Decision,
    stored: Stored<'_>,
    purged: &BTreeSet<String>,
    verifier: &dyn EvidenceVerifier,
) -> Option<Finding> {
    use IssuanceException::*;
    let Some(hash) = &decision.evidence_sha256 else {
        return Some(Finding::new(
            EvidenceMissing,
            "the acceptance names no evidence",
        ));
    };
    if let Some(other) = stored.record_evidence.filter(|r| r != hash) {
        return Some(Finding::new(
            EvidenceAltered,
            format!("the application record names evidence {other}, its acceptance {hash}"),
        ));
    }
    let Some(bytes) = stored.bytes else {
        return Some(if purged.contains(hash) {
            Finding::new(EvidencePurged, format!("{hash} was purged under retention"))
        } else {
            Finding::new(EvidenceMissing, format!("{hash} is not stored"))
        });
    };
    if hex::encode(Sha256::digest(bytes)) != *hash {
        return Some(Finding::new(
            EvidenceAltered,
            format!("the bytes stored under {hash} have another SHA-256"),
        ));
    }
    let Some(at) = shuin_core::timefmt::parse_rfc3339(&decision.time) else {
        return Some(Finding::new(
            EvidenceDoesNotVerify,
            "the decision's time cannot be read",
        ));
    };
    match verifier.verify(bytes, at) {
        Verification::Verified { jpki_fingerprint } => {
            let named = decision.jpki.as_deref();
            (named.is_some_and(|n| n != jpki_fingerprint)).then(|| {
                Finding::new(
                    EvidenceDoesNotVerify,
                    format!("signed by JPKI certificate {jpki_fingerprint}, not {named:?}"),
                )
            })
        }
        Verification::DoesNotVerify(why) => Some(Finding::new(EvidenceDoesNotVerify, why)),
        Verification::RevocationUnknown(why) => {
            Some(Finding::new(RevocationUnknownAtDecision, why))
        }
    }
}

/// One issuance with exceptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuanceExceptions {
    /// Ledger sequence number of `certificate.issued`.
    pub seq: u64,
    /// When.
    pub time: String,
    /// The serial (hex).
    pub serial: Option<String>,
    /// The application id.
    pub application: Option<String>,
    /// How it was accepted, if it was.
    pub acceptance: Option<Acceptance>,
    /// What is wrong.
    pub exceptions: Vec<Finding>,
}

/// The re-check of every issuance in a review's window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recheck {
    /// Issuances looked at.
    pub issuances_checked: usize,
    /// Of those, accepted automatically.
    pub automatic: usize,
    /// Of those, approved by an LRA.
    pub lra_approved: usize,
    /// Issuances per exception code.
    pub exception_counts: BTreeMap<IssuanceException, usize>,
    /// The issuances with exceptions, in ledger order.
    pub exceptions: Vec<IssuanceExceptions>,
    /// At the CA of a split deployment: issuances RA nodes ordered, re-checked by the
    /// review at the nodes (where their acceptances and evidence are), not here.
    #[serde(default)]
    pub ordered_by_ra_nodes: usize,
}

impl Recheck {
    /// Adds one judged issuance.
    pub fn add(&mut self, issuance: &Issuance, findings: Vec<Finding>) {
        self.issuances_checked += 1;
        let acceptance = issuance.decision.as_ref().map(|d| d.acceptance);
        match acceptance {
            Some(Acceptance::Automatic) => self.automatic += 1,
            Some(Acceptance::Lra) => self.lra_approved += 1,
            None => {}
        }
        if findings.is_empty() {
            return;
        }
        let codes: BTreeSet<IssuanceException> = findings.iter().map(|f| f.code).collect();
        for code in codes {
            *self.exception_counts.entry(code).or_default() += 1;
        }
        self.exceptions.push(IssuanceExceptions {
            seq: issuance.seq,
            time: issuance.time.clone(),
            serial: issuance.serial.clone(),
            application: issuance.application.clone(),
            acceptance,
            exceptions: findings,
        });
    }

    /// Lines for a person: the count, then each exception.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "issuances re-checked: {} ({} automatic, {} by an LRA), with exceptions: {}",
            self.issuances_checked,
            self.automatic,
            self.lra_approved,
            self.exceptions.len()
        )];
        if self.ordered_by_ra_nodes > 0 {
            lines.push(format!(
                "issuances RA nodes ordered: {} (re-checked by the review at the nodes, where their acceptances and evidence are)",
                self.ordered_by_ra_nodes
            ));
        }
        for issuance in &self.exceptions {
            for finding in &issuance.exceptions {
                lines.push(format!(
                    "  EXCEPTION {:>6}  serial {}  application {}  {}: {}",
                    issuance.seq,
                    issuance.serial.as_deref().unwrap_or("-"),
                    issuance.application.as_deref().unwrap_or("-"),
                    finding.code.code(),
                    finding.detail
                ));
            }
        }
        lines
    }
}

/// Reads each issuance's application record and evidence from `store` and judges it.
pub async fn recheck<S: ApplicationStore + ?Sized>(
    store: &S,
    collected: &Collected,
    verifier: &dyn EvidenceVerifier,
) -> Result<Recheck, StoreError> {
    let mut out = Recheck {
        ordered_by_ra_nodes: collected.ordered_by_ra_nodes,
        ..Recheck::default()
    };
    for issuance in &collected.issuances {
        let (record, bytes) = match (&issuance.application, &issuance.decision) {
            (Some(id), Some(decision)) => {
                let record = store.application(id).await?;
                let bytes = match &decision.evidence_sha256 {
                    Some(hash) => store.evidence(hash).await?,
                    None => None,
                };
                (record, bytes)
            }
            _ => (None, None),
        };
        let stored = Stored {
            bytes: bytes.as_deref(),
            record_evidence: record.as_ref().map(|r| r.evidence_sha256.as_str()),
        };
        let findings = judge(issuance, stored, &collected.purged, verifier);
        out.add(issuance, findings);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "recheck_tests.rs"]
mod tests;
