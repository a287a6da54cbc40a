//! The operator console of a running server: every operator action arrives as a signed
//! request (DESIGN.md section 8), passes the gate (`shuin_books::console::admit`), and
//! only then is dispatched to the service that owns it (`actions.rs`). The local admin
//! socket is the high-security console (`admin_socket.rs`, served by
//! `shuin_server::admin_socket`); network listeners come with the zones.

mod actions;

use crate::config::InstanceConfig;
use crate::runtime::Store;
use crate::seal::{Seal, UnsealDesk};
use shuin_books::{Gate, SignedRequest};
use shuin_ca::seal::SealStatus;
use shuin_core::{Clock, OsRandom, Zone};
use shuin_repo::Repository;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

pub(crate) use shuin_books::console::Outcome;

/// Everything the console acts on.
pub(crate) struct Console {
    pub(crate) dir: PathBuf,
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<Store>,
    pub(crate) repository: Arc<Repository>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) seal: Arc<Seal>,
    /// `None` on an instance made before operator identity.
    pub(crate) gate: Option<Arc<Gate>>,
    pub(crate) unseal: Arc<UnsealDesk>,
}

#[async_trait::async_trait]
impl shuin_server::admin_socket::Console for Console {
    type Status = SealStatus;

    async fn status(&self) -> SealStatus {
        self.seal.status().await
    }

    /// A nonce for the next signed request.
    async fn nonce(&self) -> Result<String, Outcome> {
        let gate = shuin_books::console::gate(self.gate.as_deref())?;
        shuin_books::console::nonce(gate, self.store.as_ref(), &OsRandom, self.clock.now()).await
    }

    /// Admits a signed request from `zone` and acts on it. An `attachment` travels beside
    /// the request; its SHA-256 must be the signed `attachment_sha256`.
    async fn act(
        &self,
        signed: &SignedRequest,
        attachment: Option<Zeroizing<String>>,
        zone: Zone,
        peer_uid: Option<u32>,
    ) -> Outcome {
        let gate = match shuin_books::console::gate(self.gate.as_deref()) {
            Ok(gate) => gate,
            Err(outcome) => return outcome,
        };
        let now = self.clock.now();
        let admitted =
            shuin_books::console::admit(gate, self.store.as_ref(), signed, attachment, zone, now)
                .await;
        let (admitted, attachment) = match admitted {
            Ok(admitted) => admitted,
            Err(outcome) => return outcome,
        };
        match actions::dispatch(self, gate, &admitted, attachment, peer_uid).await {
            Ok(result) => Outcome::Done { result },
            Err(outcome) => outcome,
        }
    }

    async fn roster(&self) -> Result<shuin_books::Roster, Outcome> {
        let gate = shuin_books::console::gate(self.gate.as_deref())?;
        gate.roster(self.store.as_ref())
            .await
            .map_err(Outcome::failed)
    }

    async fn register_passkey(
        &self,
        registered: &shuin_ledger::passkey_registration::Registered,
        zone: Zone,
    ) -> Result<shuin_ledger::passkey_registration::PasskeyKey, Outcome> {
        let gate = shuin_books::console::gate(self.gate.as_deref())?;
        let now = self.clock.now();
        shuin_books::passkeys::register(gate, self.store.as_ref(), registered, zone, now).await
    }

    async fn write_download(
        &self,
        download: shuin_server::admin_socket::Download,
        out: &std::path::Path,
    ) -> Result<(), Outcome> {
        use shuin_server::admin_socket::Download;
        let failed = |e: &dyn std::fmt::Display| Outcome::failed(e.to_string());
        match download {
            Download::AuditPack => {
                let seal = self.seal.status().await;
                crate::audit_pack::write_served(self, seal, out)
                    .await
                    .map_err(|e| failed(&e))
            }
            Download::LedgerExport => crate::audit_pack::export_served(self, out)
                .await
                .map(|_| ())
                .map_err(|e| Outcome::refused(e.code(), e.to_string())),
        }
    }
}
