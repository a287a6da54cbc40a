//! `shuin operator add|list`: the operator registry in the organisation book
//! (DESIGN.md section 6). Also the shared opening of the registry for `review` and
//! `automation`.

use crate::config::InstanceConfig;
use crate::failure::{msg, Result};
use clap::Subcommand;
use shuin_core::{Clock, SystemClock};
use shuin_ledger::Actor;
use shuin_ra::operators::{self, OperatorError, Role};
use shuin_store::sqlite::SqliteStore;
use std::path::{Path, PathBuf};

/// The zone of an operator working with `--data` on the CA host's own terminal.
pub(crate) const LOCAL_ZONE: &str = "high_security";

#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Give an operator a role (ledgered as `operator.added` in the organisation book).
    /// A responsible_person added here becomes the designated 責任者.
    Add {
        #[arg(long)]
        data: PathBuf,
        /// The operator's name as it goes into the ledger.
        #[arg(long)]
        name: String,
        /// ca_admin, key_custodian, lra, responsible_person, auditor or monitor.
        #[arg(long)]
        role: String,
        /// The ca_admin doing this; may be left out only while no ca_admin is registered.
        #[arg(long)]
        operator: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the operators and their roles.
    List {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

/// Opens the store of an instance with the registry ready: the responsible person from
/// `shuin.toml` (designated at init) is taken into the registry if it has none yet.
pub(crate) async fn open_registry(dir: &Path) -> Result<(SqliteStore, InstanceConfig)> {
    let config = InstanceConfig::load(dir)?;
    let store = crate::runtime::open_store(dir).await?;
    operators::ensure_initial_designation(&store, &config.ra.responsible_person, now())
        .await
        .map_err(failed)?;
    Ok((store, config))
}

pub(crate) fn now() -> std::time::SystemTime {
    SystemClock.now()
}

/// One line for stderr from an operator error.
pub(crate) fn failed(e: OperatorError) -> crate::failure::Error {
    msg(e.to_string())
}

/// Checks the operator's role (ledgering a refusal) and returns the ledger actor.
pub(crate) async fn authorize(
    store: &SqliteStore,
    name: &str,
    role: Role,
    action: &str,
) -> Result<Actor> {
    operators::authorize(store, name, role, action, LOCAL_ZONE, now())
        .await
        .map_err(failed)
}

pub(crate) async fn run(command: OperatorCommand) -> Result<()> {
    match command {
        OperatorCommand::Add {
            data,
            name,
            role,
            operator,
            json,
        } => {
            let role = Role::parse(&role).ok_or_else(|| {
                let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                msg(format!("--role must be one of {}", names.join(", ")))
            })?;
            let (store, _) = open_registry(&data).await?;
            let result = add(&store, &name, role, operator.as_deref()).await;
            store.close().await;
            let op = result?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"name": op.name, "roles": op.roles, "added_at": op.added_at})
                );
            } else {
                println!("{} now holds the role {role}", op.name);
            }
            Ok(())
        }
        OperatorCommand::List { data, json } => {
            let (store, _) = open_registry(&data).await?;
            let listed = operators::operators(&store).await.map_err(failed);
            let designated = operators::responsible_person(&store).await;
            store.close().await;
            let listed = listed?;
            let designated = designated.map_err(|e| msg(format!("storage: {e}")))?;
            if json {
                let rows: Vec<serde_json::Value> = listed
                    .iter()
                    .map(|op| {
                        serde_json::json!({
                            "name": op.name,
                            "roles": op.roles,
                            "added_at": op.added_at,
                            "designated_responsible_person": designated.as_deref() == Some(op.name.as_str()),
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(rows));
            } else {
                for op in listed {
                    let roles: Vec<&str> = op.roles.iter().map(|r| r.as_str()).collect();
                    let mark = if designated.as_deref() == Some(op.name.as_str()) {
                        "  (designated 責任者)"
                    } else {
                        ""
                    };
                    println!("{}  {}{mark}", op.name, roles.join(","));
                }
            }
            Ok(())
        }
    }
}

async fn add(
    store: &SqliteStore,
    name: &str,
    role: Role,
    operator: Option<&str>,
) -> Result<operators::Operator> {
    let action = format!("add the operator {name:?} as {role}");
    let by = match operator {
        Some(by) => authorize(store, by, Role::CaAdmin, &action).await?,
        None => {
            let admins = operators::operators(store)
                .await
                .map_err(failed)?
                .into_iter()
                .any(|op| op.holds(Role::CaAdmin));
            if admins {
                // Refused and ledgered like any other unauthorised request.
                authorize(store, "(no --operator)", Role::CaAdmin, &action).await?;
            }
            Actor {
                name: "bootstrap (no ca_admin registered yet)".into(),
                role: Role::CaAdmin.as_str().into(),
                zone: LOCAL_ZONE.into(),
            }
        }
    };
    operators::add_operator(store, name, role, &by, now())
        .await
        .map_err(failed)
}
