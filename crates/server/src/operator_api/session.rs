//! Sessions on operator listeners (DESIGN.md section 9): who is on the other end of a
//! mutual-TLS connection, and the record of what they did there. The entries are
//! `shuin_books::sessions`'; this module ties them to connections.

use shuin_books::sessions::{self, SessionOpening, SessionTally};
use shuin_core::{Clock, Zone};
use shuin_store::{LedgerStore, StoreError};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The operator a client certificate names. The TLS handshake has checked it against
/// the operator CA and its CRL; the gate checks each request against the books.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The certificate's CN (the operator's enrolled name).
    pub name: String,
    /// SHA-256 (hex) of the certificate's SubjectPublicKeyInfo.
    pub key_sha256: String,
    /// SHA-256 (hex) of the certificate.
    pub certificate_sha256: String,
}

impl ClientIdentity {
    /// Reads the client certificate `der`.
    pub fn of(
        der: &[u8],
    ) -> Result<ClientIdentity, shuin_books::operator_certificate::CertificateProblem> {
        use sha2::Digest;
        if shuin_core::x509::node::NodeIdentity::of(der).is_ok() {
            // A node of a split deployment is no operator, whatever its name.
            return Err(shuin_books::operator_certificate::CertificateProblem(
                "a node certificate is not an operator's".into(),
            ));
        }
        let facts = shuin_books::operator_certificate::facts(der)?;
        Ok(ClientIdentity {
            name: facts.name,
            key_sha256: shuin_books::request::key_sha256(&facts.spki_der),
            certificate_sha256: hex::encode(sha2::Sha256::digest(der)),
        })
    }
}

/// One authenticated connection.
#[derive(Debug)]
pub struct Session {
    /// Who.
    pub identity: ClientIdentity,
    opening: SessionOpening,
    opened_seq: u64,
    opened_at: Instant,
    tally: Mutex<SessionTally>,
}

impl Session {
    /// The zone of the listener the session is on.
    pub fn zone(&self) -> Zone {
        self.opening.zone
    }

    /// The position of the session's opening entry.
    pub fn opened_seq(&self) -> u64 {
        self.opened_seq
    }

    /// Counts what became of one request.
    pub fn count(&self, outcome: &shuin_books::console::Outcome) {
        use shuin_books::console::Outcome;
        let mut tally = self.tally.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Outcome::Done { .. } => tally.actions = tally.actions.saturating_add(1),
            Outcome::Refused { code, .. } => tally.refused(code),
            Outcome::Failed { .. } => tally.failures = tally.failures.saturating_add(1),
        }
    }

    /// A session that is in no book, for tests of what uses one.
    #[cfg(test)]
    pub(crate) fn unrecorded(identity: ClientIdentity, zone: Zone) -> Session {
        Session {
            opening: SessionOpening {
                operator: identity.name.clone(),
                key_sha256: identity.key_sha256.clone(),
                certificate_sha256: identity.certificate_sha256.clone(),
                zone,
                peer: "127.0.0.1:1".into(),
            },
            identity,
            opened_seq: 0,
            opened_at: Instant::now(),
            tally: Mutex::new(SessionTally::default()),
        }
    }

    /// The counts so far.
    pub fn tally(&self) -> SessionTally {
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Opens and closes the sessions of one operator listener, in the facility book.
pub struct Sessions {
    store: Arc<dyn LedgerStore>,
    clock: Arc<dyn Clock>,
    zone: Zone,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// The sessions of a listener in `zone`, recorded in `store`.
    pub fn new(store: Arc<dyn LedgerStore>, clock: Arc<dyn Clock>, zone: Zone) -> Sessions {
        Sessions { store, clock, zone }
    }

    /// Records the opening of a session of `identity` from `peer`; no entry, no session.
    pub async fn open(
        &self,
        identity: ClientIdentity,
        peer: SocketAddr,
    ) -> Result<Arc<Session>, StoreError> {
        let opening = SessionOpening {
            operator: identity.name.clone(),
            key_sha256: identity.key_sha256.clone(),
            certificate_sha256: identity.certificate_sha256.clone(),
            zone: self.zone,
            peer: peer.to_string(),
        };
        let opened_seq = sessions::open(self.store.as_ref(), &opening, self.clock.now()).await?;
        tracing::info!(operator = %identity.name, zone = %self.zone, %peer, seq = opened_seq, "operator session opened");
        Ok(Arc::new(Session {
            identity,
            opening,
            opened_seq,
            opened_at: Instant::now(),
            tally: Mutex::new(SessionTally::default()),
        }))
    }

    /// Records the closing of `session` with its counts.
    pub async fn close(&self, session: &Session) {
        let tally = session.tally();
        let closed = sessions::close(
            self.store.as_ref(),
            &session.opening,
            session.opened_seq,
            &tally,
            session.opened_at.elapsed(),
            self.clock.now(),
        )
        .await;
        match closed {
            Ok(seq) => tracing::info!(
                operator = %session.identity.name,
                actions = tally.actions,
                refusals = tally.refusals,
                seq,
                "operator session closed"
            ),
            Err(e) => tracing::error!(
                operator = %session.identity.name,
                session = session.opened_seq,
                error = %e,
                "the session's closing could not be recorded"
            ),
        }
    }
}
