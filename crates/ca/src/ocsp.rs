//! The delegated OCSP responder (RFC 6960, the RFC 5019 profile): responses are
//! pre-signed for every issued certificate, refreshed at half their lifetime, re-signed
//! when a status changes, and served from memory: the newest [`OcspSettings::held_answers`]
//! of them, the older ones spilled to the store ([`OcspService::spill`]) and read from
//! there when asked for, so memory does not grow with every answer. Nothing a stranger asks makes the key
//! sign: a serial this CA never issued, or a CertID hashed other than with SHA-1, gets the
//! unsigned `unauthorized` answer, and a request naming several certificates the unsigned
//! `malformedRequest` (RFC 5019 section 2.1.1: one certificate per request). The request
//! path never signs: a certificate's answer is signed when it is issued
//! ([`OcspService::presign_issued`], before the certificate is handed out), and one issued
//! elsewhere (another process) is answered `tryLater` until the next pre-signing round.
//! Nonces are ignored, as RFC 8954 permits.

use crate::issuance::{ca_actor, CaService, CaStore};
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use shuin_core::issuance::CaProfile;
use shuin_core::ocsp::{self, IssuerHashes, OcspResponder, Status};
use shuin_core::repository_feed::OcspDelta;
use shuin_core::x509::name::NameBuilder;
use shuin_core::x509::template::assemble_certificate;
use shuin_core::{Clock, Serial};
use shuin_keys::Signer;
use shuin_ledger::{Book, EntryDraft};
use shuin_store::{OcspAnswerStore, StoreError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use x509_cert::Certificate;
use x509_ocsp::CertId;

/// OCSP settings.
#[derive(Debug, Clone, Copy)]
pub struct OcspSettings {
    /// thisUpdate to nextUpdate of each response.
    pub response_lifetime: Duration,
    /// How many answers are held in memory; older ones are spilled to the store.
    pub held_answers: usize,
}

/// The answers held in memory unless configured otherwise: about 10 MB.
pub(crate) const HELD_ANSWERS: usize = 10_000;

/// Answers spilled to the store in one transaction.
const SPILL_BATCH: usize = 2_000;

#[derive(Debug, Clone)]
struct Cached {
    /// The answer, while held in memory; `None` once spilled to the store.
    der: Option<Arc<Vec<u8>>>,
    produced_at: SystemTime,
    /// Its number in the feed (`shuin_core::repository_feed`).
    number: u64,
}

/// What the responder knows of one certificate this CA issued.
#[derive(Debug)]
struct Known {
    status: Status,
    /// Its pre-signed answer, once signed for `status`.
    answer: Option<Cached>,
}

/// One map entry per certificate issued (a serial is held inline, see
/// [`shuin_core::Serial`]): this is what grows with the CA, about 100 bytes each.
#[derive(Debug, Default)]
struct State {
    known: HashMap<Serial, Known>,
    /// How many of `known` are revoked.
    revoked: u64,
    /// The cached answers by feed number, so that a node gets those after its point.
    numbered: BTreeMap<u64, Serial>,
    /// The last feed number given.
    last_number: u64,
    /// How many answers are held in memory (`der` is `Some`).
    held: usize,
    /// Every answer numbered up to this one has been spilled (or replaced).
    spilled_through: u64,
}

/// Where the answer for a certificate is.
enum Kept {
    /// In memory.
    Held(Arc<Vec<u8>>),
    /// In the store.
    Spilled,
}

impl State {
    /// Keeps the answer just signed for `serial`, which is known.
    fn keep(&mut self, serial: Serial, der: Arc<Vec<u8>>, produced_at: SystemTime) {
        let Some(known) = self.known.get_mut(&serial) else {
            return;
        };
        self.last_number += 1;
        let number = self.last_number;
        let cached = Cached {
            der: Some(der),
            produced_at,
            number,
        };
        let old = known.answer.replace(cached);
        self.numbered.insert(number, serial);
        self.held += 1;
        if let Some(old) = old {
            self.forget(&old);
        }
    }

    fn forget(&mut self, old: &Cached) {
        self.numbered.remove(&old.number);
        if old.der.is_some() {
            self.held -= 1;
        }
    }

    fn kept(&self, serial: &Serial) -> Option<Kept> {
        let cached = self.answer(serial)?;
        Some(match &cached.der {
            Some(der) => Kept::Held(Arc::clone(der)),
            None => Kept::Spilled,
        })
    }

    fn answer(&self, serial: &Serial) -> Option<&Cached> {
        self.known.get(serial)?.answer.as_ref()
    }

    fn status(&self, serial: &Serial) -> Option<Status> {
        self.known.get(serial).map(|k| k.status)
    }

    /// Sets the status of `serial`, dropping an answer signed for another; whether it
    /// changed.
    fn set_status(&mut self, serial: &Serial, status: Status) -> bool {
        let old = match self.known.get_mut(serial) {
            Some(known) => Some(std::mem::replace(&mut known.status, status)),
            None => {
                let answer = None;
                self.known.insert(serial.clone(), Known { status, answer });
                None
            }
        };
        let was_revoked = matches!(old, Some(Status::Revoked { .. }));
        if !was_revoked && matches!(status, Status::Revoked { .. }) {
            self.revoked += 1;
        }
        let changed = old != Some(status);
        if changed && old.is_some() {
            self.drop_answer(serial);
        }
        changed
    }

    /// Takes in a status read from the store: a certificate issued or revoked by
    /// another process, or one whose answer was dropped. A revocation is never undone,
    /// whatever an earlier read of the store said. Whether it changed.
    fn learn(&mut self, serial: &Serial, status: Status) -> bool {
        let undoes_revocation =
            status == Status::Good && matches!(self.status(serial), Some(Status::Revoked { .. }));
        !undoes_revocation && self.set_status(serial, status)
    }

    fn drop_answer(&mut self, serial: &Serial) {
        let old = self.known.get_mut(serial).and_then(|k| k.answer.take());
        if let Some(old) = old {
            self.forget(&old);
        }
    }
}

/// How many request encodings [`KnownRequests`] holds before it starts over.
const MAX_KNOWN_REQUESTS: usize = 16_384;
/// Longer requests are parsed every time (a one-certificate request is about 80 bytes).
const MAX_KNOWN_REQUEST_BYTES: usize = 512;

/// Exact request encodings already parsed into a one-certificate request with our SHA-1
/// CertID and no nonce (RFC 5019 clients send the same bytes each time), and the serial
/// they name. Parsing is a pure function of the bytes, so the same
/// bytes skip it (the DER decoding was the largest part of a cached answer's CPU; see
/// BENCHMARKS.md "Profiles"); the answer itself is still looked up in `State` on every
/// request, so a revocation or refresh shows at once. Bounded: when full it is cleared.
#[derive(Debug, Default)]
struct KnownRequests {
    serials: HashMap<Box<[u8]>, Serial>,
}

/// The responder.
pub struct OcspService {
    signer: Arc<dyn Signer>,
    /// Where answers beyond the held ones go.
    spilled: Arc<dyn OcspAnswerStore>,
    responder: Certificate,
    issuer: IssuerHashes,
    clock: Arc<dyn Clock>,
    settings: OcspSettings,
    state: RwLock<State>,
    known: RwLock<KnownRequests>,
    /// The feed's epoch: this responder's start, in nanoseconds since 1970.
    epoch: u64,
}

impl std::fmt::Debug for OcspService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Why the responder could not be set up or refreshed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OcspError {
    /// The responder certificate or key is unusable.
    #[error("OCSP responder: {0}")]
    Responder(String),
    /// Storage trouble.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl OcspService {
    /// A responder whose key is `signer` and certificate `responder_der`, for the issuing
    /// CA `issuing_der`, spilling answers to `spilled`.
    pub fn new(
        spilled: Arc<dyn OcspAnswerStore>,
        signer: Arc<dyn Signer>,
        responder_der: &[u8],
        issuing_der: &[u8],
        clock: Arc<dyn Clock>,
        settings: OcspSettings,
    ) -> Result<Self, OcspError> {
        let bad = |e: der::Error| OcspError::Responder(e.to_string());
        let responder = Certificate::from_der(responder_der).map_err(bad)?;
        let issuing = Certificate::from_der(issuing_der).map_err(bad)?;
        let spki = responder
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(bad)?;
        if spki != signer.public_key_der() {
            return Err(OcspError::Responder(
                "the OCSP key does not match the responder certificate".into(),
            ));
        }
        let epoch = clock
            .now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| {
                u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
            });
        Ok(Self {
            epoch,
            spilled,
            signer,
            responder,
            issuer: IssuerHashes::new(&issuing).map_err(bad)?,
            clock,
            settings,
            state: RwLock::new(State::default()),
            known: RwLock::new(KnownRequests::default()),
        })
    }

    /// When the responder certificate expires.
    pub fn responder_not_after(&self) -> SystemTime {
        self.responder
            .tbs_certificate
            .validity
            .not_after
            .to_system_time()
    }

    /// Loads every issued certificate's status from storage; responses whose status
    /// changed are dropped so they are re-signed. Returns how many statuses changed.
    pub async fn load(&self, store: &dyn CaStore) -> Result<usize, OcspError> {
        // Serials only: the certificates themselves are not needed to answer.
        let issued = store.issued_serials().await?;
        let revocations = store.revocations().await?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        // Merged into what is known: a certificate issued while the store was read
        // ([`OcspService::add_issued`]) is not in what was read, and stays known, or it
        // would be answered `unauthorized` until the next reload. Nor is a revocation
        // made here meanwhile ([`OcspService::presign_revoked`]): a store read before it
        // says `good`, and a revocation is never undone ([`State::learn`]). Issued
        // certificates never go away, so nothing else is lost.
        let revoked: HashMap<&Serial, Status> = revocations
            .iter()
            .map(|r| {
                let status = Status::Revoked {
                    at: r.revoked_at,
                    reason: Some(r.reason),
                };
                (&r.serial, status)
            })
            .collect();
        let mut changed = 0;
        // A revoked certificate is still among the issued ones: learnt once, revoked.
        for serial in issued.iter().filter(|s| !revoked.contains_key(s)) {
            changed += usize::from(state.learn(serial, Status::Good));
        }
        for (serial, status) in revoked {
            changed += usize::from(state.learn(serial, status));
        }
        Ok(changed)
    }

    /// Marks one certificate good right after issuance.
    pub fn add_issued(&self, serial: Serial) {
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        state.known.entry(serial).or_insert(Known {
            status: Status::Good,
            answer: None,
        });
    }

    /// How many certificates the responder knows, and how many of them are revoked.
    /// Everything it knows is in the store (a status is set only after its row is
    /// written), so the store's counts are never below these
    /// ([`crate::ocsp_responder::StatusWatch`]).
    pub fn known_counts(&self) -> (u64, u64) {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let known = u64::try_from(state.known.len()).unwrap_or(u64::MAX);
        (known, state.revoked)
    }

    /// How fresh the pre-signed answers are: the answers' nextUpdate is their
    /// producedAt plus the configured lifetime.
    pub fn answer_freshness(&self) -> shuin_core::ocsp::OcspFreshness {
        let lifetime = self.settings.response_lifetime;
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        let mut freshness = shuin_core::ocsp::OcspFreshness::default();
        for known in state.known.values() {
            freshness.count(known.answer.as_ref().map(|a| a.produced_at + lifetime));
        }
        freshness
    }

    /// At most `max` pre-signed answers kept after `through` of `epoch`, oldest first;
    /// all from the start when `epoch` is not this responder's
    /// (`shuin_core::repository_feed`). Spilled answers are read from the store; when
    /// that fails the delta ends before them, and the node asks again from there.
    pub async fn answers_after(&self, epoch: u64, through: u64, max: usize) -> OcspDelta {
        let from = if epoch == self.epoch { through } else { 0 };
        // Each answer's feed number and serial, and its bytes while held.
        type Listed = (u64, Serial, Option<Arc<Vec<u8>>>);
        let listed: Vec<Listed> = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            state
                .numbered
                .range(from + 1..)
                .take(max)
                .filter_map(|(number, serial)| {
                    let cached = state.answer(serial)?;
                    Some((*number, serial.clone(), cached.der.clone()))
                })
                .collect()
        };
        let mut delta = OcspDelta {
            epoch: self.epoch,
            through: from,
            answers: Vec::new(),
        };
        for (number, serial, held) in listed {
            let der = match held {
                Some(der) => Some(der),
                None => match self.spilled.ocsp_answer(&serial).await {
                    Ok(der) => der.map(Arc::new),
                    Err(e) => {
                        tracing::warn!(error = %e, "a spilled OCSP answer cannot be read for the nodes");
                        break;
                    }
                },
            };
            delta.answers.extend(der);
            delta.through = number;
        }
        delta
    }

    /// One pre-signing round: signs the answers that are missing or past half their
    /// lifetime, at most `budget` (on a blocking thread), then spills what is beyond the
    /// held answers. Returns how many were signed. Failures are logged: an answer not
    /// signed is signed at the next round, one not spilled stays in memory.
    pub async fn upkeep(self: &Arc<Self>, budget: usize) -> usize {
        let presigner = Arc::clone(self);
        let signed = tokio::task::spawn_blocking(move || presigner.presign(budget))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "the OCSP pre-signing task failed");
                0
            });
        loop {
            match self.spill().await {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "spilling OCSP answers to the store failed");
                    break;
                }
            }
        }
        signed
    }

    /// Moves the oldest answers beyond [`OcspSettings::held_answers`] to the store, a
    /// batch at most; returns how many. When the store fails they stay in memory.
    pub async fn spill(&self) -> Result<usize, StoreError> {
        let batch: Vec<(u64, Serial, Arc<Vec<u8>>)> = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            let excess = state.held.saturating_sub(self.settings.held_answers);
            state
                .numbered
                .range(state.spilled_through + 1..)
                .filter_map(|(number, serial)| {
                    let der = state.answer(serial)?.der.as_ref()?;
                    Some((*number, serial.clone(), Arc::clone(der)))
                })
                .take(excess.min(SPILL_BATCH))
                .collect()
        };
        let Some(&(last, _, _)) = batch.last() else {
            return Ok(0);
        };
        let rows: Vec<(Serial, &[u8])> = batch
            .iter()
            .map(|(_, serial, der)| (serial.clone(), der.as_slice()))
            .collect();
        self.spilled.put_ocsp_answers(&rows).await?;
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        let State { known, held, .. } = &mut *state;
        for (number, serial, _) in &batch {
            // Unless it was signed again meanwhile (a new number, held).
            let cached = known.get_mut(serial).and_then(|k| k.answer.as_mut());
            if let Some(cached) = cached.filter(|c| c.number == *number) {
                if cached.der.take().is_some() {
                    *held -= 1;
                }
            }
        }
        state.spilled_through = state.spilled_through.max(last);
        Ok(batch.len())
    }

    /// Signs responses that are missing or past half their lifetime, at most `budget`.
    /// Returns how many were signed. Blocking: run it off the async workers.
    pub fn presign(&self, budget: usize) -> usize {
        let now = self.clock.now();
        let refresh_after = self.settings.response_lifetime / 2;
        let due: Vec<(Serial, Status)> = {
            let state = self.state.read().unwrap_or_else(|p| p.into_inner());
            state
                .known
                .iter()
                .filter(|(_, known)| {
                    known.answer.as_ref().is_none_or(|c| {
                        now.duration_since(c.produced_at).unwrap_or_default() >= refresh_after
                    })
                })
                .take(budget)
                .map(|(serial, known)| (serial.clone(), known.status))
                .collect()
        };
        let mut signed = 0;
        for (serial, status) in due {
            match self.sign_and_keep(serial, status, now) {
                Ok(Some(_)) => signed += 1,
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "could not pre-sign an OCSP response"),
            }
        }
        signed
    }

    /// Signs the answer of a certificate just issued (after [`OcspService::add_issued`]),
    /// unless it is signed already, so that the request path only serves. Blocking: run it
    /// off the async workers. Returns whether it signed.
    pub fn presign_issued(&self, serial: &Serial) -> bool {
        let Some(status) = self.issued_status(serial) else {
            return false;
        };
        if self.has_answer(serial) {
            return false;
        }
        match self.sign_and_keep(serial.clone(), status, self.clock.now()) {
            Ok(signed) => signed.is_some(),
            Err(e) => {
                tracing::error!(error = %e, "could not pre-sign the OCSP answer of a new certificate");
                false
            }
        }
    }

    /// Marks a certificate this process just revoked and signs its `revoked` answer,
    /// before the revocation is confirmed to whoever asked for it: from then on OCSP
    /// says what the CRL says, with no wait for the status watch. The `good` answer is
    /// dropped when the status is set, so while the new one is signed (or, if signing
    /// fails, until the pre-signing round signs it) the request path answers `tryLater`,
    /// never `good`. Blocking: run it off the async workers. Returns whether it signed.
    pub fn presign_revoked(
        &self,
        serial: &Serial,
        at: SystemTime,
        reason: shuin_core::revocation::RevocationReason,
    ) -> bool {
        // Whole seconds, as the store keeps them: the status watch's reload then finds
        // the same status and keeps this answer.
        let at = shuin_core::clock::truncate_to_seconds(at);
        let status = Status::Revoked {
            at,
            reason: Some(reason),
        };
        {
            let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
            if !state.set_status(serial, status) {
                return false;
            }
        }
        match self.sign_and_keep(serial.clone(), status, self.clock.now()) {
            Ok(signed) => signed.is_some(),
            Err(e) => {
                tracing::error!(error = %e, "could not sign the OCSP answer of a revocation");
                false
            }
        }
    }

    /// [`OcspService::presign_revoked`] on a blocking thread: what a revocation that took
    /// effect awaits before it is confirmed. A failure is logged; the status watch and
    /// the pre-signing round catch up then.
    pub async fn answer_revocation(
        self: Arc<Self>,
        serial: Serial,
        at: SystemTime,
        reason: shuin_core::revocation::RevocationReason,
    ) {
        let signing =
            tokio::task::spawn_blocking(move || self.presign_revoked(&serial, at, reason));
        if signing.await.is_err() {
            tracing::error!("the task signing a revocation's OCSP answer failed");
        }
    }

    /// Signs the response for an issued `serial` and keeps it, unless the status changed
    /// meanwhile (then `None`: the next round signs the new one).
    fn sign_and_keep(
        &self,
        serial: Serial,
        status: Status,
        now: SystemTime,
    ) -> Result<Option<Arc<Vec<u8>>>, OcspError> {
        let cert_id = self
            .issuer
            .cert_id(&serial)
            .map_err(|e| OcspError::Responder(e.to_string()))?;
        let der = Arc::new(self.sign(vec![(cert_id, status)], now)?);
        let mut state = self.state.write().unwrap_or_else(|p| p.into_inner());
        if state.status(&serial) != Some(status) {
            return Ok(None);
        }
        state.keep(serial, Arc::clone(&der), now);
        Ok(Some(der))
    }

    /// The status of a certificate this CA issued; `None` for any other serial.
    fn issued_status(&self, serial: &Serial) -> Option<Status> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.status(serial)
    }

    fn sign(&self, answers: Vec<(CertId, Status)>, now: SystemTime) -> Result<Vec<u8>, OcspError> {
        let bad = |e: der::Error| OcspError::Responder(e.to_string());
        let next = now + self.settings.response_lifetime;
        let singles = answers
            .into_iter()
            .map(|(id, status)| ocsp::single_response(id, status, now, next))
            .collect::<Result<Vec<_>, _>>()
            .map_err(bad)?;
        let data = ocsp::response_data(&self.responder, now, singles).map_err(bad)?;
        let tbs = data.to_der().map_err(bad)?;
        let signature = self
            .signer
            .sign(&tbs)
            .map_err(|e| OcspError::Responder(e.to_string()))?;
        ocsp::assemble_response(data, self.signer.algorithm(), &signature, &self.responder)
            .map_err(bad)
    }
}

