//! The operators' passkeys as the organisation book has them
//! (`shuin_ledger::passkey_registration`): invitations, each warranted by the
//! operator's own signed request just before it, and passkeys, each registered by
//! spending an open invitation with the passkey's own assertion. An entry that does
//! not hold has no effect (it is listed as unwarranted), like every other change of the
//! book.

use super::roster::Roster;
use super::BookError;
use shuin_ledger::passkey_registration::{self as registration, Invited, PasskeyKey};
use shuin_ledger::Entry;
use std::collections::HashMap;
use std::time::SystemTime;

/// An invitation to register a passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// What the book says.
    pub invited: Invited,
    /// Until when it may be spent.
    pub expires: SystemTime,
    /// Whether a passkey was registered with it.
    pub spent: bool,
}

impl Invitation {
    /// Whether it may be spent at `now`.
    pub fn open_at(&self, now: SystemTime) -> bool {
        !self.spent && now <= self.expires
    }
}

/// A registered passkey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorPasskey {
    /// The key, its credential and where it was registered.
    pub key: PasskeyKey,
    /// The operator certificate whose holder invited it: it signs only while that
    /// certificate is usable.
    pub certificate_sha256: String,
    /// When it was registered (RFC 3339).
    pub registered_at: String,
}

/// Invitations and passkeys.
#[derive(Debug, Clone, Default)]
pub(super) struct Passkeys {
    /// By the token's SHA-256.
    invitations: HashMap<String, Invitation>,
    /// By the key's SHA-256.
    keys: HashMap<String, OperatorPasskey>,
    /// Credential ID -> key SHA-256.
    credentials: HashMap<String, String>,
}

fn payload<T: serde::de::DeserializeOwned>(entry: &Entry) -> Result<T, BookError> {
    serde_json::from_value(entry.payload.clone()).map_err(|e| BookError::Malformed {
        seq: entry.seq,
        detail: format!("{} payload: {e}", entry.kind),
    })
}

impl Roster {
    /// Applies an invitation or a registration; `Err(why)` when it has no effect.
    pub(super) fn apply_passkey(&mut self, entry: &Entry) -> Result<Result<(), String>, BookError> {
        match entry.kind.as_str() {
            registration::INVITED => {
                let invited: Invited = payload(entry)?;
                Ok(self.invite(entry, invited))
            }
            registration::REGISTERED => Ok(self.register(entry)),
            registration::REMOVED => {
                let removed: registration::Removed = payload(entry)?;
                Ok(self.remove(entry, &removed))
            }
            _ => Ok(Ok(())),
        }
    }

    fn invite(&mut self, entry: &Entry, invited: Invited) -> Result<(), String> {
        let holder = self
            .by_certificate(&invited.certificate_sha256)
            .map(|(op, _)| op.name.clone());
        if holder.as_deref() != Some(invited.name.as_str()) || entry.actor.name != invited.name {
            return Err("an invitation names a certificate that is not its operator's".into());
        }
        if !self.spend_invite_warrant(&entry.actor.name) {
            return Err(format!(
                "{} for {:?} is not warranted by their own signed request",
                entry.kind, invited.name
            ));
        }
        let expires = shuin_core::timefmt::parse_rfc3339(&invited.expires_at)
            .ok_or("the invitation's expiry is not RFC 3339")?;
        self.passkeys.invitations.insert(
            invited.token_sha256.clone(),
            Invitation {
                invited,
                expires,
                spent: false,
            },
        );
        Ok(())
    }

    fn register(&mut self, entry: &Entry) -> Result<(), String> {
        let key = registration::check_registered(&entry.payload)?;
        let at = shuin_core::timefmt::parse_rfc3339(&entry.time).ok_or("the entry's time")?;
        let passkeys = &mut self.passkeys;
        let invitation = passkeys
            .invitations
            .get_mut(&key.token_sha256)
            .ok_or("the passkey was registered without an invitation")?;
        if !invitation.open_at(at)
            || invitation.invited.name != key.name
            || entry.actor.name != key.name
        {
            return Err("the invitation was spent, expired or another operator's".into());
        }
        if passkeys.keys.contains_key(&key.key_sha256)
            || passkeys.credentials.contains_key(&key.credential_id)
        {
            return Err("the passkey is registered already".into());
        }
        invitation.spent = true;
        let certificate_sha256 = invitation.invited.certificate_sha256.clone();
        passkeys
            .credentials
            .insert(key.credential_id.clone(), key.key_sha256.clone());
        passkeys.keys.insert(
            key.key_sha256.clone(),
            OperatorPasskey {
                key,
                certificate_sha256,
                registered_at: entry.time.clone(),
            },
        );
        Ok(())
    }

    fn remove(&mut self, entry: &Entry, removed: &registration::Removed) -> Result<(), String> {
        let owner = self
            .passkeys
            .keys
            .get(&removed.key_sha256)
            .filter(|p| p.key.credential_id == removed.credential_id)
            .map(|p| p.key.name.clone())
            .ok_or("removes a passkey the book does not hold")?;
        if owner != removed.name {
            return Err("removes a passkey of another operator than it names".into());
        }
        let for_others = entry.actor.name != owner;
        if !self.spend_remove_warrant(&entry.actor.name, &removed.credential_id, for_others) {
            return Err(format!(
                "{} of {owner:?} is not warranted by a passkey_remove request of theirs or of a ca_admin",
                entry.kind
            ));
        }
        self.passkeys.keys.remove(&removed.key_sha256);
        self.passkeys.credentials.remove(&removed.credential_id);
        Ok(())
    }

    /// The passkeys of `name`, oldest first.
    pub fn passkeys_of(&self, name: &str) -> Vec<&OperatorPasskey> {
        let mut found: Vec<&OperatorPasskey> = self
            .passkeys
            .keys
            .values()
            .filter(|p| p.key.name == name)
            .collect();
        found.sort_by(|a, b| a.registered_at.cmp(&b.registered_at));
        found
    }

    /// The passkey whose key has SHA-256 `key_sha256`.
    pub fn passkey(&self, key_sha256: &str) -> Option<&OperatorPasskey> {
        self.passkeys.keys.get(key_sha256)
    }

    /// The passkey of credential `credential_id` (base64url).
    pub fn passkey_by_credential(&self, credential_id: &str) -> Option<&OperatorPasskey> {
        self.passkeys
            .credentials
            .get(credential_id)
            .and_then(|k| self.passkeys.keys.get(k))
    }

    /// The invitation whose token has SHA-256 `token_sha256`.
    pub fn invitation(&self, token_sha256: &str) -> Option<&Invitation> {
        self.passkeys.invitations.get(token_sha256)
    }

    /// Whether `passkey` may sign at `now`: the certificate it was invited under is
    /// usable, so a revoked or expired operator certificate ends its passkeys too.
    pub fn passkey_usable(&self, passkey: &OperatorPasskey, now: SystemTime) -> bool {
        self.by_certificate(&passkey.certificate_sha256)
            .is_some_and(|(op, cert)| op.name == passkey.key.name && cert.usable_at(now))
    }
}
