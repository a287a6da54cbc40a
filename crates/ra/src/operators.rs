//! The operator registry (DESIGN.md section 6), kept in the organisation book.
//!
//! The ledger is the record: every registration is an `operator.added` entry and every
//! refused action an `operator.refused` entry in the organisation book. A settings row
//! per operator (`operator:<name>`) and an index row (`operators.index`) make lookups
//! cheap; they are written after the ledger entry (record before effect).
//!
//! Authentication is not done here: callers name the operator (today the CLI's
//! `--operator`, run on the CA host). When operators authenticate by client certificate
//! or signed request, the authenticated name is what is passed to [`authorize`]; the
//! role check and its ledgering stay the same.

use serde::{Deserialize, Serialize};
use shuin_core::issuance::IssuanceError;
use shuin_ledger::{Actor, Book, EntryDraft};
use shuin_store::{LedgerStore, SettingsStore, StoreError};
use std::time::SystemTime;

/// The settings row naming the designated responsible person (責任者).
pub const RESPONSIBLE_PERSON_SETTING: &str = "organization.responsible_person";
const INDEX_SETTING: &str = "operators.index";
const OPERATOR_PREFIX: &str = "operator:";

pub use shuin_core::operator::Role;

/// A registered operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// The name that goes into the ledger.
    pub name: String,
    /// Roles held, sorted.
    pub roles: Vec<Role>,
    /// When first registered (RFC 3339).
    pub added_at: String,
}

impl Operator {
    /// Whether the operator holds `role`.
    pub fn holds(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Why an operator action did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OperatorError {
    /// The operator is unknown or lacks the role; the refusal was ledgered.
    #[error("operator_refused: {operator:?} does not hold the role {required} needed to {action}")]
    Refused {
        /// Who asked.
        operator: String,
        /// The role needed.
        required: Role,
        /// What was asked.
        action: String,
    },
    /// Bad input (a name, a reason, an id).
    #[error("{0}")]
    InvalidInput(String),
    /// The thing is not in a state that allows the action.
    #[error("{0}")]
    InvalidState(String),
    /// Nothing with that id.
    #[error("{0}")]
    NotFound(String),
    /// The CA did not issue.
    #[error("issuance failed: {0}")]
    Issuance(#[source] IssuanceError),
    /// Storage or ledger trouble; nothing was done.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
}

/// What operator functions need from storage.
pub trait OperatorStore: SettingsStore + LedgerStore {}
impl<T: SettingsStore + LedgerStore + ?Sized> OperatorStore for T {}

fn check_name(name: &str) -> Result<(), OperatorError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed != name {
        return Err(OperatorError::InvalidInput(
            "an operator name must be non-empty, without leading or trailing spaces".into(),
        ));
    }
    if name.chars().count() > 128 || name.chars().any(char::is_control) {
        return Err(OperatorError::InvalidInput(
            "an operator name must be at most 128 characters, without control characters".into(),
        ));
    }
    Ok(())
}

/// One operator.
pub async fn operator<S: OperatorStore + ?Sized>(
    store: &S,
    name: &str,
) -> Result<Option<Operator>, OperatorError> {
    let Some(text) = store.setting(&format!("{OPERATOR_PREFIX}{name}")).await? else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| OperatorError::InvalidState(format!("stored operator {name:?}: {e}")))
}

/// Every operator, in order of registration.
pub async fn operators<S: OperatorStore + ?Sized>(
    store: &S,
) -> Result<Vec<Operator>, OperatorError> {
    let mut out = Vec::new();
    for name in index(store).await? {
        if let Some(op) = operator(store, &name).await? {
            out.push(op);
        }
    }
    Ok(out)
}

async fn index<S: OperatorStore + ?Sized>(store: &S) -> Result<Vec<String>, OperatorError> {
    match store.setting(INDEX_SETTING).await? {
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| OperatorError::InvalidState(format!("stored operator index: {e}"))),
    }
}

/// The designated responsible person, if the registry has one.
pub async fn responsible_person<S: OperatorStore + ?Sized>(
    store: &S,
) -> Result<Option<String>, StoreError> {
    store.setting(RESPONSIBLE_PERSON_SETTING).await
}

