//! The seal (`shuin_ca::seal`) as this binary opens it: the parts it holds once
//! unsealed, and the activator that turns the custodians' PIN into them with the
//! instance's configuration.
//!
//! Instances without custodians are opened unsealed and behave as before.

use crate::config::InstanceConfig;
use crate::failure::{msg, Result};
use crate::runtime::Store;
use shuin_ca::seal::ActivatorError;
use shuin_repo::Repository;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What needs the issuer key's token: usable only when unsealed (`shuin_ca::parts`).
pub(crate) type CaParts = shuin_ca::parts::CaParts<Store>;

/// The seal state of a running instance.
pub(crate) type Seal = shuin_ca::seal::Seal<CaParts>;

/// Where custodians' shares go.
pub(crate) type UnsealDesk = shuin_ca::seal::UnsealDesk<CaParts>;

/// The signing pool of the unsealed parts' key backend, for `/metrics`; none while
/// sealed.
pub(crate) struct SealedSigningPools(pub(crate) Arc<Seal>);

impl shuin_core::signing_pool::SigningPools for SealedSigningPools {
    fn pools(&self) -> Vec<shuin_core::signing_pool::SigningPoolSnapshot> {
        let parts = self.0.parts();
        parts
            .and_then(|p| p.backend.keys.signing_pool())
            .into_iter()
            .collect()
    }
}

/// Opens the CA parts with the PIN from the custodians' shares.
pub(crate) struct InstanceActivator {
    pub(crate) dir: PathBuf,
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<Store>,
    pub(crate) repository: Arc<Repository>,
    pub(crate) clock: Arc<dyn shuin_core::Clock>,
}

#[async_trait::async_trait]
impl shuin_ca::seal::Activator<CaParts> for InstanceActivator {
    async fn activate(
        &self,
        pin: Zeroizing<String>,
    ) -> std::result::Result<CaParts, ActivatorError> {
        self.open(pin).await.map_err(|e| e.0.into())
    }
}

impl InstanceActivator {
    /// Logs into the token, checks and records the issuing key's attributes, and opens
    /// the CA, the OCSP responder and the checkpoints.
    async fn open(&self, pin: Zeroizing<String>) -> Result<CaParts> {
        let backend_config = self.config.ca.key_backend.clone();
        let dir = self.dir.clone();
        let opened = tokio::task::spawn_blocking(move || {
            crate::key_backend::open_with_pin(&backend_config, &dir, Some(pin))
        })
        .await
        .map_err(|e| msg(format!("opening the token: {e}")))??;
        let issuing_key = &self.config.ca.issuing_key;
        shuin_ca::seal::admit_issuing_key(
            self.store.as_ref(),
            &opened,
            issuing_key,
            self.clock.now(),
        )
        .await?;
        let parts =
            crate::runtime::open_ca_parts(&self.dir, &self.config, self.store.clone(), opened)
                .await?;
        crate::runtime::refresh_crls(&parts.ca, &self.store, &self.repository).await?;
        Ok(parts)
    }
}
