//! A small pool of logged-in PKCS#11 sessions. A cryptoki `Session` is `Send` but not
//! `Sync`, and a session runs one operation at a time, so each sits behind its own mutex;
//! callers take any free one, and wait only when all are busy.

use cryptoki::session::Session;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

pub(crate) struct SessionPool {
    /// Never empty (see [`SessionPool::new`]).
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
}

impl SessionPool {
    /// `None` if `sessions` is empty.
    pub(crate) fn new(sessions: Vec<Session>) -> Option<Self> {
        if sessions.is_empty() {
            return None;
        }
        Some(Self {
            sessions: sessions.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Runs `f` on a free session.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Session) -> T) -> T {
        let count = self.sessions.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % count;
        for i in 0..count {
            let slot = &self.sessions[(start + i) % count];
            match slot.try_lock() {
                Ok(session) => return f(&session),
                // A panic elsewhere does not make the session unusable.
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return f(&poisoned.into_inner())
                }
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let session = self.sessions[start]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f(&session)
    }
}
