//! The operator CA at bootstrap: its certificate, its entry in the organisation book,
//! the first `ca_admin` and the custodians enrolled (DESIGN.md section 8), and its first
//! (empty) CRL.

use super::BootstrapError;
use crate::issuance::CaStore;
use crate::operator_ca::{self, OperatorCa, OPERATOR_VALIDITY};
use base64::Engine;
use shuin_books::organisation;
use shuin_core::{RandomSource, Role, Zone};
use shuin_keys::Signer;
use shuin_ledger::{Book, EntryDraft};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The organisation book entry that publishes the operator CA certificate, so that an
/// auditor can check operator certificates (and so operator requests) offline.
pub const OPERATOR_CA_CREATED: &str = "operator_ca.created";

/// The operator CA's first operators.
pub struct OperatorCaPlan<'a> {
    /// The first `ca_admin`'s CSR (DER).
    pub first_admin_csr: Option<&'a [u8]>,
    /// The custodians' CSRs (DER), enrolled as `key_custodian`.
    pub custodian_csrs: &'a [Vec<u8>],
    /// Roles the first admin also gets (the development instance only).
    pub extra_admin_roles: &'a [Role],
}

/// An operator enrolled at bootstrap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolled {
    /// The operator's name, from the CSR.
    pub name: String,
    /// The role enrolled for.
    pub role: Role,
}

/// Makes the operator CA certificate, records it, enrols the first admin and the
/// custodians, and signs the operator CA's first CRL. Returns the certificate DER and
/// the operators enrolled.
pub async fn operator_ca(
    store: &dyn CaStore,
    signer: Arc<dyn Signer>,
    ca_name: &str,
    plan: &OperatorCaPlan<'_>,
    crl_lifetime: Duration,
    rng: &dyn RandomSource,
    now: SystemTime,
) -> Result<(Vec<u8>, Vec<Enrolled>), BootstrapError> {
    let failed = |what| move |source| BootstrapError::OperatorCa { what, source };
    let by = organisation::actor("shuin-init", Role::CaAdmin, Zone::HighSecurity);
    let der = operator_ca::create_certificate(store, signer.as_ref(), ca_name, &by, rng, now)
        .await
        .map_err(failed("operator CA"))?;
    store
        .append(
            EntryDraft {
                book: Book::Organization,
                kind: OPERATOR_CA_CREATED.into(),
                actor: by.clone(),
                subjects: vec!["ca:operator".into()],
                payload: serde_json::json!({
                    "certificate": base64::engine::general_purpose::STANDARD.encode(&der),
                }),
                evidence: vec![],
            },
            now,
        )
        .await
        .map_err(BootstrapError::Ledger)?;
    let ca = OperatorCa::new(signer, der.clone()).map_err(failed("operator CA"))?;
    let enrolments = plan
        .first_admin_csr
        .map(|csr| (csr, Role::CaAdmin, "--first-admin-csr"))
        .into_iter()
        .chain(
            plan.custodian_csrs
                .iter()
                .map(|csr| (csr.as_slice(), Role::KeyCustodian, "--custodian-csr")),
        );
    let mut enrolled = Vec::new();
    for (csr, role, flag) in enrolments {
        let roster = organisation::replay(store)
            .await
            .map_err(BootstrapError::Books)?;
        let operator = ca
            .enrol(store, &roster, csr, role, OPERATOR_VALIDITY, &by, rng, now)
            .await
            .map_err(failed(flag))?;
        if role == Role::CaAdmin {
            for extra in plan.extra_admin_roles {
                organisation::grant(store, &operator.name, *extra, &by, now)
                    .await
                    .map_err(BootstrapError::Books)?;
            }
        }
        enrolled.push(Enrolled {
            name: operator.name,
            role,
        });
    }
    // The operator CA's first CRL (empty), so that verifiers find one from the start.
    let roster = organisation::replay(store)
        .await
        .map_err(BootstrapError::Books)?;
    ca.issue_crl(store, &roster, &by, crl_lifetime, now)
        .await
        .map_err(failed("operator CRL"))?;
    Ok((der, enrolled))
}
