//! The operator registry (DESIGN.md section 6) as the RA reads it: the organisation
//! book replayed (`shuin_books::organisation`). No settings row is consulted: a role
//! written into the database any other way has no effect.
//!
//! Operators act through signed requests, authenticated and authorised by the gate
//! (`shuin_books::gate`) before any RA function runs.

use serde::{Deserialize, Serialize};
use shuin_books::organisation::{self, BookError, OperatorRecord, Roster};
use shuin_core::issuance::IssuanceError;
use shuin_store::{LedgerStore, SettingsStore, StoreError};

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

fn from_record(record: &OperatorRecord) -> Operator {
    Operator {
        name: record.name.clone(),
        roles: record.roles.iter().copied().collect(),
        added_at: record.since.clone(),
    }
}

async fn roster<S: OperatorStore + ?Sized>(store: &S) -> Result<Roster, OperatorError> {
    organisation::replay(store).await.map_err(book_error)
}

fn book_error(e: BookError) -> OperatorError {
    match e {
        BookError::Store(e) => OperatorError::Store(e),
        other => OperatorError::InvalidState(other.to_string()),
    }
}

/// One operator, as the organisation book has them.
pub async fn operator<S: OperatorStore + ?Sized>(
    store: &S,
    name: &str,
) -> Result<Option<Operator>, OperatorError> {
    Ok(roster(store).await?.operator(name).map(from_record))
}

/// Every operator, by name.
pub async fn operators<S: OperatorStore + ?Sized>(
    store: &S,
) -> Result<Vec<Operator>, OperatorError> {
    Ok(roster(store).await?.operators().map(from_record).collect())
}

/// The designated responsible person, if the book has one who holds the role.
pub async fn responsible_person<S: OperatorStore + ?Sized>(
    store: &S,
) -> Result<Option<String>, StoreError> {
    match organisation::replay(store).await {
        Ok(roster) => Ok(roster.responsible_person().map(|op| op.name.clone())),
        Err(BookError::Store(e)) => Err(e),
        Err(other) => Err(StoreError::Corrupt(other.to_string())),
    }
}

/// Why the registry could not be read for the audit pack.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// The operators.
    #[error(transparent)]
    Operators(#[from] OperatorError),
    /// The responsible person.
    #[error(transparent)]
    ResponsiblePerson(StoreError),
    /// The automation state.
    #[error("reading the automation state: {0}")]
    Automation(#[source] StoreError),
}

/// The RA's registry as the audit pack records it: the operators, the designated
/// responsible person, and the stored automation state (the setting's text).
pub async fn audit_registry<S: OperatorStore + ?Sized>(
    store: &S,
) -> Result<
    (
        Vec<shuin_books::audit_pack::RegisteredOperator>,
        Option<String>,
        Option<String>,
    ),
    RegistryError,
> {
    let operators = operators(store)
        .await?
        .into_iter()
        .map(|op| shuin_books::audit_pack::RegisteredOperator {
            name: op.name,
            roles: op.roles,
            added_at: op.added_at,
        })
        .collect();
    let responsible_person = responsible_person(store)
        .await
        .map_err(RegistryError::ResponsiblePerson)?;
    let automation_state = store
        .setting(crate::automation::AUTOMATION_SETTING)
        .await
        .map_err(RegistryError::Automation)?;
    Ok((operators, responsible_person, automation_state))
}