impl OcspService {
    /// The serial of a single-certificate request with exactly our SHA-1 CertID.
    fn cached_serial(&self, request: &ocsp::ParsedRequest) -> Option<Serial> {
        let [only] = request.cert_ids.as_slice() else {
            return None;
        };
        let serial = self.issuer.serial_of(only)?;
        let same_id = self.issuer.cert_id(&serial).is_ok_and(|ours| &ours == only);
        same_id.then_some(serial)
    }

    /// The pre-signed answer for `serial`, if one is held in memory now.
    fn cached_answer(&self, serial: &Serial) -> Option<Arc<Vec<u8>>> {
        match self.kept(serial)? {
            Kept::Held(der) => Some(der),
            Kept::Spilled => None,
        }
    }

    fn kept(&self, serial: &Serial) -> Option<Kept> {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.kept(serial)
    }

    /// Whether `serial` has a pre-signed answer, held or spilled.
    fn has_answer(&self, serial: &Serial) -> bool {
        let state = self.state.read().unwrap_or_else(|p| p.into_inner());
        state.answer(serial).is_some()
    }

    fn known_serial(&self, request_der: &[u8]) -> Option<Serial> {
        let known = self.known.read().unwrap_or_else(|p| p.into_inner());
        known.serials.get(request_der).cloned()
    }

