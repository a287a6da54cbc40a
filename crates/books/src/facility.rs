//! Facility records (docs/ledger.md, "Entry/exit records"): the rules for the
//! configured doors of the certificate equipment room, and the bearer token of the
//! access-control system, whose every change the facility book records before the
//! setting changes.
//!
//! Validating events is `shuin_core::access_event` (pure, shared with the HTTP endpoint).

use base64::Engine;
use shuin_core::access_event::{AccessPolicy, MAX_DOOR_CHARS};
use shuin_core::random::RandomError;
use shuin_core::RandomSource;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, SettingsStore, StoreError};
use std::time::{Duration, SystemTime};

/// The largest clock skew an access policy may allow.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// Why a facility setting or record was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FacilityError {
    /// The allowed clock skew is above [`MAX_CLOCK_SKEW`].
    #[error("facility.max_clock_skew_seconds must be 0..=3600")]
    ClockSkew,
    /// A door name is empty, too long, padded or has control characters.
    #[error("facility.doors: {door:?} must be 1..={MAX_DOOR_CHARS} characters, without surrounding white space or control characters")]
    InvalidDoor {
        /// The door as configured.
        door: String,
    },
    /// A door is listed twice.
    #[error("facility.doors: {door:?} appears twice")]
    DoorTwice {
        /// The door as configured.
        door: String,
    },
    /// There is no token to revoke.
    #[error("no access-control token is configured; nothing to revoke")]
    NoToken,
    /// Reading or writing the token setting failed.
    #[error("settings: {0}")]
    Settings(#[source] StoreError),
    /// The facility book could not record the change; the setting did not change.
    #[error("ledger: {0}")]
    Ledger(#[source] StoreError),
    /// The random source failed.
    #[error("random: {0}")]
    Random(#[source] RandomError),
}

/// Checks an access policy once at start-up: the skew at most [`MAX_CLOCK_SKEW`], each
/// door 1 to `MAX_DOOR_CHARS` characters without surrounding white space or control
/// characters, and no door twice.
pub fn check_policy(policy: &AccessPolicy) -> Result<(), FacilityError> {
    if policy.max_skew > MAX_CLOCK_SKEW {
        return Err(FacilityError::ClockSkew);
    }
    for (door, index) in policy.doors.iter().zip(0usize..) {
        if door.trim() != door
            || door.is_empty()
            || door.chars().count() > MAX_DOOR_CHARS
            || door.chars().any(char::is_control)
        {
            return Err(FacilityError::InvalidDoor { door: door.clone() });
        }
        if policy.doors.iter().take(index).any(|d| d == door) {
            return Err(FacilityError::DoorTwice { door: door.clone() });
        }
    }
    Ok(())
}

/// A change of the access-control system's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenChange {
    /// The new token, shown once (none when revoking).
    pub token: Option<String>,
    /// The SHA-256 (hex) of the new token, or of the revoked one.
    pub sha256: String,
}

/// Makes (or, with `revoke`, removes) the access-control system's token, kept as its
/// SHA-256 in the setting `token_setting`. The facility book records it first
/// (`facility.access_token_created` / `_revoked`, with the token's SHA-256), then the
/// setting changes. `actor` is the `ca_admin`, authorised by the caller.
pub async fn change_access_token<S: SettingsStore + LedgerStore + ?Sized>(
    store: &S,
    token_setting: &str,
    actor: Actor,
    revoke: bool,
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Result<TokenChange, FacilityError> {
    let previous = store
        .setting(token_setting)
        .await
        .map_err(FacilityError::Settings)?
        .filter(|hash| !hash.trim().is_empty());
    if revoke {
        let previous = previous.ok_or(FacilityError::NoToken)?;
        store
            .append(
                token_entry(
                    "facility.access_token_revoked",
                    actor,
                    serde_json::json!({"token_sha256": previous}),
                ),
                now,
            )
            .await
            .map_err(FacilityError::Ledger)?;
        store
            .set_setting(token_setting, "")
            .await
            .map_err(FacilityError::Settings)?;
        return Ok(TokenChange {
            token: None,
            sha256: previous,
        });
    }
    let mut secret = [0u8; 32];
    rng.fill(&mut secret).map_err(FacilityError::Random)?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(token.as_bytes()));
    store
        .append(
            token_entry(
                "facility.access_token_created",
                actor,
                serde_json::json!({"token_sha256": hash, "replaces_sha256": previous}),
            ),
            now,
        )
        .await
        .map_err(FacilityError::Ledger)?;
    store
        .set_setting(token_setting, &hash)
        .await
        .map_err(FacilityError::Settings)?;
    Ok(TokenChange {
        token: Some(token),
        sha256: hash,
    })
}

fn token_entry(kind: &str, actor: Actor, payload: serde_json::Value) -> EntryDraft {
    EntryDraft {
        book: Book::Facility,
        kind: kind.into(),
        actor,
        subjects: vec!["facility:access-events".into()],
        payload,
        evidence: Vec::new(),
    }
}

/// `[facility]` in shuin.toml: what the importers of entry/exit records accept.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FacilitySection {
    /// The doors of the certificate equipment room as the access-control system names
    /// them; when not empty, an event at any other door is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub doors: Vec<String>,
    /// How far an event's time may lie ahead of this host's clock.
    #[serde(default = "default_skew")]
    pub max_clock_skew_seconds: u64,
}

