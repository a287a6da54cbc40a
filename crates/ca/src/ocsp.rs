//! The delegated OCSP responder (RFC 6960, the RFC 5019 profile): an answer is
//! pre-signed for every issued certificate, refreshed at half its lifetime, and signed
//! again when its status changes. The answers, the status each was signed for and when
//! each was produced are kept in the store (`shuin_store::OcspAnswerStore`), which
//! schedules the signing by index; the memory holds only the newest answers signed here
//! ([`OcspSettings::held_answers`]) and what a round has not written yet, so it does not
//! grow with the CA.
//!
//! Nothing a stranger asks makes the key sign: a serial this CA never issued, or a
//! CertID hashed other than with SHA-1, gets the unsigned `unauthorized` answer, and a
//! request naming several certificates the unsigned `malformedRequest` (RFC 5019
//! section 2.1.1: one certificate per request). The request path never signs: a
//! certificate's answer is signed when it is issued
//! ([`OcspService::presign_issued`], before the certificate is handed out), and one
//! issued elsewhere (another process) is answered `tryLater` until the next round signs
//! it. Nonces are ignored, as RFC 8954 permits.

mod certify;
mod memory;
mod presigning;

pub use presigning::Work;

use memory::{Held, RecentRevocations, Unwritten};
use shuin_core::ocsp::{self, IssuerHashes, OcspFreshness, OcspResponder, Status};
use shuin_core::repository_feed::OcspDelta;
use shuin_core::{Clock, Serial};
use shuin_keys::Signer;
use shuin_store::{OcspAnswerStore, OcspLookup, StoreError};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use x509_cert::Certificate;

/// OCSP settings.
#[derive(Debug, Clone, Copy)]
pub struct OcspSettings {
    /// thisUpdate to nextUpdate of each response.
    pub response_lifetime: Duration,
    /// How many of the newest answers signed here are held in memory; the others are
    /// read from the store when asked for.
    pub held_answers: usize,
}

/// The answers held in memory unless configured otherwise: about 10 MB.
pub(crate) const HELD_ANSWERS: usize = 10_000;

/// What the responder keeps in memory: bounded, whatever the number of certificates.
#[derive(Debug, Default)]
struct State {
    held: Held,
    unwritten: Unwritten,
    recent: RecentRevocations,
    /// The certificates issued and revoked that the responder has accounted for: the
    /// store's counts when it last looked through the store, plus what was issued and
    /// revoked here since ([`crate::ocsp_responder::StatusWatch`]).
    accounted: (u64, u64),
    /// A look through the store for certificates without an answer for their status is
    /// due, from after this serial (`Some(None)`: from the start).
    scan: Option<Option<Serial>>,
    /// Which start of the look `scan` belongs to.
    scan_generation: u64,
    /// Rounds made ([`OcspService::upkeep`]).
    rounds: u64,
    /// No look through the store before this round (one failed).
    scan_paused_until: u64,
    /// Answers were written since the last count.
    written_since_count: bool,
    /// From the last count of the kept answers.
    freshness: OcspFreshness,
}

/// How many request encodings [`KnownRequests`] holds before it starts over.
const MAX_KNOWN_REQUESTS: usize = 16_384;
/// Longer requests are parsed every time (a one-certificate request is about 80 bytes).
const MAX_KNOWN_REQUEST_BYTES: usize = 512;

/// Exact request encodings already parsed into a one-certificate request with our SHA-1
/// CertID and no nonce (RFC 5019 clients send the same bytes each time), and the serial
/// they name. Parsing is a pure function of the bytes, so the same
/// bytes skip it (the DER decoding was the largest part of a cached answer's CPU; see
/// BENCHMARKS.md "Profiles"); the answer itself is still looked up on every request, so
/// a revocation or refresh shows at once. Bounded: when full it is cleared.
#[derive(Debug, Default)]
struct KnownRequests {
    serials: HashMap<Box<[u8]>, Serial>,
}