    fn remember(&self, request_der: &[u8], serial: Serial) {
        if request_der.len() > MAX_KNOWN_REQUEST_BYTES {
            return;
        }
        let mut known = self.known.write().unwrap_or_else(|p| p.into_inner());
        if known.serials.len() >= MAX_KNOWN_REQUESTS {
            known.serials.clear();
        }
        known.serials.insert(request_der.into(), serial);
    }
}

#[async_trait::async_trait]
impl OcspResponder for OcspService {
    fn freshness(&self) -> Option<shuin_core::ocsp::OcspFreshness> {
        Some(self.answer_freshness())
    }

    fn respond_from_cache(&self, request_der: &[u8]) -> Option<Arc<Vec<u8>>> {
        if let Some(serial) = self.known_serial(request_der) {
            return self.cached_answer(&serial);
        }
        let request = ocsp::parse_request(request_der).ok()?;
        let serial = self.cached_serial(&request)?;
        let answer = self.cached_answer(&serial)?;
        // A nonce makes every encoding new: remembering it would only churn the memo.
        if !request.has_nonce {
            self.remember(request_der, serial);
        }
        Some(answer)
    }

    async fn respond(&self, request_der: &[u8]) -> Vec<u8> {
        let request = match ocsp::parse_request(request_der) {
            Ok(r) => r,
            Err(_) => return ocsp::malformed_request(),
        };
        if request.cert_ids.len() != 1 {
            return ocsp::malformed_request();
        }
        // Only a certificate this CA issued, asked for with our SHA-1 CertID, is answered.
        let Some(serial) = self.cached_serial(&request) else {
            return ocsp::unauthorized();
        };
        match self.kept(&serial) {
            Some(Kept::Held(der)) => der.as_ref().clone(),
            Some(Kept::Spilled) => match self.spilled.ocsp_answer(&serial).await {
                Ok(Some(der)) => der,
                Ok(None) => ocsp::try_later(),
                Err(e) => {
                    tracing::warn!(error = %e, "a spilled OCSP answer cannot be read");
                    ocsp::try_later()
                }
            },
            // Issued elsewhere, and the pre-signing round has not reached it yet: nothing
            // is signed here; the client asks again.
            None if self.issued_status(&serial).is_some() => ocsp::try_later(),
            None => ocsp::unauthorized(),
        }
    }
}

