//! The figures of an issuer key backend's signing pool: how many sessions it holds, how
//! many signatures run on them now, how many wait for a free one, and how many failed.
//! The backend counts them (`shuin-keys`); `/metrics` reads them (`shuin-server`), which
//! may not name a key backend, so the counters live here.

use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one signing pool, shared by the pool and whoever reports it.
#[derive(Debug, Default)]
pub struct SigningPoolFigures {
    sessions: AtomicU64,
    in_flight: AtomicU64,
    waiting: AtomicU64,
    errors: AtomicU64,
    signatures: AtomicU64,
}

/// The figures read at one moment, with the pool's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningPoolSnapshot {
    /// The backend's kind, e.g. `pkcs11`.
    pub key_backend: String,
    /// Which pool of that backend, e.g. the token label.
    pub pool: String,
    /// Sessions the pool holds.
    pub sessions: u64,
    /// Signatures running on a session now.
    pub in_flight: u64,
    /// Signatures waiting for a free session now.
    pub waiting: u64,
    /// Signatures that failed since start.
    pub errors: u64,
    /// Signatures (operations on a session) started since start, failed ones included.
    pub signatures: u64,
}

impl SigningPoolFigures {
    /// Records the pool's size (again after it was opened anew).
    pub fn set_sessions(&self, sessions: usize) {
        let sessions = u64::try_from(sessions).unwrap_or(u64::MAX);
        self.sessions.store(sessions, Ordering::Relaxed);
    }

    /// A signature started waiting for a session.
    pub fn wait_started(&self) {
        self.waiting.fetch_add(1, Ordering::Relaxed);
    }

    /// A signature stopped waiting (it got a session, or gave up).
    pub fn wait_ended(&self) {
        self.waiting.fetch_sub(1, Ordering::Relaxed);
    }

    /// A signature took a session (and is counted among all signatures since start).
    pub fn work_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.signatures.fetch_add(1, Ordering::Relaxed);
    }

    /// A signature gave its session back.
    pub fn work_ended(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    /// A signature failed.
    pub fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Signatures waiting for a session now.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// The figures now, named `key_backend` and `pool`.
    pub fn snapshot(&self, key_backend: &str, pool: &str) -> SigningPoolSnapshot {
        SigningPoolSnapshot {
            key_backend: key_backend.to_owned(),
            pool: pool.to_owned(),
            sessions: self.sessions.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            waiting: self.waiting.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            signatures: self.signatures.load(Ordering::Relaxed),
        }
    }
}

/// Where `/metrics` reads the signing pools of the running instance from: none while
/// sealed, or on a node without keys.
pub trait SigningPools: Send + Sync {
    /// The pools' figures now.
    fn pools(&self) -> Vec<SigningPoolSnapshot>;
}

/// No signing pools (an RA node, a sealed instance).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSigningPools;

impl SigningPools for NoSigningPools {
    fn pools(&self) -> Vec<SigningPoolSnapshot> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_both_ways_and_errors_only_up() {
        let figures = SigningPoolFigures::default();
        figures.set_sessions(8);
        figures.wait_started();
        figures.wait_started();
        figures.wait_ended();
        figures.work_started();
        figures.count_error();
        figures.count_error();
        let now = figures.snapshot("pkcs11", "T");
        assert_eq!(
            now,
            SigningPoolSnapshot {
                key_backend: "pkcs11".into(),
                pool: "T".into(),
                sessions: 8,
                in_flight: 1,
                waiting: 1,
                errors: 2,
                signatures: 1,
            }
        );
        figures.work_ended();
        assert_eq!(figures.snapshot("pkcs11", "T").in_flight, 0);
    }
}
