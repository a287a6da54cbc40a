//! Reissue (`kind: reissue`, DESIGN.md section 3.3): the new JPKI signature must come from
//! the person the old certificate was issued to (the 4 basic items recorded at issuance
//! match, normalised as in subscriber revocation). The new certificate is issued first;
//! then the old one is revoked as `superseded` through the `Revoker` port, and a notice of
//! that revocation (旧証明書の失効通知) is queued in the outbox for a
//! [`NoticeSender`](crate::NoticeSender).

use crate::application::system_actor;
use crate::revocation::same_person;
use crate::{RaError, RaService};
use shuin_core::application::{ApplicationDocument, ApplicationKind};
use shuin_core::revocation::{RevocationPortError, RevocationReason, RevocationRequest, Revoker};
use shuin_core::{ReasonCode, Serial};
use shuin_jpki::SigningCertificate;
use shuin_ledger::{Book, EntryDraft};
use shuin_store::{CertificateState, NoticeRecord};
use std::time::SystemTime;

/// The notice kind for a revoked predecessor.
pub const OLD_CERTIFICATE_REVOKED: &str = "old_certificate_revoked";

impl RaService {
    /// For a reissue: the old certificate exists, is issued and unrevoked, and `signer`
    /// is the same person. Returns the serial to replace.
    pub(crate) async fn check_reissue(
        &self,
        document: &ApplicationDocument,
        signer: &SigningCertificate,
    ) -> Result<Option<Serial>, RaError> {
        if document.kind != ApplicationKind::Reissue {
            return Ok(None);
        }
        let unknown = || {
            RaError::reject(
                ReasonCode::ReissueTargetUnknown,
                "replaces does not name a valid certificate issued here",
            )
        };
        let serial = document
            .replaces
            .as_deref()
            .and_then(Serial::from_hex)
            .ok_or_else(unknown)?;
        let certificate = self
            .store
            .certificate(&serial)
            .await?
            .filter(|c| c.state == CertificateState::Issued)
            .ok_or_else(unknown)?;
        if self.lifecycle()?.store.revocation(&serial).await?.is_some() {
            return Err(unknown());
        }
        let recorded = self
            .store
            .application(&certificate.application_id)
            .await?
            .and_then(|a| a.details.get("basic").cloned())
            .ok_or_else(unknown)?;
        if !same_person(&recorded, &signer.basic) {
            return Err(RaError::reject(
                ReasonCode::ReissueNotSameSubject,
                "the JPKI signer is not the person the old certificate was issued to",
            ));
        }
        Ok(Some(serial))
    }

    /// After the new certificate is issued: revoke the old one as superseded and queue
    /// the notice (see [`supersede`]).
    pub(crate) async fn complete_reissue(
        &self,
        old: &Serial,
        new: &Serial,
        application_id: &str,
        now: SystemTime,
    ) {
        let Ok(lifecycle) = self.lifecycle() else {
            tracing::error!(old = %old, "reissue: no life-cycle store; revoke the old certificate by hand");
            return;
        };
        let notice_id = superseded_notice_id(old);
        let superseded = Superseded {
            old,
            new,
            application_id,
            notice_id: &notice_id,
            now,
        };
        if let Err(e) = supersede(lifecycle.store.as_ref(), self.revoker.as_ref(), superseded).await
        {
            tracing::error!(old = %old, new = %new, error = %e, "reissue: revoking the old certificate or queueing its notice failed; revoke it by hand");
        }
    }
}

/// A reissued certificate and the one it replaces.
#[derive(Debug, Clone, Copy)]
pub struct Superseded<'a> {
    /// The replaced certificate.
    pub old: &'a Serial,
    /// The new certificate (already issued).
    pub new: &'a Serial,
    /// The reissue application.
    pub application_id: &'a str,
    /// A fresh random id for the notice.
    pub notice_id: &'a str,
    /// Now.
    pub now: SystemTime,
}

/// Who decided a revocation by reissue, as the revocation book names them: the holder,
/// never by name.
pub const SUBSCRIBER_BY_REISSUE: &str = "subscriber (reissue)";

