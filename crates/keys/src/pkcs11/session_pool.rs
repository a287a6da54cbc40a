//! A pool of logged-in PKCS#11 sessions. A cryptoki `Session` is `Send` but not `Sync`,
//! and a session runs one operation at a time, so a caller takes a free session out of
//! the pool and gives it back when done. When none is free it joins the signing queue
//! and waits for the first one given back; when `max_waiting` callers wait already it is
//! refused at once ([`KeyError::Busy`], retryable), so a slow token cannot pile up
//! blocked threads without bound.
//!
//! Over a network each operation costs a round trip, during which the session is busy
//! but the token is not: enough sessions keep the token fed (docs/keys.md). The pool's
//! figures (sessions, in flight, waiting, errors) are counted into a
//! [`SigningPoolFigures`] that `/metrics` reads.

use crate::KeyError;
use cryptoki::session::Session;
use shuin_core::signing_pool::SigningPoolFigures;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

/// The sessions of one generation (see `connection.rs`), free ones in a list.
pub(crate) struct SessionPool<S = Session> {
    free: Mutex<Vec<S>>,
    given_back: Condvar,
    size: usize,
    max_waiting: u64,
    figures: Arc<SigningPoolFigures>,
}

impl<S> SessionPool<S> {
    /// `None` if `sessions` is empty.
    pub(crate) fn new(
        sessions: Vec<S>,
        max_waiting: usize,
        figures: Arc<SigningPoolFigures>,
    ) -> Option<Self> {
        if sessions.is_empty() {
            return None;
        }
        figures.set_sessions(sessions.len());
        Some(Self {
            size: sessions.len(),
            free: Mutex::new(sessions),
            given_back: Condvar::new(),
            max_waiting: u64::try_from(max_waiting).unwrap_or(u64::MAX),
            figures,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.size
    }

    fn free(&self) -> MutexGuard<'_, Vec<S>> {
        // A panic elsewhere does not make the sessions unusable.
        self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes a free session, waiting in the queue for one when none is.
    fn take(&self) -> Result<S, KeyError> {
        let mut free = self.free();
        if let Some(session) = free.pop() {
            return Ok(session);
        }
        let waiting = self.figures.waiting();
        if waiting >= self.max_waiting {
            return Err(KeyError::Busy { waiting });
        }
        self.figures.wait_started();
        let session = loop {
            free = self
                .given_back
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(session) = free.pop() {
                break session;
            }
        };
        self.figures.wait_ended();
        Ok(session)
    }

    fn give_back(&self, session: S) {
        self.free().push(session);
        self.given_back.notify_one();
    }

    /// Runs `f` on a free session; an error from `f` is counted.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&S) -> Result<T, KeyError>) -> Result<T, KeyError> {
        let session = match self.take() {
            Ok(session) => session,
            Err(e) => {
                self.figures.count_error();
                return Err(e);
            }
        };
        self.figures.work_started();
        // Given back even if `f` panics: the session itself is still fine.
        let back = GiveBack {
            pool: self,
            session: Some(session),
        };
        // `back.session` is `Some` until `back` is dropped.
        let result = back
            .session
            .as_ref()
            .map_or(Err(KeyError::SigningFailed), f);
        drop(back);
        if result.is_err() {
            self.figures.count_error();
        }
        result
    }
}

/// Gives a session back to its pool when dropped.
struct GiveBack<'a, S> {
    pool: &'a SessionPool<S>,
    session: Option<S>,
}

impl<S> Drop for GiveBack<'_, S> {
    fn drop(&mut self) {
        self.pool.figures.work_ended();
        if let Some(session) = self.session.take() {
            self.pool.give_back(session);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::thread;

    /// Waits until `figures` show `waiting` callers in the queue.
    fn until_waiting(figures: &SigningPoolFigures, waiting: u64) {
        while figures.waiting() != waiting {
            thread::yield_now();
        }
    }

    #[test]
    fn callers_wait_when_every_session_is_busy_and_the_queue_is_bounded() {
        let figures = Arc::new(SigningPoolFigures::default());
        let pool = Arc::new(SessionPool::new(vec![1u8, 2], 1, figures.clone()).unwrap());
        let (release, hold) = mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let (started_tx, started) = mpsc::channel();
        let busy: Vec<_> = (0..2)
            .map(|_| {
                let (pool, hold, started_tx) = (pool.clone(), hold.clone(), started_tx.clone());
                thread::spawn(move || {
                    pool.with(|_| {
                        started_tx.send(()).unwrap();
                        hold.lock().unwrap().recv().unwrap();
                        Ok(())
                    })
                })
            })
            .collect();
        started.recv().unwrap();
        started.recv().unwrap();
        let now = figures.snapshot("pkcs11", "T");
        assert_eq!((now.sessions, now.in_flight, now.waiting), (2, 2, 0));
        let queued = {
            let pool = pool.clone();
            thread::spawn(move || pool.with(|session| Ok(*session)))
        };
        until_waiting(&figures, 1);
        // The queue holds one: the next caller is refused at once, and counted.
        let refused = pool.with(|_| Ok(0u8)).unwrap_err();
        assert!(
            matches!(refused, KeyError::Busy { waiting: 1 }),
            "{refused}"
        );
        assert_eq!(figures.snapshot("pkcs11", "T").errors, 1);
        for _ in 0..2 {
            release.send(()).unwrap();
        }
        for caller in busy {
            caller.join().unwrap().unwrap();
        }
        assert!([1, 2].contains(&queued.join().unwrap().unwrap()));
        let now = figures.snapshot("pkcs11", "T");
        assert_eq!((now.in_flight, now.waiting, now.errors), (0, 0, 1));
    }

    #[test]
    fn failures_are_counted_and_the_session_comes_back() {
        let figures = Arc::new(SigningPoolFigures::default());
        let pool = SessionPool::new(vec![7u8], 4, figures.clone()).unwrap();
        let failed = pool.with(|_| Err::<(), _>(KeyError::SigningFailed));
        assert!(failed.is_err());
        assert_eq!(pool.with(|session| Ok(*session)).unwrap(), 7);
        let now = figures.snapshot("pkcs11", "T");
        assert_eq!((now.in_flight, now.errors), (0, 1));
        assert!(SessionPool::<u8>::new(Vec::new(), 4, figures).is_none());
    }
}
