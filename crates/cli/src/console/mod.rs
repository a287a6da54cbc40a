//! The operator console of a running server: every operator action arrives as a signed
//! request (DESIGN.md section 8), passes the gate (`shuin_books::gate`: signature,
//! operator certificate, nonce, role and zone, then the books), and only then is
//! dispatched to the service that owns it. The local admin socket is the high-security
//! console (`admin_socket.rs`); network listeners come with the zones.

mod actions;
mod records;

use crate::config::InstanceConfig;
use crate::seal::{Seal, UnsealDesk};
use serde::{Deserialize, Serialize};
use shuin_books::{Gate, GateError, SignedRequest};
use shuin_core::{Clock, OsRandom, Zone};
use shuin_repo::Repository;
use shuin_store::sqlite::SqliteStore;
use std::path::PathBuf;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The answer to a signed request.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Done; what the action returns.
    Done { result: serde_json::Value },
    /// Refused at the gate or by the action, with a stable code.
    Refused { code: String, message: String },
    /// Something failed on the server's side; nothing was done, or what was done is in
    /// the books.
    Failed { message: String },
}

impl Outcome {
    pub(crate) fn refused(code: &str, message: impl Into<String>) -> Outcome {
        Outcome::Refused {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// Everything the console acts on.
pub(crate) struct Console {
    pub(crate) dir: PathBuf,
    pub(crate) config: InstanceConfig,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) repository: Arc<Repository>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) seal: Arc<Seal>,
    /// `None` on an instance made before operator identity.
    pub(crate) gate: Option<Arc<Gate>>,
    pub(crate) unseal: Arc<UnsealDesk>,
}

impl Console {
    fn gate(&self) -> Result<&Gate, Outcome> {
        self.gate.as_deref().ok_or_else(|| {
            Outcome::refused(
                "operator_ca_missing",
                "this instance has no operator CA (it was made before operator identity); make a new instance with `shuin init --first-admin-csr`",
            )
        })
    }

    /// A nonce for the next signed request.
    pub(crate) async fn nonce(&self) -> Result<String, Outcome> {
        let gate = self.gate()?;
        gate.nonce(self.store.as_ref(), &OsRandom, self.clock.now())
            .await
            .map_err(|e| Outcome::Failed {
                message: e.to_string(),
            })
    }

    /// Admits a signed request from `zone` and acts on it. An `attachment` travels beside
    /// the request; its SHA-256 must be the signed `attachment_sha256`.
    pub(crate) async fn act(
        &self,
        signed: &SignedRequest,
        attachment: Option<Zeroizing<String>>,
        zone: Zone,
        peer_uid: Option<u32>,
    ) -> Outcome {
        let gate = match self.gate() {
            Ok(gate) => gate,
            Err(outcome) => return outcome,
        };
        let admitted = match gate
            .admit(self.store.as_ref(), signed, zone, self.clock.now())
            .await
        {
            Ok(admitted) => admitted,
            Err(GateError::Refused(refusal)) => {
                tracing::warn!(
                    code = refusal.code(),
                    "refused an operator request: {refusal}"
                );
                return Outcome::refused(refusal.code(), refusal.to_string());
            }
            Err(e) => {
                tracing::error!("operator request: {e}");
                return Outcome::Failed {
                    message: format!("nothing was done: {e}"),
                };
            }
        };
        tracing::info!(
            operator = %admitted.operator,
            action = %admitted.request.action,
            seq = admitted.entry_seq,
            "operator request admitted"
        );
        let attachment = match checked_attachment(&admitted, attachment) {
            Ok(attachment) => attachment,
            Err(outcome) => return outcome,
        };
        match actions::dispatch(self, gate, &admitted, attachment, peer_uid).await {
            Ok(result) => Outcome::Done { result },
            Err(outcome) => outcome,
        }
    }
}

/// The attachment, if the signed parameters name it by its SHA-256; refused when it is
/// missing, different, or not announced.
fn checked_attachment(
    admitted: &shuin_books::Admitted,
    attachment: Option<Zeroizing<String>>,
) -> Result<Option<Zeroizing<String>>, Outcome> {
    use sha2::Digest;
    match (admitted.request.param("attachment_sha256"), attachment) {
        (None, None) => Ok(None),
        (Some(expected), Some(text)) => {
            if hex::encode(sha2::Sha256::digest(text.as_bytes())) == expected {
                Ok(Some(text))
            } else {
                Err(Outcome::refused(
                    "attachment_mismatch",
                    "the attachment is not the one whose SHA-256 was signed",
                ))
            }
        }
        (Some(_), None) => Err(Outcome::refused(
            "attachment_missing",
            "the signed request names an attachment that was not sent",
        )),
        (None, Some(_)) => Err(Outcome::refused(
            "attachment_unexpected",
            "an attachment was sent that the signed request does not name",
        )),
    }
}
