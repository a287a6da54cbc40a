//! The first ceremony as `shuin init` runs it on the new instance: planned from the
//! ceremony file and the custodians' CSRs (their operator keys pin them), the approval
//! files read, then run on the instance's key backend, with the root's first CRL signed
//! by the root key it made.

use super::console::{InstanceBackend, Registry};
use super::error::{CeremonyError, Context, Result};
use super::{run_first, Adopted, CeremonyFile, FirstPlan, FirstRun, InstanceFacts, RunOutcome};
use crate::bootstrap::{Bootstrapped, OperatorSide};
use crate::issuance::CaStore;
use shuin_core::Clock;
use shuin_keys::config::KeyBackendConfig;
use shuin_ledger::Actor;
use shuin_store::SettingsStore;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What a statement binds of a new instance: its URL, policy OID and key backend; it
/// has no CA yet.
pub fn new_instance_facts(
    public_url: &str,
    policy_oid: &str,
    key_backend: &KeyBackendConfig,
) -> InstanceFacts {
    let (key_backend, token) = key_backend.binding();
    InstanceFacts {
        public_url: public_url.trim_end_matches('/').to_owned(),
        policy_oid: policy_oid.to_owned(),
        ca: None,
        key_backend,
        token,
    }
}

/// Plans the first ceremony in the file at `path` for `instance`: the custodians are the
/// operators whose CSRs (where each came from, DER) `init` enrols as key_custodian,
/// pinned by their operator keys.
pub fn plan(
    path: &Path,
    instance: InstanceFacts,
    custodian_csrs: &[(String, Vec<u8>)],
) -> Result<FirstPlan> {
    let file = CeremonyFile::load(path)?;
    let mut custodians = Vec::new();
    for (origin, csr) in custodian_csrs {
        let (name, spki) = crate::operator_ca::read_csr(csr).context(origin)?;
        custodians.push((name, der::Encode::to_der(&spki).context("custodian key")?));
    }
    FirstPlan::new(file, instance, custodians).context(path.display())
}

/// Reads the custodians' approval files: where each came from, and its bytes.
pub fn read_approvals(paths: &[PathBuf]) -> Result<Vec<(String, Vec<u8>)>> {
    paths
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).context(format!("approval {}", path.display()))?;
            Ok((path.display().to_string(), bytes))
        })
        .collect()
}

/// The new instance the first ceremony runs on: its directory (records and certificates
/// go to `ceremonies/`), its store, its key backend, and how long the root's first CRL
/// lives.
pub struct NewInstance<'a, S: ?Sized> {
    /// The instance directory.
    pub dir: &'a Path,
    /// The instance's store.
    pub store: Arc<S>,
    /// The opened key backend, naming keys as `init` does.
    pub backend: InstanceBackend<'a>,
    /// The lifetime of the root's first CRL.
    pub root_crl_lifetime: Duration,
}

/// Runs the planned first ceremony on the new instance (refused without M valid
/// approvals), then signs the root's first CRL with the root key it made.
pub async fn run_on_new_instance<S>(
    instance: NewInstance<'_, S>,
    plan: &FirstPlan,
    approvals: &[(String, Vec<u8>)],
    actor: &Actor,
    clock: &dyn Clock,
) -> Result<(RunOutcome, Adopted)>
where
    S: CaStore + SettingsStore + 'static,
{
    let certificate_dir = instance.dir.join("ceremonies");
    let record_out = certificate_dir.join(format!("{}.json", plan.file.id));
    let opened = instance.backend.opened;
    let store = instance.store.as_ref();
    let run = FirstRun {
        approvals,
        actor: actor.clone(),
        record_out: &record_out,
        certificate_dir: &certificate_dir,
    };
    let registry = Registry(store);
    let (outcome, adopted) =
        run_first(store, &registry, plan, run, instance.backend, clock).await?;
    let root = opened
        .keys
        .signer(&adopted.root_key)
        .context("the root key made by the ceremony")?;
    crate::bootstrap::first_root_crl(
        instance.store,
        &root,
        &adopted.root_der,
        instance.root_crl_lifetime,
        clock,
    )
    .await
    .context("the root's first CRL")?;
    Ok((outcome, adopted))
}

/// A planned first ceremony with its approvals (where each came from, and its bytes).
pub type Prepared = (FirstPlan, Vec<(String, Vec<u8>)>);

/// Checks the first ceremony before `init` makes anything: `first` (the ceremony file
/// and the approval files) planned for `instance` with the custodians' CSRs, and at
/// least M approvals valid. Without one, a production key backend (not the software one)
/// is refused: its root and issuing keys are made only in a first ceremony.
pub fn prepare(
    first: Option<(&Path, &[PathBuf])>,
    instance: InstanceFacts,
    custodian_csrs: &[(String, Vec<u8>)],
    software_keys: bool,
) -> Result<Option<Prepared>> {
    let Some((file, approval_files)) = first else {
        if software_keys {
            return Ok(None);
        }
        return Err(CeremonyError::Invalid(NO_FIRST_CEREMONY.to_owned()));
    };
    let plan = plan(file, instance, custodian_csrs)?;
    let approvals = read_approvals(approval_files)?;
    plan.check_approvals(&approvals).map_err(|e| {
        CeremonyError::Invalid(format!("the first key ceremony: {e}; nothing was made"))
    })?;
    Ok(Some((plan, approvals)))
}