/// Revokes `old` as superseded through the `Revoker`, then ledgers `notice.queued` and
/// queues 旧証明書の失効通知. Call it only after the new certificate is issued: from the
/// automatic path, or after an LRA approves a reissue held for review (the application's
/// `details.replaces`). An old certificate already revoked is not an error.
pub async fn supersede(
    store: &dyn crate::LifecycleStore,
    revoker: &dyn Revoker,
    reissue: Superseded<'_>,
) -> Result<(), RaError> {
    let Superseded {
        old,
        new,
        application_id,
        notice_id,
        now,
    } = reissue;
    let request = RevocationRequest {
        serial: old.clone(),
        reason: RevocationReason::Superseded,
        invalidity_date: None,
        // The holder, named without their name (docs/ledger.md, "Personal data").
        decided_by: SUBSCRIBER_BY_REISSUE.into(),
        role: "subscriber".into(),
        authorisation: "reissue".into(),
    };
    let revoked_at = match revoker.revoke(request).await {
        Ok(done) => done.revoked_at,
        Err(RevocationPortError::AlreadyRevoked { revoked_at }) => revoked_at,
        Err(e) => return Err(RaError::Unavailable(Box::new(e))),
    };
    let notice = NoticeRecord {
        id: notice_id.to_owned(),
        kind: OLD_CERTIFICATE_REVOKED.into(),
        serial: old.clone(),
        payload: serde_json::json!({
            "title": "旧証明書の失効通知 / Notice of revocation of your previous certificate",
            "revoked_serial": old.to_hex(),
            "reason": RevocationReason::Superseded.name(),
            "revoked_at": shuin_core::timefmt::rfc3339(revoked_at),
            "replaced_by": new.to_hex(),
            "application_id": application_id,
        }),
        created_at: now,
        sent_at: None,
    };
    queue_notice(store, &notice, Some(application_id), now).await
}

/// The id of the notice that a certificate was superseded: one per certificate, so that
/// a retry queues the same notice, never a second one.
fn superseded_notice_id(old: &Serial) -> String {
    format!("superseded:{}", old.to_hex())
}

/// Ledgers `notice.queued` (the notice's kind and text, never an address) and puts the
/// notice in the outbox, which the upkeep's sender drains; a notice queued before is
/// left as it is.
pub(crate) async fn queue_notice(
    store: &dyn crate::LifecycleStore,
    notice: &NoticeRecord,
    application_id: Option<&str>,
    now: SystemTime,
) -> Result<(), RaError> {
    let mut subjects = vec![
        format!("serial:{}", notice.serial),
        format!("notice:{}", notice.id),
    ];
    subjects.extend(application_id.map(|id| format!("application:{id}")));
    // Keyed by the notice: a stop between the entry and the outbox row does not write
    // the entry twice.
    store
        .append_batch(
            vec![shuin_store::KeyedDraft {
                key: Some(format!("notice.queued:{}", notice.id)),
                draft: EntryDraft {
                    book: Book::Revocation,
                    kind: "notice.queued".into(),
                    actor: system_actor(),
                    subjects,
                    payload: serde_json::json!({"kind": notice.kind, "notice": notice.payload}),
                    evidence: vec![],
                },
            }],
            now,
        )
        .await?;
    let queued = store.notices_for(&notice.serial).await?;
    if !queued.iter().any(|n| n.id == notice.id) {
        store.enqueue_notice(notice).await?;
    }
    Ok(())
}

/// Why an approved or resumed reissue could not supersede the certificate it replaces.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SupersedeError {
    /// The application's `details.replaces` is not a serial.
    #[error("application {id}: bad replaces {replaces:?}")]
    BadReplaces {
        /// The application.
        id: String,
        /// What it names.
        replaces: String,
    },
    /// The application was issued but has no serial.
    #[error("issued without a serial")]
    NoSerial,
    /// No randomness for the notice id.
    #[error("randomness: {0}")]
    Randomness(#[source] shuin_core::random::RandomError),
    /// The new certificate exists but the old one could not be revoked or noticed.
    #[error("issued {new} but superseding {old} failed ({source}); revoke it by hand with shuin revoke --reason superseded")]
    Failed {
        /// The replaced certificate.
        old: Serial,
        /// The new one.
        new: Serial,
        /// What failed.
        #[source]
        source: RaError,
    },
}

/// For an approved reissue (`details.replaces`): now that the new certificate exists,
/// revoke the old one as superseded and queue its notice, as the automatic path does.
/// Nothing to do for an application that replaces nothing.
pub async fn supersede_replaced(
    store: &dyn crate::LifecycleStore,
    revoker: &dyn Revoker,
    record: &shuin_store::ApplicationRecord,
    now: SystemTime,
) -> Result<(), SupersedeError> {
    let Some(old) = record.details["replaces"].as_str() else {
        return Ok(());
    };
    let old = Serial::from_hex(old).ok_or_else(|| SupersedeError::BadReplaces {
        id: record.id.clone(),
        replaces: old.to_owned(),
    })?;
    let new = record.serial.as_ref().ok_or(SupersedeError::NoSerial)?;
    let notice_id = superseded_notice_id(&old);
    supersede(
        store,
        revoker,
        Superseded {
            old: &old,
            new,
            application_id: &record.id,
            notice_id: &notice_id,
            now,
        },
    )
    .await
    .map_err(|source| SupersedeError::Failed {
        old: old.clone(),
        new: new.clone(),
        source,
    })
}
