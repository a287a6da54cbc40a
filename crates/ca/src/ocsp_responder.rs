//! Opening the delegated OCSP responder: the stored key and certificate are reused, or
//! new ones are made when there are none or the certificate expires within a quarter of
//! its validity.

use crate::ocsp::OcspError;
use crate::{CaService, OcspService, OcspSettings};
use shuin_core::Clock;
use shuin_keys::{KeyError, KeyGenerator, KeyRef, KeySpec};
use shuin_store::{OcspAnswerStore, SettingsStore, StoreError};
use std::sync::Arc;
use std::time::Duration;

/// The setting naming the responder key by URI.
pub const OCSP_KEY_SETTING: &str = "ocsp.key";
/// The setting holding the responder certificate (hex DER).
pub const OCSP_CERTIFICATE_SETTING: &str = "ocsp.certificate";

/// Why the responder could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponderError {
    /// Reading or writing the settings failed.
    #[error("settings: {0}")]
    Settings(#[source] StoreError),
    /// The stored key URI or certificate is unreadable.
    #[error("{what}: {detail}")]
    Stored {
        /// `stored OCSP key` or `stored OCSP certificate`.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// A key backend operation failed.
    #[error("{what}: {source}")]
    Key {
        /// What was being done.
        what: &'static str,
        /// The key error.
        #[source]
        source: KeyError,
    },
    /// The responder could not be certified or set up.
    #[error("{0}")]
    Ocsp(#[source] OcspError),
}

/// What the responder is opened with.
#[derive(Debug, Clone, Copy)]
pub struct ResponderSettings {
    /// The responses' settings.
    pub ocsp: OcspSettings,
    /// The responder certificate's validity.
    pub validity: Duration,
}

/// Opens the responder: reuses the stored key and certificate unless the certificate
/// has a quarter of its validity or less left; otherwise generates a key in `backend`,
/// has `ca` certify it and stores both.
pub async fn open_responder<S: SettingsStore + OcspAnswerStore + 'static>(
    store: Arc<S>,
    backend: &dyn KeyGenerator,
    ca: &CaService,
    issuing_der: &[u8],
    clock: Arc<dyn Clock>,
    settings: ResponderSettings,
) -> Result<OcspService, ResponderError> {
    let key_error = |what| move |source| ResponderError::Key { what, source };
    let stored_key = store
        .setting(OCSP_KEY_SETTING)
        .await
        .map_err(ResponderError::Settings)?;
    let stored_cert = store
        .setting(OCSP_CERTIFICATE_SETTING)
        .await
        .map_err(ResponderError::Settings)?;
    if let (Some(key), Some(cert_hex)) = (stored_key, stored_cert) {
        let key = KeyRef::parse(&key).map_err(|e| ResponderError::Stored {
            what: "stored OCSP key",
            detail: e.to_string(),
        })?;
        let der = hex::decode(cert_hex).map_err(|e| ResponderError::Stored {
            what: "stored OCSP certificate",
            detail: e.to_string(),
        })?;
        let signer = backend.signer(&key).map_err(key_error("OCSP key"))?;
        let service = OcspService::new(
            store.clone(),
            signer,
            &der,
            issuing_der,
            clock.clone(),
            settings.ocsp,
        )
        .map_err(ResponderError::Ocsp)?;
        let remaining = service
            .responder_not_after()
            .duration_since(clock.now())
            .unwrap_or_default();
        if remaining > settings.validity / 4 {
            return Ok(service);
        }
        tracing::info!("the OCSP responder certificate is near its end; making a new one");
    }
    let label = format!("ocsp-{}", shuin_core::clock::unix_seconds(clock.now()));
    let key = backend
        .generate(&label, KeySpec::EcP256)
        .map_err(key_error("generating the OCSP key"))?;
    let signer = backend.signer(&key).map_err(key_error("OCSP key"))?;
    let der = ca
        .certify_ocsp_responder(signer.public_key_der(), settings.validity)
        .await
        .map_err(ResponderError::Ocsp)?;
    store
        .set_setting(OCSP_KEY_SETTING, key.as_str())
        .await
        .map_err(ResponderError::Settings)?;
    store
        .set_setting(OCSP_CERTIFICATE_SETTING, &hex::encode(&der))
        .await
        .map_err(ResponderError::Settings)?;
    OcspService::new(store, signer, &der, issuing_der, clock, settings.ocsp)
        .map_err(ResponderError::Ocsp)
}

/// Keeps the responder's statuses in step with the store (each round of the serve loop).
/// Revocations and certificates issued by any process (a CLI `review approve`,
/// reconciliation, another server on the same database) change the store's counts; then
/// the statuses are reloaded. What this process issues or revokes, the responder is told
/// of right after its row is written: so the responder's counts, read before the store's,
/// never exceed them, and what the store held a round ago that the responder still does
/// not know is another process's work, not this one's in flight. No reload otherwise,
/// which would read every serial ever issued.
#[derive(Debug, Default)]
pub struct StatusWatch {
    /// The store's counts (issued, revoked) at the last round.
    previous: Option<(u64, u64)>,
}

impl StatusWatch {
    /// Compares the counts and reloads the statuses when the store held more a round ago
    /// than the responder knows now. Failures are logged; false when a reload failed
    /// (the caller skips the rest of its round and looks again at the next).
    pub async fn check(&mut self, ocsp: &crate::OcspService, store: &dyn crate::CaStore) -> bool {
        // The responder's first: whatever it knows then is in the store already.
        let known = ocsp.known_counts();
        let stored = match (
            store.issued_count().await,
            store.revocation_generation().await,
        ) {
            (Ok(issued), Ok(revoked)) => (issued, revoked),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "reading the certificate counts failed");
                return true;
            }
        };
        let behind = |(issued, revoked): (u64, u64)| issued > known.0 || revoked > known.1;
        if !self.previous.replace(stored).is_some_and(behind) {
            return true;
        }
        if let Err(e) = ocsp.load(store).await {
            tracing::error!(error = %e, "reloading certificate statuses failed");
            return false;
        }
        true
    }
}
