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

/// Notices what other processes did (each round of the serve loop). Revocations and
/// certificates issued by any process (a CLI `review approve`, reconciliation, another
/// server on the same database) change the store's counts. What this process issues or
/// revokes, the responder accounts for before its row is written
/// ([`OcspService::making`]): so with the store's counts read first and the
/// responder's after, whatever the store counts beyond is another process's work. Then
/// the responder lets go of the answers in its memory and looks through the store
/// ([`OcspService::changed_elsewhere`]).
#[derive(Debug, Default)]
pub struct StatusWatch;

impl StatusWatch {
    /// Compares the counts, and tells the responder when the store holds more than it
    /// accounts for. Failures to read the counts are logged.
    pub async fn check(&self, ocsp: &OcspService, store: &dyn crate::CaStore) {
        let stored = match (
            store.issued_count().await,
            store.revocation_generation().await,
        ) {
            (Ok(issued), Ok(revoked)) => (issued, revoked),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!(error = %e, "reading the certificate counts failed");
                return;
            }
        };
        // The store's first: this process's work in it was accounted for before.
        let accounted = ocsp.accounted();
        if stored.0 > accounted.0 || stored.1 > accounted.1 {
            ocsp.changed_elsewhere(stored).await;
        }
    }
}