impl CaService {
    /// Issues a delegated OCSP responder certificate for the key `spki_der`, recording
    /// it in the facility book before and after signing.
    pub async fn certify_ocsp_responder(
        &self,
        spki_der: &[u8],
        validity: Duration,
    ) -> Result<Vec<u8>, OcspError> {
        let bad = |e: der::Error| OcspError::Responder(e.to_string());
        let now = self.clock_handle().now();
        let serial =
            Serial::random(self.rng().as_ref()).map_err(|e| OcspError::Responder(e.to_string()))?;
        let cn = format!("{} OCSP Responder", self.identity_common_name());
        let subject = NameBuilder::new()
            .country("JP")
            .and_then(|b| b.common_name(&cn))
            .map_err(bad)?
            .build();
        let spki = spki::SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(bad)?;
        let template = CaProfile::ocsp_responder(
            self.identity(),
            subject,
            spki,
            serial.clone(),
            now,
            validity,
        )
        .map_err(bad)?;
        let tbs = template.to_tbs(self.signer().algorithm()).map_err(bad)?;
        let findings = shuin_core::lint::lint_tbs(&tbs);
        if !findings.is_empty() {
            return Err(OcspError::Responder(format!(
                "the responder certificate fails lint: {findings:?}"
            )));
        }
        let tbs_der = tbs.to_der().map_err(bad)?;
        let tbs_sha256 = hex::encode(Sha256::digest(&tbs_der));
        let entry = |kind: &str, payload: serde_json::Value| EntryDraft {
            book: Book::Facility,
            kind: kind.into(),
            actor: ca_actor(),
            subjects: vec![format!("serial:{serial}")],
            payload,
            evidence: vec![],
        };
        self.store()
            .append(
                entry(
                    "ocsp_responder.signing",
                    serde_json::json!({"serial": serial.to_hex(), "tbs_sha256": tbs_sha256}),
                ),
                now,
            )
            .await?;
        let signature = self
            .signer()
            .sign(&tbs_der)
            .map_err(|e| OcspError::Responder(e.to_string()))?;
        let der = assemble_certificate(tbs, &signature)
            .and_then(|c| c.to_der())
            .map_err(bad)?;
        self.store()
            .append(
                entry(
                    "ocsp_responder.certified",
                    serde_json::json!({"serial": serial.to_hex(), "certificate_sha256": hex::encode(Sha256::digest(&der))}),
                ),
                now,
            )
            .await?;
        Ok(der)
    }

    fn identity_common_name(&self) -> String {
        shuin_core::x509::name::attribute_values(&self.identity().name, const_oid::db::rfc4519::CN)
            .into_iter()
            .next()
            .unwrap_or_else(|| "shuin".into())
    }
}

#[cfg(test)]
mod tests;
