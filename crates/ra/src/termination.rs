//! The RA's part in business termination (認証業務の廃止, docs/termination.md): once a
//! termination has started, applications and enrolments are refused
//! (`business_terminated`); challenges stay open, for disclosure and holders'
//! revocations. And the notice to each holder whose certificate the termination revoked
//! (`shuin_core::termination::TerminationNotices`), queued in the notice outbox and
//! ledgered as `notice.queued`.

use crate::{RaError, RaService};
use shuin_core::revocation::RevocationReason;
use shuin_core::termination::{
    PortError, TerminationNotices, TerminationPlan, TERMINATION_NOTICE, TERMINATION_SETTING,
};
use shuin_core::{ReasonCode, Serial};
use shuin_store::NoticeRecord;
use std::time::SystemTime;

impl RaService {
    /// Refuses when the business is terminated (or being terminated).
    pub(crate) async fn business_open(&self) -> Result<(), RaError> {
        match self.store.setting(TERMINATION_SETTING).await? {
            None => Ok(()),
            Some(_) => Err(RaError::reject(
                ReasonCode::BusinessTerminated,
                "the certification business has ended; no application is accepted (認証業務は廃止されました)",
            )),
        }
    }
}

#[async_trait::async_trait]
impl TerminationNotices for RaService {
    async fn queue(
        &self,
        serial: &Serial,
        revoked_at: SystemTime,
        plan: &TerminationPlan,
    ) -> Result<bool, PortError> {
        let store = &self.lifecycle().map_err(|e| e.to_string())?.store;
        let queued = store.notices_for(serial).await?;
        if queued.iter().any(|n| n.kind == TERMINATION_NOTICE) {
            return Ok(false);
        }
        let application_id = self
            .store
            .certificate(serial)
            .await?
            .map(|c| c.application_id);
        let notice_id = format!("termination:{}", serial.to_hex());
        let now = self.clock.now();
        let notice = NoticeRecord {
            id: notice_id,
            kind: TERMINATION_NOTICE.into(),
            serial: serial.clone(),
            payload: serde_json::json!({
                "title": "認証業務の廃止に伴う電子証明書の失効のお知らせ / Notice: your certificate was revoked because the certification business has ended",
                "revoked_serial": serial.to_hex(),
                "reason": RevocationReason::CessationOfOperation.name(),
                "revoked_at": shuin_core::timefmt::rfc3339(revoked_at),
                "termination_reason": plan.reason,
                "successor": plan.successor,
                "application_id": application_id,
            }),
            created_at: now,
            sent_at: None,
        };
        crate::reissue::queue_notice(store.as_ref(), &notice, application_id.as_deref(), now)
            .await
            .map_err(|e| e.to_string())?;
        Ok(true)
    }
}
