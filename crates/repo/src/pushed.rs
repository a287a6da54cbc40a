//! A node's repository in a split deployment (docs/deployment.md): the CRLs and the
//! pre-signed OCSP answers the CA's link hands over (`shuin_core::repository_feed`),
//! checked before they are kept, then served to verifiers. The node holds no key: every
//! CRL must be signed by the issuing CA (the root's by the root), and every OCSP answer
//! by a responder the issuing CA certified.
//!
//! CRLs are kept in the node's store as well, so that a restarted node serves them at
//! once; OCSP answers are kept in memory, and a restarted node says it holds none, so
//! the link hands them all over again.

use crate::{PublishedCrl, Repository};
use der::Decode;
use shuin_core::ocsp::{self, IssuerHashes, OcspResponder};
use shuin_core::repository_feed::RevokedAtTheCa;
use shuin_core::repository_feed::{Held, MalformedPush, Push};
use shuin_core::revocation::RevocationReason;
use shuin_core::Serial;
use shuin_store::{CrlRecord, CrlStore, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;
use x509_cert::Certificate;

/// Why a push was not taken.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiveError {
    /// It cannot be read.
    #[error(transparent)]
    Malformed(#[from] MalformedPush),
    /// The node's store failed.
    #[error("the node's store: {0}")]
    Store(#[from] StoreError),
}

/// What a push changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Received {
    /// CRLs kept.
    pub crls: usize,
    /// OCSP answers kept.
    pub answers: usize,
    /// CRLs and answers refused (not the CA's, or an unknown scope).
    pub refused: usize,
}

#[derive(Debug, Default)]
struct Answers {
    epoch: u64,
    through: u64,
    /// Each certificate's answer, with its nextUpdate.
    by_serial: HashMap<Serial, (Arc<Vec<u8>>, Option<std::time::SystemTime>)>,
}

/// The node's repository: the CA certificates it was made with, and what was pushed.
pub struct PushedRepository {
    store: Arc<dyn CrlStore>,
    repository: Arc<Repository>,
    /// The CRL scopes served, each with the certificate (DER) of the CA that signs it.
    scopes: Vec<(String, Vec<u8>)>,
    issuing: Certificate,
    hashes: IssuerHashes,
    answers: RwLock<Answers>,
    /// An RA node's, which keeps the revocations the answers say (`None`: a repository
    /// node, which holds no certificate).
    revocations: Option<Arc<dyn RevokedAtTheCa>>,
}

impl std::fmt::Debug for PushedRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushedRepository")
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

impl PushedRepository {
    /// The repository of a node that serves the CRLs of `scopes` (`ca`, `ca-delta`,
    /// `ca-pN`, `root`, `operator-ca`), each with the certificate (DER) of the CA that
    /// signs it, publishing into `repository` (which holds the CA certificates).
    pub fn new(
        store: Arc<dyn CrlStore>,
        repository: Arc<Repository>,
        scopes: Vec<(String, Vec<u8>)>,
    ) -> Result<Self, der::Error> {
        let issuing = Certificate::from_der(repository.ca_der())?;
        let hashes = IssuerHashes::new(&issuing)?;
        Ok(PushedRepository {
            store,
            repository,
            scopes,
            issuing,
            hashes,
            answers: RwLock::new(Answers::default()),
            revocations: None,
        })
    }

    /// An RA node's repository: the revocations its answers say go to `sink`, so that
    /// the node's holders' disclosures show them.
    pub fn recording_revocations(mut self, sink: Arc<dyn RevokedAtTheCa>) -> Self {
        self.revocations = Some(sink);
        self
    }

    /// Publishes the newest CRL of each scope kept in the store (at start).
    pub async fn load(&self) -> Result<(), StoreError> {
        for (scope, _) in &self.scopes {
            if let Some(crl) = self.store.latest_crl(scope).await? {
                self.publish(scope, crl);
            }
        }
        Ok(())
    }

    /// What the node holds: the CRLs it serves and its point in the OCSP answers.
    pub fn held(&self) -> Held {
        let mut crls = std::collections::BTreeMap::new();
        for (scope, _) in &self.scopes {
            let served = match scope.as_str() {
                "ca" => self.repository.ca_crl(),
                "root" => self.repository.root_crl(),
                other => self.repository.other_crl(other),
            };
            if let Some(crl) = served {
                crls.insert(scope.clone(), crl.number);
            }
        }
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        Held {
            crls,
            ocsp_epoch: answers.epoch,
            ocsp_through: answers.through,
        }
    }

    /// Checks and keeps what `push` carries; refused items are logged and skipped.
    pub async fn receive(&self, push: &Push) -> Result<Received, ReceiveError> {
        let crls = push.crls()?;
        let answers = push.ocsp_answers()?;
        let mut received = Received::default();
        for (scope, der) in crls {
            match self.check_crl(&scope, der) {
                Some(record) => {
                    match self.store.put_crl(&record).await {
                        // Another node on the same store kept it first.
                        Ok(()) | Err(StoreError::Conflict(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    self.publish(&scope, record);
                    received.crls += 1;
                }
                None => received.refused += 1,
            }
        }
        let (kept, refused) = self.keep_answers(push, answers).await;
        received.answers = kept;
        received.refused += refused;
        Ok(received)
    }

    /// The CRL as a record to keep, if it is of a known scope, signed by its CA and newer
    /// than the one served.
    fn check_crl(&self, scope: &str, der: Vec<u8>) -> Option<CrlRecord> {
        let Some((_, issuer)) = self.scopes.iter().find(|(s, _)| s == scope) else {
            tracing::warn!(
                scope,
                "a CRL of a scope this node does not serve is refused"
            );
            return None;
        };
        let facts = match shuin_core::x509::issued::check_crl_issued_by(&der, issuer) {
            Ok(facts) => facts,
            Err(e) => {
                tracing::warn!(scope, error = %e, "a CRL from the CA's link is not the CA's; refused");
                return None;
            }
        };
        let held = self.held().crls.get(scope).copied();
        if held.is_some_and(|number| number >= facts.number) {
            return None;
        }
        Some(CrlRecord {
            scope: scope.to_owned(),
            number: facts.number,
            this_update: facts.this_update,
            next_update: facts.next_update,
            der,
        })
    }

    fn publish(&self, scope: &str, crl: CrlRecord) {
        let crl = PublishedCrl::from(crl);
        match scope {
            "ca" => self.repository.publish_ca_crl(crl),
            "root" => self.repository.publish_root_crl(crl),
            other => self.repository.publish_other_crl(other, crl),
        };
    }

    /// Keeps the answers of `push` if they follow what is held (or start an epoch), each
    /// checked against the issuing CA off the async workers; returns how many were kept
    /// and refused.
    async fn keep_answers(&self, push: &Push, answers: Vec<Vec<u8>>) -> (usize, usize) {
        if push.ocsp_through == push.ocsp_after && answers.is_empty() {
            return (0, 0);
        }
        if !self.follows(push) {
            // A gap (the node restarted, or another link moved it on): the link is told
            // what is held and sends from there.
            return (0, 0);
        }
        let count = answers.len();
        let (issuing, hashes) = (self.issuing.clone(), self.hashes.clone());
        let checked = tokio::task::spawn_blocking(move || {
            answers
                .into_iter()
                .filter_map(|der| {
                    let (serial, revoked) = ocsp_check(&der, &issuing, &hashes)?;
                    let next_update = shuin_core::ocsp_check::next_update(&der);
                    Some(((serial, (Arc::new(der), next_update)), revoked))
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(checked) = checked else {
            return (0, count);
        };
        let refused = count - checked.len();
        let (checked, revoked): (Vec<_>, Vec<_>) = checked.into_iter().unzip();
        {
            let mut held = self.answers.write().unwrap_or_else(|p| p.into_inner());
            if !follows(&held, push) {
                return (0, refused);
            }
            held.by_serial.extend(checked.iter().cloned());
            held.epoch = push.ocsp_epoch;
            held.through = push.ocsp_through;
        }
        self.record_revocations(revoked.into_iter().flatten().collect());
        (checked.len(), refused)
    }

    /// Hands each revocation an answer says to the node's sink, off the push's path (a
    /// node that restarts is handed every answer again, and the link waits for nothing).
    fn record_revocations(&self, revoked: Vec<(Serial, SystemTime, RevocationReason)>) {
        let Some(sink) = self.revocations.clone() else {
            return;
        };
        if revoked.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for (serial, at, reason) in revoked {
                sink.revoked(&serial, at, reason).await;
            }
        });
    }

    fn follows(&self, push: &Push) -> bool {
        follows(
            &self.answers.read().unwrap_or_else(|p| p.into_inner()),
            push,
        )
    }

    fn answer_for(&self, request_der: &[u8]) -> Result<Option<Arc<Vec<u8>>>, Vec<u8>> {
        let request = ocsp::parse_request(request_der).map_err(|_| ocsp::malformed_request())?;
        let [id] = request.cert_ids.as_slice() else {
            return Err(ocsp::malformed_request());
        };
        let serial = self.hashes.serial_of(id).ok_or_else(ocsp::unauthorized)?;
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        Ok(answers.by_serial.get(&serial).map(|(der, _)| der.clone()))
    }
}

/// Whether `push`'s answers may be taken by a node holding `held`: from the start of an
/// epoch, or from exactly the point held.
fn follows(held: &Answers, push: &Push) -> bool {
    push.ocsp_after == 0 || (push.ocsp_epoch == held.epoch && push.ocsp_after == held.through)
}

/// The serial an answer is about, with the revocation it says, if it checks out against
/// the issuing CA and names exactly one certificate.
#[allow(clippy::type_complexity)]
fn ocsp_check(
    der: &[u8],
    issuing: &Certificate,
    hashes: &IssuerHashes,
) -> Option<(Serial, Option<(Serial, SystemTime, RevocationReason)>)> {
    match shuin_core::ocsp_check::check_answer(der, issuing, hashes) {
        Ok(named) if named.len() == 1 => named.into_iter().next().map(|(serial, status)| {
            let revoked = shuin_core::ocsp_check::revocation_of(&status)
                .map(|(at, reason)| (serial.clone(), at, reason));
            (serial, revoked)
        }),
        Ok(_) => {
            tracing::warn!(
                "an OCSP answer from the CA's link names no single certificate; refused"
            );
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "an OCSP answer from the CA's link is refused");
            None
        }
    }
}

#[async_trait::async_trait]
impl OcspResponder for PushedRepository {
    fn respond_from_cache(&self, request_der: &[u8]) -> Option<Arc<Vec<u8>>> {
        self.answer_for(request_der).ok().flatten()
    }

    /// What no pushed answer covers: `tryLater` for this CA's certificates (the answer may
    /// not have arrived yet), `unauthorized` for others, `malformedRequest` for garbage.
    /// The answers the CA pushed (which certificates have none yet is the CA's to know).
    fn freshness(&self) -> Option<ocsp::OcspFreshness> {
        let answers = self.answers.read().unwrap_or_else(|p| p.into_inner());
        let mut freshness = ocsp::OcspFreshness::default();
        // An answer without nextUpdate (never pushed by shuin's CA) names no time.
        for (_, next_update) in answers.by_serial.values() {
            match next_update {
                Some(next) => freshness.count(Some(*next)),
                None => freshness.signed += 1,
            }
        }
        Some(freshness)
    }

    async fn respond(&self, request_der: &[u8]) -> Vec<u8> {
        match self.answer_for(request_der) {
            Ok(Some(answer)) => answer.as_ref().clone(),
            Ok(None) => ocsp::try_later(),
            Err(refusal) => refusal,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use base64::Engine;
    use shuin_core::repository_feed::PushedCrl;
    use shuin_testkit::SimulatedJlisCa;
    use std::time::Duration;

    async fn node(ca: &SimulatedJlisCa) -> PushedRepository {
        let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
        let repository = Arc::new(Repository::new(
            ca.cert_der().to_vec(),
            ca.cert_der().to_vec(),
            "terms".into(),
        ));
        PushedRepository::new(
            Arc::new(store),
            repository,
            ["ca", "root"]
                .map(|s| (s.to_owned(), ca.cert_der().to_vec()))
                .to_vec(),
        )
        .unwrap()
    }

    fn crl_push(scope: &str, der: &[u8]) -> Push {
        Push {
            crls: vec![PushedCrl {
                scope: scope.into(),
                der: base64::engine::general_purpose::STANDARD.encode(der),
            }],
            ..Push::default()
        }
    }

    #[tokio::test]
    async fn crls_are_kept_only_if_signed_newer_and_of_a_served_scope() {
        let now = shuin_core::Clock::now(&shuin_core::SystemClock);
        let ca = SimulatedJlisCa::generate(now).unwrap();
        let stranger = SimulatedJlisCa::generate(now).unwrap();
        let node = node(&ca).await;
        let crl = |ca: &SimulatedJlisCa, number| {
            ca.crl_der_with(&[], now, now + Duration::from_secs(3600), number, vec![])
                .unwrap()
        };
        let received = node.receive(&crl_push("ca", &crl(&ca, 5))).await.unwrap();
        assert_eq!((received.crls, received.refused), (1, 0));
        for (push, why) in [
            (crl_push("ca", &crl(&ca, 4)), "older"),
            (crl_push("ca", &crl(&stranger, 9)), "another CA's"),
            (crl_push("ca-p3", &crl(&ca, 9)), "a scope not served"),
            (crl_push("ca", b"not a CRL"), "garbage"),
        ] {
            let received = node.receive(&push).await.unwrap();
            assert_eq!((received.crls, received.refused), (0, 1), "{why}");
        }
        assert_eq!(node.held().crls.get("ca"), Some(&5));
        // A node restarted on the same store serves it at once.
        let again = PushedRepository::new(
            node.store.clone(),
            Arc::new(Repository::new(
                ca.cert_der().to_vec(),
                ca.cert_der().to_vec(),
                "terms".into(),
            )),
            vec![("ca".into(), ca.cert_der().to_vec())],
        )
        .unwrap();
        again.load().await.unwrap();
        assert_eq!(again.held().crls.get("ca"), Some(&5));
    }

    #[tokio::test]
    async fn ocsp_answers_are_taken_only_in_order_and_checked() {
        let ca =
            SimulatedJlisCa::generate(shuin_core::Clock::now(&shuin_core::SystemClock)).unwrap();
        let node = node(&ca).await;
        let garbage = base64::engine::general_purpose::STANDARD.encode(b"not an answer");
        // Answers after a point the node does not hold (it restarted): not taken.
        let gap = Push {
            ocsp_epoch: 7,
            ocsp_after: 5,
            ocsp_through: 6,
            ocsp: vec![garbage.clone()],
            ..Push::default()
        };
        node.receive(&gap).await.unwrap();
        assert_eq!((node.held().ocsp_epoch, node.held().ocsp_through), (0, 0));
        // From the epoch's start: the point moves on; an answer that does not check out
        // is refused, never served.
        let start = Push {
            ocsp_after: 0,
            ..gap
        };
        let received = node.receive(&start).await.unwrap();
        assert_eq!((received.answers, received.refused), (0, 1));
        assert_eq!((node.held().ocsp_epoch, node.held().ocsp_through), (7, 6));
        assert_eq!(node.respond(b"garbage").await, ocsp::malformed_request());
        let fresh = node.freshness().unwrap();
        assert_eq!((fresh.signed, fresh.earliest_next_update), (0, None));
    }
}
