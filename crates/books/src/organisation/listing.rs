//! The operators as `shuin operator list` shows them: one row per operator of the
//! replayed book, with the certificate they can sign with now.

use super::Roster;
use serde::Serialize;
use shuin_core::Role;
use std::collections::BTreeSet;
use std::time::SystemTime;

/// One operator's row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OperatorListing {
    /// The name that goes into the ledger.
    pub name: String,
    /// Roles held now.
    pub roles: BTreeSet<Role>,
    /// When the operator first appeared in the book (RFC 3339).
    pub since: String,
    /// SHA-256 of the certificate usable now, hex.
    pub certificate_sha256: Option<String>,
    /// Its notAfter (RFC 3339).
    pub certificate_not_after: Option<String>,
    /// How many of the operator's certificates are revoked.
    pub certificates_revoked: usize,
    /// Whether the operator is the designated responsible person (責任者).
    pub designated_responsible_person: bool,
    /// The credential ids of their passkeys for the web console.
    pub passkeys: Vec<String>,
}

impl OperatorListing {
    /// The row for a person: name, roles, the start of the usable certificate's SHA-256,
    /// and the 責任者 mark.
    pub fn line(&self) -> String {
        let roles: Vec<&str> = self.roles.iter().map(|role| role.as_str()).collect();
        let mark = if self.designated_responsible_person {
            "  (designated 責任者)"
        } else {
            ""
        };
        let certificate = self
            .certificate_sha256
            .as_deref()
            .map(|s| format!("  certificate {}", &s[..16.min(s.len())]))
            .unwrap_or_else(|| "  no usable certificate".into());
        let passkeys = match self.passkeys.len() {
            0 => String::new(),
            n => format!("  {n} passkey(s): {}", self.passkeys.join(", ")),
        };
        format!(
            "{}  {}{certificate}{mark}{passkeys}",
            self.name,
            roles.join(",")
        )
    }
}

impl Roster {
    /// Every operator, by name, as listed at `now`.
    pub fn listing(&self, now: SystemTime) -> Vec<OperatorListing> {
        let designated = self.responsible_person().map(|op| op.name.as_str());
        self.operators()
            .map(|op| {
                let current = op.current_certificate(now);
                OperatorListing {
                    name: op.name.clone(),
                    roles: op.roles.clone(),
                    since: op.since.clone(),
                    certificate_sha256: current.map(|c| c.sha256.clone()),
                    certificate_not_after: current
                        .map(|c| shuin_core::timefmt::rfc3339(c.not_after)),
                    certificates_revoked: op
                        .certificates
                        .iter()
                        .filter(|c| c.revoked.is_some())
                        .count(),
                    designated_responsible_person: designated == Some(op.name.as_str()),
                    passkeys: self
                        .passkeys_of(&op.name)
                        .iter()
                        .map(|p| p.key.credential_id.clone())
                        .collect(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{actor, grant, replay, INIT_ACTOR};
    use shuin_core::{Role, Zone};
    use shuin_store::sqlite::SqliteStore;
    use std::time::{Duration, SystemTime};

    #[tokio::test]
    async fn rows_name_roles_and_the_responsible_person() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let admin = actor(INIT_ACTOR, Role::CaAdmin, Zone::HighSecurity);
        let store = SqliteStore::in_memory().await.expect("store");
        grant(&store, "A", Role::Lra, &admin, now)
            .await
            .expect("grant");
        grant(&store, "B", Role::ResponsiblePerson, &admin, now)
            .await
            .expect("grant");
        let rows = replay(&store).await.expect("roster").listing(now);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "A");
        assert!(rows[0].roles.contains(&Role::Lra));
        assert!(!rows[0].designated_responsible_person);
        assert!(rows[1].designated_responsible_person);
        assert_eq!(rows[1].certificate_sha256, None);
        let json = serde_json::to_value(&rows[0]).expect("json");
        assert_eq!(json["roles"], serde_json::json!(["lra"]));
        assert_eq!(json["certificates_revoked"], serde_json::json!(0));
        assert_eq!(rows[0].line(), "A  lra  no usable certificate");
        let mut row = rows[1].clone();
        row.certificate_sha256 = Some("0123456789abcdef0123".into());
        assert_eq!(
            row.line(),
            "B  responsible_person  certificate 0123456789abcdef  (designated 責任者)"
        );
    }
}
