//! The logged-in sessions of a backend, and their renewal when the token goes away and
//! comes back: a network HSM's appliance or its client proxy restarting, a dropped
//! connection. Then every session is gone, and a network client library (such as
//! p11-kit-client) must be started again: the library is finalized and initialized, the
//! pool is opened again on the token found by its label, the user logs in again with the
//! PIN kept (zeroized on drop) for that, and each signer finds its key again by URI and
//! checks that it is the same key before it signs (`Pkcs11Signer::sign`). One renewal per
//! loss: concurrent callers that saw the same loss wait for it and go on.
//!
//! The sessions of a lost generation are never closed: after the library restarted,
//! their handle numbers may belong to the new sessions.

use super::session_pool::SessionPool;
use super::{device, find_slot};
use crate::attributes::TokenFacts;
use crate::pool_size::PoolSize;
use crate::KeyError;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use shuin_core::signing_pool::SigningPoolFigures;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use zeroize::Zeroizing;

/// One generation of logged-in sessions.
pub(super) struct Live {
    pub(super) pool: SessionPool,
    /// Counts renewals: a signer's key handle is valid for one generation.
    pub(super) generation: u64,
}

/// The sessions in use, and what renewing them takes.
pub(super) struct Connection {
    live: RwLock<Arc<Live>>,
    /// The user PIN, kept to log in again after a loss; `None` when the backend was
    /// opened not to renew.
    pin: Option<Zeroizing<String>>,
    renewing: Mutex<()>,
    /// Lost generations, kept so that their sessions are never closed (see above).
    retired: Mutex<Vec<Arc<Live>>>,
    /// The size every generation is opened with.
    size: PoolSize,
    /// Counted across generations.
    figures: Arc<SigningPoolFigures>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        let retired = std::mem::take(
            self.retired
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        // Closing them could close a live session that reuses the number.
        std::mem::forget(retired);
    }
}

/// Whether `error` means the sessions are gone (the token or its connection went
/// away), so that opening them again may help.
pub(super) fn is_loss(error: &CkError) -> bool {
    matches!(
        error,
        CkError::Pkcs11(
            RvError::DeviceError
                | RvError::DeviceRemoved
                | RvError::TokenNotPresent
                | RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::CryptokiNotInitialized
                | RvError::UserNotLoggedIn
                | RvError::GeneralError,
            _
        )
    )
}

/// Whether a [`KeyError`] came from such a loss.
pub(super) fn is_lost(error: &KeyError) -> bool {
    matches!(error, KeyError::Device { source, .. }
        if source.downcast_ref::<CkError>().is_some_and(is_loss))
}

/// Opens `size.sessions` sessions on the token labelled `label`, counted into
/// `figures`, and logs the user in.
pub(super) fn open_sessions(
    context: &Pkcs11,
    module: &Path,
    label: &str,
    pin: &str,
    (size, figures): (PoolSize, &Arc<SigningPoolFigures>),
) -> Result<(SessionPool, TokenFacts), KeyError> {
    let (slot, token) = find_slot(context, module, label)?;
    let first = context
        .open_rw_session(slot)
        .map_err(|e| device("C_OpenSession", e))?;
    let auth = AuthPin::from(pin);
    match first.login(UserType::User, Some(&auth)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
        Err(CkError::Pkcs11(RvError::PinIncorrect, _)) => {
            return Err(KeyError::Rejected {
                uri: format!("pkcs11 token {label:?}"),
                reason: "the PIN is incorrect".into(),
            })
        }
        Err(e) => return Err(device(format!("C_Login to token {label:?}"), e)),
    }
    drop(auth);
    // Login state belongs to the application, so later sessions are logged in too.
    let mut sessions: Vec<Session> = vec![first];
    for _ in 1..size.sessions.get() {
        sessions.push(
            context
                .open_rw_session(slot)
                .map_err(|e| device("C_OpenSession", e))?,
        );
    }
    let pool = SessionPool::new(sessions, size.signing_queue.get(), Arc::clone(figures))
        .ok_or(KeyError::GenerationFailed)?;
    Ok((pool, token))
}

impl Connection {
    pub(super) fn new(
        pool: SessionPool,
        pin: Option<Zeroizing<String>>,
        size: PoolSize,
        figures: Arc<SigningPoolFigures>,
    ) -> Connection {
        Connection {
            live: RwLock::new(Arc::new(Live {
                pool,
                generation: 0,
            })),
            pin,
            renewing: Mutex::new(()),
            retired: Mutex::new(Vec::new()),
            size,
            figures,
        }
    }

    /// The pool's figures.
    pub(super) fn figures(&self) -> &Arc<SigningPoolFigures> {
        &self.figures
    }

    /// The sessions in use now.
    pub(super) fn live(&self) -> Arc<Live> {
        Arc::clone(&self.live.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Opens the sessions again after generation `lost` failed; a no-op when another
    /// caller has done it already.
    pub(super) fn renew(
        &self,
        lost: u64,
        context: &Pkcs11,
        module: &Path,
        label: &str,
    ) -> Result<(), KeyError> {
        let _one = self.renewing.lock().unwrap_or_else(PoisonError::into_inner);
        if self.live().generation != lost {
            return Ok(());
        }
        let Some(pin) = &self.pin else {
            return Err(KeyError::Rejected {
                uri: format!("pkcs11 token {label:?}"),
                reason: "the token's sessions are gone and this backend keeps no PIN to log in again: open it again (unseal)".into(),
            });
        };
        // The library's own connection is gone too (a network client): restart it.
        let _ = context.clone().finalize();
        match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(device("C_Initialize (renewing the sessions)", e)),
        }
        let (pool, _) = open_sessions(context, module, label, pin, (self.size, &self.figures))?;
        let fresh = Arc::new(Live {
            pool,
            generation: lost + 1,
        });
        let old = std::mem::replace(
            &mut *self.live.write().unwrap_or_else(PoisonError::into_inner),
            fresh,
        );
        self.retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(old);
        Ok(())
    }

    /// Runs `f` on a session; after a loss, renews the sessions once and runs it again.
    pub(super) fn with_renewal<T>(
        &self,
        context: &Pkcs11,
        module: &Path,
        label: &str,
        f: impl Fn(&Session) -> Result<T, KeyError>,
    ) -> Result<T, KeyError> {
        let live = self.live();
        match live.pool.with(&f) {
            Err(e) if is_lost(&e) => {
                self.renew(live.generation, context, module, label)?;
                self.live().pool.with(&f)
            }
            other => other,
        }
    }
}