/// Why a production key backend needs a first ceremony.
const NO_FIRST_CEREMONY: &str = "on a production key backend the root and issuing keys are made in the first key ceremony, approved by M custodians: give --first-ceremony FILE and one --approval FILE per approving custodian (docs/keys.md \"The first key ceremony\")";

/// Why the new instance's keys could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FirstInstanceError {
    /// The operator side, or the one-step bootstrap, failed.
    #[error("{0}")]
    Bootstrap(#[source] crate::bootstrap::BootstrapError),
    /// The first key ceremony failed.
    #[error("the first key ceremony: {0}")]
    Ceremony(#[source] CeremonyError),
}

/// Makes the new instance's keys and certificates: with a first ceremony (`first`, its
/// plan and approvals), the operator side (`bootstrap::operator_side`) and then the
/// issuer keys from the ceremony; without one (software keys), everything at once
/// (`bootstrap::bootstrap`). Returns the ceremony's outcome too, when there was one.
pub async fn make<S>(
    instance: NewInstance<'_, S>,
    place: &crate::bootstrap::KeyPlace<'_>,
    plan: &crate::bootstrap::BootstrapPlan<'_>,
    first: Option<&Prepared>,
    (actor, clock, rng): (&Actor, &dyn Clock, &dyn shuin_core::RandomSource),
) -> std::result::Result<(Bootstrapped, Option<RunOutcome>), FirstInstanceError>
where
    S: CaStore + SettingsStore + 'static,
{
    use crate::bootstrap::{bootstrap, operator_side};
    let Some((first, approvals)) = first else {
        let store: Arc<dyn CaStore> = instance.store;
        let made = bootstrap(store, place, plan, actor, clock, rng).await;
        return Ok((made.map_err(FirstInstanceError::Bootstrap)?, None));
    };
    let store = instance.store.as_ref();
    let operators = operator_side(store, place, plan, actor, clock, rng)
        .await
        .map_err(FirstInstanceError::Bootstrap)?;
    let (outcome, issuer) = run_on_new_instance(instance, first, approvals, actor, clock)
        .await
        .map_err(FirstInstanceError::Ceremony)?;
    Ok((bootstrapped(operators, issuer), Some(outcome)))
}

/// What the new instance made: its operator side (`shuin_ca::bootstrap::operator_side`)
/// and the issuer keys and certificates its first ceremony made.
pub fn bootstrapped(operators: OperatorSide, issuer: Adopted) -> Bootstrapped {
    Bootstrapped {
        root_key: issuer.root_key,
        issuing_key: issuer.issuing_key,
        operator_ca_key: operators.operator_ca_key,
        root_der: issuer.root_der,
        issuing_der: issuer.issuing_der,
        operator_ca_der: operators.operator_ca_der,
        enrolled: operators.enrolled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shuin_keys::KeyRef;

    #[test]
    fn a_new_instance_has_no_ca_and_binds_its_backend() {
        let backend = KeyBackendConfig::Software {
            dir: PathBuf::from("keys"),
        };
        let facts = new_instance_facts("https://ca.example/", "1.2.3", &backend);
        assert_eq!(facts.public_url, "https://ca.example");
        assert!(facts.ca.is_none());
        assert_eq!((facts.key_backend, facts.token), backend.binding());
    }

    #[test]
    fn the_instance_takes_its_issuer_from_the_ceremony() {
        let key = |uri: &str| KeyRef::parse(uri).expect("key");
        let operators = OperatorSide {
            operator_ca_key: key("soft:operator-ca.pem"),
            operator_ca_der: vec![3],
            enrolled: Vec::new(),
        };
        let issuer = Adopted {
            root_key: key("soft:root.pem"),
            issuing_key: key("soft:issuing.pem"),
            root_der: vec![1],
            issuing_der: vec![2],
        };
        let made = bootstrapped(operators, issuer);
        assert_eq!(made.root_key, key("soft:root.pem"));
        assert_eq!(made.operator_ca_key, key("soft:operator-ca.pem"));
        assert_eq!(
            (made.root_der, made.issuing_der, made.operator_ca_der),
            (vec![1], vec![2], vec![3])
        );
    }

    #[test]
    fn a_production_backend_needs_a_first_ceremony_and_software_keys_do_not() {
        let facts = || {
            let backend = KeyBackendConfig::Software {
                dir: PathBuf::from("keys"),
            };
            new_instance_facts("https://ca.example", "1.2.3", &backend)
        };
        assert!(matches!(prepare(None, facts(), &[], true), Ok(None)));
        let refused = prepare(None, facts(), &[], false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("--first-ceremony FILE"), "{refused}");
        let missing = Path::new("/nonexistent/first.toml");
        let refused = prepare(Some((missing, &[])), facts(), &[], false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(refused.contains("/nonexistent/first.toml"), "{refused}");
    }

    #[test]
    fn approvals_and_the_file_are_named_when_unreadable() {
        let missing = PathBuf::from("/nonexistent/approval.json");
        let error = read_approvals(std::slice::from_ref(&missing))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.starts_with("approval /nonexistent/approval.json: "),
            "{error}"
        );
        let facts = new_instance_facts(
            "https://ca.example",
            "1.2.3",
            &KeyBackendConfig::Software {
                dir: PathBuf::from("keys"),
            },
        );
        let error = plan(Path::new("/nonexistent/first.toml"), facts, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("/nonexistent/first.toml"), "{error}");
    }
}
