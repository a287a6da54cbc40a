//! The LRA's list of the 利用者識別符号 registrations (the web console's
//! `/console/registrations`): newest first, in pages, filtered by state or by an exact
//! id, application or creator. A row says who made the registration, when, until when
//! its code is good and where it stands; never whose identity it holds.

use crate::{RaError, RaService};
use shuin_store::lifecycle::{RegistrationQuery, RegistrationRecord, RegistrationState};
use std::time::SystemTime;

/// Rows shown at most on one page.
pub const REGISTRATIONS_SHOWN: u32 = 50;

/// One registration as the list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationRow {
    /// Its id.
    pub id: String,
    /// The LRA who verified the identity.
    pub created_by: String,
    /// When.
    pub created_at: SystemTime,
    /// After this its code is refused.
    pub expires_at: SystemTime,
    /// Wrong codes so far.
    pub failed_attempts: u32,
    /// Where it stands.
    pub state: RegistrationState,
    /// Open, and past its expiry: the code is refused.
    pub expired: bool,
    /// The application made with its code.
    pub application_id: Option<String>,
}

impl RegistrationRow {
    fn of(record: RegistrationRecord, now: SystemTime) -> Self {
        RegistrationRow {
            expired: record.state == RegistrationState::Open && record.expires_at <= now,
            id: record.id,
            created_by: record.created_by,
            created_at: record.created_at,
            expires_at: record.expires_at,
            failed_attempts: record.failed_attempts,
            state: record.state,
            application_id: record.application_id,
        }
    }
}

impl RaService {
    /// A page of the registrations `query` names (its limit at most
    /// [`REGISTRATIONS_SHOWN`]), newest first.
    pub async fn registrations(
        &self,
        query: &RegistrationQuery,
    ) -> Result<Vec<RegistrationRow>, RaError> {
        let lifecycle = self.lifecycle()?;
        let query = RegistrationQuery {
            limit: query.limit.clamp(1, REGISTRATIONS_SHOWN),
            ..query.clone()
        };
        let now = self.clock.now();
        let records = lifecycle.store.registrations_page(&query).await?;
        Ok(records
            .into_iter()
            .map(|r| RegistrationRow::of(r, now))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn an_open_registration_past_its_expiry_is_shown_expired() {
        let at = |secs| UNIX_EPOCH + Duration::from_secs(secs);
        let record = RegistrationRecord {
            id: "r".into(),
            code_mac: String::new(),
            identity: serde_json::json!({}),
            created_by: "lra".into(),
            created_at: at(10),
            expires_at: at(20),
            failed_attempts: 0,
            state: RegistrationState::Open,
            application_id: None,
        };
        assert!(!RegistrationRow::of(record.clone(), at(19)).expired);
        assert!(RegistrationRow::of(record.clone(), at(20)).expired);
        let used = RegistrationRecord {
            state: RegistrationState::Used,
            ..record
        };
        assert!(!RegistrationRow::of(used, at(30)).expired);
    }
}