/// Gives `name` the role `role`: ledgers `operator.added` (and, for the responsible
/// person, `organization.responsible_person_designated`), then updates the registry.
pub async fn add_operator<S: OperatorStore + ?Sized>(
    store: &S,
    name: &str,
    role: Role,
    by: &Actor,
    now: SystemTime,
) -> Result<Operator, OperatorError> {
    check_name(name)?;
    let existing = operator(store, name).await?;
    if existing.as_ref().is_some_and(|op| op.holds(role)) {
        return Err(OperatorError::InvalidState(format!(
            "{name:?} already holds the role {role}"
        )));
    }
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: "operator.added".into(),
                actor: by.clone(),
                subjects: vec![format!("operator:{name}")],
                payload: serde_json::json!({"name": name, "role": role}),
                evidence: vec![],
            },
            now,
        )
        .await?;
    if role == Role::ResponsiblePerson {
        store
            .append(
                EntryDraft {
                    book: Book::Organization,
                    kind: "organization.responsible_person_designated".into(),
                    actor: by.clone(),
                    subjects: vec![format!("operator:{name}")],
                    payload: serde_json::json!({"responsible_person": name}),
                    evidence: vec![],
                },
                now,
            )
            .await?;
    }
    let mut op = existing.unwrap_or_else(|| Operator {
        name: name.to_owned(),
        roles: Vec::new(),
        added_at: shuin_core::timefmt::rfc3339(now),
    });
    op.roles.push(role);
    op.roles.sort();
    let text = serde_json::to_string(&op)
        .map_err(|e| OperatorError::InvalidState(format!("encoding operator: {e}")))?;
    store
        .set_setting(&format!("{OPERATOR_PREFIX}{name}"), &text)
        .await?;
    let mut names = index(store).await?;
    if !names.iter().any(|n| n == name) {
        names.push(name.to_owned());
        let text = serde_json::to_string(&names)
            .map_err(|e| OperatorError::InvalidState(format!("encoding index: {e}")))?;
        store.set_setting(INDEX_SETTING, &text).await?;
    }
    if role == Role::ResponsiblePerson {
        store.set_setting(RESPONSIBLE_PERSON_SETTING, name).await?;
    }
    Ok(op)
}

/// Takes over the responsible person named in `shuin.toml` (`ra.responsible_person`,
/// designated at init) into the registry, once, if the registry has none yet.
pub async fn ensure_initial_designation<S: OperatorStore + ?Sized>(
    store: &S,
    configured: &str,
    now: SystemTime,
) -> Result<(), OperatorError> {
    if responsible_person(store).await?.is_some() {
        return Ok(());
    }
    let by = Actor {
        name: "shuin".into(),
        role: "system".into(),
        zone: "high_security".into(),
    };
    match operator(store, configured).await? {
        Some(op) if op.holds(Role::ResponsiblePerson) => {
            store
                .set_setting(RESPONSIBLE_PERSON_SETTING, configured)
                .await?;
        }
        _ => {
            add_operator(store, configured, Role::ResponsiblePerson, &by, now).await?;
        }
    }
    Ok(())
}

/// Checks that `name` holds `required`. On refusal, ledgers `operator.refused` and
/// answers [`OperatorError::Refused`]. On success, returns the actor to ledger with.
pub async fn authorize<S: OperatorStore + ?Sized>(
    store: &S,
    name: &str,
    required: Role,
    action: &str,
    zone: &str,
    now: SystemTime,
) -> Result<Actor, OperatorError> {
    let holder = operator(store, name).await?;
    if holder.as_ref().is_some_and(|op| op.holds(required)) {
        return Ok(Actor {
            name: name.to_owned(),
            role: required.as_str().into(),
            zone: zone.into(),
        });
    }
    let held: Vec<Role> = holder.map(|op| op.roles).unwrap_or_default();
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: "operator.refused".into(),
                actor: Actor {
                    name: name.to_owned(),
                    role: "unauthorised".into(),
                    zone: zone.into(),
                },
                subjects: vec![format!("operator:{name}")],
                payload: serde_json::json!({
                    "action": action,
                    "required_role": required,
                    "held_roles": held,
                }),
                evidence: vec![],
            },
            now,
        )
        .await?;
    Err(OperatorError::Refused {
        operator: name.to_owned(),
        required,
        action: action.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(check_name("審査 一郎").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name(" a").is_err());
        assert!(check_name("a\nb").is_err());
    }
}