fn default_skew() -> u64 {
    shuin_core::access_event::DEFAULT_MAX_SKEW.as_secs()
}

impl Default for FacilitySection {
    fn default() -> Self {
        Self {
            doors: Vec::new(),
            max_clock_skew_seconds: default_skew(),
        }
    }
}

impl FacilitySection {
    /// Whether nothing is set (`init` then writes no `[facility]` table, so an operator
    /// can append one).
    pub fn is_default(&self) -> bool {
        self.doors.is_empty() && self.max_clock_skew_seconds == default_skew()
    }

    /// Checked once at start-up ([`check_policy`]).
    pub fn check(&self) -> Result<(), FacilityError> {
        check_policy(&self.policy())
    }

    /// What the importers accept.
    pub fn policy(&self) -> AccessPolicy {
        AccessPolicy {
            doors: self.doors.clone(),
            max_skew: Duration::from_secs(self.max_clock_skew_seconds),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn policy(doors: &[&str], skew: u64) -> AccessPolicy {
        AccessPolicy {
            doors: doors.iter().map(|d| (*d).to_owned()).collect(),
            max_skew: Duration::from_secs(skew),
        }
    }

    #[test]
    fn the_policy_is_checked() {
        check_policy(&policy(&["server-room-east", "server-room-west"], 300)).unwrap();
        assert!(matches!(
            check_policy(&policy(&["a", "a"], 300)),
            Err(FacilityError::DoorTwice { .. })
        ));
        assert!(matches!(
            check_policy(&policy(&[" a"], 300)),
            Err(FacilityError::InvalidDoor { .. })
        ));
        assert!(matches!(
            check_policy(&policy(&[], 3601)),
            Err(FacilityError::ClockSkew)
        ));
    }

    #[tokio::test]
    async fn a_token_change_is_ledgered_before_the_setting_changes() {
        let store = shuin_store::sqlite::SqliteStore::in_memory().await.unwrap();
        let actor = Actor {
            name: "admin".into(),
            role: "ca_admin".into(),
            zone: "local".into(),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert!(matches!(
            change_access_token(&store, "t", actor.clone(), true, &shuin_core::OsRandom, now).await,
            Err(FacilityError::NoToken)
        ));
        let made = change_access_token(
            &store,
            "t",
            actor.clone(),
            false,
            &shuin_core::OsRandom,
            now,
        )
        .await
        .unwrap();
        assert_eq!(store.setting("t").await.unwrap(), Some(made.sha256.clone()));
        let revoked = change_access_token(&store, "t", actor, true, &shuin_core::OsRandom, now)
            .await
            .unwrap();
        assert_eq!((revoked.token, revoked.sha256), (None, made.sha256));
        assert_eq!(store.setting("t").await.unwrap().as_deref(), Some(""));
        assert_eq!(store.ledger_rows().await.unwrap().len(), 2);
    }

    #[test]
    fn the_section_is_checked() {
        let ok: FacilitySection =
            toml::from_str("doors = [\"server-room-east\", \"server-room-west\"]").unwrap();
        ok.check().unwrap();
        assert_eq!(ok.max_clock_skew_seconds, 300);
        let twice: FacilitySection = toml::from_str("doors = [\"a\", \"a\"]").unwrap();
        assert!(twice.check().is_err());
        let padded: FacilitySection = toml::from_str("doors = [\" a\"]").unwrap();
        assert!(padded.check().is_err());
        assert!(toml::from_str::<FacilitySection>("door = []").is_err());
    }
}