/// The responder.
pub struct OcspService {
    signer: Arc<dyn Signer>,
    /// Where the answers and their schedule are kept.
    store: Arc<dyn OcspAnswerStore>,
    responder: Certificate,
    issuer: IssuerHashes,
    clock: Arc<dyn Clock>,
    settings: OcspSettings,
    state: RwLock<State>,
    known: RwLock<KnownRequests>,
    /// Writes to the store one at a time, so that a newer answer is never overwritten
    /// by an older one written late.
    writing: tokio::sync::Mutex<()>,
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
    /// CA `issuing_der`, keeping its answers in `store`.
    pub fn new(
        store: Arc<dyn OcspAnswerStore>,
        signer: Arc<dyn Signer>,
        responder_der: &[u8],
        issuing_der: &[u8],
        clock: Arc<dyn Clock>,
        settings: OcspSettings,
    ) -> Result<Self, OcspError> {
        use der::{Decode, Encode};
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
        let state = State {
            held: Held::new(settings.held_answers),
            scan: Some(None),
            ..State::default()
        };
        Ok(Self {
            epoch,
            store,
            signer,
            responder,
            issuer: IssuerHashes::new(&issuing).map_err(bad)?,
            clock,
            settings,
            state: RwLock::new(state),
            known: RwLock::new(KnownRequests::default()),
            writing: tokio::sync::Mutex::new(()),
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

    /// How fresh the kept answers are, as of the last round that counted them: the
    /// answers' nextUpdate is their producedAt plus the configured lifetime.
    pub fn answer_freshness(&self) -> OcspFreshness {
        self.read().freshness
    }

    /// At most `max` kept answers after `through` of `epoch`, oldest first; all from
    /// the start when `epoch` is not this responder's (`shuin_core::repository_feed`).
    /// Read from the store: an answer signed here is there by the end of the round that
    /// signed it (a revocation's at once). When the store cannot be read the delta is
    /// empty, and the node asks again.
    pub async fn answers_after(&self, epoch: u64, through: u64, max: usize) -> OcspDelta {
        let from = if epoch == self.epoch { through } else { 0 };
        let mut delta = OcspDelta {
            epoch: self.epoch,
            through: from,
            answers: Vec::new(),
        };
        let limit = u32::try_from(max).unwrap_or(u32::MAX);
        match self.store.ocsp_answers_after(from, limit).await {
            Ok(rows) => {
                for (number, der) in rows {
                    delta.answers.push(Arc::new(der));
                    delta.through = number;
                }
            }
            Err(e) => tracing::warn!(error = %e, "OCSP answers cannot be read for the nodes"),
        }
        delta
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The serial of a single-certificate request with exactly our SHA-1 CertID.
    fn cached_serial(&self, request: &ocsp::ParsedRequest) -> Option<Serial> {
        let [only] = request.cert_ids.as_slice() else {
            return None;
        };
        let serial = self.issuer.serial_of(only)?;
        let same_id = self.issuer.cert_id(&serial).is_ok_and(|ours| &ours == only);
        same_id.then_some(serial)
    }

    /// The answer for `serial` if memory has it: held, or signed and not written yet.
    fn in_memory(&self, serial: &Serial) -> Option<Arc<Vec<u8>>> {
        let state = self.read();
        state
            .held
            .get(serial)
            .or_else(|| state.unwritten.get(serial).map(|a| Arc::clone(&a.der)))
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
    fn freshness(&self) -> Option<OcspFreshness> {
        Some(self.answer_freshness())
    }

    fn respond_from_cache(&self, request_der: &[u8]) -> Option<Arc<Vec<u8>>> {
        if let Some(serial) = self.known_serial(request_der) {
            return self.in_memory(&serial);
        }
        let request = ocsp::parse_request(request_der).ok()?;
        let serial = self.cached_serial(&request)?;
        let answer = self.in_memory(&serial)?;
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
        if let Some(der) = self.in_memory(&serial) {
            return der.as_ref().clone();
        }
        // The store answers only with an answer signed for the certificate's status now:
        // one signed `good` for a certificate revoked since is not served.
        match self.store.ocsp_lookup(&serial).await {
            Ok(OcspLookup::Answered(der)) => der,
            Ok(OcspLookup::NotIssued) => ocsp::unauthorized(),
            // Issued elsewhere, or revoked elsewhere, and not signed yet: nothing is
            // signed here; the client asks again.
            Ok(OcspLookup::Unanswered) => ocsp::try_later(),
            Err(e) => {
                tracing::warn!(error = %e, "an OCSP answer cannot be read from the store");
                ocsp::try_later()
            }
        }
    }
}

/// The status a certificate is to be answered with, from the store's row.
fn status_of(revoked: Option<(SystemTime, shuin_core::revocation::RevocationReason)>) -> Status {
    match revoked {
        Some((at, reason)) => Status::Revoked {
            at,
            reason: Some(reason),
        },
        None => Status::Good,
    }
}

#[cfg(test)]
mod tests;
